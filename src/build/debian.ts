import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { SourcedEntry } from '../entries/entry-set.js';
import { canonicalizeEntries } from '../entries/entry-set.js';
import { normalizeEntryPath, normalizeLinkTarget } from '../entries/path.js';
import { UserError } from '../errors.js';
import { withTempDir } from '../fs/temp.js';
import { assembleImage, isoTime, sortedRecord } from '../image/image.js';
import { fileLayer } from '../layer/layer.js';
import { writeLayer } from '../layer/layer-writer.js';
import type { ContainerConfig, ImageConfig } from '../oci/config.js';
import type { Compression } from '../oci/media-types.js';
import { readDeb } from '../packages/deb/deb-file.js';
import { dpkgDatabaseEntries, parseControlFile, type UnpackedPackage } from '../packages/deb/dpkg-database.js';
import { fetchPackages } from '../packages/deb/fetcher.js';
import { mergedPath, mergedUsrDirs, mergedUsrEntries } from '../packages/deb/merged-usr.js';
import { slimDpkgConfig, slimEntries } from '../packages/deb/slim.js';
import { busyboxEntries } from '../packages/deb/busybox.js';
import { findSuiteSource } from '../packages/deb/mirror.js';
import { parseRelations } from '../packages/deb/relation.js';
import { readLockfile, writeLockfile, type LockedPackage, type Lockfile } from '../packages/deb/lockfile.js';
import { loadKeyring } from '../packages/deb/release.js';
import { openRepository, type Repository } from '../packages/deb/repository.js';
import { resolve, type Preset } from '../packages/deb/resolver.js';
import { PackageUniverse } from '../packages/deb/universe.js';
import { ContentStore, defaultCacheDir } from '../packages/fetch/store.js';
import { writeImage } from '../transport/transports.js';
import type { Digest } from '../digest.js';
import type { Entry } from '../tar/entry.js';
import { applyInstallEffects } from '../packages/deb/effects/apply.js';
import { installWithScripts } from '../packages/deb/script-install.js';

export interface DebianBuildOptions {
  destination: string;
  /** The first is the release (its codename picks debootstrap's preset rules); more add updates/security. */
  suites: string[];
  components?: string[];
  mirror?: string;
  keyrings?: string[];
  /** A package preset, or `busybox`: Debian's busybox-static with its applet links, nothing else. */
  preset: Preset | 'busybox';
  include?: string[];
  exclude?: string[];
  recommends?: boolean;
  arch: string;
  offline?: boolean;
  cacheDir?: string;
  sourceDateEpoch?: number;
  compression?: Compression;
  config?: ContainerConfig;
  annotations?: Record<string, string>;
  /** Users, groups and home folders to add (from the spec's accounts). */
  accounts?: { users: string[]; groups: string[]; homes: { path: string; uid: number; gid: number }[] };
  /** Extra files and folders (from the spec's paths), laid over the installed system. */
  paths?: SourcedEntry[];
  /** Install exactly the packages this lockfile pins (no index is read). */
  lockfile?: string;
  /** Leave out docs, man pages, info and locales (debuerreotype's slim variant), and keep them out. */
  slim?: boolean;
  /** Run the packages' maintainer scripts (dpkg in a user-namespace sandbox) instead of the declarative effects. */
  scripts?: boolean;
  log?: (line: string) => void;
}

export interface DebianBuildResult {
  digest: Digest;
  packages: { name: string; version: string; architecture: string; sha256: string; filename: string }[];
  compressedSize: number;
  uncompressedSize: number;
}

/** The default config of Debian's official images. */
export const DEFAULT_CONFIG: ContainerConfig = {
  Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
  Cmd: ['bash'],
};

/**
 * Merges the packages' entries the way unpacking them one after another would: directories shared by
 * packages are kept once (first wins, as dpkg keeps an existing directory), a file shipped twice is an
 * error unless the later package declares Replaces on the earlier one.
 */
