import { pathToFileURL } from 'node:url';
import { UserError } from '../../errors.js';
import type { ContainerConfig } from '../../oci/config.js';
import type { Ecosystem } from '../ecosystem.js';
import { parseChecksum } from '../fetch/checksum.js';
import { rpmPlatform } from './architecture.js';
import { rpmDisplayName, rpmLockSchema, type LockedRpm, type RpmLockFields } from './lockfile.js';
import { readYumConfig, rpmBasearch, rpmRepoFromUrl, type RpmRepoConfig } from './repo-config.js';
import { loadRpmRepoKeys, openMetadata, openRpmRepository, rpmLocationUrl, type RpmRepository } from './repository.js';
import type { RpmRequest } from './request.js';

/** The config of the CentOS/RHEL/Fedora base images: bash, and the usual PATH. */
export const RPM_DEFAULT_CONFIG: ContainerConfig = {
  Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
  Cmd: ['/bin/bash'],
};

/** dnf's printing of an EVR: `[EPOCH:]VERSION-RELEASE`. */
function dnfVersion(epoch: number, version: string, release: string): string {
  return `${epoch ? `${epoch}:` : ''}${version}-${release}`;
}

/** The repositories a request names: `--yum-conf`'s enabled ones, then each `--rpm-repo`. */
async function requestedRepositories(request: RpmRequest, arch: string): Promise<{ repos: RpmRepoConfig[]; exclude: string[]; releasever?: string }> {
  const repos: RpmRepoConfig[] = [];
  const exclude: string[] = [];
  let releasever = request.releasever;
  if (request.yumConf) {
    const conf = await readYumConfig(request.yumConf, { arch, ...(request.releasever !== undefined ? { releasever: request.releasever } : {}) });
    repos.push(...conf.repos.filter((r) => r.enabled));
    exclude.push(...conf.main.excludepkgs);
    releasever ??= conf.main.releasever ?? conf.vars['releasever'];
    if (repos.length === 0) throw new UserError(`${request.yumConf}: no enabled repository (in the file or its reposdir ${conf.main.reposdir.join(', ')})`);
  }
  const gpgkey = (request.keys ?? []).map((k) => pathToFileURL(k).href);
  // $arch, $basearch (the image's, for each architecture built) and $releasever in --rpm-repo URLs.
  const vars = { arch, basearch: rpmBasearch(arch), ...(releasever !== undefined ? { releasever } : {}) };
  for (const url of request.repositories) {
    repos.push(rpmRepoFromUrl(url, { gpgcheck: gpgkey.length > 0, repoGpgcheck: gpgkey.length > 0, gpgkey, vars }));
  }
  if (repos.length === 0) throw new UserError("no repository given (--rpm-repo URL or --yum-conf FILE, or the spec's contents.repositories or contents.yum-conf)");
  const ids = new Set<string>();
  for (const r of repos) {
    if (ids.has(r.id)) throw new UserError(`repository "${r.id}" is given twice (${r.source})`);
    ids.add(r.id);
  }
  return { repos, exclude, ...(releasever !== undefined ? { releasever } : {}) };
}

