import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../digest.js';
import { canonicalizeEntries, type SourcedEntry } from '../entries/entry-set.js';
import { layOver } from '../entries/overlay.js';
import { UserError } from '../errors.js';
import { withTempDir } from '../fs/temp.js';
import { assembleImage, isoTime, sortedRecord, type Image } from '../image/image.js';
import { assembleIndex } from '../image/multi-platform.js';
import { LayerCache } from '../layer/layer-cache.js';
import { fileLayer } from '../layer/layer.js';
import type { WrittenLayer } from '../layer/layer-writer.js';
import { collectGarbage } from '../memory/garbage.js';
import type { ContainerConfig, ImageConfig } from '../oci/config.js';
import type { Compression } from '../oci/media-types.js';
import { formatPlatform } from '../oci/platform.js';
import type { Ecosystem, Installed, PackageSummary, Resolution, SpecAccounts } from '../packages/ecosystem.js';
import { fetchPackage } from '../packages/fetch/package-fetcher.js';
import { ContentStore, defaultCacheDir } from '../packages/fetch/store.js';
import { readLockfile, writeLockfile, type Lockfile } from '../packages/lockfile.js';
import { ResolutionCache } from '../packages/resolution-cache.js';
import { unpackPackages, type UnpackProgress } from '../packages/unpack.js';
import type { ProgressStatus } from '../progress/progress.js';
import { parseReference } from '../transport/reference.js';
import { writeImage } from '../transport/transports.js';
import { BuildCache } from './build-cache.js';
import { cachedLayer } from './cached-layer.js';

/**
 * The build pipeline, the same for every package ecosystem, per architecture:
 *   resolve (or read the lockfile) → fetch and verify → decode (cached) → install (the ecosystem's
 *   database and effects) → lay the spec's paths over → one canonical layer (cached) → image;
 * then one image, or an index of one image per architecture, written to the destination.
 * An ecosystem supplies only what is its own (src/packages/ecosystem.ts; docs/architecture.md).
 */