function mergePackageEntries(unpacked: { pkg: LockedPackage; replaces: Set<string>; entries: SourcedEntry[] }[]): SourcedEntry[] {
  const byPath = new Map<string, { entry: SourcedEntry; pkg: LockedPackage }>();
  for (const { pkg, replaces: replaced, entries } of unpacked) {
    for (const entry of entries) {
      const existing = byPath.get(entry.path);
      if (!existing) {
        byPath.set(entry.path, { entry, pkg });
        continue;
      }
      if (existing.entry.type === 'directory' && entry.type === 'directory') continue;
      if (existing.entry.type === 'symlink' && entry.type === 'symlink' && existing.entry.linkname === entry.linkname) continue;
      const replaces = replaced.has(existing.pkg.name);
      if (!replaces) throw new UserError(`/${entry.path} is shipped by both ${existing.pkg.name} and ${pkg.name}, and ${pkg.name} does not declare Replaces: ${existing.pkg.name}`);
      byPath.set(entry.path, { entry, pkg });
    }
  }
  return [...byPath.values()].map((v) => v.entry);
}

/** `Promise.all(items.map(fn))` with at most `limit` running at once. */
async function mapConcurrent<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Indexes and resolution, in a function of their own: the ~60,000 packages of the indexes become
 * garbage when it returns, and only the resolved packages (detached from the index text) live on.
 */
async function resolvePackages(options: DebianBuildOptions, store: ContentStore, log: (line: string) => void) {
  const components = options.components ?? ['main'];
  if (options.suites.length === 0) throw new UserError("no suite given (--suite, or the spec's contents.suite)");
  const repositories: Repository[] = [];
  for (const suite of options.suites) {
    const source = await findSuiteSource(suite, { ...(options.mirror ? { mirror: options.mirror } : {}), ...(options.keyrings ? { keyrings: options.keyrings } : {}) });
    const keyring = await loadKeyring(source.keyrings);
    const repo = await openRepository({ uri: source.uri, suite, components, keyring }, options.arch, { store, ...(options.offline ? { offline: true } : {}) });
    log(`index: ${suite} (${source.via}): ${repo.packages.length} packages, signature and checksums verified`);
    repositories.push(repo);
  }
  const codename = repositories[0]!.release.codename ?? options.suites[0]!;
  const universe = new PackageUniverse(repositories, options.arch);
  const busybox = options.preset === 'busybox';
  const resolution = resolve(universe, {
    preset: busybox ? 'none' : (options.preset as Preset),
    codename,
    include: busybox ? ['busybox-static', ...(options.include ?? [])] : (options.include ?? []),
    exclude: options.exclude ?? [],
    recommends: options.recommends ?? false,
  });
  for (const skipped of resolution.skipped) log(`resolve: left unsatisfied: ${skipped}`);
  const packages: LockedPackage[] = resolution.packages.map((p) => {
    const locked: LockedPackage = { name: p.name, version: p.version, architecture: p.architecture, sha256: p.sha256, size: p.size, repository: p.repository, filename: p.filename };
    const priority = p.field('Priority');
    const section = p.field('Section');
    if (priority) locked.priority = priority;
    if (section) locked.section = section;
    return locked;
  });
  log(`resolve: ${packages.length} packages (${options.preset}${options.include?.length ? ` + ${options.include.join(' ')}` : ''})`);
  const used = repositories.map((r) => ({ uri: r.config.uri, suite: r.config.suite, components: r.config.components }));
  return { packages, used, codename };
}

/** `fromscratch lock`: resolves as a build would and writes the pinned set, without building. */
export async function lockDebian(options: Omit<DebianBuildOptions, 'destination'>, path: string): Promise<Lockfile> {
  const store = new ContentStore(options.cacheDir ?? defaultCacheDir());
  const { packages, used, codename } = await resolvePackages(options as DebianBuildOptions, store, options.log ?? (() => {}));
  const lock: Lockfile = { lockfileVersion: 1, arch: options.arch, codename, repositories: used, packages };
  await writeLockfile(path, lock);
  return lock;
}

