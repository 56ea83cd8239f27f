import { join } from 'node:path';
import type { SourcedEntry } from '../entries/entry-set.js';
import { canonicalizeEntries } from '../entries/entry-set.js';
import { mkdir } from 'node:fs/promises';
import { layOver } from '../entries/overlay.js';
import { UserError } from '../errors.js';
import { withTempDir } from '../fs/temp.js';
import { assembleImage, isoTime, sortedRecord, type Image } from '../image/image.js';
import { assembleIndex } from '../image/multi-platform.js';
import { formatPlatform } from '../oci/platform.js';
import { debianPlatform } from '../packages/deb/architecture.js';
import { installSet, mergePackageEntries } from '../packages/deb/install-set.js';
import { fileLayer } from '../layer/layer.js';
import { writeLayer, type WrittenLayer } from '../layer/layer-writer.js';
import { LayerCache, layerKey } from '../layer/layer-cache.js';
import type { ContainerConfig, ImageConfig } from '../oci/config.js';
import type { Compression } from '../oci/media-types.js';
import { dpkgDatabaseEntries } from '../packages/deb/dpkg-database.js';
import { debDisplayName, unpackPackages, type UnpackProgress } from '../packages/deb/unpack.js';
import { mergedPath, mergedUsrDirs, mergedUsrEntries } from '../packages/deb/merged-usr.js';
import { slimDpkgConfig, slimEntries } from '../packages/deb/slim.js';
import { busyboxEntries } from '../packages/deb/busybox.js';
import { findSuiteSource } from '../packages/deb/mirror.js';
import { readLockfile, writeLockfile, type LockedPackage, type Lockfile } from '../packages/deb/lockfile.js';
import { loadKeyring } from '../packages/deb/release.js';
import { loadSuitePackages, openSuite, type OpenedSuite, type Repository } from '../packages/deb/repository.js';
import { ResolutionCache, type ResolutionKey } from '../packages/deb/resolution-cache.js';
import { resolve, type Preset } from '../packages/deb/resolver.js';
import { PackageUniverse } from '../packages/deb/universe.js';
import { ContentStore, defaultCacheDir } from '../packages/fetch/store.js';
import { writeImage } from '../transport/transports.js';
import { parseReference } from '../transport/reference.js';
import type { Digest } from '../digest.js';
import type { Entry } from '../tar/entry.js';
import type { ProgressStatus } from '../progress/progress.js';
import { applyInstallEffects } from '../packages/deb/effects/apply.js';
import { installWithScripts } from '../packages/deb/script-install.js';
import { fetchPackage } from '../packages/deb/fetcher.js';
import { collectGarbage } from '../memory/garbage.js';

export interface DebianBuildOptions {
  destination: string;
  /** Debian architectures; several make an OCI index with one image per platform. */
  archs: string[];
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
  offline?: boolean;
  cacheDir?: string;
  sourceDateEpoch?: number;
  compression?: Compression;
  config?: ContainerConfig;
  annotations?: Record<string, string>;
  /** Users, groups and home folders to add (from the spec's accounts). */
  accounts?: { users: string[]; groups: string[]; homes: { path: string; uid: number; gid: number }[] };
  /** Extra files and folders (from the spec's paths and copies), laid over the installed system. */
  paths?: SourcedEntry[];
  /** Folders to create only where nothing else makes one (the parents of copied paths). */
  parents?: SourcedEntry[];
  /** Install exactly the packages this lockfile pins (no index is read). */
  lockfile?: string;
  /** Leave out docs, man pages, info and locales (debuerreotype's slim variant), and keep them out. */
  slim?: boolean;
  /** Run the packages' maintainer scripts (dpkg in a user-namespace sandbox) instead of the declarative effects. */
  scripts?: boolean;
  log?: (line: string) => void;
  /** The step under way, for a live display. */
  progress?: (status: ProgressStatus) => void;
  /**
   * Keep the written layer in the cache and reuse it when the same entries are built again. Default: on
   * when sourceDateEpoch is given; without it every build stamps new mtimes, so its layer could never be
   * reused and would only fill the cache.
   */
  layerCache?: boolean;
}

