import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { readHostSources, type AptSource } from '../src/packages/deb/apt-sources.js';
import { loadKeyring } from '../src/packages/deb/release.js';
import { openRepository, type Repository } from '../src/packages/deb/repository.js';
import { resolve } from '../src/packages/deb/resolver.js';
import { PackageUniverse } from '../src/packages/deb/universe.js';
import { ContentStore } from '../src/packages/fetch/store.js';
import { debootstrapChroot, must, tempDir } from './helpers.js';

/**
 * The oracles are Debian's own tools: `debootstrap --print-debs` for the presets, and apt-get's
 * resolver (`install --simulate --no-install-recommends`) inside a real debootstrap chroot for
 * requests on top of minbase.
 */
describe('resolver against debootstrap and apt', () => {
  let source: AptSource;
  let store: ContentStore;
  let chroot: string;
  const universes = new Map<string, { universe: PackageUniverse; repo: Repository }>();

  async function universe(suite: string) {
    let u = universes.get(suite);
    if (!u) {
      const keyring = await loadKeyring([source.signedBy!]);
      const repo = await openRepository({ uri: source.uris[0]!, suite, components: ['main'], keyring }, 'amd64', { store });
      u = { universe: new PackageUniverse([repo], 'amd64'), repo };
      universes.set(suite, u);
    }
    return u;
  }

  before(async () => {
    source = (await readHostSources()).find((s) => s.suites.includes('bookworm') && s.signedBy)!;
    assert.ok(source, 'this machine needs an apt source for bookworm');
    store = new ContentStore(join(tempDir('cache'), 'store'));
    chroot = debootstrapChroot('bookworm', source.uris[0]!);
  });

  for (const suite of ['bookworm', 'trixie']) {
    it(`minbase for ${suite} is debootstrap --print-debs --variant=minbase`, async () => {
      const { universe: u, repo } = await universe(suite);
      const ours = resolve(u, { preset: 'minbase', codename: repo.release.codename! }).packages.map((p) => p.name);
      const target = join(tempDir('print-debs'), 'target');
      const theirs = must('debootstrap', ['--print-debs', '--variant=minbase', suite, target, source.uris[0]!]).split(/\s+/).filter(Boolean).sort();
      assert.deepEqual(ours, theirs);
    });
  }

  it('minbase for bookworm has the versions debootstrap installs', async () => {
    const { universe: u, repo } = await universe('bookworm');
    const ours = resolve(u, { preset: 'minbase', codename: repo.release.codename! }).packages.map((p) => `${p.name} ${p.version}`);
    const installed = must('chroot', [chroot, 'dpkg-query', '-W', '-f', '${Package} ${Version}\\n']).trim().split('\n').sort();
    assert.deepEqual(ours, installed);
  });

  for (const request of [['curl'], ['python3'], ['openssh-server'], ['nginx'], ['curl', 'python3', 'openssh-server', 'nginx']]) {
    it(`minbase + ${request.join(' ')} is what apt-get --no-install-recommends chooses`, async () => {
      const { universe: u, repo } = await universe('bookworm');
      const base = new Set(resolve(u, { preset: 'minbase', codename: repo.release.codename! }).packages.map((p) => p.name));
      const ours = resolve(u, { preset: 'minbase', codename: repo.release.codename!, include: request })
        .packages.filter((p) => !base.has(p.name))
        .map((p) => `${p.name} ${p.version}`);
      const simulated = must('chroot', [chroot, 'apt-get', 'install', '--simulate', '--no-install-recommends', '-qq', ...request]);
      const theirs = [...simulated.matchAll(/^Inst (\S+) \((\S+)/gm)].map((m) => `${m[1]} ${m[2]}`).sort();
      assert.ok(theirs.length > 0);
      assert.deepEqual(ours, theirs);
    });
  }

  it('suggests near names for an unknown package and shows the chain of an unsatisfiable one', async () => {
    const { universe: u } = await universe('bookworm');
    assert.throws(() => resolve(u, { preset: 'none', include: ['curll'] }), /unknown package "curll"; did you mean curl/);
    assert.throws(() => resolve(u, { preset: 'none', include: ['bash=0.1'] }), /package "bash" has no version 0\.1 \(available: /);
  });
});
