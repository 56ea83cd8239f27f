/**
 * Stub RPM repositories made from a real repository's metadata: one empty .rpm per package, with the
 * real name, epoch, version, release, architecture, dependencies of every kind and file list, built with
 * rpmbuild and indexed with createrepo_c (with the real comps), so dnf resolves the stub repository
 * exactly as it resolves the real one, and `dnf --installroot` can install from it.
 * What the metadata does not say, the stubs cannot have: files are empty, root-owned, 0644 (folders
 * 0755); paths the metadata shows to be symlinks to folders (a plain file of one package that other
 * packages have files below, like /lib64) become such symlinks, every other non-folder path an empty
 * regular file; no scriptlets but the folder symlinks' %pretrans (see pretransSymlinks); a provide the
 * real header holds twice (one automatic, one written) is there once.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, copyFileSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import sax from 'sax';

/** The kinds of dependency primary.xml lists, with the spec tag each becomes. */
export const DEPENDENCY_KINDS = ['provides', 'requires', 'conflicts', 'obsoletes', 'recommends', 'suggests', 'supplements', 'enhances'] as const;
export type DependencyKind = (typeof DEPENDENCY_KINDS)[number];

/** One `<rpm:entry>` of primary.xml. */
export interface Dependency {
  name: string;
  flags?: string; // EQ, LT, GT, LE, GE
  epoch?: string;
  ver?: string;
  rel?: string;
  pre?: boolean;
}

export type FileType = 'file' | 'dir' | 'ghost';

/** A package as primary.xml and filelists.xml describe it. */
export interface RepoPackage {
  pkgid: string;
  name: string;
  arch: string;
  epoch: string;
  version: string;
  release: string;
  deps: Record<DependencyKind, Dependency[]>;
  files: { path: string; type: FileType }[];
}

/** A repository's metadata: its packages, and its comps file (uncompressed) when it has one. */
export interface Repodata {
  packages: RepoPackage[];
  comps?: Buffer;
  /** sha256 of repomd.xml and every file it names that was read: the cache key of the stubs. */
  digest: string;
}

export interface StubRepoOptions {
  /** A repository's repodata folder (with repomd.xml). */
  repodata: string;
  /** A folder for stub repositories, kept between calls: the result is cached there by a hash of the input. */
  out: string;
  /** Only these packages and `@group` ids, with every package they may need (see `neededPackages`). */
  names?: string[];
  /** Only packages of these architectures (noarch is always kept). */
  arch?: string[];
  /** rpmbuild processes at once (default 2). */
  concurrency?: number;
  /**
   * Where the build trees and rpmbuild's folders go (default /dev/shm when there is one: tens of
   * thousands of empty files are made there many times faster than on a disk).
   */
  scratch?: string;
}

export interface StubRepo {
  /** The repository folder (Packages/ and repodata/). */
  dir: string;
  /** Its file:// URL, for a baseurl. */
  url: string;
  /** How many stub packages it holds. */
  packages: number;
  /** Whether it came from the cache. */
  cached: boolean;
  /** Wall time of the build (0 when cached). */
  seconds: number;
}

/** Bumped when the stubs this module makes change, so cached repositories are made again. */
const GENERATION = 'stub-rpm-repo 6';
const SOURCE_DATE_EPOCH = '1700000000';

/** Opens a metadata file, decompressed by its extension (.gz here, .xz and .zst with the host's tools). */
function openMetadata(path: string): Readable {
  if (path.endsWith('.gz')) return createReadStream(path).pipe(createGunzip());
  const tool = path.endsWith('.xz') ? 'xz' : path.endsWith('.zst') ? 'zstd' : path.endsWith('.bz2') ? 'bzip2' : undefined;
  if (!tool) return createReadStream(path);
  const child = spawn(tool, ['-dc', path], { stdio: ['ignore', 'pipe', 'inherit'] });
  return child.stdout;
}