/** What one architecture's build gave, by resolution, resolving and layer. */
export interface PlatformResult {
  arch: string;
  /** The OCI platform, e.g. linux/arm64/v8. */
  platform: string;
  digest: Digest;
  packages: { name: string; version: string; architecture: string; sha256: string; filename: string }[];
  compressedSize: number;
  uncompressedSize: number;
}

/**
 * The written image's digest (an index's for several architectures) and each platform's result; with one
 * architecture its result's fields are also at the top level.
 */
export type DebianBuildResult = { digest: Digest; images: PlatformResult[] } & Partial<Omit<PlatformResult, 'digest'>>;

/** The options of one architecture's image (the build runs this once per architecture). */
type ArchBuildOptions = Omit<DebianBuildOptions, 'archs' | 'destination'> & { arch: string };

/** The default config of Debian's official images. */
export const DEFAULT_CONFIG: ContainerConfig = {
  Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
  Cmd: ['bash'],
};

/**
 * Indexes and resolution, in a function of their own: the ~60,000 packages of the indexes become
 * garbage when it returns, and only the resolved packages (detached from the index text) live on.
 */
async function resolvePackages(options: ArchBuildOptions, store: ContentStore, log: (line: string) => void) {
  const components = options.components ?? ['main'];
  if (options.suites.length === 0) throw new UserError("no suite given (--suite, or the spec's contents.suite)");
  const repoOptions = { store, ...(options.offline ? { offline: true } : {}) };
  const suites: OpenedSuite[] = [];
  for (const suite of options.suites) {
    const source = await findSuiteSource(suite, { ...(options.mirror ? { mirror: options.mirror } : {}), ...(options.keyrings ? { keyrings: options.keyrings } : {}) });
    const keyring = await loadKeyring(source.keyrings);
    const opened = await openSuite({ uri: source.uri, suite, components, keyring }, options.arch, repoOptions);
    log(`index: ${suite} (${source.via}): signature verified`);
    suites.push(opened);
  }
  const codename = suites[0]!.release.codename ?? options.suites[0]!;
  const busybox = options.preset === 'busybox';
  const request = {
    preset: busybox ? 'none' : (options.preset as Preset),
    codename,
    include: busybox ? ['busybox-static', ...(options.include ?? [])] : (options.include ?? []),
    exclude: options.exclude ?? [],
    recommends: options.recommends ?? false,
  };
  const used = suites.map((s) => ({ uri: s.config.uri, suite: s.config.suite, components: s.config.components }));
  const key: ResolutionKey = { arch: options.arch, suites: used.map((u, i) => ({ ...u, indexes: suites[i]!.indexes.map((x) => x.sha256) })), request };
  const cache = new ResolutionCache(store);
  const described = `${options.preset}${options.include?.length ? ` + ${options.include.join(' ')}` : ''}`;
  const cached = await cache.get(key);
  if (cached) {
    for (const skipped of cached.skipped) log(`resolve: left unsatisfied: ${skipped}`);
    log(`resolve: ${cached.lock.packages.length} packages (${described}; same indexes and request as a cached resolution)`);
    return { packages: cached.lock.packages, used, codename };
  }
  const repositories: Repository[] = [];
  for (const suite of suites) {
    const onParsed = (n: number) => options.progress?.({ step: `index ${suite.config.suite}`, done: n, unit: 'packages' });
    const repo = await loadSuitePackages(suite, { ...repoOptions, onParsed });
    log(`index: ${suite.config.suite}: ${repo.packages.length} packages, checksums verified`);
    repositories.push(repo);
  }
  const universe = new PackageUniverse(repositories, options.arch);
  const resolution = resolve(universe, request);
  for (const skipped of resolution.skipped) log(`resolve: left unsatisfied: ${skipped}`);
  // Detached: the fields would otherwise be slices of the index text and keep it alive.
  const packages: LockedPackage[] = resolution.packages.map((resolved) => {
    const p = resolved.detach();
    const locked: LockedPackage = { name: p.name, version: p.version, architecture: p.architecture, sha256: p.sha256, size: p.size, repository: p.repository, filename: p.filename };
    const priority = p.field('Priority');
    const section = p.field('Section');
    if (priority) locked.priority = priority;
    if (section) locked.section = section;
    return locked;
  });
  log(`resolve: ${packages.length} packages (${described})`);
  await cache.put(key, { lockfileVersion: 1, arch: options.arch, codename, repositories: used, packages }, resolution.skipped);
  return { packages, used, codename };
}

