import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cliAsync, EPOCH, must, Podman, python, ROOT, run, serveDirectory, tempDir, type Served } from './helpers.js';

/*
 * RPM-based images from a yum repository: the project's fixture repository (rpmbuild + createrepo_c,
 * signed packages and repomd.xml) served on loopback. Oracles: rpm -i for the files, rpm -qa/-qf/-V/
 * --verifydb on the image's database, dnf --installroot installing into the image later, podman running it.
 */

const AS_ROOT = process.getuid?.() === 0 ? false : 'needs root (rpm -i sets owners, umoci unpack makes device nodes)';

/** Every name under a root as os.lstat sees it: type, mode, owner, size, link target, content hash, inode. */
interface TreeEntry {
  path: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  target?: string;
  sha256?: string;
  ino: number;
  rdev?: number;
}

function listTree(root: string): Map<string, TreeEntry> {
  const out = python(
    `
import hashlib, json, os, stat, sys
root = sys.argv[1]; out = []
for base, dirs, files in os.walk(root):
    for name in dirs + files:
        p = os.path.join(base, name); st = os.lstat(p); rel = os.path.relpath(p, root)
        e = {'path': rel, 'mode': stat.S_IMODE(st.st_mode), 'uid': st.st_uid, 'gid': st.st_gid, 'size': 0, 'ino': st.st_ino}
        if stat.S_ISLNK(st.st_mode): e.update(type='link', target=os.readlink(p))
        elif stat.S_ISDIR(st.st_mode): e.update(type='dir')
        elif stat.S_ISREG(st.st_mode): e.update(type='file', size=st.st_size, sha256=hashlib.sha256(open(p, 'rb').read()).hexdigest())
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode): e.update(type='char' if stat.S_ISCHR(st.st_mode) else 'block', rdev=st.st_rdev)
        else: e.update(type='other')
        out.append(e)
print(json.dumps(out))
`,
    [root],
  );
  return new Map((JSON.parse(out) as TreeEntry[]).map((e) => [e.path, e]));
}

/** The image's root filesystem as umoci unpacks it (umoci, not our reader, is the oracle). */
function unpack(layout: string, tag: string): string {
  const dir = join(tempDir('rpm-unpack'), 'bundle');
  must('umoci', ['unpack', '--image', `${layout}:${tag}`, dir]);
  return join(dir, 'rootfs');
}

/** rpm on an image's root, with the database where the image keeps it (Debian's rpm defaults to ~/.rpmdb). */
function rpmIn(root: string, args: string[]) {
  return run('rpm', ['--root', root, '--dbpath', '/var/lib/rpm', ...args]);
}

/** Hardlink sets by path: the other names sharing each name's inode. */
function linkSets(tree: Map<string, TreeEntry>): Map<string, string> {
  const byIno = new Map<number, string[]>();
  for (const e of tree.values()) if (e.type === 'file') byIno.set(e.ino, [...(byIno.get(e.ino) ?? []), e.path]);
  const out = new Map<string, string>();
  for (const names of byIno.values()) for (const n of names) out.set(n, names.filter((m) => m !== n).sort().join(','));
  return out;
}

