import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { generateKey } from 'openpgp';
import { UserError } from '../src/errors.js';
import { apkInstalledPackages } from '../src/packages/apk/installed-database.js';
import { RpmHeader, RpmTag } from '../src/packages/rpm/header.js';
import { findRpmDatabase, RPM_SQLITE_FILES, rpmDatabaseNotRead, rpmInstalledPackages } from '../src/packages/rpm/rpm-database.js';
import { analyze } from '../src/analyze/analyze.js';
import { cliOk, must, python, ROOT, run, tempDir } from './helpers.js';

const hasRpm = run('sh', ['-c', 'command -v rpm && command -v rpmbuild && command -v createrepo_c']).status === 0;

/** Packages built here next to the shared fixtures: a chain through a virtual provide, a file require and a rich dependency. */
const EXTRA_SPECS: Record<string, string> = {
  app: `Epoch: 0
Version: 1.0
Release: 3
Requires: libthing.so.1()(64bit)
Requires: (not-there or libalt)
Requires(post): libpost`,
  libthing: `Version: 1
Release: 1
Provides: libthing.so.1()(64bit)
Requires: /usr/share/libdata/data.txt`,
  libdata: `Version: 2.1
Release: 7
Requires: filesystem
%install
mkdir -p %{buildroot}/usr/share/libdata
echo data > %{buildroot}/usr/share/libdata/data.txt
%files
/usr/share/libdata/data.txt`,
  libalt: 'Version: 1\nRelease: 1',
  libpost: 'Version: 1\nRelease: 1',
};

function spec(name: string, body: string): string {
  const [head, ...rest] = body.split('%install');
  const files = rest.length ? `%install${rest.join('%install')}` : '%files';
  return `Name: ${name}\n${head!.trim()}\nSummary: fixture\nLicense: MIT\nBuildArch: noarch\nAutoReqProv: no\n%description\nfixture\n${files}\n`;
}