/** `fromscratch lock`: resolves as a build would and writes the pinned set, without building. */
export async function lockDebian(options: Omit<DebianBuildOptions, 'destination'>, path: string): Promise<Lockfile> {
  if (options.archs.length !== 1) throw new UserError(`a lockfile pins one architecture; lock ${options.archs.join(',')} one at a time, into one lockfile each`);
  const archOptions: ArchBuildOptions = { ...options, arch: options.archs[0]! };
  const store = new ContentStore(options.cacheDir ?? defaultCacheDir());
  const { packages, used, codename } = await resolvePackages(archOptions, store, options.log ?? (() => {}));
  const lock: Lockfile = { lockfileVersion: 1, arch: archOptions.arch, codename, repositories: used, packages };
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

/** One platform's image, its layer blob in the build's work folder, not yet written anywhere. */
interface BuiltImage {
  image: Image;
  codename: string;
  summary: PlatformResult;
}

async function buildArchImage(options: ArchBuildOptions, work: string): Promise<BuiltImage> {
  const log = options.log ?? (() => {});
  const store = new ContentStore(options.cacheDir ?? defaultCacheDir());
  const epoch = options.sourceDateEpoch ?? Math.floor(Date.now() / 1000);
  const { packages, used, codename } = options.lockfile ? await lockedPackages(options.lockfile, options.arch, log) : await resolvePackages(options, store, log);
  // The parsed indexes (~60,000 packages, ~100 MB of heap) are garbage now; V8 would keep that heap
  // while the packages are decoded, so collect it here when the CLI allows (bin/fromscratch --expose-gc).
  collectGarbage();

  let progress: UnpackProgress | undefined;
  const mb = (n: number) => (n / 1e6).toFixed(1);
  const debs = await unpackPackages(packages, {
    store,
    ...(options.offline ? { offline: true } : {}),
    onProgress: (p) => {
      progress = p;
      options.progress?.({ step: 'fetch and unpack', done: p.done, total: p.count, unit: 'packages', detail: `${mb(p.downloaded)} MB downloaded, ${p.cached} from the cache` });
    },
  });
  log(`fetch: ${packages.length} packages, ${mb(packages.reduce((n, p) => n + p.size, 0))} MB, SHA256 verified; ${mb(progress?.downloaded ?? 0)} MB downloaded, ${progress?.cached ?? 0} packages already unpacked in the cache`);

  const usrDirs = mergedUsrDirs(options.arch);
  const { unpacked, installed } = installSet(packages, debs, usrDirs);
  log(`unpack: ${unpacked.reduce((n, u) => n + u.entries.length, 0)} entries from ${packages.length} packages`);

  if (options.preset === 'busybox') {
    // No merged /usr, no scripts, no package database: the busybox images are just the binary and links.
    const entries = await busyboxEntries(unpacked.flatMap((u) => u.entries), options.arch, epoch, work);
    return assembleBuiltImage(options, layOver(entries, options.paths ?? [], options.parents ?? []), epoch, work, codename, packages, log, BUSYBOX_CONFIG);
  }
  if (options.scripts) {
    // dpkg installs the .debs themselves: each is taken from the store (verified again) or fetched.
    const debPaths = await Promise.all(packages.map((pkg) => fetchPackage(pkg, { store, ...(options.offline ? { offline: true } : {}) })));
    const entries = await installWithScripts({
      packages: unpacked.map((u, i) => ({ name: u.pkg.name, control: installed[i]!.control, deb: debPaths[i]!, entries: u.entries })),
      installed, repositories: used, usrDirs, arch: options.arch, epoch, spoolDir: work, log,
      ...(options.slim ? { slim: true } : {}), ...(options.accounts ? { accounts: options.accounts } : {}),
    });
    return assembleBuiltImage(options, layOver(entries, options.paths ?? [], options.parents ?? []), epoch, work, codename, packages, log, DEFAULT_CONFIG);
  }
  let merged = mergePackageEntries(unpacked);
  if (options.slim) {
    const slim = slimEntries(merged);
    merged = slim.entries;
    const saved = [...slim.saved].map(([category, bytes]) => `${category} ${(bytes / 1e6).toFixed(1)} MB`).join(', ');
    log(`slim: left out ${saved || 'nothing'}`);
  }
  const system: Entry[] = mergedUsrEntries(usrDirs, epoch, (dir) => merged.some((e) => e.path.startsWith(`usr/${dir}/`)));
  const effects = await applyInstallEffects({ entries: merged, installed, epoch, arch: options.arch, locate: (p) => mergedPath(p, usrDirs),
    repositories: used, layout: system,
    ...(options.accounts ? { accounts: options.accounts } : {}),
  });
  for (const line of effects.notes) log(`install: ${line}`);
  const installedSystem: SourcedEntry[] = [
    ...system.map((e) => ({ ...e, origin: 'merged /usr' })),
    ...effects.entries,
    ...(options.slim ? [slimDpkgConfig(epoch)] : []),
    ...dpkgDatabaseEntries(installed, epoch).map((e) => ({ ...e, origin: 'dpkg database' })),
  ];
  // Spec paths and copies from other images replace what packages or effects put at the same place.
  return assembleBuiltImage(options, layOver(installedSystem, options.paths ?? [], options.parents ?? []), epoch, work, codename, packages, log, DEFAULT_CONFIG);
}

/**
 * Builds the image for each architecture asked for and writes it: one image, or for several
 * architectures an OCI index with one image per platform (in the order given).
 */
export async function buildDebian(options: DebianBuildOptions): Promise<DebianBuildResult> {
  const log = options.log ?? (() => {});
  if (options.archs.length === 0) throw new UserError('no architecture given');
  if (new Set(options.archs).size !== options.archs.length) throw new UserError(`architecture given twice: ${options.archs.join(',')}`);
  if (options.lockfile && options.archs.length > 1) throw new UserError(`a lockfile pins one architecture; build ${options.archs.join(',')} one at a time, each with its own lockfile`);
  for (const arch of options.archs) debianPlatform(arch);
  if (options.archs.length > 1 && parseReference(options.destination).transport === 'docker-archive') {
    throw new UserError(`${options.destination}: a docker archive holds one image per name and cannot hold an index of ${options.archs.length} platforms; write to oci: or oci-archive:, or build one platform at a time`);
  }
  // One time for every platform and the index, also when SOURCE_DATE_EPOCH is not set.
  const epoch = options.sourceDateEpoch ?? Math.floor(Date.now() / 1000);
  const layerCache = options.layerCache ?? options.sourceDateEpoch !== undefined;
  return withTempDir('build', async (work) => {
    const built: BuiltImage[] = [];
    for (const arch of options.archs) {
      const dir = join(work, arch);
      await mkdir(dir);
      const archLog = options.archs.length > 1 ? (line: string) => log(`${arch}: ${line}`) : log;
      built.push(await buildArchImage({ ...options, arch, log: archLog, sourceDateEpoch: epoch, layerCache }, dir));
    }
    const artifact = built.length === 1 ? built[0]!.image : assembleIndex(built.map((b) => b.image), imageAnnotations(options, isoTime(epoch), built[0]!.codename));
    const digest = await writeImage(options.destination, artifact);
    log(`write: ${options.destination} ${digest}${built.length > 1 ? ` (an index of ${built.length} platforms)` : ''}`);
    const images = built.map((b) => b.summary);
    if (images.length > 1) return { digest, images };
    // One platform: the destination may store a Docker manifest whose digest differs (docker-archive).
    return { ...images[0]!, digest, images: [{ ...images[0]!, digest }] };
  });
}

/** The default config of the busybox images. */
export const BUSYBOX_CONFIG: ContainerConfig = { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] };

