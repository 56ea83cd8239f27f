import type { SourcedEntry } from '../../entries/entry-set.js';
import { UserError } from '../../errors.js';
import type { ContainerConfig } from '../../oci/config.js';
import type { Entry } from '../../tar/entry.js';
import type { Ecosystem, InstallInput, Installed } from '../ecosystem.js';
import { busyboxEntries } from '../effects/busybox.js';
import { debianPlatform } from './architecture.js';
import { readDeb } from './deb-file.js';
import { dpkgDatabaseEntries } from './dpkg-database.js';
import { applyInstallEffects } from './effects/apply.js';
import { debDisplayName, installSet, mergePackageEntries } from './install-set.js';
import { debLockSchema, type DebLockFields, type LockedPackage } from './lockfile.js';
import { mergedPath, mergedUsrDirs, mergedUsrEntries } from './merged-usr.js';
import { findSuiteSource } from './mirror.js';
import { loadKeyring } from './release.js';
import { loadSuitePackages, openSuite, type OpenedSuite, type Repository } from './repository.js';
import { resolve, type Preset } from './resolver.js';
import { checkScriptInstall, installWithScripts } from './script-install.js';
import { slimDpkgConfig, slimEntries } from './slim.js';
import { PackageUniverse } from './universe.js';

/** What a Debian build asks for: the suites to read, and which packages to install how. */
export interface DebianRequest {
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
  /** Leave out docs, man pages, info and locales (debuerreotype's slim variant), and keep them out. */
  slim?: boolean;
  /** Run the packages' maintainer scripts (dpkg in a user-namespace sandbox) instead of the declarative effects. */
  scripts?: boolean;
}

/** The default config of Debian's official images. */
export const DEFAULT_CONFIG: ContainerConfig = {
  Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
  Cmd: ['bash'],
};

/** The default config of the busybox images. */
export const BUSYBOX_CONFIG: ContainerConfig = { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] };

/** The config a Debian image gets unless the spec or flags say otherwise. */
export function debianDefaultConfig(request: Pick<DebianRequest, 'preset'>): ContainerConfig {
  return request.preset === 'busybox' ? BUSYBOX_CONFIG : DEFAULT_CONFIG;
}

/** Debian and Debian-like archives (Ubuntu): InRelease-signed indexes, .deb packages, dpkg's database. */
export const debian: Ecosystem<DebianRequest, LockedPackage, DebLockFields> = {
  id: 'deb',
  platform: debianPlatform,
  lockSchema: debLockSchema,
  decoderVersion: 1,

  async check(request, archs) {
    if (!request.scripts) return;
    if (request.preset === 'busybox') throw new UserError('--scripts does not apply to --preset busybox, which has no package scripts or database');
    // Before anything is read or downloaded: a sandbox that cannot start fails the build anyway.
    for (const arch of archs) await checkScriptInstall(arch);
  },

  async prepare(request, arch, { store, offline, log, progress }) {
    const components = request.components ?? ['main'];
    if (request.suites.length === 0) throw new UserError("no suite given (--suite, or the spec's contents.suite)");
    const repoOptions = { store, ...(offline ? { offline: true } : {}) };
    const suites: OpenedSuite[] = [];
    for (const suite of request.suites) {
      const source = await findSuiteSource(suite, { ...(request.mirror ? { mirror: request.mirror } : {}), ...(request.keyrings ? { keyrings: request.keyrings } : {}) });
      const keyring = await loadKeyring(source.keyrings);
      const opened = await openSuite({ uri: source.uri, suite, components, keyring }, arch, repoOptions);
      log(`index: ${suite} (${source.via}): signature verified`);
      suites.push(opened);
    }
    const codename = suites[0]!.release.codename ?? request.suites[0]!;
    const busybox = request.preset === 'busybox';
    const resolverRequest = {
      preset: busybox ? 'none' : (request.preset as Preset),
      codename,
      include: busybox ? ['busybox-static', ...(request.include ?? [])] : (request.include ?? []),
      exclude: request.exclude ?? [],
      recommends: request.recommends ?? false,
    };
    const used = suites.map((s) => ({ uri: s.config.uri, suite: s.config.suite, components: s.config.components }));
    return {
      cacheKey: { suites: used.map((u, i) => ({ ...u, indexes: suites[i]!.indexes.map((x) => x.sha256) })), request: resolverRequest },
      described: `${request.preset}${request.include?.length ? ` + ${request.include.join(' ')}` : ''}`,
      // Indexes and resolution in a function of their own: the ~60,000 packages of the indexes become
      // garbage when it returns, and only the resolved packages (detached from the index text) live on.
      async resolve() {
        const repositories: Repository[] = [];
        for (const suite of suites) {
          const onParsed = (n: number) => progress({ step: `index ${suite.config.suite}`, done: n, unit: 'packages' });
          const repo = await loadSuitePackages(suite, { ...repoOptions, onParsed });
          log(`index: ${suite.config.suite}: ${repo.packages.length} packages, checksums verified`);
          repositories.push(repo);
        }
        const resolution = resolve(new PackageUniverse(repositories, arch), resolverRequest);
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
        return { packages, fields: { codename, repositories: used }, notes: resolution.skipped.map((s) => `resolve: left unsatisfied: ${s}`) };
      },
    };
  },

  ref(pkg) {
    return {
      name: pkg.name, version: pkg.version, architecture: pkg.architecture, size: pkg.size,
      url: `${pkg.repository}/${pkg.filename}`,
      integrity: { algorithm: 'sha256', value: pkg.sha256, covers: 'file' },
      display: debDisplayName(pkg),
    };
  },

  summarize(pkg) {
    return { name: pkg.name, version: pkg.version, architecture: pkg.architecture, sha256: pkg.sha256, filename: pkg.filename };
  },

  async decode(file, pkg, spoolDir) {
    const deb = await readDeb(file, debDisplayName(pkg), spoolDir);
    const { spool } = deb;
    return { meta: deb.control, digests: deb.md5, entries: deb.entries, spool: { path: spool.path, sha256: spool.sha256!, size: spool.size, offsets: spool.offsets } };
  },

  defaultConfig: debianDefaultConfig,

  // The declarative install is a function of the packages and the request; --scripts runs dpkg and the scripts.
  installKey: async (request) => (request.scripts ? undefined : {}),

  install: installDebian,
};