/** The packages of a lockfile, checked against the build's architecture. */
async function lockedPackages(path: string, arch: string, log: (line: string) => void) {
  const lock = await readLockfile(path);
  if (lock.arch !== arch) throw new UserError(`lockfile "${path}" is for ${lock.arch}, but this build is for ${arch}`);
  log(`lock: ${lock.packages.length} packages pinned by ${path}`);
  return { packages: lock.packages, used: lock.repositories, codename: lock.codename };
}

export async function buildDebian(options: DebianBuildOptions): Promise<DebianBuildResult> {
  const log = options.log ?? (() => {});
  const store = new ContentStore(options.cacheDir ?? defaultCacheDir());
  const epoch = options.sourceDateEpoch ?? Math.floor(Date.now() / 1000);
  const { packages, used, codename } = options.lockfile ? await lockedPackages(options.lockfile, options.arch, log) : await resolvePackages(options, store, log);

  const paths = await fetchPackages(packages, { store, ...(options.offline ? { offline: true } : {}) });
  log(`fetch: ${packages.length} packages, ${(packages.reduce((n, p) => n + p.size, 0) / 1e6).toFixed(1)} MB, SHA256 verified`);

  return withTempDir('build', async (work) => {
    const spool = join(work, 'spool');
    await mkdir(spool);
    const usrDirs = mergedUsrDirs(options.arch);
    const unpacked: { pkg: LockedPackage; replaces: Set<string>; entries: SourcedEntry[] }[] = [];
    const installed: UnpackedPackage[] = [];
    // Packages are read several at a time (decompression runs on the thread pool); results keep their order.
    const debName = (pkg: LockedPackage) => `${pkg.name}_${pkg.version}_${pkg.architecture}.deb`;
    const debs = await mapConcurrent(packages, 4, (pkg) => readDeb(paths.get(pkg.name)!, debName(pkg), spool));
    for (const [index, pkg] of packages.entries()) {
      const where = debName(pkg);
      const deb = debs[index]!;
      const files: string[] = ['/.'];
      const md5 = new Map<string, string>();
      const entries: SourcedEntry[] = [];
      for (const entry of deb.entries) {
        const packaged = normalizeEntryPath(entry.path);
        if (packaged === '') continue;
        files.push(`/${packaged}`);
        const hash = deb.md5.get(entry.path);
        if (hash) md5.set(`/${packaged}`, hash);
        const moved: SourcedEntry = { ...entry, path: mergedPath(packaged, usrDirs, entry.type === 'directory' ? 'directory' : 'other'), origin: `${where}: ${entry.origin}` };
        if (entry.type === 'hardlink') moved.linkname = mergedPath(normalizeLinkTarget(entry.linkname ?? ''), usrDirs);
        entries.push(moved);
      }
      const control = parseControlFile(deb.control.get('control')!, where);
      const replaces = new Set(parseRelations(control.get('Replaces'), `${where} Replaces`).flat().map((r) => r.name));
      unpacked.push({ pkg, replaces, entries });
      const overrides: { priority?: string; section?: string } = {};
      if (pkg.priority) overrides.priority = pkg.priority;
      if (pkg.section) overrides.section = pkg.section;
      installed.push({ control, controlFiles: deb.control, files, md5, overrides });
    }
    log(`unpack: ${unpacked.reduce((n, u) => n + u.entries.length, 0)} entries from ${packages.length} packages`);

    if (options.preset === 'busybox') {
      // No merged /usr, no scripts, no package database: the busybox images are just the binary and links.
      const entries = await busyboxEntries(unpacked.flatMap((u) => u.entries), options.arch, epoch, work);
      return writeBuiltImage(options, [...entries, ...(options.paths ?? [])], epoch, work, codename, packages, log, BUSYBOX_CONFIG);
    }
    if (options.scripts) {
      const entries = await installWithScripts({
        packages: unpacked.map((u, i) => ({ name: u.pkg.name, control: installed[i]!.control, deb: paths.get(u.pkg.name)!, entries: u.entries })),
        installed, repositories: used, usrDirs, arch: options.arch, epoch, spoolDir: spool, log,
        ...(options.slim ? { slim: true } : {}), ...(options.accounts ? { accounts: options.accounts } : {}), ...(options.paths ? { paths: options.paths } : {}),
      });
      return writeBuiltImage(options, entries, epoch, work, codename, packages, log, DEFAULT_CONFIG);
    }
    let merged = mergePackageEntries(unpacked);
    if (options.slim) {
      const slim = slimEntries(merged);
      merged = slim.entries;
      const saved = [...slim.saved].map(([dir, bytes]) => `/${dir} ${(bytes / 1e6).toFixed(1)} MB`).join(', ');
      log(`slim: left out ${saved || 'nothing'}`);
    }
    const system: Entry[] = mergedUsrEntries(usrDirs, epoch, (dir) => merged.some((e) => e.path.startsWith(`usr/${dir}/`)));
    const effects = await applyInstallEffects({ entries: merged, installed, epoch, arch: options.arch, locate: (p) => mergedPath(p, usrDirs),
      repositories: used,
      ...(options.accounts ? { accounts: options.accounts } : {}),
    });
    // Spec paths replace what packages or effects put at the same place.
    const overlay = new Set((options.paths ?? []).map((e) => normalizeEntryPath(e.path)));
    const effectEntries = effects.entries.filter((e) => !overlay.has(e.path));
    for (const line of effects.notes) log(`install: ${line}`);
    const all: SourcedEntry[] = [
      ...system.map((e) => ({ ...e, origin: 'merged /usr' })),
      ...effectEntries,
      ...(options.slim ? [slimDpkgConfig(epoch)] : []),
      ...(options.paths ?? []),
      ...dpkgDatabaseEntries(installed, epoch).map((e) => ({ ...e, origin: 'dpkg database' })),
    ];
    return writeBuiltImage(options, all, epoch, work, codename, packages, log, DEFAULT_CONFIG);
  });
}

