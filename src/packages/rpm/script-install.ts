import { access, constants, mkdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import initSqlJs from 'sql.js';
import type { SourcedEntry } from '../../entries/entry-set.js';
import { normalizeEntryPath } from '../../entries/path.js';
import { symlinkEntry } from '../../entries/synthetic.js';
import { UserError } from '../../errors.js';
import { hostPlatform } from '../../oci/platform.js';
import { nativeSandbox, runRootDriver, writeAccountFiles } from '../../sandbox/root-driver.js';
import { SandboxUnavailableError, type IdMap } from '../../sandbox/user-namespace.js';
import type { InstallInput, Installed, SpecAccounts, UnpackedPackage } from '../ecosystem.js';
import { rpmArch } from './architecture.js';
import { headerFiles } from './file-list.js';
import { RpmHeader, RpmTag } from './header.js';
import { deviceNodes, releaseOf, sysconfigNetwork } from './image-system.js';
import { rpmDisplayName, type LockedRpm, type RpmLockFields } from './lockfile.js';
import type { RpmRequest } from './request.js';
import { mapOwners, rpmParentDirectories } from './rpm-file.js';
import { rpmdbPath, type RpmdbLocation } from './rpmdb-writer.js';
import { RPM_DRIVER } from './script-install-driver.js';
import { slimRpmMacros } from './slim.js';
import { applyWal } from './sqlite-wal.js';

/** One package of the transaction: its verified .rpm file and its decoding (for its header and device files). */
export interface RpmScriptPackage {
  /** How errors name it, e.g. `hello-2.0-1.noarch`. */
  display: string;
  /** The verified package file (the pipeline's `input.fetch(pkg)`). */
  file: string;
  unpacked: UnpackedPackage;
}

export interface RpmScriptInstallOptions {
  packages: readonly RpmScriptPackage[];
  arch: string;
  /** SOURCE_DATE_EPOCH: rpm's transaction id and install times count from it; every mtime is clamped to it. */
  epoch: number;
  nodocs: boolean;
  installLangs?: string[];
  slim: boolean;
  accounts?: SpecAccounts;
  /** Where the finished root's contents are spooled. */
  spoolDir: string;
  log: (line: string) => void;
}

/** Checks what can be checked before anything is downloaded: the architecture, rpm, the sandbox. */
export async function checkRpmScriptInstall(arch: string): Promise<IdMap> {
  const ids = await nativeSandbox(arch, rpmArch(hostPlatform()), 'scriptlets');
  if (!(await hasRpm())) throw new SandboxUnavailableError('--scripts runs rpm to install the packages: install it (Debian package rpm)');
  return ids;
}

async function hasRpm(): Promise<boolean> {
  for (const dir of (process.env['PATH'] ?? '/usr/bin:/bin').split(':')) {
    try {
      await access(join(dir, 'rpm'), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

async function content(e: SourcedEntry | undefined): Promise<Buffer | undefined> {
  if (!e || e.type !== 'file' || !e.open) return undefined;
  return readAll(e.open());
}

/** The image's %_dbpath, from the macro files the packages ship (rpm's default /var/lib/rpm without any). */
async function imageDbPath(packages: readonly RpmScriptPackage[]): Promise<RpmdbLocation> {
  const entries = packages.flatMap((p) => p.unpacked.entries);
  const macro = entries.filter((e) => e.type === 'file' && /^(usr\/lib\/rpm\/(macros$|macros\.d\/|platform\/|[^/]+\/macros$)|etc\/rpm\/)/.test(normalizeEntryPath(e.path)));
  return rpmdbPath(await Promise.all(macro.map(async (e) => ({ path: normalizeEntryPath(e.path), content: (await content(e))?.toString('utf8') ?? '' }))));
}

/** The environment rpm and the scriptlets run in: nothing of the caller's, a fixed clock. */
function sandboxEnv(epoch: number, home: string): Record<string, string> {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    // An empty home: rpm reads ~/.rpmmacros, and the caller's must not change the image.
    HOME: home,
    LC_ALL: 'C.UTF-8',
    SOURCE_DATE_EPOCH: String(epoch),
  };
}

/**
 * Device files of the packages: rpm cannot make them in a user namespace (mknod is refused), so they are
 * left to rpm's --excludepath and laid down from the package's own entries afterwards, and the database
 * records them installed. By package, each with its index in the header's file list.
 */
function deviceFiles(p: RpmScriptPackage): { index: number; path: string }[] {
  const header = RpmHeader.parse(p.unpacked.meta.get('header') ?? Buffer.alloc(0), `${p.display}: header`);
  return headerFiles(header, p.display).flatMap((f, index) => (f.type === 'char' || f.type === 'block' ? [{ index, path: f.path }] : []));
}

/** rpm's arguments: one install transaction, honouring nodocs, the languages and the image's slimness. */
function rpmArguments(options: RpmScriptInstallOptions, devices: string[]): string[] {
  const args = ['-i', '--nosignature', '--nodigest', '--define', '_tmppath /var/tmp'];
  // Verification already happened: every file against its repository's checksum, signatures against the keys.
  // Slim through rpm's own means, as the image's macros.image-language-conf asks of later installs: docs
  // (rpmbuild marks man and info pages %doc) and every language but C. Unlike the declarative slim install,
  // files that are no %doc or %lang stay.
  if (options.nodocs || options.slim) args.push('--excludedocs');
  const langs = options.slim ? ['C.utf8'] : options.installLangs;
  if (langs) args.push('--define', `_install_langs ${langs.join(':')}`);
  for (const d of devices) args.push('--excludepath', `/${d}`);
  return [...args, ...options.packages.map((p) => p.file)];
}

/** What rpm reports failing: a scriptlet that stops its package (%pretrans, %pre), named as rpm names the package. */
function failure(tail: string): string {
  const script = [...tail.matchAll(/error: %([a-z]+)\(([^)]+)\) scriptlet failed, (exit status \d+|signal \d+)/g)].pop();
  const names: Record<string, string> = { prein: '%pre', postin: '%post' };
  if (script) return `the ${names[script[1]!] ?? `%${script[1]}`} scriptlet of ${script[2]} failed (${script[3]}), so rpm did not install it`;
  const failed = [...tail.matchAll(/error: (\S+): install failed/g)].pop();
  if (failed) return `rpm could not install ${failed[1]}`;
  const status = /fromscratch-rpm-status: (\d+)/.exec(tail)?.[1];
  if (status) return `rpm failed (exit status ${status})`;
  const stage = [...tail.matchAll(/^fromscratch-step: (.*)$/gm)].pop()?.[1];
  return stage ? `failed during "${stage}"` : 'failed';
}

/** Lines of rpm's output that are Debian's packaging of rpm talking, not the transaction. */
const DEBIAN_NOTICE = /^rpm: (RPM should not be used directly install RPM packages, use Alien instead!|However assuming you know what you are doing\.\.\.)$/;

/**
 * Installs the packages by running rpm itself, with their scriptlets, inside a user-namespace sandbox
 * (as `dnf --installroot` would, unprivileged): one transaction over an empty root, then the finished
 * root comes back as a tar stream and becomes the image's entries (ids as the sandbox had them, which
 * are the image's), with what rpm cannot do there and mkimage-yum.sh adds laid over.
 */
export async function installRpmWithScripts(options: RpmScriptInstallOptions): Promise<SourcedEntry[]> {
  const ids = await checkRpmScriptInstall(options.arch);
  const { epoch, log } = options;
  const location = await imageDbPath(options.packages);
  const devices = options.packages.map((p) => ({ p, files: deviceFiles(p) }));
  const devicePaths = devices.flatMap((d) => d.files.map((f) => f.path));

  const started = Date.now();
  const scan = await runRootDriver({
    script: RPM_DRIVER,
    args: (outer) => [join(outer, 'job'), `/${location.dbpath}`, ...rpmArguments(options, devicePaths)],
    prepare: async (outer) => {
      await mkdir(join(outer, 'job', 'home'), { recursive: true });
      await writeAccountFiles(join(outer, 'job'), options.accounts);
    },
    ids,
    env: (outer) => sandboxEnv(epoch, join(outer, 'job', 'home')),
    spoolDir: options.spoolDir,
    onLine: (line) => {
      if (line.startsWith('fromscratch-step: ')) log(`scripts: ${line.slice(18)}`);
      else if (line && !DEBIAN_NOTICE.test(line) && !line.startsWith('fromscratch-rpm-status: ')) log(`scripts: rpm: ${line}`);
    },
    tailLines: 40,
    failure: (raw, exit) => {
      const tail = raw.split('\n').filter((l) => !DEBIAN_NOTICE.test(l)).join('\n');
      return `--scripts: ${failure(tail)}${exit.signal ? ` (killed by ${exit.signal})` : ''}; rpm's last lines:\n${tail}`;
    },
  });
  log(`scripts: rpm ran the scriptlets in ${((Date.now() - started) / 1000).toFixed(1)} s; ${scan.entries.length} entries`);
  return finish(scan.entries, devices, location, options);
}

/**
 * The finished root as the image's entries: mtimes clamped to the build time, rpm's database in
 * rollback-journal mode with the device files recorded installed, the device files themselves, and what
 * mkimage-yum.sh adds around its yum run (the /dev nodes, /etc/sysconfig/network).
 */
async function finish(scanned: SourcedEntry[], devices: { p: RpmScriptPackage; files: { index: number; path: string }[] }[], location: RpmdbLocation, options: RpmScriptInstallOptions): Promise<SourcedEntry[]> {
  const { epoch } = options;
  const byPath = new Map<string, SourcedEntry>();
  for (const e of scanned) {
    const path = normalizeEntryPath(e.path);
    if (path === '') continue;
    byPath.set(path, { ...e, path, mtime: Math.min(e.mtime, epoch), origin: `rpm --scripts: ${e.origin}` });
  }
  const db = byPath.get(location.path);
  if (!db) throw new UserError(`--scripts: rpm left no database at /${location.path}`);
  const wal = byPath.get(`${location.path}-wal`);
  byPath.delete(`${location.path}-wal`);
  const database = await cleanDatabase((await content(db))!, (await content(wal)) ?? Buffer.alloc(0), devices.filter((d) => d.files.length > 0));
  byPath.set(location.path, { ...db, size: database.length, open: () => Readable.from([database]), origin: 'rpm database (rpm --scripts, rollback journal)' });

  const passwd = (await content(byPath.get('etc/passwd')))?.toString('utf8') ?? '';
  const group = (await content(byPath.get('etc/group')))?.toString('utf8') ?? '';
  const deviceEntries = devices.flatMap(({ p, files }) => {
    const wanted = new Set(files.map((f) => f.path));
    return p.unpacked.entries.filter((e) => wanted.has(normalizeEntryPath(e.path))).map((e) => ({ ...e, path: throughFolderLinks(normalizeEntryPath(e.path), byPath), mtime: Math.min(e.mtime, epoch), origin: `${p.display}: ${e.origin} (device file: rpm cannot mknod in a user namespace)` }));
  });
  const owned = mapOwners(deviceEntries, passwd, group);
  for (const e of owned.entries) byPath.set(e.path, e);
  if (deviceEntries.length) options.log(`scripts: ${deviceEntries.length} device files laid down from their packages (the sandbox cannot mknod), recorded installed`);

  const added: SourcedEntry[] = [];
  if (location.link && !byPath.has(location.link.path)) added.push({ ...symlinkEntry(location.link.path, location.link.target, { mtime: epoch }), origin: 'rpm database' });
  for (const e of [...deviceNodes(epoch), sysconfigNetwork(epoch), ...(options.slim ? [slimRpmMacros(epoch)] : [])]) if (!byPath.has(e.path)) added.push(e);
  const entries = [...byPath.values(), ...added];
  return [...entries, ...rpmParentDirectories(entries, epoch)];
}

/** Where a packaged path lands in the finished root, as rpm wrote it: through folders another package made symlinks (/bin → usr/bin). */
function throughFolderLinks(path: string, byPath: ReadonlyMap<string, SourcedEntry>): string {
  const parts = path.split('/');
  let at = '';
  for (let i = 0; i < parts.length - 1; i++) {
    at = at ? `${at}/${parts[i]}` : parts[i]!;
    for (let hops = 0; hops < 40; hops++) {
      const link = byPath.get(at);
      if (link?.type !== 'symlink' || !link.linkname) break;
      at = posix.normalize(link.linkname.startsWith('/') ? link.linkname.slice(1) : posix.join(posix.dirname(at), link.linkname)).replace(/^(\.\.\/)+|^\.$/, '');
    }
  }
  return at ? `${at}/${parts[parts.length - 1]}` : path;
}

let sqlJs: ReturnType<typeof initSqlJs> | undefined;

/** RpmHeader's FILESTATES values (rpmfiles.h rpmfileState). */
const FILE_STATE = { NORMAL: 0, NOTINSTALLED: 2 } as const;

/**
 * rpm's database as the image keeps it: the write-ahead log (empty after rpm's closing checkpoint, or
 * replayed when not) folded into the file, the file switched to rollback-journal mode (header bytes 18
 * and 19 from 2 to 1, what SQLite's `PRAGMA journal_mode=DELETE` writes) so that readers without write
 * access to the folder can open it (see rpmdb-writer.ts), and the device files rpm was told to leave out
 * recorded installed (FILESTATES: the byte array rpm adds to a header when installing it).
 */
async function cleanDatabase(file: Buffer, wal: Buffer, devices: { p: RpmScriptPackage; files: { index: number }[] }[]): Promise<Buffer> {
  const replayed = Buffer.from(applyWal(new Uint8Array(file), new Uint8Array(wal)).database);
  if (replayed.length < 100 || replayed.subarray(0, 16).toString('latin1') !== 'SQLite format 3\0') throw new UserError('--scripts: rpm left a database that is not SQLite');
  replayed[18] = 1;
  replayed[19] = 1;
  if (devices.length === 0) return replayed;
  sqlJs ??= initSqlJs();
  const SQL = await sqlJs;
  const sql = new SQL.Database(new Uint8Array(replayed));
  try {
    for (const { p, files } of devices) {
      const name = (RpmHeader.parse(p.unpacked.meta.get('header')!, `${p.display}: header`).string(RpmTag.NAME)) ?? '';
      const hnums = sql.exec("SELECT hnum FROM 'Name' WHERE key = ?", [name])[0]?.values.map((v) => Number(v[0])) ?? [];
      for (const hnum of hnums) {
        const blob = sql.exec("SELECT blob FROM 'Packages' WHERE hnum = ?", [hnum])[0]?.values[0]?.[0];
        if (!(blob instanceof Uint8Array)) continue;
        const patched = markFilesInstalled(Buffer.from(blob), files.map((f) => f.index), p.display);
        sql.run("UPDATE 'Packages' SET blob = ? WHERE hnum = ?", [patched, hnum]);
      }
    }
    const out = Buffer.from(sql.export());
    out[18] = 1;
    out[19] = 1;
    return out;
  } finally {
    sql.close();
  }
}

/**
 * A stored header with the FILESTATES entries at `indexes` set from not installed to normal. Written by
 * hand (no parser library reads rpm headers): the index is read bounds-checked and only the state bytes
 * change; anything else is a UserError naming the package.
 */
export function markFilesInstalled(blob: Buffer, indexes: number[], display: string): Buffer {
  const bad = () => new UserError(`--scripts: ${display}: rpm's stored header has no usable FILESTATES`);
  if (blob.length < 8) throw bad();
  const count = blob.readUInt32BE(0);
  const dataLength = blob.readUInt32BE(4);
  const dataStart = 8 + count * 16;
  if (count > blob.length || dataStart + dataLength > blob.length) throw bad();
  for (let i = 0; i < count; i++) {
    const at = 8 + i * 16;
    if (blob.readUInt32BE(at) !== RpmTag.FILESTATES) continue;
    const type = blob.readUInt32BE(at + 4);
    const offset = blob.readInt32BE(at + 8);
    const n = blob.readUInt32BE(at + 12);
    if (type !== 1 || offset < 0 || n > dataLength || offset + n > dataLength) throw bad();
    const out = Buffer.from(blob);
    for (const idx of indexes) {
      if (idx >= n) throw bad();
      if (out[dataStart + offset + idx] === FILE_STATE.NOTINSTALLED) out[dataStart + offset + idx] = FILE_STATE.NORMAL;
    }
    return out;
  }
  throw bad();
}

/**
 * The install step of an RPM build with `--scripts` (the ecosystem's `install` hands over to it once the
 * packages' signatures are checked): the verified .rpm files installed by rpm with their scriptlets, and
 * the image described from its release file as the declarative install describes it.
 */
export async function installRpmScripted(input: InstallInput<LockedRpm, RpmLockFields>, request: RpmRequest): Promise<Installed> {
  const packages = await Promise.all(input.packages.map(async (locked, i) => ({ display: rpmDisplayName(locked), file: await input.fetch(locked), unpacked: input.unpacked[i]! })));
  const entries = await installRpmWithScripts({
    packages, arch: input.arch, epoch: input.epoch, nodocs: request.nodocs, slim: request.slim, spoolDir: input.work, log: input.log,
    ...(request.installLangs ? { installLangs: request.installLangs } : {}),
    ...(input.accounts ? { accounts: input.accounts } : {}),
  });
  const byPath = new Map(entries.map((e) => [e.path, e]));
  // /etc/system-release is a symlink to the distribution's own release file.
  const follow = (path: string): SourcedEntry | undefined => {
    let e = byPath.get(path);
    for (let hops = 0; e?.type === 'symlink' && e.linkname && hops < 8; hops++) {
      const target = e.linkname.startsWith('/') ? e.linkname.slice(1) : [...e.path.split('/').slice(0, -1), e.linkname].join('/');
      e = byPath.get(posix.normalize(target));
    }
    return e;
  };
  const release = (await content(follow('etc/system-release'))) ?? (await content(follow('etc/redhat-release')));
  const { name, version } = release ? releaseOf(release.toString('utf8')) : { name: 'RPM-based image', version: undefined };
  return {
    entries,
    description: name,
    createdBy: `fromscratch build ${input.fields.repositories.map((r) => r.id).join(' ')} (scriptlets run)`,
    ...(version !== undefined ? { annotations: { 'org.opencontainers.image.version': version } } : {}),
  };
}
