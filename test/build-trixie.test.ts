import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cliOk, Podman, sharedDir, tempDir } from './helpers.js';

/** The current stable successor: trixie minbase plus curl and ca-certificates. */
describe('build: Debian trixie with curl and ca-certificates', () => {
  const podman = new Podman();
  let image: string;

  before(() => {
    const layout = join(tempDir('build'), 'trixie');
    cliOk(['build', `oci:${layout}:trixie`, '--suite', 'trixie', '--include', 'curl,ca-certificates'], { env: { FROMSCRATCH_CACHE: join(sharedDir(), 'cache') } });
    image = podman.ok(['pull', '-q', `oci:${layout}:trixie`]).trim().split('\n').pop()!;
  });
  after(() => podman.cleanup());

  const inImage = (script: string) => {
    const r = podman.runImage(image, ['bash', '-c', script]);
    assert.equal(r.status, 0, `${script}\n${r.stderr}${r.stdout}`);
    return r.stdout;
  };

  it('passes dpkg --audit, dpkg --verify and apt-get check; /bin is the merged link; awk, which and curl run', () => {
    const out = inImage('echo "audit:$(dpkg --audit)"; echo "verify:$(dpkg --verify)"; apt-get check -qq && echo check-ok; readlink /bin; awk "BEGIN{print 1}"; which which; curl --version | head -c 5');
    assert.equal(out, 'audit:\nverify:\ncheck-ok\nusr/bin\n1\n/usr/bin/which\ncurl ');
  });

  it('has the certificate bundle and configuration update-ca-certificates itself would write', () => {
    const out = inImage(
      'cp /etc/ssl/certs/ca-certificates.crt /tmp/bundle; cp /etc/ca-certificates.conf /tmp/conf; ' +
        'update-ca-certificates --fresh >/dev/null 2>&1; dpkg-reconfigure -fnoninteractive ca-certificates >/dev/null 2>&1; ' +
        'cmp /tmp/bundle /etc/ssl/certs/ca-certificates.crt && cmp /tmp/conf /etc/ca-certificates.conf && grep -c "BEGIN CERTIFICATE" /tmp/bundle',
    );
    assert.ok(Number(out.trim()) > 100, out);
  });
});
