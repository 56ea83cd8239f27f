import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { encodeDer, parseDer } from '../src/x509/der.js';
import { x509NameHash } from '../src/x509/name-hash.js';
import { readPemObject } from '../src/x509/pem.js';
import { rehashLinks } from '../src/x509/rehash.js';
import { cliOk, must, run, sharedDir, tempDir } from './helpers.js';

/*
 * Oracles: the openssl command itself. `openssl x509 -subject_hash` for the hash of a name, and
 * `openssl rehash` for the links. rehash takes the files of a directory in the order the file system
 * lists them, so where two certificates share a hash it is run once per file, the files added in byte
 * order (it keeps links that are right and gives a new file the lowest free number): the order the
 * effect uses. A single run over the whole directory must agree too, up to that numbering.
 */

const MOZILLA = '/usr/share/ca-certificates/mozilla';
const HASH_LINK = /^[0-9a-f]{8}\.r?\d+$/;

function ourHash(pem: Buffer): string {
  const r = readPemObject(pem);
  if ('skipped' in r) throw new Error(r.skipped);
  return x509NameHash(r.object.name);
}

/** The hash links in a directory, name → target, sorted by name. */
function hashLinksIn(dir: string): Map<string, string> {
  const names = readdirSync(dir).filter((n) => HASH_LINK.test(n)).sort();
  return new Map(names.map((n) => [n, readlinkSync(join(dir, n))]));
}

/** name → target grouped as hash → set of targets: what a rehash must agree on in any file order. */
function byHash(links: Map<string, string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [name, target] of links) {
    const key = name.replace(/\d+$/, '');
    out.set(key, [...(out.get(key) ?? []), target].sort());
  }
  return out;
}

/**
 * `openssl rehash` run after each file is added to an empty copy of `dir`, in byte order of the names;
 * `place(name, into)` puts one file in. Returns the links it made.
 */
function rehashInByteOrder(names: string[], into: string, place: (name: string) => void, rehash: () => void): Map<string, string> {
  for (const name of [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))) {
    place(name);
    rehash();
  }
  return hashLinksIn(into);
}

function mozillaCertificates(): string[] {
  if (!existsSync(MOZILLA)) throw new Error(`${MOZILLA} is missing: install ca-certificates (apt-get install ca-certificates openssl)`);
  return readdirSync(MOZILLA).filter((n) => n.endsWith('.crt')).sort();
}