/** RPM-based distributions (CentOS, RHEL, Fedora, openEuler…): yum/dnf repositories, .rpm packages, rpm's database. */
export const rpm: Ecosystem<RpmRequest, LockedRpm, RpmLockFields> = {
  id: 'rpm',
  platform: rpmPlatform,
  lockSchema: rpmLockSchema,
  decoderVersion: 1,

  async check(request, archs) {
    // --scripts runs rpm in the user-namespace sandbox: only for this machine's architecture, and only where the sandbox works.
    if (!request.scripts) return;
    const { checkRpmScriptInstall } = await import('./script-install.js');
    for (const arch of archs) await checkRpmScriptInstall(arch);
  },

  async prepare(request, arch, { store, offline, log }) {
    const { repos, exclude, releasever } = await requestedRepositories(request, arch);
    const opened: RpmRepository[] = [];
    for (const repo of repos) {
      const r = await openRpmRepository(repo, { store, ...(offline ? { offline: true } : {}), log });
      log(`index: ${repo.id} (${r.baseUrl}): repomd.xml ${r.signed ? 'signature verified' : 'read'}, metadata checksums verified`);
      opened.push(r);
    }
    const install = request.include;
    // dnf's default group package types: mandatory, default, conditional.
    const groups = request.groups.map((id) => ({ id, types: request.groupTypes ?? (['mandatory', 'default', 'conditional'] as const).slice() }));
    const excluded = [...exclude, ...request.exclude];
    const resolverRequest = { install, groups, exclude: excluded, weakDeps: request.weakDeps };
    const fields: RpmLockFields = {
      ...(releasever !== undefined ? { releasever } : {}),
      repositories: opened.map((r) => ({ id: r.config.id, baseurl: r.baseUrl, repomd: r.repomdSha256, gpgcheck: r.config.gpgcheck, gpgkey: r.config.gpgkey })),
    };
    const described = [...request.groups.map((g) => `@${g}`), ...install].join(' ') || 'nothing';
    return {
      cacheKey: { repositories: opened.map((r) => ({ ...fields.repositories.find((f) => f.id === r.config.id), priority: r.config.priority, cost: r.config.cost, exclude: r.config.excludepkgs, include: r.config.includepkgs })), request: resolverRequest },
      described,
      async resolve() {
        // The resolver is loaded only when the resolution cache has no answer.
        const [{ RpmUniverse }, { resolveRpm }] = await Promise.all([import('./universe.js'), import('./resolver.js')]);
        const inputs = await Promise.all(opened.map(async (r) => ({
          repository: { id: r.config.id, priority: r.config.priority, cost: r.config.cost, baseUrl: r.baseUrl },
          primary: await openMetadata(r.primary),
          primaryFile: r.primary.url,
          filelists: () => openMetadata(r.filelists),
          filelistsFile: r.filelists.url,
          ...(r.group ? { comps: await openMetadata(r.group), compsFile: r.group.url } : {}),
          exclude: r.config.excludepkgs,
          ...(r.config.includepkgs.length ? { include: r.config.includepkgs } : {}),
        })));
        const universe = await RpmUniverse.load(inputs, { arch, exclude: excluded, paths: install.filter((p) => p.startsWith('/')) });
        log(`index: ${universe.packages.length} packages read`);
        const resolution = resolveRpm(universe, resolverRequest);
        const packages: LockedRpm[] = resolution.packages.map((p) => {
          const checksum = parseChecksum(p.checksum.algorithm, p.checksum.hex, `${p.name}: primary.xml checksum`);
          return {
            name: p.name, version: dnfVersion(p.epoch, p.version, p.release), architecture: p.arch,
            checksum: `${checksum.algorithm}:${checksum.value}`, size: p.size.package,
            repository: p.repository.baseUrl ?? '', location: p.location.href,
            ...(p.location.base !== undefined ? { base: p.location.base } : {}),
          };
        });
        return { packages, fields, notes: resolution.notes.map((n) => `resolve: ${n}`) };
      },
    };
  },

  ref(pkg) {
    const [algorithm, value] = pkg.checksum.split(':') as [string, string];
    return {
      name: pkg.name, version: pkg.version, architecture: pkg.architecture, size: pkg.size,
      url: rpmLocationUrl(pkg.repository, { href: pkg.location, ...(pkg.base !== undefined ? { base: pkg.base } : {}) }),
      integrity: { ...parseChecksum(algorithm, value, `${pkg.name} ${pkg.version}: checksum`), covers: 'file' },
      display: rpmDisplayName(pkg),
    };
  },

  summarize(pkg) {
    return { name: pkg.name, version: pkg.version, architecture: pkg.architecture, checksum: pkg.checksum, location: pkg.location };
  },

  defaultConfig: () => RPM_DEFAULT_CONFIG,

  // The declarative install checks package signatures against the repositories' keys: a build is the same
  // only with the same keys. --scripts runs rpm and the scriptlets.
  async installKey(request, fields, { store, offline }) {
    if (request.scripts) return undefined;
    const keys: Record<string, string[]> = {};
    for (const repo of fields.repositories.filter((r) => r.gpgcheck)) {
      keys[repo.id] = (await loadRpmRepoKeys({ id: repo.id, gpgkey: repo.gpgkey }, { store, offline })).map((k) => k.getFingerprint()).sort();
    }
    return { keys };
  },

  async decode(file, pkg, spoolDir) {
    // Every file of the package: what an install leaves out (nodocs, languages, slim) is decided when
    // installing, so one decoding serves every build.
    const { readRpm } = await import('./rpm-file.js');
    const contents = await readRpm(file, rpmDisplayName(pkg), spoolDir);
    return {
      meta: new Map([['header', contents.header], ['signature', contents.signature]]),
      digests: contents.digests,
      entries: contents.entries,
      spool: contents.spool,
    };
  },

  // Loaded only when a build installs (a build the build cache answers does not).
  install: async (input, request) => (await import('./install.js')).installRpm(input, request),
};
