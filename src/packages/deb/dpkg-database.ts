import { dirEntry, fileEntry } from '../../entries/synthetic.js';
import type { Entry } from '../../tar/entry.js';
import { formatField, parseControl, type Paragraph } from './control.js';

/** A package as unpacked, with what dpkg needs to consider it installed. */
export interface UnpackedPackage {
  /** The control file of the .deb. */
  control: Paragraph;
  /** Control archive members (md5sums, conffiles, postinst, triggers, shlibs...). */
  controlFiles: Map<string, Buffer>;
  /** Paths as packaged ('/usr/bin/x', '/bin/y'), in archive order: dpkg's .list file. */
  files: string[];
  /** MD5 of each packaged regular file, by packaged path: for the Conffiles field. */
  md5: Map<string, string>;
  /**
   * Priority and Section from the archive index: the archive's overrides, which dpkg records (through
   * its available file) instead of what the .deb's own control file says.
   */
  overrides?: { priority?: string; section?: string };
}

/** dpkg's order of fields in the status file (lib/dpkg/parse.c); other fields follow in their own order. */
const STATUS_ORDER = [
  'Package', 'Essential', 'Protected', 'Status', 'Priority', 'Section', 'Installed-Size', 'Origin', 'Maintainer', 'Bugs',
  'Architecture', 'Multi-Arch', 'Source', 'Version', 'Config-Version', 'Replaces', 'Provides', 'Depends', 'Pre-Depends',
  'Recommends', 'Suggests', 'Breaks', 'Conflicts', 'Enhances', 'Conffiles', 'Description', 'Triggers-Pending', 'Triggers-Awaited',
];

/** dpkg names a Multi-Arch: same package's files `name:arch.*`, every other package's `name.*`. */
export function infoName(control: Paragraph): string {
  const name = control.get('Package')!;
  return (control.get('Multi-Arch') ?? '') === 'same' ? `${name}:${control.get('Architecture')}` : name;
}

/** The paths a control archive's `conffiles` lists; lines may carry flags ("remove-on-upgrade /etc/x"). */
export function parseConffiles(list: string): string[] {
  return list.split('\n').map((l) => l.trim().replace(/^(?:remove-on-upgrade\s+)+/, '')).filter((p) => p.startsWith('/'));
}

function conffilesOf(pkg: UnpackedPackage): string[] {
  return parseConffiles(pkg.controlFiles.get('conffiles')?.toString('utf8') ?? '');
}

export function statusParagraph(pkg: UnpackedPackage): string {
  const fields = new Map<string, [string, string]>();
  for (const [name, value] of pkg.control.entries()) fields.set(name.toLowerCase(), [name, value]);
  fields.set('status', ['Status', 'install ok installed']);
  if (pkg.overrides?.priority) fields.set('priority', ['Priority', pkg.overrides.priority]);
  if (pkg.overrides?.section) fields.set('section', ['Section', pkg.overrides.section]);
  const conffiles = conffilesOf(pkg);
  if (conffiles.length) fields.set('conffiles', ['Conffiles', conffiles.map((p) => `\n${p} ${pkg.md5.get(p) ?? 'newconffile'}`).join('')]);
  const lines: string[] = [];
  const emit = (name: string, value: string) => lines.push(formatField(name, value));
  for (const name of STATUS_ORDER) {
    const f = fields.get(name.toLowerCase());
    if (f) emit(f[0], f[1]);
  }
  const known = new Set(STATUS_ORDER.map((n) => n.toLowerCase()));
  for (const [key, [name, value]] of fields) if (!known.has(key)) emit(name, value);
  return lines.join('\n');
}

const SCRIPTS = new Set(['preinst', 'postinst', 'prerm', 'postrm', 'config']);
/** Control members dpkg keeps in /var/lib/dpkg/info (control itself goes into the status file). */
const KEPT = new Set([...SCRIPTS, 'md5sums', 'conffiles', 'templates', 'triggers', 'shlibs', 'symbols']);

