import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { before, describe, it } from 'node:test';
import { generateKey, readKey, type PublicKey } from 'openpgp';
import type { SourcedEntry } from '../src/entries/entry-set.js';
import { UserError } from '../src/errors.js';
import { CpioReader } from '../src/packages/rpm/cpio.js';
import { readPackageHeader, RpmHeader, RpmSigTag, RpmTag } from '../src/packages/rpm/header.js';
import { mapOwners, readRpm, readRpmHeaders, RpmFileFlag, RpmFileState, rpmParentDirectories } from '../src/packages/rpm/rpm-file.js';
import { verifyRpm } from '../src/packages/rpm/signature.js';
import { readPublicKeys as readRpmKeys } from '../src/packages/signing-keys.js';
import { ByteReader } from '../src/stream/byte-reader.js';
import { must, ROOT, run, tempDir } from './helpers.js';

const hasRpm = run('sh', ['-c', 'command -v rpm && command -v rpmbuild && command -v rpmsign && command -v createrepo_c && command -v gpg']).status === 0;
const isRoot = process.getuid?.() === 0;

/** The accounts filekinds' %pre makes (useradd/groupadd with explicit ids), as an image would have them after it. */
const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nfixd:x:480:480:Fixture daemon:/var/lib/fixd:/sbin/nologin\n';
const GROUP = 'root:x:0:\nfixd:x:480:\n';

async function content(entry: SourcedEntry): Promise<string> {
  const hash = createHash('sha256');
  if (entry.open) for await (const chunk of entry.open()) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** What rpm made in a root, by entry path: rpm's own database and the seeded accounts left out. */
function tree(root: string): Map<string, { type: string; mode: number; uid: number; gid: number; size: number; ino: number; target?: string; rdev?: [number, number]; mtime: number }> {
  const out = new Map<string, { type: string; mode: number; uid: number; gid: number; size: number; ino: number; target?: string; rdev?: [number, number]; mtime: number }>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel))) {
      const path = rel ? `${rel}/${name}` : name;
      if (path === RPMDB || path === 'etc/passwd' || path === 'etc/group') continue;
      const st = lstatSync(join(root, path));
      const type = st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : st.isFIFO() ? 'fifo' : 'other';
      const item: { type: string; mode: number; uid: number; gid: number; size: number; ino: number; target?: string; rdev?: [number, number]; mtime: number } = {
        type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: type === 'file' ? st.size : 0, ino: st.ino, mtime: Math.floor(st.mtimeMs / 1000),
      };
      if (type === 'symlink') item.target = readlinkSync(join(root, path));
      if (type === 'char' || type === 'block') item.rdev = [Math.floor(st.rdev / 256) & 0xfff, st.rdev & 0xff];
      out.set(path, item);
      if (type === 'directory') walk(path);
    }
  };
  walk('');
  return out;
}

