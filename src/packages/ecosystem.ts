/*
 * The contract between the build pipeline (src/builder/) and a package ecosystem (src/packages/deb/,
 * src/packages/rpm/, ...): types only, no implementation. The pipeline and every ecosystem import this
 * module; the pipeline never imports an ecosystem's internals, and an ecosystem never imports the
 * pipeline. docs/architecture.md walks through it.
 */
import type { z } from 'zod';
import type { SourcedEntry } from '../entries/entry-set.js';
import type { ContainerConfig } from '../oci/config.js';
import type { Platform } from '../oci/platform.js';
import type { ProgressStatus } from '../progress/progress.js';
import type { Checksum } from './fetch/checksum.js';
import type { ContentStore } from './fetch/store.js';

export type EcosystemId = 'deb' | 'rpm' | 'apk';

/**
 * How a downloaded package is checked before anything reads it. Debian's indexes and most yum
 * repositories give a SHA-256 of the whole file; yum repositories may name another algorithm; Alpine's
 * index gives a SHA-1 of the package's control segment only, which its ecosystem checks itself
 * (`Ecosystem.verifyPart`) before the pipeline stores the file under its own SHA-256.
 */
export interface Integrity extends Checksum {
  covers: 'file' | 'part';
}

/** What the pipeline needs to fetch, verify, cache and name one package, whatever its ecosystem. */
export interface PackageRef {
  name: string;
  version: string;
  architecture: string;
  /** The file's size in bytes, as the index gives it. */
  size: number;
  /** Where to download it from. */
  url: string;
  integrity: Integrity;
  /** How errors and progress name the package, e.g. `bash_5.2.15-2+b2_amd64.deb`. */
  display: string;
}

/** One package in a build's summary: the ecosystem's checksum and file name fields besides these. */
export type PackageSummary = { name: string; version: string; architecture: string } & Record<string, string>;

/** A package decoded once and kept in the unpacked cache: its files and what its database records. */
export interface UnpackedPackage {
  /** The package's own metadata members: dpkg's control archive members, rpm's header blobs. */
  meta: Map<string, Buffer>;
  /** Its files as layer entries (content readable), paths as packaged. */
  entries: SourcedEntry[];
  /** The digest the package records for each regular file, by entry path (dpkg's md5sums, rpm's FILEDIGESTS). */
  digests: Map<string, string>;
}

/** What an ecosystem's decoder leaves: the package, its file contents spooled back to back into one blob. */
export interface DecodedPackage extends UnpackedPackage {
  spool: {
    path: string;
    sha256: string;
    size: number;
    /** Per entry, where its content starts in the spool, or -1 when it has none. */
    offsets: number[];
  };
}

/** Everything the resolver may use besides the request: the shared store, the network switch, the log. */
export interface ResolveContext {
  store: ContentStore;
  offline: boolean;
  log: (line: string) => void;
  progress: (status: ProgressStatus) => void;
}

/**
 * A resolution: the packages (in install order) and the ecosystem's own lockfile fields (Debian's codename
 * and suites; a yum build's repositories). `cacheKey`, when given, says what the result is a pure function
 * of (the verified indexes' hashes and the request), so the pipeline can keep it in the resolution cache.
 */
export interface Resolution<Locked, LockFields> {
  packages: Locked[];
  fields: LockFields;
  /** Lines for the log that a cached resolution repeats (`resolve: left unsatisfied: ...`). */
  notes: string[];
}

/** What resolving can tell before reading any index: a key for the resolution cache, or a resolution. */
export interface PreparedResolution<Locked, LockFields> {
  /** What the resolution depends on (verified index hashes, the request); undefined: never cached. */
  cacheKey?: unknown;
  /** The request in a few words for the log, e.g. `minbase + curl`. */
  described: string;
  /** Reads the indexes and resolves; the pipeline calls it when the cache has no resolution for the key. */
  resolve(): Promise<Resolution<Locked, LockFields>>;
}