/** The default config of the busybox images. */
export const BUSYBOX_CONFIG: ContainerConfig = { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] };

/** Entries to a canonical layer, then config, manifest and destination. */
async function writeBuiltImage(
  options: DebianBuildOptions,
  all: SourcedEntry[],
  epoch: number,
  work: string,
  codename: string,
  packages: LockedPackage[],
  log: (line: string) => void,
  defaults: ContainerConfig,
): Promise<DebianBuildResult> {
  const canonical = canonicalizeEntries(all, { maxMtime: epoch });

  const blob = join(work, 'layer.blob');
  const written = await writeLayer(canonical, blob, { compression: options.compression ?? 'gzip' });
  const created = isoTime(epoch);
  const config: ImageConfig = {
    created,
    architecture: options.arch,
    os: 'linux',
    ...(options.arch === 'arm64' ? { variant: 'v8' } : {}),
    config: options.config ?? defaults,
    rootfs: { type: 'layers', diff_ids: [written.diffID] },
    history: [{ created, created_by: `fromscratch build ${codename} ${options.preset}`, comment: `${packages.length} packages` }],
  };
  const image = assembleImage(config, [fileLayer(blob, written.descriptor, written.diffID)], options.annotations ? sortedRecord(options.annotations) : undefined);
  const digest = await writeImage(options.destination, image);
  log(`write: ${options.destination} ${digest} (${(written.descriptor.size / 1e6).toFixed(1)} MB compressed, ${(written.uncompressedSize / 1e6).toFixed(1)} MB uncompressed)`);
  return {
    digest,
    packages: packages.map((p) => ({ name: p.name, version: p.version, architecture: p.architecture, sha256: p.sha256, filename: p.filename })),
    compressedSize: written.descriptor.size,
    uncompressedSize: written.uncompressedSize,
  };
}