describe('OpenSSL subject-name hash', () => {
  it('equals openssl x509 -subject_hash for every certificate of the host ca-certificates', () => {
    const names = mozillaCertificates();
    assert.ok(names.length > 100, `${names.length} certificates`);
    const theirs = must('sh', ['-c', 'for f in "$@"; do openssl x509 -noout -subject_hash -in "$f"; done', 'sh', ...names.map((n) => join(MOZILLA, n))]).trim().split('\n');
    const ours = names.map((n) => ourHash(readFileSync(join(MOZILLA, n))));
    assert.deepEqual(ours, theirs);
  });

  it('equals openssl for names it canonicalises: string types, case, spaces, multi-valued RDNs, a CRL issuer', () => {
    const dir = tempDir('names');
    const key = join(dir, 'key.pem');
    must('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
    const subjects = [
      '/C=FR/O=  Société   Générale /CN=Ünïcode\tTAB  x+OU=Москва  Tést/emailAddress=ME@Example.ORG',
      '/CN=UPPER lower\u00a0NBSP/O=日本語 テスト/OU=  \t lead and trail \t ',
      '/DC=Example/DC=COM/CN=A+CN=b+CN=  A  /serialNumber=ABC 123',
      '/CN=\u{1F512} astral',
    ];
    // string_mask picks the string types: PrintableString/T61String/BMPString, T61 only, UTF8String.
    for (const mask of ['default', 'nombstr', 'utf8only']) {
      const config = join(dir, `${mask}.cnf`);
      writeFileSync(config, `[req]\ndistinguished_name=dn\nstring_mask=${mask}\n[dn]\n[ca]\ndefault_ca=d\n[d]\ndatabase=${dir}/index\ncrlnumber=${dir}/crlnumber\ndefault_md=sha256\ndefault_crl_days=30\n`);
      const made: string[] = [];
      subjects.forEach((subject, i) => {
        if (mask === 'nombstr' && /[^\u0000-\u00ff]/u.test(subject)) return; // T61String holds Latin-1 only
        const cert = join(dir, `${mask}-${i}.pem`);
        made.push(cert);
        must('openssl', ['req', '-config', config, '-x509', '-new', '-key', key, '-days', '30', '-utf8', '-multivalue-rdn', '-subj', subject, '-out', cert]);
        const expected = must('openssl', ['x509', '-noout', '-subject_hash', '-in', cert]).trim();
        assert.equal(ourHash(readFileSync(cert)), expected, `${mask}: ${subject}`);
      });
      writeFileSync(join(dir, 'index'), '');
      writeFileSync(join(dir, 'crlnumber'), '01\n');
      const crl = join(dir, `${mask}.crl`);
      must('openssl', ['ca', '-config', config, '-gencrl', '-keyfile', key, '-cert', made[0]!, '-out', crl]);
      assert.equal(ourHash(readFileSync(crl)), must('openssl', ['crl', '-noout', '-hash', '-in', crl]).trim(), `${mask} CRL`);
    }
  });
  it('equals openssl for string types openssl req does not write: UniversalString, NumericString, BIT STRING; VisibleString refused', () => {
    const dir = tempDir('crafted');
    const key = join(dir, 'key.pem');
    must('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
    const base = join(dir, 'base.pem');
    must('openssl', ['req', '-x509', '-new', '-key', key, '-days', '30', '-subj', '/CN=base', '-out', base]);
    const ucs4 = (s: string) => Buffer.concat([...s].map((c) => { const b = Buffer.alloc(4); b.writeUInt32BE(c.codePointAt(0)!); return b; }));
    const ucs2 = (s: string) => Buffer.from(s, 'utf16le').swap16();
    const atv = (oid: number, tag: number, contents: Buffer) => encodeDer(0x30, Buffer.concat([Buffer.from([6, 3, 0x55, 4, oid]), encodeDer(tag, contents)]));
    const rdn = (...atvs: Buffer[]) => encodeDer(0x31, Buffer.concat(atvs));
    const names = [
      [rdn(atv(3, 0x1c, ucs4('  Ünï  CODE\tX \u{1F512} ')))],
      [rdn(atv(24, 0x12, Buffer.from('12  34'))), rdn(atv(3, 0x03, Buffer.from([0x00, 0x41, 0x42])))],
      [rdn(atv(10, 0x1e, ucs2('ÀB  c')), atv(3, 0x0c, Buffer.from('   ')), atv(11, 0x13, Buffer.from('Z'))), rdn(atv(3, 0x14, Buffer.from([0x41, 0xe9, 0x20, 0x20, 0x42])))],
    ];
    names.forEach((rdns, i) => {
      const name = encodeDer(0x30, Buffer.concat(rdns));
      const cert = withSubject(readFileSync(base), name);
      const file = join(dir, `crafted-${i}.pem`);
      writeFileSync(file, cert);
      assert.equal(ourHash(cert), must('openssl', ['x509', '-noout', '-subject_hash', '-in', file]).trim(), `name ${i}`);
    });
    // A VisibleString value is not one OpenSSL reads in a name: the certificate does not load at all.
    const visible = withSubject(readFileSync(base), encodeDer(0x30, rdn(atv(3, 0x1a, Buffer.from('Visible')))));
    writeFileSync(join(dir, 'visible.pem'), visible);
    assert.notEqual(run('openssl', ['x509', '-noout', '-subject_hash', '-in', join(dir, 'visible.pem')]).status, 0);
    assert.throws(() => ourHash(visible), /type OpenSSL does not read/);
  });
});

/** The certificate with its subject replaced (its signature no longer holds; -subject_hash does not check it). */
function withSubject(pem: Buffer, name: Buffer): Buffer {
  const cert = parseDer(Buffer.from(pem.toString().replace(/-----[^-]+-----|\s/g, ''), 'base64'));
  const [tbs, ...rest] = cert.children;
  const fields = tbs!.children.map((c) => Buffer.from(c.tlv));
  fields[5] = Buffer.from(name); // [0] version, serial, signature, issuer, validity, subject
  const der = encodeDer(0x30, Buffer.concat([encodeDer(0x30, Buffer.concat(fields)), ...rest.map((c) => Buffer.from(c.tlv))]));
  return Buffer.from(`-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`);
}

describe('openssl rehash links', () => {
  it('for the host certificates plus a duplicate, a two-certificate file, a CRL and other files: the links openssl rehash makes', () => {
    const certs = mozillaCertificates();
    const source = tempDir('rehash-src');
    for (const n of certs) copyFileSync(join(MOZILLA, n), join(source, n.replace(/\.crt$/, '.pem')));
    // A copy of a certificate under a later name, which rehash skips as a duplicate.
    copyFileSync(join(MOZILLA, certs[0]!), join(source, 'zz-duplicate.PEM'));
    writeFileSync(join(source, 'two.crt'), Buffer.concat([readFileSync(join(MOZILLA, certs[0]!)), readFileSync(join(MOZILLA, certs[1]!))]));
    writeFileSync(join(source, 'notes.txt'), 'not read\n');
    writeFileSync(join(source, 'empty.cer'), '');
    const key = join(source, 'key.key');
    must('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
    const config = join(source, 'ca.cnf');
    writeFileSync(config, `[req]\ndistinguished_name=dn\n[dn]\n[ca]\ndefault_ca=d\n[d]\ndatabase=${source}/index\ncrlnumber=${source}/crlnumber\ndefault_md=sha256\ndefault_crl_days=30\n`);
    writeFileSync(join(source, 'index'), '');
    writeFileSync(join(source, 'crlnumber'), '01\n');
    must('openssl', ['req', '-config', config, '-x509', '-new', '-key', key, '-days', '30', '-subj', '/CN=Test CRL issuer', '-out', join(source, 'issuer.crt')]);
    must('openssl', ['ca', '-config', config, '-gencrl', '-keyfile', key, '-cert', join(source, 'issuer.crt'), '-out', join(source, 'test.crl')]);
    for (const n of ['index', 'crlnumber', 'ca.cnf']) rmSync(join(source, n));

    const names = readdirSync(source);
    const ours = rehashLinks(names.map((name) => ({ name, content: readFileSync(join(source, name)) })));
    const oursMap = new Map(ours.links.map((l) => [l.name, l.target]));

    const once = tempDir('rehash-once');
    for (const n of names) copyFileSync(join(source, n), join(once, n));
    must('openssl', ['rehash', once]);
    const oneRun = hashLinksIn(once);
    assert.deepEqual([...oursMap.keys()].sort(), [...oneRun.keys()]);
    assert.deepEqual(byHash(oursMap), byHash(oneRun));

    const incremental = tempDir('rehash-each');
    const each = rehashInByteOrder(names, incremental, (n) => copyFileSync(join(source, n), join(incremental, n)), () => must('openssl', ['rehash', incremental]));
    assert.deepEqual(oursMap, each);
    assert.ok([...each.keys()].some((n) => n.endsWith('.r0')), 'a CRL link');
    assert.deepEqual(
      ours.skipped.map((s) => s.name).sort(),
      ['empty.cer', 'two.crt', 'zz-duplicate.PEM'],
    );
  });
});

for (const suite of ['bookworm', 'trixie']) {
  describe(`image: ${suite} with ca-certificates`, () => {
    let rootfs: string;
    let certsDir: string;

    before(() => {
      const dir = tempDir('image');
      const layout = join(dir, 'layout');
      cliOk(['build', `oci:${layout}:${suite}`, '--suite', suite, '--include', 'ca-certificates'], { env: { FROMSCRATCH_CACHE: join(sharedDir(), 'cache') } });
      must('umoci', ['unpack', '--rootless', '--image', `${layout}:${suite}`, join(dir, 'bundle')]);
      rootfs = join(dir, 'bundle', 'rootfs');
      certsDir = join(rootfs, 'etc/ssl/certs');
    });

    it('update-ca-certificates runs openssl rehash in /etc/ssl/certs (what the effect reproduces)', () => {
      assert.match(readFileSync(join(rootfs, 'usr/sbin/update-ca-certificates'), 'utf8'), /openssl rehash \./);
    });

    it("has the hash links openssl rehash makes of the image's NAME.pem links, with the image's own openssl", (t) => {
      const pemLinks = readdirSync(certsDir).filter((n) => n.endsWith('.pem'));
      const ours = hashLinksIn(certsDir);
      assert.ok(pemLinks.length > 100 && ours.size >= pemLinks.length - 5, `${pemLinks.length} .pem, ${ours.size} hash links`);
      for (const target of ours.values()) assert.ok(pemLinks.includes(target), target);

      // A folder in the image with copies of the NAME.pem links (absolute links into /usr/share), and
      // the image's openssl run on it in a chroot (as root), or the host's on resolved copies.
      const inImage = '/tmp/rehash-oracle';
      const oracle = join(rootfs, inImage);
      const asRoot = process.getuid?.() === 0;
      const place = (n: string) => {
        const target = readlinkSync(join(certsDir, n));
        if (asRoot) symlinkSync(target, join(oracle, n));
        else copyFileSync(join(rootfs, target), join(oracle, n));
      };
      const rehash = (dir: string) => (asRoot ? must('chroot', [rootfs, 'openssl', 'rehash', dir]) : must('openssl', ['rehash', join(rootfs, dir)]));

      mkdirSync(oracle, { recursive: true });
      pemLinks.forEach(place);
      rehash(inImage);
      const oneRun = hashLinksIn(oracle);
      assert.deepEqual([...ours.keys()], [...oneRun.keys()]);
      assert.deepEqual(byHash(ours), byHash(oneRun));

      rmSync(oracle, { recursive: true });
      mkdirSync(oracle);
      const each = rehashInByteOrder(pemLinks, oracle, place, () => rehash(inImage));
      assert.deepEqual(ours, each);
      const collisions = [...ours.keys()].filter((n) => !n.endsWith('.0'));
      t.diagnostic(`${suite}: ${pemLinks.length} certificates, ${ours.size} hash links, beyond .0: ${collisions.join(' ') || 'none'}`);
    });
  });
}