describe('rpm: the sqlite package database', { skip: hasRpm ? false : 'rpm, rpmbuild or createrepo_c missing (scripts/test.sh installs them)' }, () => {
  let root = '';
  let dbArgs: string[] = [];
  let database = '';
  const rpm = (args: string[], dbRoot = root) => run('rpm', ['--root', dbRoot, ...dbArgs, ...args]);

  before(async () => {
    // Debian's rpm keeps its own database elsewhere: --dbpath puts the image's where rpm distributions have it.
    dbArgs = ['--dbpath', '/var/lib/rpm'];
    if (must('rpm', ['--eval', '%_db_backend']).trim() !== 'sqlite') dbArgs.push('--define', '_db_backend sqlite');
    const work = tempDir('rpmdb');
    must('sh', [join(ROOT, 'test/fixtures/rpm/make-rpm-fixtures.sh'), join(work, 'fixtures')]);
    const top = join(work, 'top');
    mkdirSync(join(top, 'SPECS'), { recursive: true });
    for (const [name, body] of Object.entries(EXTRA_SPECS)) {
      writeFileSync(join(top, 'SPECS', `${name}.spec`), spec(name, body));
      must('rpmbuild', ['--quiet', '--define', `_topdir ${top}`, '-bb', join(top, 'SPECS', `${name}.spec`)]);
    }
    const rpms = [
      // The three packages of the first fixture set (the others exercise the package-file reader).
      ...readdirSync(join(work, 'fixtures/repo/Packages'))
        .filter((f) => /^(busybox-static|filesystem|hello)-\d/.test(f))
        .map((f) => join(work, 'fixtures/repo/Packages', f)),
      ...readdirSync(join(top, 'RPMS/noarch')).map((f) => join(top, 'RPMS/noarch', f)),
    ];
    root = join(work, 'root');
    mkdirSync(root);
    must('rpm', ['--root', root, ...dbArgs, '-i', '--nodeps', '--noscripts', '--nosignature', ...rpms]);
    // An imported signing key shows in `rpm -qa` as a gpg-pubkey "package".
    const { publicKey } = await generateKey({ type: 'rsa', rsaBits: 2048, userIDs: [{ name: 'Fixture', email: 'fixture@example.org' }], format: 'armored' });
    writeFileSync(join(work, 'key.asc'), publicKey);
    must('rpm', ['--root', root, ...dbArgs, '--import', join(work, 'key.asc')]);
    database = join(root, 'var/lib/rpm/rpmdb.sqlite');
  });

  it('reads every package as rpm -qa prints it, without the gpg-pubkey entries', async () => {
    const oracle = must('rpm', ['--root', root, ...dbArgs, '-qa', '--qf', '%{NAME}\\t%{EVR}\\t%{ARCH}\\t%{LONGSIZE}\\n']).trim().split('\n').sort();
    assert.ok(oracle.some((l) => l.startsWith('gpg-pubkey\t')), 'the key was imported');
    const expected = oracle.filter((l) => !l.startsWith('gpg-pubkey\t'));
    assert.equal(expected.length, 8);
    const ours = await rpmInstalledPackages(readFileSync(database), database);
    assert.deepEqual(ours.map((p) => `${p.name}\t${p.version}\t${p.architecture}\t${p.installedBytes}`).sort(), expected);
    // An explicit epoch 0 is printed, as rpm does; no epoch is not.
    const version = Object.fromEntries(ours.map((p) => [p.name, p.version]));
    assert.equal(version['app'], '0:1.0-3');
    assert.equal(version['busybox-static'], '1:1.35.0-1');
    assert.equal(version['hello'], '2.0^git20231114-1');
  });

  it('fromscratch analyze reads it from an image, with the files each package installed', async () => {
    const layout = join(tempDir('rpmimage'), 'oci');
    cliOk(['import', root, `oci:${layout}:rpm`, '--owner', '0:0']);
    const { report, tree: t } = await analyze(`oci:${layout}:rpm`, { tree: true });
    const tree = t!;
    assert.equal(report.packageManager, 'rpm');
    assert.deepEqual(report.packages, await rpmInstalledPackages(readFileSync(database), database));
    assert.equal(report.packageCount, 8);
    const find = (path: string) => path.split('/').reduce<typeof tree | undefined>((n, name) => n?.children?.find((c) => c.name === name), tree);
    const owner = must('rpm', ['--root', root, ...dbArgs, '-qf', '--qf', '%{NAME}', '/usr/share/libdata/data.txt']);
    assert.equal(find('usr/share/libdata/data.txt')?.package, owner);
    assert.match(cliOk(['analyze', `oci:${layout}:rpm`]), /^Packages \(rpm\): 8, /m);
  });

  it('gives each package the shortest chain of requires from a package nothing requires', async () => {
    const ours = await rpmInstalledPackages(readFileSync(database), database);
    const why = Object.fromEntries(ours.map((p) => [p.name, p.why]));
    assert.deepEqual(why, {
      app: ['top-level'],
      hello: ['top-level'],
      // Only a %post requires it, which rpm -e does not hold against removing it.
      libpost: ['top-level'],
      libthing: ['app', 'libthing'], // through the virtual libthing.so.1()(64bit)
      libalt: ['app', 'libalt'], // through (not-there or libalt)
      libdata: ['app', 'libthing', 'libdata'], // through the file /usr/share/libdata/data.txt
      'busybox-static': ['hello', 'busybox-static'],
      filesystem: ['hello', 'filesystem'],
    });
    // rpm agrees: a top-level package can be erased alone; any other is needed by the one before it in its chain.
    for (const p of ours) {
      const erase = rpm(['-e', '--test', p.name]);
      if (p.why[0] === 'top-level') {
        assert.equal(erase.status, 0, `${p.name}: ${erase.stderr}`);
        continue;
      }
      const neededBy = [...erase.stderr.matchAll(/is needed by \(installed\) (\S+)/g)].map((m) => m[1]!);
      const before = p.why[p.why.length - 2]!;
      assert.ok(neededBy.some((n) => n.startsWith(`${before}-`)), `${p.name}: rpm says it is needed by ${neededBy.join(', ')}, not ${before}`);
    }
    // And the file require in detail: libthing requires the path, which libdata owns.
    assert.match(rpm(['-q', '--requires', 'libthing']).stdout, /^\/usr\/share\/libdata\/data\.txt$/m);
    assert.match(rpm(['-qf', '/usr/share/libdata/data.txt']).stdout, /^libdata-2\.1-7\.noarch$/m);
    assert.match(rpm(['-q', '--whatrequires', 'libthing.so.1()(64bit)']).stdout, /^app-0?:?1\.0-3\.noarch$/m);
  });

  it('applies the committed transactions of a write-ahead log, and only those', async () => {
    const dir = tempDir('rpmwal');
    const scratch = join(dir, 'scratch.sqlite');
    copyFileSync(database, scratch);
    // A snapshot taken while another process has the database open: the delete is only in the WAL.
    python(
      `
import os, shutil, sqlite3, sys
src, out = sys.argv[1], sys.argv[2]
c = sqlite3.connect(src, isolation_level=None)
c.execute('pragma wal_autocheckpoint=0')
assert c.execute('pragma journal_mode').fetchone()[0] == 'wal'
c.execute("delete from Packages where hnum = (select hnum from Name where key = 'libalt')")
shutil.copy(src, out); shutil.copy(src + '-wal', out + '-wal')
os._exit(0)
`,
      [scratch, join(dir, 'snapshot.sqlite')],
    );
    const main = readFileSync(join(dir, 'snapshot.sqlite'));
    const wal = readFileSync(join(dir, 'snapshot.sqlite-wal'));
    assert.ok(wal.length > 32, 'the WAL holds the transaction');
    const names = async (w?: Uint8Array) => (await rpmInstalledPackages(main, 'snapshot', w)).map((p) => p.name).sort();
    // A transaction cut short (the commit frame lost) does not count.
    const torn = wal.subarray(0, wal.length - 100);

    // rpm, opening the same files, sees the same.
    const rpmSees = (walBytes: Uint8Array) => {
      const r = join(tempDir('rpmwalroot'), 'root');
      mkdirSync(join(r, 'var/lib/rpm'), { recursive: true });
      writeFileSync(join(r, 'var/lib/rpm/rpmdb.sqlite'), main);
      writeFileSync(join(r, 'var/lib/rpm/rpmdb.sqlite-wal'), walBytes);
      return must('rpm', ['--root', r, ...dbArgs, '-qa', '--qf', '%{NAME}\\n']).trim().split('\n').filter((n) => n !== 'gpg-pubkey').sort();
    };
    const withWal = await names(wal);
    assert.ok(!withWal.includes('libalt'));
    assert.deepEqual(withWal, rpmSees(wal));
    const withoutWal = await names();
    assert.ok(withoutWal.includes('libalt'));
    assert.deepEqual(await names(torn), withoutWal);
    assert.deepEqual(withoutWal, rpmSees(torn));
  });

  it('refuses a corrupt header, naming the database and the hnum (rpm skips the same one)', async () => {
    const dir = tempDir('rpmbad');
    const r = join(dir, 'root');
    mkdirSync(join(r, 'var/lib/rpm'), { recursive: true });
    const bad = join(r, 'var/lib/rpm/rpmdb.sqlite');
    copyFileSync(database, bad);
    const hnum = python(
      `
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
(h,) = c.execute("select hnum from Name where key = 'libdata'").fetchone()
c.execute('update Packages set blob = substr(blob, 1, 200) where hnum = ?', (h,))
c.commit(); c.close(); print(h)
`,
      [bad],
    ).trim();
    await assert.rejects(rpmInstalledPackages(readFileSync(bad), '/img/var/lib/rpm/rpmdb.sqlite'), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, new RegExp(`^/img/var/lib/rpm/rpmdb\\.sqlite: Packages hnum ${hnum}: corrupt rpm header`));
      return true;
    });
    assert.match(rpm(['-qa'], r).stderr, new RegExp(`skipping h#\\s*${hnum}\\b`));
  });

  it('checks each index entry of a header against the data it points into', () => {
    const blob = Buffer.from(python(`
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(c.execute("select hex(blob) from Packages p join Name n on n.hnum = p.hnum where n.key = 'hello'").fetchone()[0])
`, [database]).trim(), 'hex');
    assert.equal(RpmHeader.parse(blob, 'hello').string(RpmTag.NAME), 'hello');
    const corrupt = (at: number, value: number) => {
      const b = Buffer.from(blob);
      b.writeUInt32BE(value, at);
      return () => RpmHeader.parse(b, 'db: Packages hnum 3');
    };
    const il = blob.readUInt32BE(0);
    const dl = blob.readUInt32BE(4);
    // Entry 2's offset beyond the data, its type unknown, a string array's count running off the end.
    assert.throws(corrupt(8 + 2 * 16 + 8, dl + 4), /^UserError: db: Packages hnum 3: corrupt rpm header: entry 2 \(tag \d+\) starts at \d+, outside/);
    assert.throws(corrupt(8 + 2 * 16 + 4, 17), /entry 2 \(tag \d+\) has unknown type 17/);
    const names = [...Array(il).keys()].find((i) => blob.readUInt32BE(8 + i * 16) === RpmTag.REQUIRENAME)!;
    assert.throws(corrupt(8 + names * 16 + 12, 100000), /string \d+ runs past the data/);
    assert.throws(corrupt(0, il + 1000), /do not fit/);
  });

  it('refuses a file that is not an rpm sqlite database', async () => {
    await assert.rejects(rpmInstalledPackages(Buffer.from('not sqlite at all'.repeat(100)), 'x/rpmdb.sqlite'), /^UserError: x\/rpmdb\.sqlite: not an rpm database: file is not a database/);
  });
});