/**
 * The OCI annotations of a built image: when it was made (the same time as the config's `created`, so
 * SOURCE_DATE_EPOCH keeps it reproducible) and what it is, then the spec's and flags' annotations
 * (`org.opencontainers.image.source`, `.base.name`, `.version`…), which win.
 */
function imageAnnotations(options: Pick<DebianBuildOptions, 'annotations' | 'preset'>, created: string, codename: string): Record<string, string> {
  return sortedRecord({
    'org.opencontainers.image.created': created,
    'org.opencontainers.image.description': options.preset === 'busybox' ? `busybox from Debian ${codename}'s busybox-static` : `Debian ${codename} (${options.preset})`,
    ...options.annotations,
  });
}

/**
 * The layer blob for canonical entries: from the layer cache when the same entries were written before
 * (same packages, effects, spec and SOURCE_DATE_EPOCH), else written now (tar, compress, hash in one
 * pass) into the store and kept there for the next build.
 */
async function cachedLayer(options: ArchBuildOptions, store: ContentStore, canonical: Entry[], work: string, log: (line: string) => void): Promise<{ blob: string; written: WrittenLayer }> {
  const compression = { compression: options.compression ?? 'gzip' } as const;
  // Tar size estimate for the display: contents plus a header (and padding) per entry.
  const total = canonical.reduce((n, e) => n + e.size + 1024, 0);
  const onProgress = (done: number) => options.progress?.({ step: 'compress', done, total: Math.max(done, total), unit: 'bytes' });
  if (!options.layerCache) {
    const blob = join(work, 'layer.blob');
    return { blob, written: await writeLayer(canonical, blob, { ...compression, onProgress }) };
  }
  const cache = new LayerCache(store);
  const key = await layerKey(canonical, compression);
  const hit = await cache.get(key);
  if (hit) {
    log(`layer: the same entries as a layer in the cache (${hit.written.descriptor.digest}); reused, not compressed again`);
    return { blob: hit.path, written: hit.written };
  }
  return withTempDir(
    store.tempPrefix('layer'),
    async (dir) => {
      const tmp = join(dir, 'layer.blob');
      const written = await writeLayer(canonical, tmp, { ...compression, onProgress });
      return { blob: await cache.put(key, tmp, written), written };
    },
    await store.tempParent(),
  );
}

