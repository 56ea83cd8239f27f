import { buildImage, lockPackages, type BuildOptions, type BuildResult } from '../builder/pipeline.js';
import { loadSpec, type LoadedSpec } from '../build-spec/load.js';
import { packageRequest, type PackageFlags, type PackageRequest } from '../build-spec/package-request.js';
import { specAccounts, specConfig, specCopies, specPaths } from '../build-spec/to-build.js';
import { sourceDateEpoch } from '../image/image.js';
import type { ContainerConfig } from '../oci/config.js';
import type { Compression } from '../oci/media-types.js';
import { hostPlatform } from '../oci/platform.js';
import { lockfileEcosystem, type Lockfile } from '../packages/lockfile.js';
import type { ProgressStatus } from '../progress/progress.js';

/** The flags of `build` and `lock` besides the package flags. */
export interface BuildFlags extends PackageFlags {
  /** The ecosystem's architecture names; several make an OCI index. */
  arch?: string[];
  offline?: boolean;
  lockfile?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  compression?: Compression;
}

export interface BuildHooks {
  log?: (line: string) => void;
  progress?: (status: ProgressStatus) => void;
}

/** A spec file (or none) and flags as one build: the package request and the pipeline's options. */
interface Settings {
  packages: PackageRequest;
  options: Omit<BuildOptions, 'destination'> & { config: ContainerConfig; paths: NonNullable<BuildOptions['paths']> };
  loaded: LoadedSpec;
  mtime: number;
}

const EMPTY_SPEC: LoadedSpec = { spec: { contents: {} }, dir: '.', locate: () => '' };

async function settings(specFile: string | undefined, flags: BuildFlags, hooks: BuildHooks): Promise<Settings> {
  const loaded = specFile ? await loadSpec(specFile) : EMPTY_SPEC;
  const { spec, dir } = loaded;
  const packages = packageRequest(spec, flags, dir, flags.lockfile ? await lockfileEcosystem(flags.lockfile) : undefined);
  const epoch = sourceDateEpoch();
  const mtime = epoch ?? Math.floor(Date.now() / 1000);
  const { hostArch, defaults } = await ecosystemDefaults(packages);
  const config = specConfig(spec, defaults);
  const annotations = spec.annotations || flags.annotations ? { ...spec.annotations, ...flags.annotations } : undefined;
  return {
    packages,
    loaded,
    mtime,
    options: {
      archs: flags.arch ?? spec.archs ?? [hostArch],
      offline: Boolean(flags.offline),
      ...(epoch !== undefined ? { sourceDateEpoch: epoch } : {}),
      config: flags.labels ? { ...config, Labels: { ...config.Labels, ...flags.labels } } : config,
      accounts: specAccounts(spec),
      paths: await specPaths(spec, dir, mtime),
      ...(annotations ? { annotations } : {}),
      ...(flags.compression ? { compression: flags.compression } : {}),
      ...(flags.lockfile ? { lockfile: flags.lockfile } : {}),
      ...(hooks.log ? { log: hooks.log } : {}),
      ...(hooks.progress ? { progress: hooks.progress } : {}),
    },
  };
}

/** The host's architecture in the ecosystem's names, and the config its images get by default. */
async function ecosystemDefaults(packages: PackageRequest): Promise<{ hostArch: string; defaults: ContainerConfig }> {
  if (packages.ecosystem === 'rpm') {
    const { rpmArch } = await import('../packages/rpm/architecture.js');
    const { rpm } = await import('../packages/rpm/ecosystem.js');
    return { hostArch: rpmArch(hostPlatform()), defaults: rpm.defaultConfig(packages.request) };
  }
  const { debianArch } = await import('../packages/deb/architecture.js');
  const { debian } = await import('../packages/deb/ecosystem.js');
  return { hostArch: debianArch(hostPlatform()), defaults: debian.defaultConfig(packages.request) };
}

async function build(packages: PackageRequest, options: BuildOptions): Promise<BuildResult> {
  if (packages.ecosystem === 'rpm') return buildImage((await import('../packages/rpm/ecosystem.js')).rpm, packages.request, options);
  return buildImage((await import('../packages/deb/ecosystem.js')).debian, packages.request, options);
}

/**
 * `fromscratch build [SPEC] DESTINATION`: the spec's and flags' packages, accounts, paths and copies, built
 * by the ecosystem's plug-in through the one pipeline and written to the destination.
 */
export async function buildCommand(specFile: string | undefined, destination: string, flags: BuildFlags, hooks: BuildHooks = {}): Promise<BuildResult> {
  const { packages, options, loaded, mtime } = await settings(specFile, flags, hooks);
  // Files copied from other images are spooled into the build's folder and written from there into the layer.
  const copies = loaded.spec.copy?.length ? { copies: (spool: string) => specCopies(loaded.spec, loaded.dir, spool, mtime, loaded.locate) } : {};
  return build(packages, { ...options, ...copies, destination });
}

/** `fromscratch lock [SPEC] LOCKFILE`: resolves as `build` would and writes the pinned set. */
export async function lockCommand(specFile: string | undefined, lockfile: string, flags: BuildFlags, hooks: BuildHooks = {}): Promise<Lockfile<{ name: string }, unknown>> {
  const { packages, options } = await settings(specFile, flags, hooks);
  if (packages.ecosystem === 'rpm') return lockPackages((await import('../packages/rpm/ecosystem.js')).rpm, packages.request, options, lockfile);
  return lockPackages((await import('../packages/deb/ecosystem.js')).debian, packages.request, options, lockfile);
}
