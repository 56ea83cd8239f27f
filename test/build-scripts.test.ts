import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI, EPOCH, interruptBuild, listTree, unprivilegedProbe, must, Podman, run, sha256Hex, sharedDir, tempDir, type RunResult } from './helpers.js';

/**
 * `fromscratch build --scripts`: dpkg and the packages' own maintainer scripts run in a user-namespace
 * sandbox. The build runs as a throwaway unprivileged user with a subordinate id range (as a user of
 * the tool would), and dpkg and apt inside the image judge the result.
 */
describe('build --scripts: bookworm minbase with the maintainer scripts run', () => {
  const podman = new Podman();
  const user = `fsscripts${randomBytes(3).toString('hex')}`;
  const bare = `${user}x`;
  let home: string;
  let layout: string;
  let built: { digest: string; packages: { name: string }[]; seconds: number };
  let unprivileged = true;
  let reachable = true;
  let why = '';

  /** The CLI as `who` (root when undefined), with a private TMPDIR so leftovers can be seen. */
  const as = (who: string | undefined, args: string[]): RunResult => {
    const env = ['HOME=' + home, `PATH=${process.env['PATH']}`, `SOURCE_DATE_EPOCH=${EPOCH}`, `FROMSCRATCH_CACHE=${join(home, 'cache')}`, `TMPDIR=${join(home, 'tmp')}`];
    if (!who) return run('env', ['-i', ...env, CLI, ...args]);
    return run('setpriv', [`--reuid=${who}`, `--regid=${who}`, '--init-groups', 'env', '-i', ...env, CLI, ...args]);
  };
  const inImage = (script: string) => {
    const r = podman.runImage('fromscratch-test/debian:scripts', ['bash', '-c', script]);
    assert.equal(r.status, 0, `${script}\n${r.stderr}${r.stdout}`);
    return r.stdout;
  };

  before(() => {
    if (!existsSync('/usr/bin/newuidmap')) must('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'uidmap'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    must('useradd', ['-M', '-s', '/usr/sbin/nologin', user]);
    if (!readFileSync('/etc/subuid', 'utf8').split('\n').some((l) => l.startsWith(`${user}:`))) {
      must('usermod', ['--add-subuids', '300000-365535', '--add-subgids', '300000-365535', user]);
    }
    // A second user without subordinate ids, for the error message.
    must('useradd', ['-M', '-s', '/usr/sbin/nologin', '-K', 'SUB_UID_COUNT=0', '-K', 'SUB_GID_COUNT=0', bare]);
    home = tempDir('scripts');
    chmodSync(home, 0o755);
    mkdirSync(join(home, 'tmp'));
    const cache = join(sharedDir(), 'cache');
    if (existsSync(cache)) cpSync(cache, join(home, 'cache'), { recursive: true });
    must('chown', ['-R', `${user}:${user}`, home]);
    ({ unprivileged, reachable, why } = unprivilegedProbe(user));
    layout = join(home, 'debian');
    const r = as(unprivileged ? user : undefined, ['build', `oci:${layout}:bookworm`, '--suite', 'bookworm', '--scripts', '--json']);
    assert.equal(r.status, 0, r.stderr);
    built = JSON.parse(r.stdout);
    process.stderr.write(`# --scripts build: ${built.seconds} s (${unprivileged ? `unprivileged, as ${user}` : why})\n`);
    const id = podman.ok(['pull', '-q', `oci:${layout}:bookworm`]).trim().split('\n').pop()!;
    podman.ok(['tag', id, 'fromscratch-test/debian:scripts']);
  });
  after(() => {
    podman.cleanup();
    run('userdel', [user]);
    run('userdel', [bare]);
  });

  it('ran unprivileged, as a user with a subordinate id range', (t) => {
    if (!unprivileged) t.skip(why);
  });

  it('passes dpkg --audit and apt-get check, with every package installed (ii)', () => {
    const out = inImage('echo "audit:$(dpkg --audit)"; apt-get check -qq && echo check-ok; dpkg-query -W -f \'${db:Status-Abbrev}${Package}\\n\'');
    const [audit, check, ...rows] = out.trim().split('\n');
    assert.equal(audit, 'audit:');
    assert.equal(check, 'check-ok');
    assert.deepEqual(rows.filter((r) => !r.startsWith('ii ')), []);
    assert.deepEqual(rows.map((r) => r.slice(3).trim()).sort(), built.packages.map((p) => p.name).sort());
  });

  it('has what only the maintainer scripts make: accounts, shells, alternatives, diversions, ld.so.cache', () => {
    const out = inImage([
      'grep -c "^root:x:0:0:" /etc/passwd', 'grep -c "^_apt:x:42:65534:" /etc/passwd', 'grep -c "^root:\\*:" /etc/shadow',
      'grep -cx /bin/bash /etc/shells', 'readlink /etc/alternatives/awk', 'awk "BEGIN { print 6 * 7 }"',
      'dpkg-divert --list /bin/sh', 'test -s /etc/ld.so.cache && echo ld.so.cache', 'readlink /etc/localtime',
    ].join('; '));
    assert.equal(out, '1\n1\n1\n1\n/usr/bin/mawk\n42\ndiversion of /bin/sh to /bin/sh.distrib by dash\nld.so.cache\n/usr/share/zoneinfo/Etc/UTC\n');
  });

  it('leaves no build traces: policy-rc.d, the .debs, logs, backups, mount points', () => {
    const out = inImage('ls /usr/sbin/policy-rc.d /var/log/dpkg.log /var/log/alternatives.log /etc/passwd- /var/lib/dpkg/status-old /var/cache/ldconfig/aux-cache 2>&1 | grep -vc "No such file"; cat /etc/apt/sources.list.d/debian.sources');
    assert.match(out, /^0\nTypes: deb\n/);
    // /dev, /proc and /tmp are the runtime's inside a container: the layer itself must have them empty.
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
    const blob = (digest: string) => join(layout, 'blobs', ...digest.split(':'));
    const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), 'utf8'));
    const names = must('tar', ['-tzf', blob(manifest.layers[0].digest)]).split('\n');
    assert.deepEqual(names.filter((n) => /^(dev|proc|tmp|var\/tmp)\/./.test(n)), []);
    assert.ok(names.includes('dev/') && names.includes('proc/') && names.includes('tmp/'));
    assert.deepEqual(listTree(join(home, 'tmp')), [], 'temporary folders left behind');
  });

  it('gives the same image when root builds it again (same SOURCE_DATE_EPOCH, offline)', () => {
    const again = join(home, 'again');
    const r = as(undefined, ['build', `oci:${again}:bookworm`, '--suite', 'bookworm', '--scripts', '--offline']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), built.digest);
  });

  it('says what to configure when the user has no subordinate ids, and writes nothing', (t) => {
    if (!reachable) return t.skip(why);
    const dest = join(home, 'bare');
    const r = as(bare, ['build', `oci:${dest}:bookworm`, '--suite', 'bookworm', '--scripts', '--offline']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`needs a range of at least 65535 ids for ${bare} in /etc/subuid: .*usermod --add-subuids`));
    assert.equal(existsSync(dest), false);
  });

  it('refuses another architecture with a clear error', () => {
    const dest = join(home, 'arm');
    const r = as(undefined, ['build', `oci:${dest}:bookworm`, '--suite', 'bookworm', '--scripts', '--arch', 'arm64', '--offline']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--scripts .* builds only for this machine's architecture \(amd64\), not arm64/);
    assert.equal(existsSync(dest), false);
  });

  it('takes scripts: true from a spec, with its accounts, paths and slim', () => {
    const dir = tempDir('spec');
    const spec = join(dir, 'spec.yaml');
    writeFileSync(spec, [
      'contents: { suite: bookworm }',
      'accounts: { groups: [{ groupname: app, gid: 1234 }], users: [{ username: app, uid: 1234, gid: 1234 }] }',
      'paths: [{ path: /etc/app.conf, type: empty-file }]',
      'slim: true',
      'scripts: true',
      '',
    ].join('\n'));
    const dest = join(dir, 'image');
    const r = as(undefined, ['build', spec, `oci:${dest}:app`, '--offline']);
    assert.equal(r.status, 0, r.stderr);
    const index = JSON.parse(readFileSync(join(dest, 'index.json'), 'utf8'));
    const blob = (digest: string) => join(dest, 'blobs', ...digest.split(':'));
    const layer = blob(JSON.parse(readFileSync(blob(index.manifests[0].digest), 'utf8')).layers[0].digest);
    const file = (path: string) => must('tar', ['-xzOf', layer, path]);
    assert.match(file('etc/passwd'), /^app:x:1234:1234:app:\/home\/app:\/usr\/sbin\/nologin$/m);
    assert.match(file('etc/shadow'), /^app:\*:19675:0:99999:7:::$/m);
    assert.match(file('etc/gshadow'), /^app:\*::$/m);
    assert.match(file('etc/dpkg/dpkg.cfg.d/docker'), /path-exclude \/usr\/share\/man\/\*/);
    const listing = must('tar', ['-tzvf', layer]);
    assert.match(listing, /^drwxr-xr-x 1234\/1234 .* home\/app\/$/m);
    assert.match(listing, / etc\/app\.conf$/m);
    // No man page files (dash's postinst still links sh.1.gz, as it does under dpkg's path-exclude anywhere).
    assert.doesNotMatch(listing, /^-.* usr\/share\/man\/./m);
  });

  it('names the package and script that failed, shows dpkg\'s last lines, and writes nothing', () => {
    // minbase plus a package whose postinst fails, pinned by a lockfile, its .deb put in the cache.
    const dir = tempDir('failing');
    mkdirSync(join(dir, 'pkg/DEBIAN'), { recursive: true });
    writeFileSync(join(dir, 'pkg/DEBIAN/control'), 'Package: fromscratch-failing\nVersion: 1.0\nArchitecture: all\nMaintainer: Test <test@example.org>\nDescription: fails in postinst\n');
    writeFileSync(join(dir, 'pkg/DEBIAN/postinst'), '#!/bin/sh\necho "postinst says goodbye" >&2\nexit 3\n', { mode: 0o755 });
    const deb = join(dir, 'failing.deb');
    must('dpkg-deb', ['--root-owner-group', '--build', join(dir, 'pkg'), deb]);
    const sha256 = sha256Hex(readFileSync(deb));
    mkdirSync(join(home, 'cache/sha256', sha256.slice(0, 2)), { recursive: true });
    copyFileSync(deb, join(home, 'cache/sha256', sha256.slice(0, 2), sha256));
    const lockfile = join(dir, 'lock.json');
    const locked = as(undefined, ['lock', lockfile, '--suite', 'bookworm', '--offline']);
    assert.equal(locked.status, 0, locked.stderr);
    const lock = JSON.parse(readFileSync(lockfile, 'utf8'));
    lock.packages.push({ name: 'fromscratch-failing', version: '1.0', architecture: 'all', sha256, size: statSync(deb).size, repository: lock.packages[0].repository, filename: 'pool/f/failing.deb' });
    writeFileSync(lockfile, JSON.stringify(lock));
    const dest = join(home, 'failed');
    const r = as(undefined, ['build', `oci:${dest}:bookworm`, '--lockfile', lockfile, '--scripts', '--offline']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /--scripts: the post-installation script of fromscratch-failing failed \(exit status 3\)/);
    assert.match(r.stderr, /postinst says goodbye/);
    assert.equal(existsSync(dest), false);
    assert.deepEqual(listTree(join(home, 'tmp')), []);
  });

  it('removes everything, files of subordinate ids too, when interrupted while dpkg runs', async () => {
    const who = unprivileged ? ['setpriv', `--reuid=${user}`, `--regid=${user}`, '--init-groups'] : [];
    const dest = join(home, 'interrupted');
    const env = { PATH: process.env['PATH'] ?? '', HOME: home, SOURCE_DATE_EPOCH: EPOCH, FROMSCRATCH_CACHE: join(home, 'cache'), TMPDIR: join(home, 'tmp') };
    const run = await interruptBuild(['build', `oci:${dest}:bookworm`, '--suite', 'bookworm', '--scripts', '--offline'], who, env, /scripts: batch 1/, join(home, 'tmp'));
    assert.equal(run.status, 130, run.stderr);
    assert.deepEqual(run.left, []);
    assert.equal(existsSync(dest), false);
  });
});
