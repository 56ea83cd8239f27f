import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseSpec } from '../src/build-spec/load.js';
import { specJsonSchema } from '../src/build-spec/schema.js';
import { specAccounts, specConfig } from '../src/build-spec/to-build.js';
import { ROOT } from './helpers.js';

describe('build specs', () => {
  it('parses every example', () => {
    const examples = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.yaml'));
    assert.ok(examples.length >= 3);
    for (const f of examples) parseSpec(readFileSync(join(ROOT, 'examples', f), 'utf8'), f);
  });

  it('names the file, line and YAML path of each error', () => {
    const text = 'contents:\n  suite: bookworm\n  packages: [curl, Bad_Name]\naccounts:\n  users:\n    - username: x\n      uid: -1\nentrypoynt: /bin/sh\n';
    assert.throws(() => parseSpec(text, 'spec.yaml'), (err: Error) => {
      assert.match(err.message, /^spec\.yaml:3: contents\.packages\[1\]: a Debian package name/m);
      assert.match(err.message, /^spec\.yaml:7: accounts\.users\[0\]\.uid: /m);
      assert.match(err.message, /^spec\.yaml:8: \(top level\): unknown key\(s\) entrypoynt/m);
      return true;
    });
    assert.throws(() => parseSpec('contents:\n  suite: [bookworm\n', 's.yaml'), /s\.yaml:\d+: invalid YAML/);
  });

  it('reads permissions with a leading zero as octal, as apko does', () => {
    const spec = parseSpec('contents: {}\npaths:\n  - path: /tmp\n    type: directory\n    permissions: 01777\n', 's.yaml');
    assert.equal(spec.paths![0]!.permissions, 0o1777);
  });

  it('turns accounts and config into passwd lines and an image config', () => {
    const spec = parseSpec(readFileSync(join(ROOT, 'examples/distroless-static.yaml'), 'utf8'), 'x');
    const accounts = specAccounts(spec);
    assert.deepEqual(accounts.users, ['nonroot:x:65532:65532:nonroot:/home/nonroot:/usr/sbin/nologin']);
    assert.deepEqual(accounts.groups, ['nonroot:x:65532:']);
    const config = specConfig(spec, { Env: ['PATH=/usr/bin'], Cmd: ['bash'] });
    assert.deepEqual(config, { Env: ['PATH=/usr/bin', 'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'], Entrypoint: ['/app'], WorkingDir: '/home/nonroot', User: '65532' });
  });

  it('publishes an up-to-date JSON Schema (npm run schema regenerates it)', () => {
    const committed = JSON.parse(readFileSync(join(ROOT, 'schema/fromscratch.schema.json'), 'utf8'));
    assert.deepEqual(committed, JSON.parse(JSON.stringify(specJsonSchema())));
  });
});
