import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as openpgp from 'openpgp';
import { readHostSources, type AptSource } from '../src/packages/deb/apt-sources.js';
import { loadKeyring, type Keyring } from '../src/packages/deb/release.js';
import { openRepository } from '../src/packages/deb/repository.js';
import { ContentStore } from '../src/packages/fetch/store.js';
import { tempDir } from './helpers.js';

/** The host's Debian archive, found the way the tool finds it: from the apt configuration. */
async function hostArchive(): Promise<AptSource> {
  const source = (await readHostSources()).find((s) => s.suites.includes('bookworm') && s.signedBy);
  if (!source) throw new Error('this machine has no apt source for bookworm; the tests need one');
  return source;
}

/**
 * A loopback proxy in front of the real mirror that can rewrite what it serves: the tampered copy of
 * the archive the acceptance tests ask for.
 */
async function tamperingProxy(upstream: string, tamper: (path: string, body: Buffer) => Buffer): Promise<{ url: string; server: Server }> {
  const server = createServer(async (req, res) => {
    try {
      const response = await fetch(upstream.replace(/\/+$/, '') + req.url);
      const body = tamper(req.url ?? '', Buffer.from(await response.arrayBuffer()));
      res.writeHead(response.status, { 'content-length': body.length });
      res.end(body);
    } catch {
      res.writeHead(502);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('Debian repository client', () => {
  let source: AptSource;
  let keyring: Keyring;
  let store: ContentStore;
  const servers: Server[] = [];

  before(async () => {
    source = await hostArchive();
    keyring = await loadKeyring([source.signedBy!]);
    store = new ContentStore(join(tempDir('cache'), 'store'));
  });
  after(() => servers.forEach((s) => s.close()));

  it('verifies InRelease and Packages and lists the suite\'s packages', async () => {
    const repo = await openRepository({ uri: source.uris[0]!, suite: 'bookworm', components: ['main'], keyring }, 'amd64', { store });
    assert.equal(repo.release.codename, 'bookworm');
    assert.ok(repo.packages.length > 50000, `${repo.packages.length} packages`);
    const bash = repo.packages.find((p) => p.name === 'bash')!;
    assert.ok(bash.essential);
    assert.match(bash.sha256, /^[a-f0-9]{64}$/);
    assert.match(bash.filename, /^pool\/main\/b\/bash\/bash_.*_amd64\.deb$/);
  });

  it('builds from the cache alone with offline, and says so when the cache lacks something', async () => {
    const repo = await openRepository({ uri: source.uris[0]!, suite: 'bookworm', components: ['main'], keyring }, 'amd64', { store, offline: true });
    assert.ok(repo.packages.length > 50000);
    const empty = new ContentStore(join(tempDir('cache'), 'empty'));
    await assert.rejects(
      openRepository({ uri: source.uris[0]!, suite: 'bookworm', components: ['main'], keyring }, 'amd64', { store: empty, offline: true }),
      /InRelease: not in the cache, and --offline forbids downloading it/,
    );
  });

  it('refuses an InRelease whose text was changed', async () => {
    const proxy = await tamperingProxy(source.uris[0]!, (path, body) => (path.endsWith('/InRelease') ? Buffer.from(body.toString('utf8').replace('Origin: Debian', 'Origin: Debiam')) : body));
    servers.push(proxy.server);
    await assert.rejects(
      openRepository({ uri: proxy.url, suite: 'bookworm', components: ['main'], keyring }, 'amd64', { store: new ContentStore(tempDir('cache')) }),
      /InRelease: the signature does not verify with the keyring \(.*Signed digest did not match/,
    );
  });

  it('refuses a Packages index that does not match the Release checksum', async () => {
    const proxy = await tamperingProxy(source.uris[0]!, (path, body) => (/Packages|by-hash/.test(path) ? Buffer.concat([body, Buffer.from('x')]) : body));
    servers.push(proxy.server);
    await assert.rejects(
      openRepository({ uri: proxy.url, suite: 'bookworm', components: ['main'], keyring }, 'amd64', { store: new ContentStore(tempDir('cache')) }),
      /size mismatch|SHA256 mismatch/,
    );
  });

  it('refuses a Release signed by a key that is not in the keyring', async () => {
    const { publicKey } = await openpgp.generateKey({ userIDs: [{ name: 'someone else' }], type: 'ecc', curve: 'curve25519Legacy', format: 'object' });
    await assert.rejects(
      openRepository({ uri: source.uris[0]!, suite: 'bookworm', components: ['main'], keyring: [publicKey] }, 'amd64', { store }),
      /the signature does not verify with the keyring/,
    );
  });

  it('names a suite or component the mirror does not have', async () => {
    await assert.rejects(
      openRepository({ uri: source.uris[0]!, suite: 'no-such-suite', components: ['main'], keyring }, 'amd64', { store }),
      /suite "no-such-suite" is not on the mirror/,
    );
    await assert.rejects(
      openRepository({ uri: source.uris[0]!, suite: 'bookworm', components: ['mian'], keyring }, 'amd64', { store }),
      /suite "bookworm" has no component "mian" \(it has: .*main/,
    );
  });
});