describe('rpm: where the database is', () => {
  it('prefers the sqlite database, and names the backends it does not read', () => {
    const found = (paths: string[]) => findRpmDatabase((p) => paths.includes(p));
    assert.deepEqual(found(['var/lib/rpm/rpmdb.sqlite']), { path: 'var/lib/rpm/rpmdb.sqlite', backend: 'sqlite' });
    assert.deepEqual(found(['usr/lib/sysimage/rpm/rpmdb.sqlite', 'var/lib/rpm/Packages']), { path: 'usr/lib/sysimage/rpm/rpmdb.sqlite', backend: 'sqlite' });
    const bdb = found(['var/lib/rpm/Packages'])!;
    assert.equal(bdb.backend, 'bdb');
    assert.equal(rpmDatabaseNotRead(bdb), 'rpm database (bdb) not read: /var/lib/rpm/Packages; only the sqlite backend (rpm ≥ 4.16) is read');
    assert.equal(found(['usr/lib/sysimage/rpm/Packages.db'])!.backend, 'ndb');
    assert.equal(found(['etc/os-release']), undefined);
    assert.deepEqual(RPM_SQLITE_FILES, [
      'usr/lib/sysimage/rpm/rpmdb.sqlite', 'usr/lib/sysimage/rpm/rpmdb.sqlite-wal', 'var/lib/rpm/rpmdb.sqlite', 'var/lib/rpm/rpmdb.sqlite-wal',
    ]);
  });
});