/** What the install step gets: the resolved packages with their decoded contents, and the build's settings. */
export interface InstallInput<Locked, LockFields> {
  packages: readonly Locked[];
  unpacked: readonly UnpackedPackage[];
  fields: LockFields;
  arch: string;
  /** Build time (SOURCE_DATE_EPOCH), for files effects write. */
  epoch: number;
  /** A folder for the build's temporary files, removed after the build. */
  work: string;
  /** Users, groups and home folders the spec adds. */
  accounts?: SpecAccounts;
  /** The verified package file of `pkg`, from the store (or fetched): for installers that run the real tools. */
  fetch(pkg: Locked): Promise<string>;
  /** The content store and the network switch, for what installing reads (signing keys named by URL). */
  store: ContentStore;
  offline: boolean;
  log: (line: string) => void;
}

/** The spec's accounts as the ecosystems' account effects add them. */
export interface SpecAccounts {
  /** passwd lines. */
  users: string[];
  /** group lines. */
  groups: string[];
  homes: { path: string; uid: number; gid: number }[];
}

/** The installed system: every entry of the layer but the spec's own paths, and how to describe it. */
export interface Installed {
  entries: SourcedEntry[];
  /** `org.opencontainers.image.description`, e.g. `Debian bookworm (minbase)`. */
  description: string;
  /** The layer's history `created_by`, e.g. `fromscratch build bookworm minbase`. */
  createdBy: string;
  /** Annotations the image gets unless the spec or flags give them (the release's version). */
  annotations?: Record<string, string>;
}

/**
 * One package ecosystem. `Request` is what a build asks of it (suites, presets, packages...), `Locked` one
 * package as its lockfile pins it, `LockFields` the lockfile's ecosystem-specific top-level fields.
 */
export interface Ecosystem<Request, Locked, LockFields> {
  readonly id: EcosystemId;
  /** The OCI platform of one of the ecosystem's architecture names (`arm64` → linux/arm64/v8). */
  platform(arch: string): Platform;
  /** Checks a request before anything is read or downloaded. */
  check?(request: Request, archs: readonly string[]): Promise<void>;
  /** Opens the indexes the request needs (verified) and says what a resolution would depend on. */
  prepare(request: Request, arch: string, context: ResolveContext): Promise<PreparedResolution<Locked, LockFields>>;
  /** The lockfile's schemas: one package, and the ecosystem's top-level fields. */
  readonly lockSchema: { package: z.ZodType<Locked>; fields: z.ZodType<LockFields> };
  /** What the pipeline needs of a locked package to fetch, verify, cache and name it. */
  ref(pkg: Locked): PackageRef;
  /** A package as the build's JSON summary lists it (name, version, architecture and its checksum). */
  summarize(pkg: Locked): PackageSummary;
  /** The container config an image gets unless the spec or flags say otherwise. */
  defaultConfig(request: Request): ContainerConfig;
  /** Bumped when `decode` changes what it produces: cached decodings of older versions are ignored. */
  readonly decoderVersion: number;
  /** Decodes a verified package file into entries, spooling file contents under `spoolDir`. */
  decode(file: string, pkg: Locked, spoolDir: string): Promise<DecodedPackage>;
  /** For `integrity.covers === 'part'`: checks the part the index hashes; throws a UserError when it differs. */
  verifyPart?(file: string, pkg: Locked): Promise<void>;
  /**
   * What `install` depends on besides the packages, the request and the build's settings (the signing
   * keys it checks against…), for the build cache; undefined when its result is not a function of its
   * inputs (real scripts run by host tools), so it is never cached. Absent: never cached.
   */
  installKey?(request: Request, fields: LockFields, context: { store: ContentStore; offline: boolean }): Promise<unknown>;
  /** The package database and the effects of installing: the whole system but the spec's paths. */
  install(input: InstallInput<Locked, LockFields>, request: Request): Promise<Installed>;
}
