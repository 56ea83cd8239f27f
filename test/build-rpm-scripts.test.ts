import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UserError } from '../src/errors.js';
import { markFilesInstalled } from '../src/packages/rpm/script-install.js';
import { cliAsync, EPOCH, interruptBuild, listTree, unprivilegedProbe, must, Podman, python, ROOT, run, serveDirectory, sha256Hex, tempDir, type RunResult, type Served } from './helpers.js';

/**
 * `fromscratch build --rpm-repo … --scripts`: rpm itself installs the fixture repository's packages in one
 * transaction and runs their scriptlets, in the user-namespace sandbox, as an unprivileged user with a
 * subordinate id range. Oracles: rpm -qa/-Va/--verifydb on the image, podman running what only the
 * scriptlets made, and the declarative build of the same packages, every difference explained.
 */

const AS_ROOT = process.getuid?.() === 0 ? false : 'needs root (to add the test users, and umoci unpack makes device nodes)';

/** Every name under a root as lstat sees it (type, mode, owner, device, link target, content hash). */
function tree(root: string): Map<string, string> {
  const out = python(
    `
import hashlib, json, os, stat, sys
root = sys.argv[1]; out = {}
for base, dirs, files in os.walk(root):
    for name in dirs + files:
        p = os.path.join(base, name); st = os.lstat(p); m = st.st_mode
        kind = 'link ' + os.readlink(p) if stat.S_ISLNK(m) else 'dir' if stat.S_ISDIR(m) else 'file ' + hashlib.sha256(open(p, 'rb').read()).hexdigest()[:16] if stat.S_ISREG(m) else 'dev %d' % st.st_rdev if stat.S_ISCHR(m) or stat.S_ISBLK(m) else 'other'
        out[os.path.relpath(p, root)] = '%s %o %d:%d %d' % (kind, stat.S_IMODE(m), st.st_uid, st.st_gid, st.st_mtime)
print(json.dumps(out))
`,
    [root],
  );
  return new Map(Object.entries(JSON.parse(out) as Record<string, string>));
}

function unpack(layout: string, tag: string): string {
  const dir = join(tempDir('rpm-scripts-unpack'), 'bundle');
  must('umoci', ['unpack', '--image', `${layout}:${tag}`, dir]);
  return join(dir, 'rootfs');
}

/** rpm on an image's root, with the database where the image keeps it (Debian's rpm defaults to ~/.rpmdb). */
const rpmIn = (root: string, args: string[]) => run('rpm', ['--root', root, '--dbpath', '/var/lib/rpm', ...args]);

/** The names in an image's one layer, as tar lists them. */
function layerNames(layout: string, tag: string): string[] {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
  const blob = (digest: string) => join(layout, 'blobs', ...digest.split(':'));
  const ref = index.manifests.find((m: { annotations?: Record<string, string> }) => m.annotations?.['org.opencontainers.image.ref.name'] === tag) ?? index.manifests[0];
  const manifest = JSON.parse(readFileSync(blob(ref.digest), 'utf8'));
  return must('tar', ['-tzf', blob(manifest.layers[0].digest)]).split('\n').filter(Boolean);
}