async function installDebian(input: InstallInput<LockedPackage, DebLockFields>, request: DebianRequest): Promise<Installed> {
  const { packages, arch, epoch, work, log } = input;
  const { codename, repositories } = input.fields;
  const described = {
    description: request.preset === 'busybox' ? `busybox from Debian ${codename}'s busybox-static` : `Debian ${codename} (${request.preset})`,
    createdBy: `fromscratch build ${codename} ${request.preset}`,
  };
  const usrDirs = mergedUsrDirs(arch);
  const { unpacked, installed } = installSet(packages, input.unpacked, usrDirs);
  log(`unpack: ${unpacked.reduce((n, u) => n + u.entries.length, 0)} entries from ${packages.length} packages`);

  if (request.preset === 'busybox') {
    // No merged /usr, no scripts, no package database: the busybox images are just the binary and links.
    const entries = await busyboxEntries(unpacked.flatMap((u) => u.entries), { platform: debianPlatform(arch), arch }, epoch, work);
    return { entries, ...described };
  }
  if (request.scripts) {
    // dpkg installs the .debs themselves: each is taken from the store (verified again) or fetched.
    const debPaths = await Promise.all(packages.map((pkg) => input.fetch(pkg)));
    const entries = await installWithScripts({
      packages: unpacked.map((u, i) => ({ name: u.pkg.locked.name, control: installed[i]!.control, deb: debPaths[i]!, entries: u.entries })),
      installed, repositories, usrDirs, arch, epoch, spoolDir: work, log,
      ...(request.slim ? { slim: true } : {}), ...(input.accounts ? { accounts: input.accounts } : {}),
    });
    return { entries, ...described };
  }
  let merged = mergePackageEntries(unpacked);
  if (request.slim) {
    const slim = slimEntries(merged);
    merged = slim.entries;
    const saved = [...slim.saved].map(([category, bytes]) => `${category} ${(bytes / 1e6).toFixed(1)} MB`).join(', ');
    log(`slim: left out ${saved || 'nothing'}`);
  }
  const system: Entry[] = mergedUsrEntries(usrDirs, epoch, (dir) => merged.some((e) => e.path.startsWith(`usr/${dir}/`)));
  const effects = await applyInstallEffects({ entries: merged, installed, epoch, arch, locate: (p) => mergedPath(p, usrDirs),
    repositories, layout: system,
    ...(input.accounts ? { accounts: input.accounts } : {}),
  });
  for (const line of effects.notes) log(`install: ${line}`);
  const entries: SourcedEntry[] = [
    ...system.map((e) => ({ ...e, origin: 'merged /usr' })),
    ...effects.entries,
    ...(request.slim ? [slimDpkgConfig(epoch)] : []),
    ...dpkgDatabaseEntries(installed, epoch).map((e) => ({ ...e, origin: 'dpkg database' })),
  ];
  return { entries, ...described };
}