/** Entries to a canonical layer, then config and manifest. */
async function assembleBuiltImage(
  options: ArchBuildOptions,
  all: SourcedEntry[],
  epoch: number,
  work: string,
  codename: string,
  packages: LockedPackage[],
  log: (line: string) => void,
  defaults: ContainerConfig,
): Promise<BuiltImage> {
  const canonical = canonicalizeEntries(all, { maxMtime: epoch });

  const { blob, written } = await cachedLayer(options, new ContentStore(options.cacheDir ?? defaultCacheDir()), canonical, work, log);
  const created = isoTime(epoch);
  const platform = debianPlatform(options.arch);
  const config: ImageConfig = {
    created,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: options.config ?? defaults,
    rootfs: { type: 'layers', diff_ids: [written.diffID] },
    history: [{ created, created_by: `fromscratch build ${codename} ${options.preset}`, comment: `${packages.length} packages` }],
  };
  const image = assembleImage(config, [fileLayer(blob, written.descriptor, written.diffID)], imageAnnotations(options, created, codename));
  log(`layer: ${(written.descriptor.size / 1e6).toFixed(1)} MB compressed, ${(written.uncompressedSize / 1e6).toFixed(1)} MB uncompressed; image ${image.digest}`);
  return {
    image,
    codename,
    summary: {
      arch: options.arch,
      platform: formatPlatform(platform),
      digest: image.digest,
      packages: packages.map((p) => ({ name: p.name, version: p.version, architecture: p.architecture, sha256: p.sha256, filename: p.filename })),
      compressedSize: written.descriptor.size,
      uncompressedSize: written.uncompressedSize,
    },
  };
}
