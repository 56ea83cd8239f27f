import type { SourcedEntry } from '../../entries/entry-set.js';
import { UserError } from '../../errors.js';
import { RpmTag, type RpmHeader } from './header.js';

/*
 * A package's file list as its header gives it (rpm's truth about what a package installs; the payload
 * only carries contents), and which of its files rpm creates.
 */

/** rpm's file flags (include/rpm/rpmfiles.h) that decide what is installed. */
export const RpmFileFlag = {
  CONFIG: 1 << 0,
  DOC: 1 << 1,
  GHOST: 1 << 6,
  LICENSE: 1 << 7,
} as const;

/** rpm's per-file install states (FILESTATES), as the database records them. */
export const RpmFileState = {
  NORMAL: 0,
  REPLACED: 1,
  NOTINSTALLED: 2,
} as const;

const S_IFMT = 0o170000;
const TYPE_BY_MODE: ReadonlyMap<number, SourcedEntry['type'] | 'socket'> = new Map([
  [0o100000, 'file'], [0o040000, 'directory'], [0o120000, 'symlink'], [0o020000, 'char'], [0o060000, 'block'], [0o010000, 'fifo'], [0o140000, 'socket'],
]);

/** One file of the header's list, with everything installing it needs. */
export interface HeaderFile {
  /** As rpm names it: "/usr/bin/sh". */
  name: string;
  path: string;
  type: SourcedEntry['type'] | 'socket';
  mode: number;
  size: number;
  mtime: number;
  flags: number;
  user: string;
  group: string;
  linkto: string;
  digest: string;
  rdev: number;
  lang: string;
  /** Members of its hardlink set in header order (regular, non-ghost files sharing device and inode). */
  links?: number[];
}

/** The file list of a header (rpm's truth about the package's files), checked for consistency and safe paths. */
export function headerFiles(h: RpmHeader, where: string): HeaderFile[] {
  const basenames = h.strings(RpmTag.BASENAMES);
  const n = basenames.length;
  if (n === 0) return [];
  const dirnames = h.strings(RpmTag.DIRNAMES);
  const dirindexes = h.numbers(RpmTag.DIRINDEXES);
  const sizes = h.has(RpmTag.LONGFILESIZES) ? h.numbers(RpmTag.LONGFILESIZES) : h.numbers(RpmTag.FILESIZES);
  const modes = h.numbers(RpmTag.FILEMODES);
  const mtimes = h.numbers(RpmTag.FILEMTIMES);
  const flags = h.numbers(RpmTag.FILEFLAGS);
  const users = h.strings(RpmTag.FILEUSERNAME);
  const groups = h.strings(RpmTag.FILEGROUPNAME);
  const optional = <T>(tag: number, values: T[], fill: T): T[] => {
    if (!h.has(tag)) return new Array<T>(n).fill(fill);
    if (values.length !== n) throw new UserError(`${where}: corrupt rpm header: tag ${tag} has ${values.length} values for ${n} files`);
    return values;
  };
  const required: [number, unknown[]][] = [
    [RpmTag.DIRINDEXES, dirindexes], [RpmTag.FILESIZES, sizes], [RpmTag.FILEMODES, modes], [RpmTag.FILEMTIMES, mtimes],
    [RpmTag.FILEFLAGS, flags], [RpmTag.FILEUSERNAME, users], [RpmTag.FILEGROUPNAME, groups],
  ];
  for (const [tag, values] of required) {
    if (values.length !== n) throw new UserError(`${where}: corrupt rpm header: tag ${tag} has ${values.length} values for ${n} files`);
  }
  const linktos = optional(RpmTag.FILELINKTOS, h.strings(RpmTag.FILELINKTOS), '');
  const digests = optional(RpmTag.FILEDIGESTS, h.strings(RpmTag.FILEDIGESTS), '');
  const rdevs = optional(RpmTag.FILERDEVS, h.numbers(RpmTag.FILERDEVS), 0);
  const langs = optional(RpmTag.FILELANGS, h.strings(RpmTag.FILELANGS), '');
  const inodes = optional(RpmTag.FILEINODES, h.numbers(RpmTag.FILEINODES), 0);
  const devices = optional(RpmTag.FILEDEVICES, h.numbers(RpmTag.FILEDEVICES), 0);
  const files: HeaderFile[] = [];
  for (let i = 0; i < n; i++) {
    const dir = dirnames[dirindexes[i]!];
    if (dir === undefined) throw new UserError(`${where}: corrupt rpm header: file ${i} names directory ${dirindexes[i]} of ${dirnames.length}`);
    const name = dir + basenames[i]!;
    const path = safePath(name, where);
    const mode = modes[i]!;
    const type = TYPE_BY_MODE.get(mode & S_IFMT);
    if (!type) throw new UserError(`${where}: "${name}" has an unknown file type (mode ${mode.toString(8)})`);
    files.push({
      name, path, type, mode, size: sizes[i]!, mtime: mtimes[i]!, flags: flags[i]!, user: users[i]!, group: groups[i]!,
      linkto: linktos[i]!, digest: digests[i]!.toLowerCase(), rdev: rdevs[i]!, lang: langs[i]!,
    });
  }
  // Hardlink sets as rpm builds them (lib/rpmfi.cc rpmfilesBuildNLink): regular non-ghost files with the same device and inode.
  const sets = new Map<string, number[]>();
  files.forEach((f, i) => {
    if (f.type !== 'file' || f.flags & RpmFileFlag.GHOST || inodes[i]! <= 0) return;
    const key = `${devices[i]}:${inodes[i]}`;
    const set = sets.get(key) ?? [];
    set.push(i);
    sets.set(key, set);
  });
  for (const set of sets.values()) if (set.length > 1) for (const i of set) files[i]!.links = set;
  return files;
}