export interface BuildOptions {
  destination: string;
  /** The ecosystem's architecture names; several make an OCI index with one image per platform. */
  archs: string[];
  offline?: boolean;
  cacheDir?: string;
  sourceDateEpoch?: number;
  compression?: Compression;
  /** The image config; default: the ecosystem's for the request. */
  config?: ContainerConfig;
  annotations?: Record<string, string>;
  /** Users, groups and home folders to add (from the spec's accounts). */
  accounts?: SpecAccounts;
  /** Extra files and folders (from the spec's paths and copies), laid over the installed system. */
  paths?: SourcedEntry[];
  /** Folders to create only where nothing else makes one (the parents of copied paths). */
  parents?: SourcedEntry[];
  /**
   * More paths and parents, read into a folder of the build once the request is checked and before any
   * package is fetched (the spec's `copy` from other images), so a wrong source fails fast.
   */
  copies?: (spoolDir: string) => Promise<{ entries: SourcedEntry[]; parents: SourcedEntry[] }>;
  /** Install exactly the packages this lockfile pins (no index is read). */
  lockfile?: string;
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

/** What one architecture's build gave. */
export interface PlatformResult {
  arch: string;
  /** The OCI platform, e.g. linux/arm64/v8. */
  platform: string;
  digest: Digest;
  packages: PackageSummary[];
  compressedSize: number;
  uncompressedSize: number;
}

/**
 * The written image's digest (an index's for several architectures) and each platform's result; with one
 * architecture its result's fields are also at the top level.
 */
export type BuildResult = { digest: Digest; images: PlatformResult[] } & Partial<Omit<PlatformResult, 'digest'>>;

/** The options of one architecture's image (the build runs this once per architecture). */
type ArchOptions = Omit<BuildOptions, 'archs' | 'destination'> & { arch: string; epoch: number; log: (line: string) => void };

/** The packages to install: pinned by the lockfile, from the resolution cache, or resolved now. */
async function packagesFor<R, L extends { name: string }, F>(ecosystem: Ecosystem<R, L, F>, request: R, options: ArchOptions, store: ContentStore): Promise<Resolution<L, F>> {
  const { arch, log } = options;
  if (options.lockfile) {
    const lock = await readLockfile(options.lockfile, ecosystem.id, ecosystem.lockSchema);
    if (lock.arch !== arch) throw new UserError(`lockfile "${options.lockfile}" is for ${lock.arch}, but this build is for ${arch}`);
    log(`lock: ${lock.packages.length} packages pinned by ${options.lockfile}`);
    return { packages: lock.packages, fields: lock.fields, notes: [] };
  }
  const prepared = await ecosystem.prepare(request, arch, { store, offline: Boolean(options.offline), log, progress: (s) => options.progress?.(s) });
  const cache = new ResolutionCache(store, ecosystem.id, ecosystem.lockSchema);
  if (prepared.cacheKey !== undefined) {
    const cached = await cache.get(arch, prepared.cacheKey);
    if (cached) {
      for (const note of cached.notes) log(note);
      log(`resolve: ${cached.packages.length} packages (${prepared.described}; same indexes and request as a cached resolution)`);
      return cached;
    }
  }
  const resolution = await prepared.resolve();
  for (const note of resolution.notes) log(note);
  log(`resolve: ${resolution.packages.length} packages (${prepared.described})`);
  if (prepared.cacheKey !== undefined) await cache.put(arch, prepared.cacheKey, resolution);
  return resolution;
}

/** `fromscratch lock`: resolves as a build would and writes the pinned set, without building. */
export async function lockPackages<R, L extends { name: string }, F>(
  ecosystem: Ecosystem<R, L, F>,
  request: R,
  options: Omit<BuildOptions, 'destination' | 'lockfile'>,
  path: string,
): Promise<Lockfile<L, F>> {
  if (options.archs.length !== 1) throw new UserError(`a lockfile pins one architecture; lock ${options.archs.join(',')} one at a time, into one lockfile each`);
  const arch = options.archs[0]!;
  ecosystem.platform(arch);
  const store = new ContentStore(options.cacheDir ?? defaultCacheDir());
  const { packages, fields } = await packagesFor(ecosystem, request, { ...options, arch, epoch: 0, log: options.log ?? (() => {}) }, store);
  const lock: Lockfile<L, F> = { ecosystem: ecosystem.id, arch, fields, packages };
  await writeLockfile(path, lock);
  return lock;
}

/** One platform's image, its layer blob in the build's work folder, not yet written anywhere. */
interface BuiltImage {
  image: Image;
  description: string;
  annotations?: Record<string, string>;
  summary: PlatformResult;
}

async function buildArchImage<R, L extends { name: string }, F>(ecosystem: Ecosystem<R, L, F>, request: R, options: ArchOptions, work: string): Promise<BuiltImage> {
  const { arch, epoch, log } = options;
  const store = new ContentStore(options.cacheDir ?? defaultCacheDir());
  const offline = options.offline ? { offline: true } : {};
  const { packages, fields } = await packagesFor(ecosystem, request, options, store);
  const built = await cachedBuild(ecosystem, request, options, store, packages, fields);
  if (built?.hit) {
    const { record, layer } = built.hit;
    log(`build: the same packages, request, spec and SOURCE_DATE_EPOCH as a build in the cache; nothing fetched, unpacked or installed`);
    log(`layer: the same entries as a layer in the cache (${layer.written.descriptor.digest}); reused, not compressed again`);
    const { layerKey: _key, ...facts } = record;
    return assembleBuiltImage(ecosystem, request, options, layer, facts, packages);
  }
  // The parsed indexes (~60,000 Debian packages, ~100 MB of heap) are garbage now; V8 would keep that
  // heap while the packages are decoded, so collect it here when the CLI allows (bin/fromscratch --expose-gc).
  collectGarbage();

  let progress: UnpackProgress | undefined;
  const mb = (n: number) => (n / 1e6).toFixed(1);
  const unpacked = await unpackPackages(packages, ecosystem, {
    store,
    ...offline,
    onProgress: (p) => {
      progress = p;
      options.progress?.({ step: 'fetch and unpack', done: p.done, total: p.count, unit: 'packages', detail: `${mb(p.downloaded)} MB downloaded, ${p.cached} from the cache` });
    },
  });
  const refs = packages.map((p) => ecosystem.ref(p));
  const checked = [...new Set(refs.map((r) => r.integrity.algorithm.toUpperCase()))].join(', ') || 'SHA256';
  log(`fetch: ${packages.length} packages, ${mb(refs.reduce((n, r) => n + r.size, 0))} MB, ${checked} verified; ${mb(progress?.downloaded ?? 0)} MB downloaded, ${progress?.cached ?? 0} packages already unpacked in the cache`);

  const installed = await ecosystem.install({
    packages, unpacked, fields, arch, epoch, work, log, store, offline: Boolean(options.offline),
    ...(options.accounts ? { accounts: options.accounts } : {}),
    fetch: async (pkg) => (await fetchPackage(ecosystem.ref(pkg), { store, ...offline })).path,
  }, request);
  // Spec paths and copies from other images replace what packages or effects put at the same place.
  const canonical = canonicalizeEntries(layOver(installed.entries, options.paths ?? [], options.parents ?? []), { maxMtime: epoch });
  const layer = await cachedLayer(canonical, store, work, {
    compression: options.compression ?? 'gzip',
    cache: options.layerCache ?? false,
    ...(options.progress ? { progress: options.progress } : {}),
    log,
  });
  const facts: ImageFacts = { description: installed.description, createdBy: installed.createdBy, ...(installed.annotations ? { annotations: installed.annotations } : {}) };
  if (built && layer.key) await built.cache.put(built.key, { layerKey: layer.key, ...facts });
  return assembleBuiltImage(ecosystem, request, options, layer, facts, packages);
}

/**
 * The build cache's key for this build, and its record when it has one whose layer is still in the layer
 * cache: only when layers are cached (SOURCE_DATE_EPOCH) and the ecosystem can say what its install
 * depends on (not for --scripts, whose result is the host tools' and the scripts').
 */
async function cachedBuild<R, L, F>(ecosystem: Ecosystem<R, L, F>, request: R, options: ArchOptions, store: ContentStore, packages: readonly L[], fields: F) {
  if (!options.layerCache || !ecosystem.installKey) return undefined;
  const installKey = await ecosystem.installKey(request, fields, { store, offline: Boolean(options.offline) });
  if (installKey === undefined) return undefined;
  const cache = new BuildCache(store);
  const key = await BuildCache.key({
    ecosystem: ecosystem.id, arch: options.arch, epoch: options.epoch, packages, fields, request, installKey,
    accounts: options.accounts ?? null, paths: options.paths ?? [], parents: options.parents ?? [], compression: options.compression ?? 'gzip',
  });
  const record = await cache.get(key);
  const layer = record && (await new LayerCache(store).get(record.layerKey));
  return { cache, key, hit: record && layer ? { record, layer: { blob: layer.path, written: layer.written } } : undefined };
}

/** The OCI annotations of a built image: when it was made and what it is, then the spec's and flags', which win. */
function imageAnnotations(annotations: Record<string, string> | undefined, created: string, description: string): Record<string, string> {
  return sortedRecord({
    'org.opencontainers.image.created': created,
    'org.opencontainers.image.description': description,
    ...annotations,
  });
}

/** What the image says of itself besides its layer: the install's description, history and annotations. */
type ImageFacts = Pick<Installed, 'description' | 'createdBy' | 'annotations'>;

/** A written layer, then config and manifest. */
function assembleBuiltImage<R, L, F>(
  ecosystem: Ecosystem<R, L, F>,
  request: R,
  options: ArchOptions,
  layer: { blob: string; written: WrittenLayer },
  facts: ImageFacts,
  packages: readonly L[],
): BuiltImage {
  const { blob, written } = layer;
  const created = isoTime(options.epoch);
  const platform = ecosystem.platform(options.arch);
  const config: ImageConfig = {
    created,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: options.config ?? ecosystem.defaultConfig(request),
    rootfs: { type: 'layers', diff_ids: [written.diffID] },
    history: [{ created, created_by: facts.createdBy, comment: `${packages.length} packages` }],
  };
  const image = assembleImage(config, [fileLayer(blob, written.descriptor, written.diffID)], imageAnnotations({ ...facts.annotations, ...options.annotations }, created, facts.description));
  options.log(`layer: ${(written.descriptor.size / 1e6).toFixed(1)} MB compressed, ${(written.uncompressedSize / 1e6).toFixed(1)} MB uncompressed; image ${image.digest}`);
  return {
    image,
    description: facts.description,
    ...(facts.annotations ? { annotations: facts.annotations } : {}),
    summary: {
      arch: options.arch,
      platform: formatPlatform(platform),
      digest: image.digest,
      packages: packages.map((p) => ecosystem.summarize(p)),
      compressedSize: written.descriptor.size,
      uncompressedSize: written.uncompressedSize,
    },
  };
}

/**
 * Builds the image for each architecture asked for and writes it: one image, or for several
 * architectures an OCI index with one image per platform (in the order given).
 */
export async function buildImage<R, L extends { name: string }, F>(ecosystem: Ecosystem<R, L, F>, request: R, options: BuildOptions): Promise<BuildResult> {
  const log = options.log ?? (() => {});
  if (options.archs.length === 0) throw new UserError('no architecture given');
  if (new Set(options.archs).size !== options.archs.length) throw new UserError(`architecture given twice: ${options.archs.join(',')}`);
  if (options.lockfile && options.archs.length > 1) throw new UserError(`a lockfile pins one architecture; build ${options.archs.join(',')} one at a time, each with its own lockfile`);
  for (const arch of options.archs) ecosystem.platform(arch);
  if (options.archs.length > 1 && parseReference(options.destination).transport === 'docker-archive') {
    throw new UserError(`${options.destination}: a docker archive holds one image per name and cannot hold an index of ${options.archs.length} platforms; write to oci: or oci-archive:, or build one platform at a time`);
  }
  await ecosystem.check?.(request, options.archs);
  // One time for every platform and the index, also when SOURCE_DATE_EPOCH is not set.
  const epoch = options.sourceDateEpoch ?? Math.floor(Date.now() / 1000);
  const layerCache = options.layerCache ?? options.sourceDateEpoch !== undefined;
  return withTempDir('build', async (work) => {
    let copied: { entries: SourcedEntry[]; parents: SourcedEntry[] } | undefined;
    if (options.copies) {
      await mkdir(join(work, 'copies'));
      copied = await options.copies(join(work, 'copies'));
    }
    const paths = [...(options.paths ?? []), ...(copied?.entries ?? [])];
    const parents = [...(options.parents ?? []), ...(copied?.parents ?? [])];
    const built: BuiltImage[] = [];
    for (const arch of options.archs) {
      const dir = join(work, arch);
      await mkdir(dir);
      const archLog = options.archs.length > 1 ? (line: string) => log(`${arch}: ${line}`) : log;
      built.push(await buildArchImage(ecosystem, request, { ...options, paths, parents, arch, epoch, log: archLog, layerCache }, dir));
    }
    const artifact = built.length === 1 ? built[0]!.image : assembleIndex(built.map((b) => b.image), imageAnnotations({ ...built[0]!.annotations, ...options.annotations }, isoTime(epoch), built[0]!.description));
    const digest = await writeImage(options.destination, artifact);
    log(`write: ${options.destination} ${digest}${built.length > 1 ? ` (an index of ${built.length} platforms)` : ''}`);
    const images = built.map((b) => b.summary);
    if (images.length > 1) return { digest, images };
    // One platform: the destination may store a Docker manifest whose digest differs (docker-archive).
    return { ...images[0]!, digest, images: [{ ...images[0]!, digest }] };
  });
}