/** Fuzzing draws from a seeded generator (mulberry32) so that a failure replays: FUZZ_SEED=N. */
const SEED = Number(process.env.FUZZ_SEED ?? 1700000000);
let state = SEED >>> 0;
function random(): number {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const randomInt = (n: number) => Math.floor(random() * n);
const noise = (n: number) => Buffer.from(Array.from({ length: n }, () => randomInt(256)));

/** Changes one byte (mask ≠ 0). */
function flip(buf: Buffer, at: number, mask: number): void {
  buf.writeUInt8(buf.readUInt8(at) ^ mask, at);
}

/** rpm's database folder in the roots it installs into (the filesystem fixture owns it too). */
const RPMDB = 'var/lib/rpm';

const sha256File = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Reads a package file's headers from a buffer (for tampering tests). */
async function headersOf(buf: Buffer) {
  const reader = new ByteReader(Readable.from([buf]));
  await reader.read(96);
  const signature = await readPackageHeader(reader, 'signature', 'test');
  const header = await readPackageHeader(reader, 'header', 'test');
  return { signature, header };
}

/** Recomputes a tampered package's header digests (SHA256HEADER, SHA1HEADER, MD5) in place, as an attacker without the key could. */
async function redigest(buf: Buffer): Promise<void> {
  const { signature, header } = await headersOf(buf);
  const region = header.header.regionImage();
  const replace = (old: Buffer, now: Buffer) => {
    const at = buf.indexOf(old);
    assert.ok(at >= 0 && old.length === now.length);
    now.copy(buf, at);
  };
  replace(Buffer.from(signature.header.string(RpmSigTag.SHA256HEADER)!), Buffer.from(createHash('sha256').update(region).digest('hex')));
  replace(Buffer.from(signature.header.string(RpmSigTag.SHA1HEADER)!), Buffer.from(createHash('sha1').update(region).digest('hex')));
  const payload = buf.subarray(header.offset + header.length);
  replace(signature.header.binary(RpmSigTag.MD5)!, createHash('md5').update(region).update(payload).digest());
}

/** Asserts `promise` rejects with a UserError whose message names `file` and matches `pattern`. */
async function rejectsNaming(promise: Promise<unknown>, file: string, pattern: RegExp = /./): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof UserError, `not a UserError: ${String(err)}`);
    assert.ok(err.message.includes(file), `does not name ${file}: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('rpm package files', { skip: hasRpm ? false : 'rpm, rpmbuild, rpmsign, createrepo_c or gpg missing (scripts/test.sh installs them)' }, () => {
  let packages: string;
  let keys: PublicKey[];
  const pkg = (prefix: string) => join(packages, readdirSync(packages).find((f) => f.startsWith(`${prefix}-`))!);

  before(() => {
    const work = tempDir('rpmfile');
    must('sh', [join(ROOT, 'test/fixtures/rpm/make-rpm-fixtures.sh'), join(work, 'fixtures')]);
    packages = join(work, 'fixtures/repo/Packages');
  });
  before(async () => {
    keys = await readRpmKeys(readFileSync(join(packages, '../RPM-GPG-KEY-fixture')), 'RPM-GPG-KEY-fixture');
  });

  const variants = [
    { name: 'default', rpm: [] as string[], options: {}, accounts: true },
    { name: '--nodocs', rpm: ['--nodocs'], options: { nodocs: true }, accounts: true },
    { name: "_install_langs de", rpm: ['--define', '_install_langs de'], options: { installLangs: ['de'] }, accounts: true },
    { name: 'no accounts in the image', rpm: [], options: {}, accounts: false },
  ];
  for (const variant of variants) {
    it(`gives the files rpm -i installs, for every fixture package (${variant.name})`, { skip: isRoot ? false : 'needs root: rpm -i sets owners and makes device nodes' }, async () => {
      const names = readdirSync(packages).filter((f) => f.endsWith('.rpm'));
      assert.ok(names.length >= 7);
      for (const name of names) {
        const file = join(packages, name);
        const root = tempDir('rpmroot');
        if (variant.accounts) {
          mkdirSync(join(root, 'etc'), { mode: 0o755 });
          writeFileSync(join(root, 'etc/passwd'), PASSWD);
          writeFileSync(join(root, 'etc/group'), GROUP);
        }
        must('rpm', ['--root', root, '--dbpath', '/var/lib/rpm', '-i', '--nodeps', '--noscripts', '--ignorearch', '--nosignature', ...variant.rpm, file]);
        const got = tree(root);
        const contents = await readRpm(file, name, tempDir('rpmspool'), variant.options);
        const mapped = mapOwners(contents.entries, variant.accounts ? PASSWD : '', variant.accounts ? GROUP : '');
        const parents = rpmParentDirectories(mapped.entries, 0, contents.folders);
        const ours = new Map([...mapped.entries, ...parents].map((e) => [e.path, e]));
        const madeByRpm = new Set(['var', 'var/lib', ...(variant.accounts ? ['etc'] : [])]);
        for (const path of got.keys()) assert.ok(ours.has(path) || madeByRpm.has(path), `${name}: rpm made ${path}, we do not`);
        // Hardlink sets: same inode in rpm's tree ⇔ the same content-holding entry in ours.
        const holder = (path: string) => {
          const e = ours.get(path)!;
          return e.type === 'hardlink' ? e.linkname! : path;
        };
        for (const [path, e] of ours) {
          if (path === RPMDB) continue;
          const r = got.get(path);
          assert.ok(r, `${name}: we give ${path}, rpm did not make it`);
          const what = `${name} (${variant.name}): ${path}`;
          assert.equal(e.type === 'hardlink' ? 'file' : e.type, r.type, what);
          assert.equal(e.mode, r.mode, `${what}: mode ${e.mode.toString(8)} vs ${r.mode.toString(8)}`);
          assert.equal(e.uid, r.uid, `${what}: uid`);
          assert.equal(e.gid, r.gid, `${what}: gid`);
          if (!parents.includes(e) && e.type !== 'directory') assert.equal(e.mtime, r.mtime, `${what}: mtime`);
          if (e.type === 'symlink') assert.equal(e.linkname, r.target, what);
          if (e.type === 'char' || e.type === 'block') assert.deepEqual([e.devmajor, e.devminor], r.rdev, what);
          if (e.type === 'file' || e.type === 'hardlink') {
            const held = ours.get(holder(path))!;
            assert.equal(held.size, r.size, `${what}: size`);
            assert.equal(await content(held), sha256File(join(root, path)), `${what}: content`);
            for (const [other, o] of ours) {
              if (other === path || (o.type !== 'file' && o.type !== 'hardlink')) continue;
              assert.equal(holder(other) === holder(path), got.get(other)!.ino === r.ino, `${what} and ${other}: hardlinked in one tree, not in the other`);
            }
          }
        }
        // %ghost files and folders are recorded, not created.
        for (const f of contents.files.filter((f) => f.flags & RpmFileFlag.GHOST)) {
          assert.equal(f.installed, false);
          assert.equal(f.state, RpmFileState.NORMAL);
          assert.ok(!existsSync(join(root, f.path)), `${name}: rpm created the ghost ${f.path}`);
        }
        for (const f of contents.files.filter((f) => f.state === RpmFileState.NOTINSTALLED)) assert.ok(!got.has(f.path), `${name}: ${f.path} left out but rpm made it`);
      }
    });
  }

  it('leaves out %doc but not %license with nodocs, and matches languages as rpm does', async () => {
    const file = pkg('filekinds');
    const paths = async (options: object) => new Set((await readRpm(file, 'filekinds', tempDir('rpmspool'), options)).entries.map((e) => e.path));
    const all = await paths({});
    const nodocs = await paths({ nodocs: true });
    assert.ok(all.has('usr/share/doc/filekinds/README') && !nodocs.has('usr/share/doc/filekinds/README'));
    assert.ok(nodocs.has('usr/share/licenses/filekinds/COPYING'));
    // The kept name of a hardlink set with a %doc name takes the content.
    assert.ok(nodocs.has('usr/lib/filekinds/news') && !nodocs.has('usr/share/doc/filekinds/NEWS'));
    // "de" installs de files only; de_AT installs de and de_AT files (a file's language is a prefix of an installed one).
    const de = await paths({ installLangs: ['de'] });
    assert.deepEqual([...de].filter((p) => p.includes('/locale/')).sort(), ['usr/share/locale/de/LC_MESSAGES/filekinds.mo']);
    const deAt = await paths({ installLangs: ['de_AT', 'fr'] });
    assert.equal([...deAt].filter((p) => p.endsWith('.mo')).length, 3);
    assert.equal((await paths({ installLangs: ['all'] })).size, all.size);
  });

  it('maps owner names through the image\'s passwd and group, root and no setuid/setgid for unknown ones', async () => {
    const { entries } = await readRpm(pkg('filekinds'), 'filekinds', tempDir('rpmspool'));
    const state = entries.find((e) => e.path === 'var/lib/fixd/state')!;
    assert.deepEqual([state.uname, state.gname, state.uid], ['fixd', 'fixd', 0]);
    const known = mapOwners(entries, PASSWD, GROUP);
    const byPath = new Map(known.entries.map((e) => [e.path, e]));
    assert.deepEqual([byPath.get('var/lib/fixd/state')!.uid, byPath.get('var/lib/fixd/state')!.gid], [480, 480]);
    assert.equal(byPath.get('var/lib/fixd/cache')!.mode, 0o2770);
    assert.deepEqual(known.unknownUsers, ['nobody-here']);
    assert.equal(byPath.get('usr/share/filekinds/setuid-stranger')!.mode, 0o755);
    const none = mapOwners(entries, '', '');
    assert.deepEqual(none.unknownGroups, ['fixd']);
    assert.equal(none.entries.find((e) => e.path === 'var/lib/fixd/cache')!.mode, 0o770);
  });

  it('keeps the header and signature header byte for byte, and the file digests', async () => {
    const file = pkg('filekinds');
    const contents = await readRpm(file, 'filekinds', tempDir('rpmspool'));
    const bytes = readFileSync(file);
    const at = bytes.indexOf(contents.header);
    assert.ok(at > 96 && bytes[at - 8] === 0x8e, 'the header blob is in the file, after its magic');
    assert.ok(bytes.indexOf(contents.signature) === 96 + 8);
    const header = RpmHeader.parse(contents.header, 'blob');
    assert.equal(header.string(RpmTag.NAME), 'filekinds');
    const dump = must('rpm', ['-qp', '--dump', file]).trim().split('\n');
    for (const line of dump) {
      const [path, , , digest] = line.split(' ');
      if (contents.digests.has(path!.slice(1))) assert.equal(contents.digests.get(path!.slice(1)), digest);
    }
    assert.equal(contents.digestAlgorithm, 'sha256');
    const headers = await readRpmHeaders(file, 'filekinds');
    assert.ok(headers.header.blob.equals(contents.header) && headers.signature.blob.equals(contents.signature));
    assert.equal(contents.files.length, dump.length);
  });

  it('streams a 200 MB payload without holding it in memory', async () => {
    const top = tempDir('rpmbig');
    mkdirSync(join(top, 'SPECS'));
    writeFileSync(join(top, 'SPECS/big.spec'), `Name: big\nVersion: 1\nRelease: 1\nSummary: big\nLicense: MIT\nBuildArch: noarch\n%description\nbig\n%install\nmkdir -p %{buildroot}/big\nyes fromscratch | head -c 200000000 > %{buildroot}/big/file\n%files\n/big/file\n`);
    must('rpmbuild', ['--quiet', '--define', `_topdir ${top}`, '--define', '_binary_payload w1.gzdio', '--define', '__spec_install_post %{nil}', '-bb', join(top, 'SPECS/big.spec')]);
    const file = join(top, 'RPMS/noarch/big-1-1.noarch.rpm');
    const script = `
      import { readRpm } from ${JSON.stringify(join(ROOT, 'dist/src/packages/rpm/rpm-file.js'))};
      const before = process.memoryUsage().rss;
      const r = await readRpm(${JSON.stringify(file)}, 'big.rpm', ${JSON.stringify(tempDir('rpmspool'))});
      console.log(JSON.stringify({ size: r.spool.size, before, peak: process.resourceUsage().maxRSS * 1024 }));`;
    const result = JSON.parse(must(process.execPath, ['--input-type=module', '-e', script])) as { size: number; before: number; peak: number };
    assert.equal(result.size, 200_000_000);
    assert.ok(result.peak - result.before < 100 * 1024 * 1024, `peak RSS grew by ${Math.round((result.peak - result.before) / 1048576)} MiB`);
  });

  it('reads a payload in rpm ≥ 4.12\'s stripped cpio format, as rpm -i does', { skip: isRoot ? false : 'needs root for rpm -i' }, async () => {
    // rpm writes 07070X headers only for packages with a file of 4 GiB or more: convert a fixture's
    // payload to that format and fix its digests and sizes, then install it with rpm and read it.
    const original = readFileSync(pkg('payload-gzip'));
    const { signature, header } = await headersOf(original);
    const payloadAt = header.offset + header.length;
    const archive = gunzipSync(original.subarray(payloadAt));
    const names = new Map<string, number>();
    const h = header.header;
    h.strings(RpmTag.BASENAMES).forEach((b, i) => names.set(`.${h.strings(RpmTag.DIRNAMES)[h.numbers(RpmTag.DIRINDEXES)[i]!]}${b}`, i));
    const reader = new CpioReader(Readable.from([archive]), 'original');
    const parts: Buffer[] = [];
    const pad = () => Buffer.alloc((4 - (parts.reduce((n, p) => n + p.length, 0) % 4)) % 4);
    for (;;) {
      const m = await reader.next();
      if (!m) break;
      parts.push(Buffer.from(`07070X${names.get(m.name!)!.toString(16).padStart(8, '0')}`));
      parts.push(pad());
      for await (const c of reader.data()) parts.push(c);
      parts.push(pad());
    }
    parts.push(newc('TRAILER!!!', Buffer.alloc(0)));
    const stripped = Buffer.concat(parts);
    const payload = gzipSync(stripped);
    const buf = Buffer.concat([original.subarray(0, payloadAt), payload]);
    const replace = (old: Buffer, now: Buffer, from = 0) => {
      const at = buf.indexOf(old, from);
      assert.ok(at >= 0);
      now.copy(buf, at);
    };
    replace(Buffer.from(h.strings(RpmTag.PAYLOADDIGEST)[0]!), Buffer.from(createHash('sha256').update(payload).digest('hex')), header.offset);
    const be32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
    replace(be32(signature.header.numbers(RpmSigTag.SIZE)[0]!), be32(header.length + payload.length), signature.offset);
    replace(be32(signature.header.numbers(RpmSigTag.PAYLOADSIZE)[0]!), be32(stripped.length), signature.offset);
    await redigest(buf);
    const file = join(tempDir('rpmstripped'), 'stripped.rpm');
    writeFileSync(file, buf);
    await verifyRpm(file);
    const root = tempDir('rpmroot');
    must('rpm', ['--root', root, '--dbpath', '/var/lib/rpm', '-i', '--nodeps', '--noscripts', '--nosignature', file]);
    const { entries } = await readRpm(file, 'stripped.rpm', tempDir('rpmspool'));
    const files = entries.filter((e) => e.type === 'file');
    assert.ok(files.length >= 2);
    for (const e of files) assert.equal(await content(e), sha256File(join(root, e.path)), e.path);
    assert.ok(entries.some((e) => e.type === 'hardlink') && entries.some((e) => e.type === 'symlink'));
  });

  it('refuses what it cannot install: another architecture, a source package, a bzip2 payload', async () => {
    await rejectsNaming(readRpm(pkg('busybox-static'), 'busybox-static.rpm', tempDir('rpmspool'), { architectures: ['aarch64'] }), 'busybox-static.rpm', /for x86_64, the image for aarch64/);
    await readRpm(pkg('busybox-static'), 'busybox-static.rpm', tempDir('rpmspool'), { architectures: ['x86_64'] });
    await readRpm(pkg('hello'), 'hello.rpm', tempDir('rpmspool'), { architectures: ['aarch64'] });
    const top = tempDir('rpmodd');
    mkdirSync(join(top, 'SPECS'));
    writeFileSync(join(top, 'SPECS/odd.spec'), 'Name: odd\nVersion: 1\nRelease: 1\nSummary: odd\nLicense: MIT\nBuildArch: noarch\n%description\nodd\n%install\nmkdir -p %{buildroot}/odd\necho odd > %{buildroot}/odd/file\n%files\n/odd/file\n');
    must('rpmbuild', ['--quiet', '--define', `_topdir ${top}`, '--define', '_binary_payload w9.bzdio', '--define', '_source_payload w9.gzdio', '-ba', join(top, 'SPECS/odd.spec')]);
    await rejectsNaming(readRpm(join(top, 'RPMS/noarch/odd-1-1.noarch.rpm'), 'odd.rpm', tempDir('rpmspool')), 'odd.rpm', /bzip2 compression is not supported/);
    await verifyRpm(join(top, 'RPMS/noarch/odd-1-1.noarch.rpm'));
    await rejectsNaming(readRpm(join(top, 'SRPMS/odd-1-1.src.rpm'), 'odd.src.rpm', tempDir('rpmspool')), 'odd.src.rpm', /a source package/);
  });

  it('verifies digests always and signatures with keys, as rpm -K does', async () => {
    for (const name of readdirSync(packages)) {
      const result = await verifyRpm(join(packages, name), { keys });
      assert.ok(result.checked.includes('Header SHA256 digest') && result.checked.includes('Payload SHA256 digest'), name);
      assert.ok(result.checked.includes('header RSA signature'), name);
      assert.equal(result.signedBy.length, name.startsWith('payload-gzip') ? 2 : 1);
      assert.match(must('rpm', ['-Kv', '--nosignature', join(packages, name)]), /Header SHA256 digest: OK/);
    }
    const legacy = await verifyRpm(pkg('payload-gzip'), { keys });
    assert.ok(legacy.checked.includes('legacy RSA signature of header and payload'));
    const { publicKey } = await generateKey({ type: 'rsa', rsaBits: 2048, userIDs: [{ name: 'Other' }], format: 'armored' });
    await rejectsNaming(verifyRpm(pkg('hello'), { keys: [await readKey({ armoredKey: publicKey })], where: 'hello.rpm' }), 'hello.rpm', /key ID [0-9a-f]{16}, which is not among the given keys/);
    const unsigned = join(tempDir('rpmunsigned'), 'hello.rpm');
    copyFileSync(pkg('hello'), unsigned);
    must('rpmsign', ['--delsign', unsigned]);
    await verifyRpm(unsigned);
    await rejectsNaming(verifyRpm(unsigned, { keys }), unsigned, /not signed/);
    await rejectsNaming(readRpm(unsigned, 'hello.rpm', tempDir('rpmspool'), { keys }), 'hello.rpm', /not signed/);
  });

  it('refuses tampered packages with a clear error naming the file', async () => {
    const dir = tempDir('rpmtamper');
    const original = readFileSync(pkg('filekinds'));
    const { signature, header } = await headersOf(original);
    const check = async (label: string, buf: Buffer, pattern: RegExp, withKeys = false) => {
      const file = join(dir, `${label}.rpm`);
      writeFileSync(file, buf);
      await rejectsNaming(verifyRpm(file, withKeys ? { keys } : {}), file, pattern);
      await rejectsNaming(readRpm(file, `${label}.rpm`, tempDir('rpmspool'), withKeys ? { keys } : {}), `${label}.rpm`, pattern);
    };
    // A changed summary: the header digest no longer matches.
    const summary = Buffer.from(original);
    flip(summary, summary.indexOf('Every kind of file'), 0x20);
    await check('summary', summary, /Header SHA256 digest mismatch/);
    // The same with the digests recomputed: only the signature can tell.
    await redigest(summary);
    await check('summary-redigested', summary, /bad header RSA signature/, true);
    // A flipped bit in the signature packet itself.
    const sig = Buffer.from(original);
    const packet = signature.header.binary(RpmSigTag.RSAHEADER)!;
    flip(sig, sig.indexOf(packet) + packet.length - 2, 0x01);
    await check('signature', sig, /bad header RSA signature/, true);
    // The legacy signature over header and payload, checked in a second read.
    const legacy = readFileSync(pkg('payload-gzip'));
    const legacyPacket = (await headersOf(legacy)).signature.header.binary(RpmSigTag.PGP)!;
    flip(legacy, legacy.indexOf(legacyPacket) + legacyPacket.length - 2, 0x01);
    await check('legacy', legacy, /bad legacy RSA signature of header and payload/, true);
    // Payload bytes: the decoder or the payload digest refuses them.
    const payloadAt = header.offset + header.length;
    for (const at of [payloadAt + 20, Math.floor((payloadAt + original.length) / 2), original.length - 30]) {
      const buf = Buffer.from(original);
      flip(buf, at, 0x55);
      const file = join(dir, `payload-${at}.rpm`);
      writeFileSync(file, buf);
      await rejectsNaming(verifyRpm(file), file, /Payload SHA256 digest mismatch/);
      await rejectsNaming(readRpm(file, `payload-${at}.rpm`, tempDir('rpmspool')), `payload-${at}.rpm`, /payload|digest/);
    }
    // A path leaving the root, with digests recomputed to match.
    const escape = Buffer.from(original);
    const dirname = Buffer.from('/opt/filekinds/deep/er/\0');
    const evil = Buffer.from(`/../${'a'.repeat(dirname.length - 6)}/\0`);
    evil.copy(escape, escape.indexOf(dirname));
    await redigest(escape);
    const escapeFile = join(dir, 'escape.rpm');
    writeFileSync(escapeFile, escape);
    await verifyRpm(escapeFile);
    await rejectsNaming(readRpm(escapeFile, 'escape.rpm', tempDir('rpmspool')), 'escape.rpm', /"\/\.\.\/a+\/file", which leaves the root/);
  });

  it('refuses truncated files, random bytes and flipped header bytes with a UserError, never a crash', async () => {
    const dir = tempDir('rpmbad');
    const original = readFileSync(pkg('hello'));
    const { header } = await headersOf(original);
    const cuts = [0, 3, 50, 95, 96, 100, 104, 200, header.offset - 1, header.offset + 8, header.offset + header.length - 1, header.offset + header.length + 10, original.length - 1];
    for (const cut of cuts) {
      const file = join(dir, `cut-${cut}.rpm`);
      writeFileSync(file, original.subarray(0, cut));
      await rejectsNaming(verifyRpm(file), file);
      await rejectsNaming(readRpm(file, file, tempDir('rpmspool')), file);
    }
    const garbage = [noise(10), noise(5000), Buffer.concat([original.subarray(0, 96), noise(3000)]), Buffer.concat([original.subarray(0, 112), noise(3000)])];
    for (const [i, buf] of garbage.entries()) {
      const file = join(dir, `random-${i}.rpm`);
      writeFileSync(file, buf);
      await rejectsNaming(readRpm(file, file, tempDir('rpmspool')), file);
    }
    // Flipped bytes: anywhere in the header, always refused; in the lead and signature header, refused
    // or, in bytes rpm ignores too (the lead's name, the signature header's reserved space), accepted.
    for (let n = 0; n < 300; n++) {
      const buf = Buffer.from(original);
      const inHeader = n % 3 !== 0;
      const at = inHeader ? header.offset + randomInt(header.length) : randomInt(header.offset);
      flip(buf, at, 1 + randomInt(255));
      const file = join(dir, 'flip.rpm');
      writeFileSync(file, buf);
      try {
        await readRpm(file, file, tempDir('rpmspool'), { keys });
        assert.ok(!inHeader, `a flipped byte at ${at}, in the header, went unnoticed (FUZZ_SEED=${SEED})`);
      } catch (err) {
        assert.ok(err instanceof UserError && err.message.includes(file), `byte ${at} (FUZZ_SEED=${SEED}): ${String(err)}`);
      }
    }
  });
});

/** A cpio newc member as rpm writes it. */
function newc(name: string, data: Buffer, fields: Partial<Record<'ino' | 'mode' | 'nlink', number>> = {}): Buffer {
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  const nameBytes = Buffer.from(`${name}\0`);
  const head = Buffer.from(`070701${hex(fields.ino ?? 1)}${hex(fields.mode ?? 0o100644)}${hex(0)}${hex(0)}${hex(fields.nlink ?? 1)}${hex(1700000000)}${hex(data.length)}${hex(0)}${hex(0)}${hex(0)}${hex(0)}${hex(nameBytes.length)}${hex(0)}`, 'latin1');
  const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const first = Buffer.concat([head, nameBytes]);
  return Buffer.concat([first, pad(first.length), data, pad(data.length)]);
}

async function members(archive: Buffer, sizes: number[] = []): Promise<{ name?: string; index?: number; data: string }[]> {
  const reader = new CpioReader(Readable.from([archive]), 'test.cpio');
  const out: { name?: string; index?: number; data: string }[] = [];
  for (;;) {
    const m = await reader.next();
    if (!m) break;
    if (m.index !== undefined) reader.setSize(sizes[m.index] ?? 0);
    const chunks: Buffer[] = [];
    for await (const c of reader.data()) chunks.push(c);
    out.push({ ...(m.name !== undefined ? { name: m.name } : {}), ...(m.index !== undefined ? { index: m.index } : {}), data: Buffer.concat(chunks).toString() });
  }
  await reader.finish();
  return out;
}

describe('cpio payload reader', () => {
  const archive = Buffer.concat([newc('./a', Buffer.from('hello')), newc('./dir', Buffer.alloc(0), { mode: 0o40755 }), newc('./b', Buffer.from('xyz')), newc('TRAILER!!!', Buffer.alloc(0))]);

  it('reads newc members with their names and data', async () => {
    assert.deepEqual(await members(archive), [{ name: './a', data: 'hello' }, { name: './dir', data: '' }, { name: './b', data: 'xyz' }]);
  });

  it('reads rpm ≥ 4.12 stripped headers, sized by the package header', async () => {
    const stripped = (fx: number, data: string) => {
      const head = Buffer.concat([Buffer.from(`07070X${fx.toString(16).padStart(8, '0')}`), Buffer.alloc(2)]);
      return Buffer.concat([head, Buffer.from(data), Buffer.alloc((4 - (data.length % 4)) % 4)]);
    };
    const buf = Buffer.concat([stripped(1, 'second'), stripped(0, 'first!!'), stripped(0xffffffff, '')]);
    assert.deepEqual(await members(buf, [7, 6]), [{ index: 1, data: 'second' }, { index: 0, data: 'first!!' }]);
  });

  it('refuses every truncation, bad fields and random bytes with a UserError', async () => {
    for (let cut = 0; cut < archive.length; cut++) {
      await assert.rejects(members(archive.subarray(0, cut)), (err: unknown) => err instanceof UserError && err.message.includes('test.cpio'), `cut at ${cut}`);
    }
    const badHex = Buffer.from(archive);
    badHex.write('zz', 6 + 8 * 6, 'latin1');
    await assert.rejects(members(badHex), /file size "zz000005" is not 8 hex digits/);
    const hugeName = Buffer.from(archive);
    hugeName.write('00100000', 6 + 8 * 11, 'latin1');
    await assert.rejects(members(hugeName), /name size 1048576/);
    await assert.rejects(members(Buffer.concat([archive, Buffer.from('junk')])), /data after the trailer/);
    for (let n = 0; n < 200; n++) {
      const buf = n % 2 ? noise(1 + randomInt(400)) : Buffer.concat([Buffer.from('070701'), noise(200)]);
      await assert.rejects(members(buf), UserError);
    }
    for (let n = 0; n < 300; n++) {
      const buf = Buffer.from(archive);
      flip(buf, randomInt(buf.length), 1 + randomInt(255));
      try {
        await members(buf);
      } catch (err) {
        assert.ok(err instanceof UserError, `FUZZ_SEED=${SEED}: ${String(err)}`);
      }
    }
  });
});

describe('rpm header regions', () => {
  /** A header with a HEADERIMMUTABLE region around one NAME entry. */
  function header(trailer: { tag?: number; offset?: number } = {}): Buffer {
    const data = Buffer.alloc(8 + 16);
    data.write('name\0', 0, 'latin1');
    const trailerAt = 8;
    data.writeUInt32BE(trailer.tag ?? 63, trailerAt);
    data.writeUInt32BE(7, trailerAt + 4);
    data.writeInt32BE(trailer.offset ?? -32, trailerAt + 8);
    data.writeUInt32BE(16, trailerAt + 12);
    const index = Buffer.alloc(32);
    index.writeUInt32BE(63, 0); index.writeUInt32BE(7, 4); index.writeInt32BE(trailerAt, 8); index.writeUInt32BE(16, 12);
    index.writeUInt32BE(1000, 16); index.writeUInt32BE(6, 20); index.writeInt32BE(0, 24); index.writeUInt32BE(1, 28);
    const ildl = Buffer.alloc(8);
    ildl.writeUInt32BE(2, 0);
    ildl.writeUInt32BE(data.length, 4);
    return Buffer.concat([ildl, index, data]);
  }
  const region = { tag: 63, exact: true };

  it('reads a region and its trailer as rpm checks them', () => {
    const h = RpmHeader.parse(header(), 'h', { region, strict: true });
    assert.deepEqual(h.region, { tag: 63, il: 2, dl: 24 });
    assert.equal(h.string(RpmTag.NAME), 'name');
    assert.equal(h.regionImage().length, 8 + 8 + 32 + 24);
  });

  it('refuses bad trailers, partial regions and random blobs', () => {
    assert.throws(() => RpmHeader.parse(header({ tag: 62 }), 'h', { region }), /region trailer has tag 62/);
    assert.throws(() => RpmHeader.parse(header({ offset: -16 }), 'h', { region }), /covers 1 of 2 entries/);
    assert.throws(() => RpmHeader.parse(header({ offset: -48 }), 'h', { region }), /does not fit/);
    assert.throws(() => RpmHeader.parse(header(), 'h', { region: { tag: 62, exact: true } }), /no region tag 62/);
    for (let n = 0; n < 500; n++) {
      const buf = n % 2 ? header() : noise(8 + randomInt(100));
      flip(buf, randomInt(buf.length), 1 + randomInt(255));
      try {
        const h = RpmHeader.parse(buf, 'h', { region, strict: true });
        h.strings(RpmTag.NAME);
      } catch (err) {
        assert.ok(err instanceof UserError, `FUZZ_SEED=${SEED}: ${String(err)}`);
      }
    }
  });
});