/*
 * An Alpine 3.19 image's /lib/apk/db/installed after `apk add curl docs` and `apk add --virtual .build-deps
 * make`, trimmed to the fields apk writes for each package (checksums shortened, most file lines left out).
 */
const APK_INSTALLED = `C:Q1b2Nh0/5WQ0KqYkBgTNcMVq9nkIQ=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:407278
I:662528
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Natanael Copa <ncopa@alpinelinux.org>
t:1700000000
c:2b3b2c1a6ab6f2a4c7dd5f6b9dd1b1ec8d7ea1ea
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1eYJzZqGdQyrBnFNfnL3Pn8GEM5c=
R:libc.musl-x86_64.so.1
a:0:0:777
Z:Q17yJ3JFNypA4mxhJJr0ou6CzsJVI=

C:Q1qUtE0cpbF8C0PUuCv2wk/8Kd0iI=
P:busybox
V:1.36.1-r15
A:x86_64
S:510208
I:946176
T:Size optimized toolbox of many common UNIX utilities
U:https://busybox.net/
L:GPL-2.0-only
o:busybox
m:Sören Tempel <soeren+alpine@soeren-tempel.net>
t:1700000000
c:1f8aa2e9f2e0f4d2fd8f2b8bd16d0b9d8b87c7d1
D:so:libc.musl-x86_64.so.1 !busybox-initscripts<1.35
p:cmd:busybox=1.36.1-r15
r:busybox-initscripts
F:bin
R:busybox
a:0:0:755
Z:Q1ZSnKKfkcx3Jw3HWxbANkXb7iRZY=

C:Q1vjAFIQfPOLgl9Y7Ey3aWxJm4rfw=
P:busybox-binsh
V:1.36.1-r15
A:x86_64
I:1
o:busybox
D:busybox=1.36.1-r15
p:/bin/sh cmd:sh=1.36.1-r15
k:100
F:bin
R:sh
a:0:0:777
Z:Q1pcfTfDNEbNKQc2s1tia7da05M8Q=

C:Q1g5mgTpcmFCsHXCzhcKmoBnqpL9g=
P:alpine-baselayout-data
V:3.4.3-r2
A:x86_64
I:77824
o:alpine-baselayout
r:alpine-baselayout
F:etc
R:fstab
R:group

C:Q1WMDF9KvLm5wn9nhGAQ/2R7JsrXY=
P:alpine-baselayout
V:3.4.3-r2
A:x86_64
I:327680
o:alpine-baselayout
D:alpine-baselayout-data=3.4.3-r2 /bin/sh
q:1000
F:dev
F:etc
F:home

C:Q1AXmr9nLgHKqhjFUQTzdgBVl9xls=
P:alpine-keys
V:2.4-r1
A:x86_64
I:159744
r:alpine-base
F:etc/apk/keys

C:Q1BVK4J4P7rwiOS3qmVyjBv6uS5EE=
P:ca-certificates-bundle
V:20240226-r0
A:x86_64
I:233472
o:ca-certificates
p:ca-certificates-cacert=20240226-r0
r:ca-certificates-cacert

C:Q1aP2Ib2MqBhmHtAQ4whnrCg/3Zyc=
P:libcrypto3
V:3.1.4-r5
A:x86_64
I:4710400
o:openssl
D:so:libc.musl-x86_64.so.1
p:so:libcrypto.so.3=3

C:Q1uXHq6/MFUqnlPUXPqv/pL4ISvUM=
P:libssl3
V:3.1.4-r5
A:x86_64
I:786432
o:openssl
D:so:libc.musl-x86_64.so.1 so:libcrypto.so.3
p:so:libssl.so.3=3

C:Q1xH0xcBkuuGHXrhmiPF+q5OYzJXw=
P:zlib
V:1.3.1-r0
A:x86_64
I:110592
D:so:libc.musl-x86_64.so.1
p:so:libz.so.1=1.3.1

C:Q1Y9p6ffkA3h9V3DlR3tqE2Bxq9Tw=
P:apk-tools
V:2.14.0-r5
A:x86_64
I:315392
D:musl>=1.2.3_git20230424 ca-certificates-bundle so:libc.musl-x86_64.so.1 so:libcrypto.so.3 so:libssl.so.3 so:libz.so.1
p:so:libapk.so.2.14.0=2.14.0 cmd:apk=2.14.0-r5

C:Q1Jr1d3bSyS1Va0hW4ZSlEkDqwSt8=
P:scanelf
V:1.3.7-r2
A:x86_64
I:98304
o:pax-utils
D:so:libc.musl-x86_64.so.1
p:cmd:scanelf=1.3.7-r2

C:Q1ZdahL5rqH8CGtGDVcQyDG3MDjVE=
P:musl-utils
V:1.2.4_git20230717-r4
A:x86_64
I:135168
o:musl
D:scanelf so:libc.musl-x86_64.so.1
p:cmd:getconf=1.2.4_git20230717-r4 cmd:getent=1.2.4_git20230717-r4 cmd:iconv=1.2.4_git20230717-r4 cmd:ldconfig=1.2.4_git20230717-r4 cmd:ldd=1.2.4_git20230717-r4
r:libiconv

C:Q1eUzYl1Y1TscNkUk0B45oCtrcMmU=
P:libc-utils
V:0.7.2-r5
A:x86_64
I:4096
o:libc-dev
D:musl-utils

C:Q1P8h3hjO0ehE3x2fQUbP0v3xKJxE=
P:libcurl
V:8.5.0-r0
A:x86_64
I:675840
o:curl
D:ca-certificates-bundle so:libc.musl-x86_64.so.1 so:libcrypto.so.3 so:libssl.so.3 so:libz.so.1
p:so:libcurl.so.4=4.8.0

C:Q1IqpHD1H0e1qBZb5V4oGXaFNM0oY=
P:curl
V:8.5.0-r0
A:x86_64
I:253952
D:ca-certificates-bundle so:libc.musl-x86_64.so.1 so:libcurl.so.4
p:cmd:curl=8.5.0-r0

C:Q1Zl5nAd4PkgAEYzs6zgS7oD3q5w0=
P:docs
V:0.2-r6
A:noarch
I:0

C:Q1aDi3DFKjJ8jhUTlDbsUaJPbXuGc=
P:curl-doc
V:8.5.0-r0
A:noarch
I:1576960
o:curl
i:docs curl=8.5.0-r0

C:Q1/Fv5shHI0ZFbD5lqCMnvJVXhIr8=
P:make
V:4.4.1-r2
A:x86_64
I:303104
D:so:libc.musl-x86_64.so.1
p:cmd:make=4.4.1-r2

P:.build-deps
V:20240101.120000
A:noarch
S:0
I:0
T:virtual meta package
D:make

C:Q1Q1e9eiTzOYuhw6kXt7Ftx3EE6hM=
P:libffi
V:3.4.4-r3
A:x86_64
I:45056
D:so:libc.musl-x86_64.so.1
p:so:libffi.so.8=8.1.2
`;