const file = (path: string, content: string | Buffer, mtime: number, mode = 0o644): Entry => fileEntry(path, content, { mtime, mode });
const dir = (path: string, mtime: number): Entry => dirEntry(path, { mtime });

/** Parses `interest*` lines of the packages' triggers files into dpkg's trigger state (triggers/File...). */
function triggerFiles(packages: UnpackedPackage[], mtime: number): Entry[] {
  const fileInterests: string[] = [];
  const named = new Map<string, string[]>();
  for (const pkg of packages) {
    const triggers = pkg.controlFiles.get('triggers')?.toString('utf8') ?? '';
    for (const line of triggers.split('\n')) {
      const m = /^\s*(interest|interest-await|interest-noawait)\s+(\S+)/.exec(line);
      if (!m) continue;
      const who = `${infoName(pkg.control)}${m[1] === 'interest-noawait' ? '/noawait' : ''}`;
      if (m[2]!.startsWith('/')) fileInterests.push(`${m[2]} ${who}`);
      else named.set(m[2]!, [...(named.get(m[2]!) ?? []), who]);
    }
  }
  const out = [dir('var/lib/dpkg/triggers', mtime), file('var/lib/dpkg/triggers/Lock', '', mtime, 0o600), file('var/lib/dpkg/triggers/Unincorp', '', mtime)];
  if (fileInterests.length) out.push(file('var/lib/dpkg/triggers/File', `${fileInterests.sort().join('\n')}\n`, mtime));
  for (const [name, who] of named) out.push(file(`var/lib/dpkg/triggers/${name}`, `${who.join('\n')}\n`, mtime));
  return out;
}

/**
 * The dpkg database that makes dpkg and apt in the image see every package as installed: the status
 * file (paragraphs sorted by name, fields in dpkg's order, Status "install ok installed", Conffiles with
 * the shipped md5), and per package in info/ the file list, md5sums, conffiles, maintainer scripts and
 * other control files; plus the trigger interest files and dpkg's empty bookkeeping files.
 */
export function dpkgDatabaseEntries(packages: UnpackedPackage[], mtime: number): Entry[] {
  const key = (p: UnpackedPackage) => `${p.control.get('Package')}\0${p.control.get('Architecture')}`;
  const sorted = [...packages].sort((a, b) => (key(a) < key(b) ? -1 : 1));
  const out: Entry[] = [
    dir('var/lib/dpkg', mtime),
    dir('var/lib/dpkg/info', mtime),
    dir('var/lib/dpkg/updates', mtime),
    dir('var/lib/dpkg/parts', mtime),
    dir('var/lib/dpkg/alternatives', mtime),
    // Every paragraph ends with a blank line, as dpkg writes it.
    file('var/lib/dpkg/status', sorted.map((p) => `${statusParagraph(p)}\n\n`).join(''), mtime),
    file('var/lib/dpkg/available', '', mtime),
    file('var/lib/dpkg/lock', '', mtime, 0o640),
    file('var/lib/dpkg/lock-frontend', '', mtime, 0o640),
    file('var/lib/dpkg/info/format', '1\n', mtime),
    ...triggerFiles(sorted, mtime),
  ];
  for (const pkg of sorted) {
    const name = infoName(pkg.control);
    out.push(file(`var/lib/dpkg/info/${name}.list`, `${pkg.files.join('\n')}\n`, mtime));
    for (const [member, content] of pkg.controlFiles) {
      if (!KEPT.has(member)) continue;
      out.push(file(`var/lib/dpkg/info/${name}.${member}`, content, mtime, SCRIPTS.has(member) ? 0o755 : 0o644));
    }
  }
  return out;
}

/** Reads the control paragraph of an unpacked package's `control` member. */
export function parseControlFile(content: Buffer, where: string): Paragraph {
  const [paragraph] = parseControl(content.toString('utf8'), { source: where });
  if (!paragraph || !paragraph.get('Package')) throw new Error(`${where}: control file has no Package field`);
  return paragraph;
}