describe('build from a yum repository', { skip: AS_ROOT }, () => {
  let fixtures: string;
  let server: Served;
  let repo: string;
  let cache: string;
  let layout: string;
  let rootfs: string;
  const podman = new Podman();
  const packages = ['filesystem', 'busybox-static', 'filekinds', 'hello', 'payload-xz'];

  before(async () => {
    fixtures = tempDir('rpm-fixtures');
    must('sh', [join(ROOT, 'test/fixtures/rpm/make-rpm-fixtures.sh'), fixtures]);
    server = await serveDirectory(join(fixtures, 'repo'));
    repo = `${server.url}/`;
    cache = tempDir('rpm-cache');
    layout = join(tempDir('rpm-image'), 'layout');
    const r = await cliAsync(['build', `oci:${layout}:fixture`, '--rpm-repo', repo, '--include', 'hello,filekinds,payload-xz', '--keyring', join(fixtures, 'repo/RPM-GPG-KEY-fixture')], { FROMSCRATCH_CACHE: cache });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /repomd\.xml signature verified/);
    assert.match(r.stderr, /verify: 5 package signatures checked/);
    rootfs = unpack(layout, 'fixture');
  });
  after(async () => {
    podman.cleanup();
    await server?.close();
  });

  it('records the resolved set in rpm\'s database: rpm -qa, -qf, -V -a and --verifydb are clean', () => {
    const qa = rpmIn(rootfs, ['-qa', '--qf', '%{NAME}\n']);
    assert.equal(qa.status, 0, qa.stderr);
    assert.deepEqual(qa.stdout.trim().split('\n').sort(), [...packages].sort());
    // Installed in rpm's order: what hello's and busybox's requirements need comes first.
    const order = qa.stdout.trim().split('\n');
    assert.ok(order.indexOf('filesystem') < order.indexOf('busybox-static') && order.indexOf('busybox-static') < order.indexOf('hello'), order.join(' '));
    assert.equal(rpmIn(rootfs, ['-qf', '/usr/bin/hello']).stdout.trim(), 'hello-2.0^git20231114-1.noarch');
    assert.equal(rpmIn(rootfs, ['-qf', '/usr/share/filekinds/data']).stdout.trim(), 'filekinds-1.0-1.noarch');
    const va = rpmIn(rootfs, ['-Va']);
    assert.deepEqual([va.status, va.stdout, va.stderr], [0, '', '']);
    const verifydb = rpmIn(rootfs, ['--verifydb']);
    assert.deepEqual([verifydb.status, verifydb.stderr], [0, '']);
    assert.equal(rpmIn(rootfs, ['-q', '--qf', '%{INSTALLTIME}', 'hello']).stdout, EPOCH);
  });

  it('lays down the files rpm -i does: types, modes, owners, links, sizes, contents and hardlink sets', () => {
    // The oracle: real rpm installing the same packages into an empty root that has the image's accounts.
    const oracle = tempDir('rpm-oracle');
    mkdirSync(join(oracle, 'etc'));
    for (const f of ['passwd', 'group']) writeFileSync(join(oracle, 'etc', f), readFileSync(join(rootfs, 'etc', f)));
    const files = readdirSync(join(fixtures, 'repo/Packages')).filter((f) => packages.some((p) => f.startsWith(`${p}-`)));
    must('rpm', ['--root', oracle, '--dbpath', '/var/lib/rpm', '-i', '--nodeps', '--noscripts', '--nosignature', ...files.map((f) => join(fixtures, 'repo/Packages', f))]);
    const theirs = listTree(oracle);
    const ours = listTree(rootfs);
    // What the build adds besides the packages' files: rpm's database, mkimage-yum.sh's /dev nodes and
    // /etc/sysconfig/network, and what the %pre scriptlets' useradd/groupadd leave (shadow-utils' lock file).
    // busybox-static's %post (`busybox --install -s /usr/bin`) adds a link per applet.
    const applets = [...ours.values()].filter((e) => e.type === 'link' && e.target === '/usr/bin/busybox' && !theirs.has(e.path)).map((e) => e.path);
    assert.ok(applets.length > 100 && applets.includes('usr/bin/ls'), `${applets.length} applet links`);
    const added = (p: string) => p.startsWith('var/lib/rpm/') || p === 'dev' || p.startsWith('dev/') || p === 'etc/sysconfig' || p === 'etc/sysconfig/network' || p === 'etc/.pwd.lock' || applets.includes(p);
    const names = (t: Map<string, TreeEntry>) => [...t.keys()].filter((p) => !added(p) && !p.startsWith('var/lib/rpm')).sort();
    assert.deepEqual(names(ours), names(theirs));
    const ourLinks = linkSets(ours);
    const theirLinks = linkSets(theirs);
    for (const path of names(theirs)) {
      const a = ours.get(path)!;
      const b = theirs.get(path)!;
      const view = (e: TreeEntry) => ({ type: e.type, mode: e.mode.toString(8), uid: e.uid, gid: e.gid, size: e.size, target: e.target, sha256: e.sha256, rdev: e.rdev });
      assert.deepEqual(view(a), view(b), path);
      assert.equal(ourLinks.get(path), theirLinks.get(path), `hardlinks of ${path}`);
    }
    // The %pre user owns its folder, with the id its scriptlet asked for; a file of an unknown user is root's, without setuid.
    assert.equal(ours.get('var/lib/fixd')!.uid, 480);
    assert.equal(ours.get('usr/share/filekinds/setuid-stranger')!.uid, 0);
    assert.equal(ours.get('usr/share/filekinds/setuid-stranger')!.mode & 0o4000, 0);
    assert.equal(ours.get('dev/null')!.type, 'char');
  });

  it('runs a program from the image in podman', () => {
    const hello = podman.runImage(`oci:${layout}:fixture`, ['/usr/bin/hello']);
    assert.equal(hello.status, 0, hello.stderr);
    assert.equal(hello.stdout, 'hello\n');
    const sh = podman.runImage(`oci:${layout}:fixture`, ['/bin/sh', '-c', 'id -u fixd; stat -c %U:%G /var/lib/fixd']);
    assert.equal(sh.stdout, '480\nfixd:fixd\n', sh.stderr);
  });

  it('lets dnf install one more package into the image later', () => {
    const home = tempDir('rpm-home');
    // Debian's rpm keeps its database in ~/.rpmdb: point dnf's librpm at the image's.
    writeFileSync(join(home, '.rpmmacros'), '%_dbpath /var/lib/rpm\n');
    const root = unpack(layout, 'fixture');
    const dnf = run('/usr/bin/dnf', ['--installroot', root, '--setopt=reposdir=/dev/null', '--releasever', '1', '--setopt=cachedir=/var/cache/dnf',
      '--repofrompath', `fx,file://${join(fixtures, 'repo')}`, '--repo', 'fx', '--setopt=fx.gpgcheck=1', `--setopt=fx.gpgkey=file://${join(fixtures, 'repo/RPM-GPG-KEY-fixture')}`,
      '--setopt=tsflags=noscripts', '-y', 'install', 'payload-gzip'], { env: { ...process.env, HOME: home } });
    assert.equal(dnf.status, 0, dnf.stdout + dnf.stderr);
    assert.match(dnf.stdout, /Install\s+1 Package\b/);
    assert.match(rpmIn(root, ['-qa']).stdout, /^payload-gzip-1\.0-1\.noarch$/m);
    const va = rpmIn(root, ['-Va']);
    assert.deepEqual([va.status, va.stdout], [0, '']);
  });

  it('gives the same digest for the same inputs and SOURCE_DATE_EPOCH, and from a lockfile offline', async () => {
    const first = JSON.parse(must('skopeo', ['inspect', `oci:${layout}:fixture`])).Digest;
    const again = await cliAsync(['build', `oci:${join(tempDir('rpm-again'), 'l')}:x`, '--rpm-repo', repo, '--include', 'hello,filekinds,payload-xz', '--keyring', join(fixtures, 'repo/RPM-GPG-KEY-fixture'), '--offline'], { FROMSCRATCH_CACHE: cache });
    assert.equal(again.stdout.trim(), first, again.stderr);
    const lockfile = join(tempDir('rpm-lock'), 'rpm.lock.json');
    const locked = await cliAsync(['lock', lockfile, '--rpm-repo', repo, '--include', 'hello,filekinds,payload-xz', '--keyring', join(fixtures, 'repo/RPM-GPG-KEY-fixture')], { FROMSCRATCH_CACHE: cache });
    assert.equal(locked.status, 0, locked.stderr);
    const lock = JSON.parse(readFileSync(lockfile, 'utf8'));
    assert.equal(lock.ecosystem, 'rpm');
    assert.deepEqual(lock.packages.map((p: { name: string }) => p.name), [...packages].sort());
    const busybox = lock.packages.find((p: { name: string }) => p.name === 'busybox-static');
    assert.equal(busybox.version, '1:1.35.0-1');
    assert.equal(busybox.architecture, 'x86_64');
    assert.match(busybox.checksum, /^sha256:[0-9a-f]{64}$/);
    assert.equal(lock.repositories[0].gpgcheck, true);
    const fromLock = await cliAsync(['build', `oci:${join(tempDir('rpm-fromlock'), 'l')}:x`, '--lockfile', lockfile, '--offline'], { FROMSCRATCH_CACHE: cache });
    assert.equal(fromLock.stdout.trim(), first, fromLock.stderr);
  });

  it('refuses a tampered package and a package the keys did not sign, naming it, and writes nothing', async () => {
    const served = join(fixtures, 'repo/Packages');
    const name = readdirSync(served).find((f) => f.startsWith('hello-'))!;
    const original = readFileSync(join(served, name));
    const tampered = Buffer.from(original);
    tampered[tampered.length - 100]! ^= 0xff;
    server.override.set(`/Packages/${encodeURIComponent(name).replace(/%5E/g, '^')}`, tampered);
    server.override.set(`/Packages/${name}`, tampered);
    const dest = join(tempDir('rpm-tampered'), 'l');
    const r = await cliAsync(['build', `oci:${dest}:x`, '--rpm-repo', repo, '--include', 'hello'], { FROMSCRATCH_CACHE: tempDir('rpm-cold') });
    server.override.clear();
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /hello .*SHA256 mismatch/);
    assert.ok(!existsSync(dest));
    // A repository signed by another key than the one given.
    const gnupg = tempDir('gpg');
    must('gpg', ['--batch', '--homedir', gnupg, '--passphrase', '', '--quick-gen-key', 'Other <other@example.org>', 'ed25519', 'sign', 'never']);
    const other = join(gnupg, 'other.asc');
    writeFileSync(other, must('gpg', ['--batch', '--homedir', gnupg, '--armor', '--export']));
    const wrong = await cliAsync(['build', `oci:${dest}:x`, '--rpm-repo', repo, '--include', 'hello', '--keyring', other], { FROMSCRATCH_CACHE: tempDir('rpm-cold') });
    assert.notEqual(wrong.status, 0);
    assert.match(wrong.stderr, /repomd\.xml.*does not verify/);
    assert.ok(!existsSync(dest));
  });

  it('names near packages for an unknown one, and the chain of a conflict', async () => {
    const unknown = await cliAsync(['build', `oci:${join(tempDir('rpm-bad'), 'l')}:x`, '--rpm-repo', repo, '--include', 'helo'], { FROMSCRATCH_CACHE: cache });
    assert.notEqual(unknown.status, 0);
    assert.match(unknown.stderr, /helo/);
    assert.match(unknown.stderr, /hello/);
    const mixed = await cliAsync(['build', `oci:${join(tempDir('rpm-bad'), 'l')}:x`, '--rpm-repo', repo, '--suite', 'bookworm'], { FROMSCRATCH_CACHE: cache });
    assert.match(mixed.stderr, /--suite: Debian options, but this build installs RPM packages/);
  });

  it('leaves out docs and other languages as rpm records them (--nodocs, --install-langs, --slim): rpm -V stays clean', async () => {
    const dest = join(tempDir('rpm-nodocs'), 'l');
    const r = await cliAsync(['build', `oci:${dest}:x`, '--rpm-repo', repo, '--include', 'filekinds', '--nodocs', '--install-langs', 'de'], { FROMSCRATCH_CACHE: cache });
    assert.equal(r.status, 0, r.stderr);
    const root = unpack(dest, 'x');
    assert.ok(!existsSync(join(root, 'usr/share/doc/filekinds/README')));
    assert.ok(existsSync(join(root, 'usr/share/licenses/filekinds')));
    const va = rpmIn(root, ['-Va']);
    assert.deepEqual([va.status, va.stdout], [0, '']);
    const slim = join(tempDir('rpm-slim'), 'l');
    const s = await cliAsync(['build', `oci:${slim}:x`, '--rpm-repo', repo, '--include', 'filekinds', '--slim'], { FROMSCRATCH_CACHE: cache });
    assert.equal(s.status, 0, s.stderr);
    const slimRoot = unpack(slim, 'x');
    assert.ok(!existsSync(join(slimRoot, 'usr/share/doc/filekinds')));
    assert.match(readFileSync(join(slimRoot, 'etc/rpm/macros.image-language-conf'), 'utf8'), /%_excludedocs 1/);
    const slimVa = rpmIn(slimRoot, ['-Va']);
    assert.deepEqual([slimVa.status, slimVa.stdout], [0, '']);
  });

  it('reads the repositories of a yum.conf and its reposdir (--yum-conf), with $releasever and gpgcheck', async () => {
    const conf = tempDir('yumconf');
    mkdirSync(join(conf, 'repos.d'));
    writeFileSync(join(conf, 'yum.conf'), `[main]\nreposdir=${join(conf, 'repos.d')}\ngpgcheck=1\n`);
    writeFileSync(join(conf, 'repos.d/fixture.repo'), `[fixture-$releasever]\nname=Fixture $releasever\nbaseurl=${server.url}/\nenabled=1\ngpgkey=file://${join(fixtures, 'repo/RPM-GPG-KEY-fixture')}\n\n[off]\nname=Off\nbaseurl=http://127.0.0.1:9/nothing\nenabled=0\n`);
    const dest = join(tempDir('rpm-yumconf'), 'l');
    const r = await cliAsync(['build', `oci:${dest}:x`, '--yum-conf', join(conf, 'yum.conf'), '--releasever', '9', '--include', 'hello'], { FROMSCRATCH_CACHE: cache });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /index: fixture-9 /);
    assert.match(r.stderr, /verify: 3 package signatures checked/);
  });

  it('builds several architectures into one OCI index ($basearch in the URL)', async () => {
    // The same repository under both architectures' names, as mirrors lay out $basearch.
    for (const arch of ['x86_64', 'aarch64']) if (!existsSync(join(fixtures, 'repo', arch))) symlinkSync('.', join(fixtures, 'repo', arch));
    const dest = join(tempDir('rpm-multi'), 'l');
    const r = await cliAsync(['build', `oci:${dest}:x`, '--rpm-repo', `${server.url}/$basearch/`, '--include', 'payload-xz', '--arch', 'x86_64,aarch64', '--json'], { FROMSCRATCH_CACHE: cache });
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.deepEqual(result.images.map((i: { platform: string }) => i.platform), ['linux/amd64', 'linux/arm64/v8']);
    assert.ok(server.requests.includes('/aarch64/repodata/repomd.xml'), server.requests.slice(-5).join(' '));
    const index = JSON.parse(must('skopeo', ['inspect', '--raw', `oci:${dest}:x`]));
    assert.deepEqual(index.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture), ['amd64', 'arm64']);
    const arm = JSON.parse(must('skopeo', ['inspect', '--override-arch', 'arm64', '--override-variant', 'v8', `oci:${dest}:x`]));
    assert.equal(arm.Architecture, 'arm64');
  });

  it('takes the packages from a spec (contents.ecosystem: rpm)', async () => {
    const dir = tempDir('rpm-spec');
    writeFileSync(join(dir, 'spec.yaml'), `contents:\n  ecosystem: rpm\n  repositories: [${repo}]\n  packages: [hello]\ncmd: [/usr/bin/hello]\n`);
    const dest = join(dir, 'l');
    const r = await cliAsync(['build', join(dir, 'spec.yaml'), `oci:${dest}:x`], { FROMSCRATCH_CACHE: cache });
    assert.equal(r.status, 0, r.stderr);
    const config = JSON.parse(must('skopeo', ['inspect', '--config', `oci:${dest}:x`]));
    assert.deepEqual(config.config.Cmd, ['/usr/bin/hello']);
    assert.equal(rpmIn(unpack(dest, 'x'), ['-qa']).stdout.trim().split('\n').length, 3);
  });

  it('analyze lists every package with its size and why it is there', () => {
    const report = JSON.parse(must('bin/fromscratch', ['analyze', '--json', `oci:${layout}:fixture`], { cwd: ROOT }));
    assert.equal(report.packageManager, 'rpm');
    const names = report.packages.map((p: { name: string }) => p.name).sort();
    assert.deepEqual(names, [...packages].sort());
    const busybox = report.packages.find((p: { name: string }) => p.name === 'busybox-static');
    assert.equal(busybox.version, '1:1.35.0-1');
    assert.ok(busybox.installedBytes > 1_000_000);
    assert.deepEqual(busybox.why, ['hello', 'busybox-static']);
  });
});