interface XmlHandlers {
  open(name: string, attributes: Record<string, string>): void;
  close(name: string, text: string): void;
}

/** Streams an XML file through sax (strict; element names with their prefix), with each element's text. */
function parseXml(path: string, handlers: XmlHandlers): Promise<void> {
  return new Promise((resolve, reject) => {
    const parser = sax.createStream(true, {});
    let text = '';
    parser.on('opentag', (tag) => {
      text = '';
      const attributes: Record<string, string> = {};
      for (const [k, v] of Object.entries(tag.attributes)) attributes[k] = typeof v === 'string' ? v : v.value;
      handlers.open(tag.name, attributes);
    });
    parser.on('text', (t) => (text += t));
    parser.on('cdata', (t) => (text += t));
    parser.on('closetag', (name) => {
      handlers.close(name, text);
      text = '';
    });
    parser.on('error', (e) => reject(new Error(`${path}: ${e.message}`)));
    parser.on('end', () => resolve());
    const input = openMetadata(path);
    input.on('error', (e) => reject(new Error(`${path}: ${e.message}`)));
    input.pipe(parser);
  });
}

/** Reads repomd.xml, primary, filelists and comps of a repodata folder. */
export async function readRepodata(repodata: string): Promise<Repodata> {
  const repomd = join(repodata, 'repomd.xml');
  const locations = new Map<string, string>();
  let type = '';
  await parseXml(repomd, {
    open(name, a) {
      if (name === 'data') type = a['type'] ?? '';
      if (name === 'location' && type && a['href']) locations.set(type, a['href']);
    },
    close() {},
  });
  // repomd's hrefs are relative to the repository, the folder above repodata/.
  const file = (t: string) => {
    const href = locations.get(t);
    return href === undefined ? undefined : join(repodata, '..', href);
  };
  const primary = file('primary');
  const filelists = file('filelists');
  if (!primary || !filelists) throw new Error(`${repomd}: no primary or filelists`);
  const digest = createHash('sha256').update(GENERATION).update(readFileSync(repomd));
  for (const f of [primary, filelists]) digest.update(readFileSync(f));

  const packages = new Map<string, RepoPackage>();
  let pkg: RepoPackage | undefined;
  let kind: DependencyKind | undefined;
  await parseXml(primary, {
    open(name, a) {
      if (name === 'package') {
        pkg = { pkgid: '', name: '', arch: '', epoch: '0', version: '', release: '', files: [], deps: emptyDeps() };
      } else if (!pkg) {
        return;
      } else if (name === 'version') {
        pkg.epoch = a['epoch'] ?? '0';
        pkg.version = a['ver'] ?? '';
        pkg.release = a['rel'] ?? '';
      } else if (name.startsWith('rpm:') && (DEPENDENCY_KINDS as readonly string[]).includes(name.slice(4))) {
        kind = name.slice(4) as DependencyKind;
      } else if (name === 'rpm:entry' && kind) {
        const dep: Dependency = { name: a['name'] ?? '' };
        for (const k of ['flags', 'epoch', 'ver', 'rel'] as const) if (a[k] !== undefined) dep[k] = a[k];
        if (a['pre'] === '1') dep.pre = true;
        pkg.deps[kind].push(dep);
      }
    },
    close(name, text) {
      if (!pkg) return;
      if (name === 'name') pkg.name = text;
      else if (name === 'arch') pkg.arch = text;
      else if (name === 'checksum') pkg.pkgid = text.trim();
      else if (name.startsWith('rpm:') && name.slice(4) === kind) kind = undefined;
      else if (name === 'package') {
        packages.set(pkg.pkgid, pkg);
        pkg = undefined;
      }
    },
  });
  let current: RepoPackage | undefined;
  let fileType: FileType = 'file';
  await parseXml(filelists, {
    open(name, a) {
      if (name === 'package') current = packages.get(a['pkgid'] ?? '');
      else if (name === 'file') fileType = (a['type'] as FileType | undefined) ?? 'file';
    },
    close(name, text) {
      if (name === 'file' && current) current.files.push({ path: text, type: fileType });
      else if (name === 'package') current = undefined;
    },
  });
  const compsFile = file('group') && existsSync(file('group') ?? '') ? file('group') : file('group_gz');
  let comps: Buffer | undefined;
  if (compsFile) {
    comps = await readAll(openMetadata(compsFile));
    digest.update(comps);
  }
  return { packages: [...packages.values()], ...(comps ? { comps } : {}), digest: digest.digest('hex') };
}