const APK_WORLD = 'alpine-baselayout\nalpine-keys\napk-tools\nbusybox\nlibc-utils\ncurl>=8\ndocs\n.build-deps\n';

describe('apk: the installed-package database', () => {
  it('reads each package with its version, architecture and installed bytes', () => {
    const packages = apkInstalledPackages(APK_INSTALLED, APK_WORLD, 'installed');
    assert.equal(packages.length, 21);
    const musl = packages.find((p) => p.name === 'musl')!;
    assert.deepEqual({ ...musl, why: undefined }, { name: 'musl', version: '1.2.4_git20230717-r4', architecture: 'x86_64', installedBytes: 662528, why: undefined });
    assert.deepEqual(packages.map((p) => p.name), [...packages.map((p) => p.name)].sort());
  });

  it('chains each package to what world asked for, through so:, cmd: and file provides and install_if', () => {
    const why = Object.fromEntries(apkInstalledPackages(APK_INSTALLED, APK_WORLD, 'installed').map((p) => [p.name, p.why]));
    assert.deepEqual(why, {
      '.build-deps': ['top-level'],
      make: ['.build-deps', 'make'],
      'alpine-baselayout': ['top-level'],
      'alpine-baselayout-data': ['alpine-baselayout', 'alpine-baselayout-data'],
      'busybox-binsh': ['alpine-baselayout', 'busybox-binsh'], // through its /bin/sh provide
      'alpine-keys': ['top-level'],
      'apk-tools': ['top-level'],
      'ca-certificates-bundle': ['apk-tools', 'ca-certificates-bundle'],
      libcrypto3: ['apk-tools', 'libcrypto3'], // so:libcrypto.so.3
      libssl3: ['apk-tools', 'libssl3'],
      zlib: ['apk-tools', 'zlib'],
      musl: ['apk-tools', 'musl'],
      busybox: ['top-level'],
      curl: ['top-level'], // world's curl>=8
      libcurl: ['curl', 'libcurl'],
      'curl-doc': ['curl', 'curl-doc'], // install_if: docs curl
      docs: ['top-level'],
      'libc-utils': ['top-level'],
      'musl-utils': ['libc-utils', 'musl-utils'],
      scanelf: ['libc-utils', 'musl-utils', 'scanelf'],
      // Left over: nothing world names needs it.
      libffi: ['orphan'],
    });
  });

  it('without world, starts from the packages nothing depends on', () => {
    const why = Object.fromEntries(apkInstalledPackages(APK_INSTALLED, undefined, 'installed').map((p) => [p.name, p.why]));
    const topLevel = Object.keys(why).filter((n) => why[n]![0] === 'top-level');
    assert.deepEqual(topLevel, ['.build-deps', 'alpine-baselayout', 'alpine-keys', 'apk-tools', 'curl', 'docs', 'libc-utils', 'libffi']);
    assert.deepEqual(why['busybox'], ['alpine-baselayout', 'busybox-binsh', 'busybox']);
    assert.deepEqual(why['musl'], ['apk-tools', 'musl']);
    assert.deepEqual(why['libffi'], ['top-level']);
  });

  it('fromscratch analyze reads it from an image, with the files each package installed', async () => {
    const dir = tempDir('apkimage');
    mkdirSync(join(dir, 'rootfs/lib/apk/db'), { recursive: true });
    mkdirSync(join(dir, 'rootfs/etc/apk'), { recursive: true });
    writeFileSync(join(dir, 'rootfs/lib/apk/db/installed'), APK_INSTALLED);
    writeFileSync(join(dir, 'rootfs/etc/apk/world'), APK_WORLD);
    writeFileSync(join(dir, 'rootfs/lib/ld-musl-x86_64.so.1'), 'not really musl\n');
    cliOk(['import', join(dir, 'rootfs'), `oci:${join(dir, 'oci')}:apk`, '--owner', '0:0']);
    const { report, tree: t } = await analyze(`oci:${join(dir, 'oci')}:apk`, { tree: true });
    const tree = t!;
    assert.equal(report.packageManager, 'apk');
    assert.deepEqual(report.packages, apkInstalledPackages(APK_INSTALLED, APK_WORLD, 'installed'));
    const lib = tree.children!.find((c) => c.name === 'lib')!;
    assert.equal(lib.children!.find((c) => c.name === 'ld-musl-x86_64.so.1')!.package, 'musl');
  });

  it('refuses a malformed database, naming the line', () => {
    assert.throws(() => apkInstalledPackages('P:musl\nV:1\nthis is not a field\n', undefined, '/img/lib/apk/db/installed'), /^UserError: \/img\/lib\/apk\/db\/installed: line 3: not a "X:value" line/);
    assert.throws(() => apkInstalledPackages('P:musl\n\nV:1\nA:x86_64\n', undefined, 'installed'), /^UserError: installed: line 3: a package entry without a P: \(name\) line/);
    assert.throws(() => apkInstalledPackages('P:musl\nI:12k\n', undefined, 'installed'), /line 2: installed size "12k" is not a number/);
  });
});