/** An rpm file name ("/usr/bin/sh") in entry form; anything that could leave the root is refused. */
function safePath(name: string, where: string): string {
  if (!name.startsWith('/')) throw new UserError(`${where}: the package installs "${name}", which is not an absolute path`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..') || name.includes('\0')) throw new UserError(`${where}: the package installs "${name}", which leaves the root`);
  return parts.join('/');
}

/**
 * Which files rpm leaves out (lib/transaction.cc skipInstallFiles): %doc with nodocs (never %license),
 * files of languages not in %_install_langs, then folders of the package that these left empty. Ghosts
 * are never created (lib/fsm.cc) but are not "left out": they keep the NORMAL state.
 */
export function leftOut(files: HeaderFile[], dirnames: string[], dirindexes: number[], options: { nodocs?: boolean; installLangs?: readonly string[] }): boolean[] {
  const skip = new Array<boolean>(files.length).fill(false);
  const langs = options.installLangs && !options.installLangs.includes('all') ? options.installLangs : undefined;
  const count = new Array<number>(dirnames.length).fill(0);
  const emptied = new Array<boolean>(dirnames.length).fill(false);
  files.forEach((f, i) => {
    const dx = dirindexes[i]!;
    count[dx]!++;
    if (f.flags & RpmFileFlag.LICENSE) return;
    // A file's languages ("de|de_AT") match an installed one that starts with one of them, as rpm compares.
    const wrongLang = langs !== undefined && f.lang !== '' && !langs.some((l) => f.lang.split('|').some((fl) => fl !== '' && l.startsWith(fl)));
    if (wrongLang || (options.nodocs && f.flags & RpmFileFlag.DOC)) {
      skip[i] = true;
      count[dx]!--;
      emptied[dx] = true;
    }
  });
  for (let j = dirnames.length - 1; j >= 0; j--) {
    if (count[j] !== 0 || !emptied[j]) continue;
    const dir = dirnames[j]!.replace(/\/$/, '');
    const i = files.findIndex((f, k) => !skip[k] && f.type === 'directory' && f.name === dir);
    if (i < 0) continue;
    skip[i] = true;
    count[dirindexes[i]!]!--;
    emptied[dirindexes[i]!] = true;
  }
  return skip;
}