function emptyDeps(): Record<DependencyKind, Dependency[]> {
  return { provides: [], requires: [], conflicts: [], obsoletes: [], recommends: [], suggests: [], supplements: [], enhances: [] };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** `[E:]V[-R]` of a dependency, as a spec file writes it ("0:" left out: createrepo_c writes it back as 0). */
function depEvr(d: Dependency): string {
  const epoch = d.epoch && d.epoch !== '0' ? `${d.epoch}:` : '';
  return `${epoch}${d.ver ?? ''}${d.rel ? `-${d.rel}` : ''}`;
}

const OPERATORS: Record<string, string> = { EQ: '=', LT: '<', GT: '>', LE: '<=', GE: '>=' };

/** A dependency as a spec file writes it. */
export function formatDependency(d: Dependency): string {
  const name = d.name.replaceAll('%', '%%');
  if (!d.flags) return name;
  const op = OPERATORS[d.flags];
  if (!op) throw new Error(`dependency ${d.name}: unknown flags ${d.flags}`);
  return `${name} ${op} ${depEvr(d)}`;
}

/** Names a rich dependency mentions: every word that is not an operator of rpm's boolean syntax. */
function richNames(name: string): string[] {
  if (!name.startsWith('(')) return [name];
  return name
    .replace(/[()]/g, ' ')
    .split(/\s+/)
    .filter((w) => w && !['and', 'or', 'if', 'else', 'with', 'without', 'unless', '=', '<', '>', '<=', '>=', '=='].includes(w) && !/^[0-9]/.test(w));
}

/** Members of a comps group: every package of every type, and what conditional members depend on. */
export function compsGroupMembers(comps: Buffer, id: string): string[] | undefined {
  const parser = sax.parser(true, {});
  let depth = 0; // inside <group> (1) or deeper
  let groupId: string | undefined;
  let members: string[] = [];
  let requires: string | undefined;
  let text = '';
  let found: string[] | undefined;
  parser.onopentag = (tag) => {
    text = '';
    if (tag.name === 'group') {
      depth = 1;
      groupId = undefined;
      members = [];
    } else if (depth) depth++;
    if (tag.name === 'packagereq') {
      const r = tag.attributes['requires'];
      requires = typeof r === 'string' ? r : r?.value;
    }
  };
  parser.ontext = (t) => (text += t);
  parser.onclosetag = (name) => {
    if (depth === 2 && name === 'id') groupId = text.trim();
    if (name === 'packagereq') members.push(text.trim(), ...(requires ? [requires] : []));
    if (name === 'group' && groupId === id) found ??= members;
    if (depth) depth--;
    text = '';
  };
  parser.write(comps.toString('utf8')).close();
  return found;
}

/**
 * The packages a request may touch when dnf resolves it against the whole repository, weak dependencies
 * on or off: the requested names and groups, then, to a fixed point, every provider of anything any of
 * them requires, recommends or suggests (not only the one dnf picks, so that its choice is the same), every
 * package that obsoletes one of them, and every package whose supplements or enhances name one of them.
 */
export function neededPackages(repo: Repodata, names: string[]): RepoPackage[] {
  const byProvide = new Map<string, RepoPackage[]>();
  const add = (key: string, p: RepoPackage) => {
    const list = byProvide.get(key);
    if (list) list.push(p);
    else byProvide.set(key, [p]);
  };
  for (const p of repo.packages) {
    add(p.name, p);
    for (const d of p.deps.provides) add(d.name, p);
    for (const f of p.files) add(f.path, p);
  }
  // Reverse edges: a package that obsoletes, supplements or enhances a name comes with its providers.
  const reverse = new Map<string, RepoPackage[]>();
  for (const p of repo.packages) {
    for (const d of [...p.deps.obsoletes, ...p.deps.supplements, ...p.deps.enhances]) {
      for (const n of richNames(d.name)) for (const target of byProvide.get(n) ?? []) {
        const list = reverse.get(target.pkgid);
        if (list) list.push(p);
        else reverse.set(target.pkgid, [p]);
      }
    }
  }
  const chosen = new Map<string, RepoPackage>();
  const queue: RepoPackage[] = [];
  const want = (n: string) => {
    for (const p of byProvide.get(n) ?? []) if (!chosen.has(p.pkgid)) {
      chosen.set(p.pkgid, p);
      queue.push(p);
    }
  };
  for (const n of names) {
    if (n.startsWith('@')) {
      const members = repo.comps ? compsGroupMembers(repo.comps, n.slice(1)) : undefined;
      if (!members) throw new Error(`no comps group ${n.slice(1)}`);
      members.forEach(want);
    } else {
      want(n);
    }
  }
  for (let p = queue.shift(); p; p = queue.shift()) {
    for (const d of [...p.deps.requires, ...p.deps.recommends, ...p.deps.suggests]) richNames(d.name).forEach(want);
    for (const r of reverse.get(p.pkgid) ?? []) want(r.name);
  }
  return repo.packages.filter((p) => chosen.has(p.pkgid));
}

/**
 * Non-folder paths that other paths lie below (/bin, /lib64, /var/run): symlinks to folders in the real
 * packages. Each maps to its target, relative to its folder: /usr + the path when that is a folder of the
 * repository (/lib64 → usr/lib64), else a folder of the same name at the top (/var/run → ../run).
 */
export function folderSymlinks(packages: RepoPackage[]): Map<string, string> {
  const nonDirs = new Set<string>();
  const dirs = new Set<string>();
  for (const p of packages) for (const f of p.files) (f.type === 'dir' ? dirs : nonDirs).add(f.path);
  const links = new Map<string, string>();
  for (const p of packages) {
    for (const f of p.files) {
      for (let i = f.path.indexOf('/', 1); i > 0; i = f.path.indexOf('/', i + 1)) {
        const prefix = f.path.slice(0, i);
        if (!nonDirs.has(prefix) || links.has(prefix)) continue;
        const target = [`/usr${prefix}`, `/${posix.basename(prefix)}`].find((t) => dirs.has(t) && t !== prefix);
        if (target) links.set(prefix, posix.relative(posix.dirname(prefix), target));
      }
    }
  }
  return links;
}

/** A path as a %files line: quoted (spaces), `%` doubled, glob characters as one-character classes. */
function filesPath(path: string): string {
  if (path.includes('"') || path.includes('\n')) throw new Error(`file name rpmbuild cannot list: ${JSON.stringify(path)}`);
  return `"${path.replaceAll('%', '%%').replace(/[[*?{]/g, (c) => `[${c}]`)}"`;
}

/**
 * The qualifier of the n-th identical requirement of a package. primary.xml keeps a requirement once per
 * distinct header flags, so `/bin/sh` can appear twice (from `Requires(preun)` and `Requires(postun)`)
 * where rpmbuild would merge two equal lines; each repeat takes another qualifier that createrepo_c writes
 * alike: install-time ones (pre="1") for pre requirements, plain or erase-time ones for the others.
 */
function requiresQualifier(d: Dependency, n: number, line: string): string {
  const choices = d.pre ? ['(pre)', '(post)', '(pretrans)', '(posttrans)'] : ['', '(preun)', '(postun)', '(verify)'];
  const q = choices[n];
  if (q === undefined) throw new Error(`requirement ${line} listed more than ${choices.length} times`);
  return q;
}

const SPEC_TAGS: Record<DependencyKind, string> = {
  provides: 'Provides', requires: 'Requires', conflicts: 'Conflicts', obsoletes: 'Obsoletes',
  recommends: 'Recommends', suggests: 'Suggests', supplements: 'Supplements', enhances: 'Enhances',
};

/** One spec file whose subpackages are the stubs of `packages` (their names distinct), built from `tree`. */
export function stubSpec(specName: string, packages: RepoPackage[], links: Map<string, string>): string {
  const out = [
    `Name: ${specName}`, 'Version: 1', 'Release: 1', 'Summary: stub packages made from repository metadata',
    'License: none', '%description', 'Stub packages: real names, versions, dependencies and file lists; empty files.', '',
  ];
  for (const p of packages) {
    out.push(`%package -n ${p.name}`, `Summary: stub of ${p.name}`);
    if (p.epoch !== '0') out.push(`Epoch: ${p.epoch}`);
    out.push(`Version: ${p.version}`, `Release: ${p.release}`, 'AutoReqProv: no');
    if (p.arch === 'noarch') out.push('BuildArch: noarch');
    for (const kind of DEPENDENCY_KINDS) {
      const seen = new Map<string, number>();
      for (const d of p.deps[kind]) {
        const line = formatDependency(d);
        const n = seen.get(`${d.pre}${line}`) ?? 0;
        seen.set(`${d.pre}${line}`, n + 1);
        out.push(`${SPEC_TAGS[kind]}${kind === 'requires' ? requiresQualifier(d, n, line) : ''}: ${line}`);
      }
    }
    out.push(`%description -n ${p.name}`, `Stub of ${p.name}.`, '');
    const owned = p.files.filter((f) => links.has(f.path));
    if (owned.length) out.push(`%pretrans -n ${p.name} -p <lua>`, ...pretransSymlinks(owned.map((f) => f.path), links), '');
  }
  // The buildroot is the tree itself (rpmbuild's --buildroot, not emptied first: see rpmbuildArgs).
  out.push('%install', '');
  for (const p of packages) {
    out.push(`%files -n ${p.name}`, '%defattr(-,root,root,-)');
    for (const f of p.files) {
      const prefix = f.type === 'dir' && !links.has(f.path) ? '%dir ' : f.type === 'ghost' ? '%ghost ' : '';
      out.push(prefix + filesPath(f.path));
    }
    out.push('');
  }
  return out.join('\n');
}

/**
 * The only scriptlet a stub has: what the real filesystem package's `%pretrans -p <lua>` does, making its
 * folder symlinks (and their targets) before any package is unpacked, so that a package installed before
 * it (libgcc's /lib64/libgcc_s.so.1) goes through /lib64 → usr/lib64 instead of making /lib64 a folder.
 */
function pretransSymlinks(paths: string[], links: Map<string, string>): string[] {
  const lines: string[] = [];
  const made = new Set<string>();
  const mkdirs = (dir: string) => {
    const parts = dir.split('/').slice(1);
    for (let i = 1; i <= parts.length; i++) {
      const d = `/${parts.slice(0, i).join('/')}`;
      if (!made.has(d) && d !== '/') lines.push(`posix.mkdir(${JSON.stringify(d)})`);
      made.add(d);
    }
  };
  for (const path of paths) {
    mkdirs(posix.join(posix.dirname(path), links.get(path) ?? ''));
    mkdirs(posix.dirname(path));
    lines.push(`if not posix.stat(${JSON.stringify(path)}) then posix.symlink(${JSON.stringify(links.get(path))}, ${JSON.stringify(path)}) end`);
  }
  return lines;
}

/**
 * Makes the build tree of some packages, used as rpmbuild's buildroot: the symlinked folders first (so
 * that what lies below them lands in their targets), then every folder once, parents first, then the
 * empty files.
 */
function makeTree(tree: string, packages: RepoPackage[], links: Map<string, string>): void {
  mkdirSync(tree, { recursive: true });
  for (const [link, target] of links) {
    mkdirSync(join(tree, posix.dirname(link), target), { recursive: true });
    mkdirSync(join(tree, posix.dirname(link)), { recursive: true });
    symlinkSync(target, join(tree, link));
  }
  const dirs = new Set<string>();
  const files = new Set<string>();
  for (const p of packages) {
    for (const f of p.files) {
      if (links.has(f.path)) continue;
      if (f.type === 'dir') dirs.add(f.path);
      else {
        files.add(f.path);
        dirs.add(posix.dirname(f.path));
      }
    }
  }
  for (const d of [...dirs]) for (let i = d.indexOf('/', 1); i > 0; i = d.indexOf('/', i + 1)) dirs.add(d.slice(0, i));
  // Sorted, a folder comes before what it holds; the symlinks and their targets exist already.
  for (const d of [...dirs].sort()) {
    if (d === '/' || links.has(d)) continue;
    try {
      mkdirSync(join(tree, d));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  for (const f of files) writeFileSync(join(tree, f), '');
}

/** rpmbuild defines that make the stubs reproducible (as test/fixtures/rpm/make-rpm-fixtures.sh does) and quick. */
function rpmbuildArgs(top: string, tree: string): string[] {
  const defines: [string, string][] = [
    ['_topdir', top], ['_build_id_links', 'none'], ['use_source_date_epoch_as_buildtime', '1'],
    ['clamp_mtime_to_source_date_epoch', '1'], ['_buildhost', 'stub'], ['_binary_payload', 'w3.zstdio'],
    ['debug_package', '%{nil}'], ['__os_install_post', '%{nil}'], ['_unpackaged_files_terminate_build', '0'],
    ['_dbpath', join(top, 'rpmdb')],
    // %install starts with this, without removing and making the buildroot again: it is the tree we made.
    ['__spec_install_pre', '%{___build_pre}'],
  ];
  return ['--quiet', '--buildroot', tree, ...defines.flatMap(([k, v]) => ['--define', `${k} ${v}`])];
}

function runAsync(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => (status === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${status}\n${stderr.slice(-4000)}`))));
  });
}

/**
 * Splits packages into spec files: one set per build architecture (noarch goes with the first), each cut
 * into `parts` pieces, and a name never twice in one spec (subpackage names must be distinct).
 */
function planSpecs(packages: RepoPackage[], parts: number): { target: string; packages: RepoPackage[] }[] {
  const arches = [...new Set(packages.map((p) => p.arch).filter((a) => a !== 'noarch'))].sort();
  const first = arches[0] ?? 'noarch';
  const specs: { target: string; packages: RepoPackage[] }[] = [];
  for (const arch of arches.length ? arches : ['noarch']) {
    const mine = packages.filter((p) => p.arch === arch || (arch === first && p.arch === 'noarch'));
    // Cut by file count, so the pieces take about as long.
    const buckets = Array.from({ length: parts }, () => ({ target: arch, packages: [] as RepoPackage[], names: new Set<string>(), files: 0 }));
    for (const p of [...mine].sort((a, b) => b.files.length - a.files.length)) {
      let bucket = buckets.filter((b) => !b.names.has(p.name)).sort((a, b) => a.files - b.files)[0];
      if (!bucket) {
        bucket = { target: arch, packages: [], names: new Set(), files: 0 };
        buckets.push(bucket);
      }
      bucket.packages.push(p);
      bucket.names.add(p.name);
      bucket.files += p.files.length + 1;
    }
    specs.push(...buckets.filter((b) => b.packages.length).map((b) => ({ target: b.target, packages: b.packages })));
  }
  return specs;
}

/**
 * Builds the stub repository of a repodata folder into `out/rpm-stubs-HASH` (HASH: of repomd.xml,
 * primary, filelists, comps, `names`, `arch` and this module's generation), or finds it there.
 */
export async function makeStubRepo(options: StubRepoOptions): Promise<StubRepo> {
  const started = Date.now();
  const repo = await readRepodata(options.repodata);
  const key = createHash('sha256')
    .update(repo.digest)
    .update(JSON.stringify({ names: options.names ?? null, arch: options.arch ?? null }))
    .digest('hex')
    .slice(0, 16);
  const dir = join(options.out, `rpm-stubs-${key}`);
  const count = () => readdirSync(join(dir, 'Packages')).filter((f) => f.endsWith('.rpm')).length;
  if (existsSync(join(dir, 'repodata', 'repomd.xml'))) return { dir, url: `file://${dir}`, packages: count(), cached: true, seconds: 0 };

  let packages = options.names ? neededPackages(repo, options.names) : repo.packages;
  if (options.arch) {
    const keep = new Set([...options.arch, 'noarch']);
    packages = packages.filter((p) => keep.has(p.arch));
  }
  const links = folderSymlinks(repo.packages);
  mkdirSync(options.out, { recursive: true });
  const scratch = options.scratch ?? (isWritableDir('/dev/shm') ? '/dev/shm' : tmpdir());
  const work = mkdtempSync(join(scratch, `rpm-stubs-${key}-`));
  const repoDir = join(options.out, `.rpm-stubs-${key}-${process.pid}`);
  rmSync(repoDir, { recursive: true, force: true });
  try {
    const concurrency = options.concurrency ?? 2;
    const specs = planSpecs(packages, concurrency);
    const env = { ...process.env, SOURCE_DATE_EPOCH };
    const jobs = specs.map((s, i) => async () => {
      const top = join(work, `top-${i}`);
      const tree = join(work, `tree-${i}`);
      makeTree(tree, s.packages, links);
      mkdirSync(top, { recursive: true });
      const spec = join(work, `stubs-${i}.spec`);
      // One source package name for all: it is each stub's SOURCERPM, the same whatever spec it lands in.
      writeFileSync(spec, stubSpec('stubs', s.packages, links));
      await runAsync('rpmbuild', [...rpmbuildArgs(top, tree), ...(s.target === 'noarch' ? [] : ['--target', s.target]), '-bb', spec], env);
    });
    const running = new Set<Promise<void>>();
    for (const job of jobs) {
      const p: Promise<void> = job().finally(() => running.delete(p));
      running.add(p);
      if (running.size >= concurrency) await Promise.race(running);
    }
    await Promise.all(running);

    mkdirSync(join(repoDir, 'Packages'), { recursive: true });
    for (let i = 0; i < specs.length; i++) {
      const rpms = join(work, `top-${i}`, 'RPMS');
      for (const arch of readdirSync(rpms)) {
        for (const f of readdirSync(join(rpms, arch))) {
          const to = join(repoDir, 'Packages', f);
          copyFileSync(join(rpms, arch, f), to);
          // primary.xml's <time file=> is the file's mtime.
          utimesSync(to, Number(SOURCE_DATE_EPOCH), Number(SOURCE_DATE_EPOCH));
        }
      }
    }
    const args = ['--quiet', '--revision', SOURCE_DATE_EPOCH, '--set-timestamp-to-revision', '--no-database', '--workers', String(concurrency)];
    if (repo.comps) {
      writeFileSync(join(work, 'comps.xml'), repo.comps);
      args.push('-g', join(work, 'comps.xml'));
    }
    const r = spawnSync('createrepo_c', [...args, repoDir], { encoding: 'utf8', env });
    if (r.status !== 0) throw new Error(`createrepo_c exited ${r.status}: ${r.stderr}`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(repoDir, dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(repoDir, { recursive: true, force: true });
  }
  return { dir, url: `file://${dir}`, packages: count(), cached: false, seconds: (Date.now() - started) / 1000 };
}

function isWritableDir(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