describe('build --rpm-repo --scripts: the fixture packages with their scriptlets run by rpm', { skip: AS_ROOT }, () => {
  const podman = new Podman();
  const user = `fsrpm${randomBytes(3).toString('hex')}`;
  const bare = `${user}x`;
  const include = 'hello,filekinds,payload-xz';
  const packages = ['busybox-static', 'filekinds', 'filesystem', 'hello', 'payload-xz'];
  let home: string;
  let fixtures: string;
  let server: Served;
  let repo: string;
  let key: string;
  let layout: string;
  let digest: string;
  let log: string;
  let unprivileged = true;
  let reachable = true;
  let why = '';

  const envFor = (): Record<string, string> => ({
    HOME: home, PATH: process.env['PATH'] ?? '', SOURCE_DATE_EPOCH: EPOCH, FROMSCRATCH_CACHE: join(home, 'cache'), TMPDIR: join(home, 'tmp'),
  });
  /** The CLI as `who` (root when undefined), without blocking this process (it serves the repository). */
  const as = (who: string | undefined, args: string[]): Promise<RunResult> => cliAsync(args, envFor(), { ...(who ? { as: who } : {}), cleanEnv: true });

  before(async () => {
    if (!existsSync('/usr/bin/newuidmap')) must('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'uidmap'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    must('useradd', ['-M', '-s', '/usr/sbin/nologin', user]);
    if (!readFileSync('/etc/subuid', 'utf8').split('\n').some((l) => l.startsWith(`${user}:`))) {
      must('usermod', ['--add-subuids', '400000-465535', '--add-subgids', '400000-465535', user]);
    }
    // A second user without subordinate ids, for the error message.
    must('useradd', ['-M', '-s', '/usr/sbin/nologin', '-K', 'SUB_UID_COUNT=0', '-K', 'SUB_GID_COUNT=0', bare]);
    home = tempDir('rpm-scripts');
    chmodSync(home, 0o755);
    mkdirSync(join(home, 'tmp'));
    fixtures = join(home, 'fixtures');
    must('sh', [join(ROOT, 'test/fixtures/rpm/make-rpm-fixtures.sh'), fixtures]);
    key = join(fixtures, 'repo/RPM-GPG-KEY-fixture');
    server = await serveDirectory(join(fixtures, 'repo'));
    repo = `${server.url}/`;
    must('chown', ['-R', `${user}:${user}`, home]);
    ({ unprivileged, reachable, why } = unprivilegedProbe(user));
    layout = join(home, 'image');
    const r = await as(unprivileged ? user : undefined, ['build', `oci:${layout}:scripts`, '--rpm-repo', repo, '--include', include, '--keyring', key, '--scripts']);
    assert.equal(r.status, 0, r.stderr);
    digest = r.stdout.trim();
    log = r.stderr;
    process.stderr.write(`# rpm --scripts build: ${unprivileged ? `unprivileged, as ${user}` : why}\n`);
  });
  after(async () => {
    podman.cleanup();
    await server?.close();
    run('userdel', [user]);
    run('userdel', [bare]);
  });

  it('ran unprivileged, as a user with a subordinate id range', (t) => {
    if (!unprivileged) t.skip(why);
    assert.match(log, /verify: 5 package signatures checked/);
  });

  it('records what rpm installed: rpm -qa, -Va and --verifydb are clean, install times count from SOURCE_DATE_EPOCH', () => {
    const root = unpack(layout, 'scripts');
    const qa = rpmIn(root, ['-qa', '--qf', '%{NAME} %{INSTALLTID}\n']);
    assert.equal(qa.status, 0, qa.stderr);
    assert.deepEqual(qa.stdout.trim().split('\n').sort(), packages.map((p) => `${p} ${EPOCH}`));
    const va = rpmIn(root, ['-Va']);
    assert.deepEqual([va.status, va.stdout, va.stderr], [0, '', '']);
    const verifydb = rpmIn(root, ['--verifydb']);
    assert.deepEqual([verifydb.status, verifydb.stderr], [0, '']);
    // The device files rpm could not mknod in the sandbox are there and recorded installed (state 0, normal).
    const states = rpmIn(root, ['-q', '--qf', '[%{FILESTATES} %{FILENAMES}\n]', 'filekinds']).stdout;
    assert.match(states, /^0 \/usr\/share\/filekinds\/loop$/m);
    assert.match(states, /^0 \/usr\/share\/filekinds\/null$/m);
    assert.equal(statSync(join(root, 'usr/share/filekinds/loop')).isBlockDevice(), true);
    // A rollback-journal database (file format bytes 18 and 19 are 1), readable by users who cannot write beside it.
    const db = readFileSync(join(root, 'var/lib/rpm/rpmdb.sqlite'));
    assert.deepEqual([db[18], db[19]], [1, 1]);
  });

  it('has what only the scriptlets make: busybox\'s applet links (%post), hello\'s /var/tmp/hello.post (%post)', () => {
    const r = podman.runImage(`oci:${layout}:scripts`, ['/bin/sh', '-c', 'readlink /usr/bin/ls; ls /usr/share/filekinds/data; cat /var/tmp/hello.post; hello']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '/usr/bin/busybox\n/usr/share/filekinds/data\ninstalled\nhello\n');
    // busybox's %pre (lua, run inside rpm) printed its argument, the install count.
    assert.match(log, /^scripts: rpm: pre-install 1$/m);
  });

  it('ran filekinds\' %pre: the fixture image has no getent, groupadd or useradd, so the fixd account is not made and rpm gives its files to root', () => {
    // The scriptlet's own output, as rpm ran it with busybox's sh in the image.
    assert.match(log, /^scripts: rpm: \/var\/tmp\/rpm-tmp\.\w+: line 2: useradd: not found$/m);
    assert.match(log, /^scripts: rpm: warning: user fixd does not exist - using root$/m);
    const root = unpack(layout, 'scripts');
    assert.equal(existsSync(join(root, 'etc/passwd')), false);
    assert.equal(statSync(join(root, 'var/lib/fixd')).uid, 0);
  });

  it('leaves no build traces: rpm\'s lock, -shm and -wal files, its scriptlet files, the sandbox\'s mount points', () => {
    const names = layerNames(layout, 'scripts');
    assert.deepEqual(names.filter((n) => /^var\/lib\/rpm\/(\.rpm\.lock|rpmdb\.sqlite-(shm|wal))$|^var\/tmp\/rpm-tmp|^proc\//.test(n)), []);
    assert.ok(names.includes('var/lib/rpm/rpmdb.sqlite'));
    // /dev holds mkimage-yum.sh's nodes only (not the sandbox's bind-mount points or /dev/fd links).
    assert.deepEqual(names.filter((n) => n.startsWith('dev/')).sort(), ['dev/', ...['console', 'full', 'initctl', 'null', 'ptmx', 'random', 'tty', 'tty0', 'urandom', 'zero'].map((d) => `dev/${d}`)]);
    assert.deepEqual(listTree(join(home, 'tmp')), [], 'temporary folders left behind');
  });

  it('differs from the declarative build of the same packages only where rpm and the scriptlets do differently', async () => {
    const declarative = join(home, 'declarative');
    const r = await as(undefined, ['build', `oci:${declarative}:x`, '--rpm-repo', repo, '--include', include, '--keyring', key, '--offline']);
    assert.equal(r.status, 0, r.stderr);
    const ours = tree(unpack(layout, 'scripts'));
    const theirs = tree(unpack(declarative, 'x'));
    const differences = new Map<string, string>();
    for (const path of new Set([...ours.keys(), ...theirs.keys()])) {
      const a = theirs.get(path);
      const b = ours.get(path);
      if (a === b) continue;
      // busybox's %post: `busybox --install -s /usr/bin` makes a symlink per applet; the declarative
      // install reproduces no such command (only accounts, alternatives, ldconfig, presets, CA trust).
      if (a === undefined && /^usr\/bin\/[^/]+$/.test(path) && b!.startsWith('link /usr/bin/busybox ')) continue;
      differences.set(path, `${a ?? '-'} | ${b ?? '-'}`);
    }
    const fixd = /^(var\/lib\/fixd(\/.*)?|usr\/share\/filekinds\/loop)$/;
    const explained: [RegExp, string][] = [
      // hello's %post writes it; rpm made /var/tmp (its %_tmppath) to hold the scriptlet files it runs.
      [/^var\/tmp(\/hello\.post)?$/, 'scriptlet output'],
      // The declarative install carries out the %pre scriptlets' groupadd/useradd (accounts, owners by the
      // new ids, shadow-utils' .pwd.lock); run for real in this image they find no such commands.
      [/^etc\/(passwd|group|\.pwd\.lock)$/, 'accounts'],
      [fixd, 'fixd owner'],
      [/^usr\/bin\/hello$/, 'hello group'],
      // rpm's own database: the same packages and files (compared below), SQLite pages of rpm's making.
      [/^var\/lib\/rpm\/rpmdb\.sqlite$/, 'database'],
    ];
    const unexplained = [...differences].filter(([path]) => !explained.some(([re]) => re.test(path)));
    assert.deepEqual(unexplained, []);
    // The owners differ exactly as rpm's warnings say: fixd and hello are root's here.
    for (const path of differences.keys()) {
      if (!fixd.test(path)) continue;
      assert.match(theirs.get(path)!, /:480 /, path);
      assert.match(ours.get(path)!, / 0:0 /, path);
    }
    assert.equal(theirs.get('var/tmp'), undefined);
    assert.match(ours.get('var/tmp/hello.post')!, /^file /);
    // Both databases record the same packages, files, states, modes and digests.
    const query = ['-qa', '--qf', '%{NAME}-%{EVR}\n[%{FILENAMES} %{FILESTATES} %{FILEMODES:octal} %{FILEDIGESTS}\n]'];
    const sorted = (s: string) => s.split('\n').sort().join('\n');
    assert.equal(sorted(rpmIn(unpack(layout, 'scripts'), query).stdout), sorted(rpmIn(unpack(declarative, 'x'), query).stdout));
  });

  it('gives the same image when root builds it again (same SOURCE_DATE_EPOCH, offline)', async () => {
    const again = join(home, 'again');
    const r = await as(undefined, ['build', `oci:${again}:x`, '--rpm-repo', repo, '--include', include, '--keyring', key, '--scripts', '--offline']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(r.stdout.trim(), digest);
  });

  it('leaves out docs and other languages through rpm (--nodocs, --install-langs): rpm -V stays clean', async () => {
    const dest = join(home, 'nodocs');
    const r = await as(undefined, ['build', `oci:${dest}:x`, '--rpm-repo', repo, '--include', 'filekinds', '--nodocs', '--install-langs', 'de', '--scripts', '--offline']);
    assert.equal(r.status, 0, r.stderr);
    const root = unpack(dest, 'x');
    assert.equal(existsSync(join(root, 'usr/share/doc/filekinds/README')), false);
    assert.equal(existsSync(join(root, 'usr/share/locale/fr/LC_MESSAGES/filekinds.mo')), false);
    assert.equal(existsSync(join(root, 'usr/share/locale/de/LC_MESSAGES/filekinds.mo')), true);
    assert.equal(existsSync(join(root, 'usr/share/licenses/filekinds/COPYING')), true);
    assert.match(rpmIn(root, ['-q', '--qf', '[%{FILESTATES} %{FILENAMES}\n]', 'filekinds']).stdout, /^2 \/usr\/share\/doc\/filekinds\/README$/m);
    const va = rpmIn(root, ['-Va']);
    assert.deepEqual([va.status, va.stdout], [0, '']);
  });

  it('says what to configure when the user has no subordinate ids, and writes nothing', async (t) => {
    if (!reachable) return t.skip(why);
    const dest = join(home, 'bare');
    const r = await as(bare, ['build', `oci:${dest}:x`, '--rpm-repo', repo, '--include', include, '--scripts', '--offline']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`needs a range of at least 65535 ids for ${bare} in /etc/subuid: .*usermod --add-subuids`));
    assert.equal(existsSync(dest), false);
  });

  it('refuses another architecture with a clear error, before downloading anything', async () => {
    const dest = join(home, 'arm');
    const before = server.requests.length;
    const r = await as(undefined, ['build', `oci:${dest}:x`, '--rpm-repo', repo, '--include', include, '--scripts', '--arch', 'aarch64']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--scripts .* builds only for this machine's architecture \(x86_64\), not aarch64/);
    assert.equal(server.requests.length, before);
    assert.equal(existsSync(dest), false);
  });

  it('names the package whose %pre failed, shows its output, and writes nothing', async () => {
    // The fixture set plus a package whose %pre fails, pinned by a lockfile, its file put in the cache.
    const dir = tempDir('rpm-failing');
    const spec = join(dir, 'failing.spec');
    writeFileSync(spec, 'Name: fromscratch-failing\nVersion: 1.0\nRelease: 1\nSummary: fails in pre\nLicense: MIT\nBuildArch: noarch\n%description\nfails\n%pre\necho "pre says goodbye" >&2\nexit 3\n%files\n');
    must('rpmbuild', ['--quiet', '--define', `_topdir ${dir}`, '-bb', spec]);
    const file = join(dir, 'RPMS/noarch/fromscratch-failing-1.0-1.noarch.rpm');
    const sha256 = sha256Hex(readFileSync(file));
    mkdirSync(join(home, 'cache/sha256', sha256.slice(0, 2)), { recursive: true });
    copyFileSync(file, join(home, 'cache/sha256', sha256.slice(0, 2), sha256));
    const lockfile = join(dir, 'lock.json');
    const locked = await as(undefined, ['lock', lockfile, '--rpm-repo', repo, '--include', include, '--offline']);
    assert.equal(locked.status, 0, locked.stderr);
    const lock = JSON.parse(readFileSync(lockfile, 'utf8'));
    lock.packages.push({ name: 'fromscratch-failing', version: '1.0-1', architecture: 'noarch', checksum: `sha256:${sha256}`, size: statSync(file).size, repository: lock.packages[0].repository, location: 'Packages/fromscratch-failing-1.0-1.noarch.rpm' });
    writeFileSync(lockfile, JSON.stringify(lock));
    const dest = join(home, 'failed');
    const r = await as(undefined, ['build', `oci:${dest}:x`, '--lockfile', lockfile, '--scripts', '--offline']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /--scripts: the %pre scriptlet of fromscratch-failing-1\.0-1\.noarch failed \(exit status 3\), so rpm did not install it/);
    assert.match(r.stderr, /pre says goodbye/);
    assert.equal(existsSync(dest), false);
    assert.deepEqual(listTree(join(home, 'tmp')), []);
  });
  it('takes scripts: true from a spec, with its accounts (locked, as the Debian --scripts build adds them)', async () => {
    const dir = join(home, 'spec');
    mkdirSync(dir);
    writeFileSync(join(dir, 'spec.yaml'), [
      `contents: { ecosystem: rpm, repositories: [${repo}], packages: [hello] }`,
      'accounts: { groups: [{ groupname: app, gid: 1234 }], users: [{ username: app, uid: 1234, gid: 1234 }] }',
      'scripts: true',
      '',
    ].join('\n'));
    const dest = join(dir, 'image');
    const r = await as(undefined, ['build', join(dir, 'spec.yaml'), `oci:${dest}:app`, '--offline']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /scripts: accounts: adding the spec's users and groups/);
    const root = unpack(dest, 'app');
    assert.match(readFileSync(join(root, 'etc/passwd'), 'utf8'), /^app:\*:1234:1234:/m);
    assert.match(readFileSync(join(root, 'etc/group'), 'utf8'), /^app:\*:1234:/m);
    assert.equal(statSync(join(root, 'home/app')).uid, 1234);
    assert.equal(readFileSync(join(root, 'var/tmp/hello.post'), 'utf8'), 'installed\n');
  });

  it('removes everything, files of subordinate ids too, when interrupted while rpm runs', async () => {
    const who = unprivileged ? ['setpriv', `--reuid=${user}`, `--regid=${user}`, '--init-groups'] : [];
    const dest = join(home, 'interrupted');
    const run = await interruptBuild(['build', `oci:${dest}:x`, '--rpm-repo', repo, '--include', include, '--scripts', '--offline'], who, envFor(), /scripts: rpm -i/, join(home, 'tmp'));
    assert.equal(run.status, 130, run.stderr);
    assert.deepEqual(run.left, []);
    assert.equal(existsSync(dest), false);
  });
});

describe('markFilesInstalled: FILESTATES of a stored rpm header', () => {
  /** A stored header (no region): NAME "x", FILESTATES [2, 0, 2] as rpm's CHAR array. */
  const header = (): Buffer => {
    const data = Buffer.from([0x78, 0, 2, 0, 2]);
    const index = Buffer.alloc(32);
    index.writeUInt32BE(1000, 0); index.writeUInt32BE(6, 4); index.writeUInt32BE(0, 8); index.writeUInt32BE(1, 12);
    index.writeUInt32BE(1029, 16); index.writeUInt32BE(1, 20); index.writeUInt32BE(2, 24); index.writeUInt32BE(3, 28);
    const head = Buffer.alloc(8);
    head.writeUInt32BE(2, 0); head.writeUInt32BE(data.length, 4);
    return Buffer.concat([head, index, data]);
  };

  it('sets the named files from not installed to normal and nothing else', () => {
    const blob = header();
    const out = markFilesInstalled(blob, [2], 'x');
    assert.deepEqual([...out.subarray(-3)], [2, 0, 0]);
    assert.deepEqual([...blob.subarray(-3)], [2, 0, 2], 'the input is not changed');
    assert.equal(out.subarray(0, -3).equals(blob.subarray(0, -3)), true);
    assert.throws(() => markFilesInstalled(blob, [3], 'x'), (e: unknown) => e instanceof UserError && /x: rpm's stored header has no usable FILESTATES/.test(e.message));
  });

  it('answers truncated, flipped and random input with a UserError or a header, never a crash', () => {
    const blob = header();
    const tries: Buffer[] = [];
    for (let n = 0; n < blob.length; n++) tries.push(blob.subarray(0, n));
    for (let i = 0; i < blob.length; i++) for (const bit of [0x01, 0x80, 0xff]) {
      const b = Buffer.from(blob);
      b[i]! ^= bit;
      tries.push(b);
    }
    for (let i = 0; i < 500; i++) tries.push(randomBytes(Math.floor(Math.random() * 64)));
    for (const b of tries) {
      try {
        assert.equal(markFilesInstalled(b, [0, 2], 'x').length, b.length);
      } catch (e) {
        assert.ok(e instanceof UserError, String(e));
      }
    }
  });
});
