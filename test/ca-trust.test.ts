import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { scanDirectory } from '../src/entries/directory-source.js';
import { EffectContext } from '../src/packages/effects/context.js';
import { updateCaTrust } from '../src/packages/effects/ca-trust.js';
import { parseCertificate } from '../src/x509/certificate.js';
import { pemBlocks } from '../src/x509/p11-kit-pem.js';
import { readPersist } from '../src/x509/p11-kit-persist.js';
import { loadTokens, type SourceFile } from '../src/x509/trust-store.js';
import { edk2Cacerts, enumerate, javaCacerts, opensslBundle, pemBundle } from '../src/x509/trust-extract.js';

/** Every output, from sources given directly: must not throw whatever the input. */
function extractAll(tokens: SourceFile[][]): void {
  const notes: string[] = [];
  const objects = loadTokens(tokens, notes);
  opensslBundle(enumerate(objects, 'certificates', undefined, notes), notes);
  for (const purpose of ['server-auth', 'email', 'code-signing'] as const) pemBundle(enumerate(objects, 'ca-anchors', purpose, notes));
  const tls = enumerate(objects, 'ca-anchors', 'server-auth', notes);
  javaCacerts(tls, 1);
  edk2Cacerts(tls);
}
import { EPOCH, must, run, tempDir } from './helpers.js';

/*
 * The oracle is p11-kit's own `trust extract` (Debian's p11-kit 0.24.1, the version CentOS Stream 9
 * ships), run with its trust module pointed at a test tree through a user pkcs11 config
 * (~/.config/pkcs11: `user-config: only`, a module file whose `x-init-reserved: paths=…` lists the
 * tree's two trust paths). p11-kit ignores user config for root, so as root the tool runs as nobody.
 */

const HAVE_TRUST = run('sh', ['-c', 'command -v trust']).status === 0 && existsSync(trustModule() ?? '');
const skipNoTrust = HAVE_TRUST ? false : 'needs p11-kit and p11-kit-modules (trust extract and p11-kit-trust.so)';

function trustModule(): string | undefined {
  const r = run('sh', ['-c', 'ls /usr/lib/*/pkcs11/p11-kit-trust.so /usr/lib*/pkcs11/p11-kit-trust.so 2>/dev/null | head -1']);
  return r.stdout.trim() || undefined;
}

const MOZILLA = '/usr/share/ca-certificates/mozilla';

/** `n` CA certificates as PEM: real ones from Debian's ca-certificates, or self-signed ones made here. */
function caCertificates(n: number, dir: string): string[] {
  if (existsSync(MOZILLA)) {
    const names = readdirSync(MOZILLA).filter((f) => f.endsWith('.crt')).sort();
    if (names.length >= n) return names.slice(0, n).map((f) => readFileSync(join(MOZILLA, f), 'latin1'));
  }
  return Array.from({ length: n }, (_, i) => selfSigned(dir, `Test Root CA ${i}`, true));
}

function selfSigned(dir: string, cn: string, ca: boolean): string {
  const out = join(dir, `${randomBytes(4).toString('hex')}.pem`);
  must('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null',
    '-days', '3650', '-subj', `/O=Test/CN=${cn}`, '-addext', `basicConstraints=critical,CA:${ca ? 'TRUE' : 'FALSE'}`, '-out', out]);
  return readFileSync(out, 'latin1');
}

const der = (pem: string) => pemBlocks(Buffer.from(pem))[0]!.data;
const pubkey = (pem: string) => `-----BEGIN PUBLIC KEY-----\n${parseCertificate(der(pem)).publicKeyInfo.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END PUBLIC KEY-----\n`;
const pct = (b: Buffer) => [...b].map((c) => `%${c.toString(16).padStart(2, '0')}`).join('');

/** A Fedora-style attached extension object (certdata2pem.py's layout). */
function extension(label: string, oid: string, valueHex: string, cert: string): string {
  return `[p11-kit-object-v1]\nlabel: "${label}"\nclass: x-certificate-extension\nobject-id: ${oid}\n`
    + `value: "${pct(Buffer.from(valueHex, 'hex'))}"\nmodifiable: false\n${pubkey(cert)}`;
}
// Extension DERs as certdata2pem.py writes them: critical ExtendedKeyUsage of some purposes, and
// p11-kit's reject extension listing email, server and code signing.
const EKU = {
  all: '302a0603551d250101ff0420301e06082b0601050507030406082b0601050507030106082b06010505070303',
  email: '30160603551d250101ff040c300a06082b06010505070304',
  code: '30160603551d250101ff040c300a06082b06010505070303',
  none: '30180603551d250101ff040e300c060a2b0601040199770a0610',
};
const REJECT = '302e060a2b060104019977060a010420301e06082b0601050507030406082b0601050507030106082b06010505070303';

function certObject(label: string, lines: string, cert: string): string {
  return `[p11-kit-object-v1]\nlabel: "${label}"\n${lines}nss-mozilla-ca-policy: true\nmodifiable: false\n${cert}# a comment as certdata2pem.py adds\n\n`;
}

/**
 * Files in one folder named so that the file system lists them in byte order of their names (the
 * order fromscratch reads them in; p11-kit reads them in listing order): tried with fresh names
 * until the listing agrees.
 */
function writeOrdered(dir: string, files: { ext: string; content: string | Buffer }[], others: string[] = []): void {
  mkdirSync(dir, { recursive: true });
  for (let attempt = 0; attempt < 200; attempt++) {
    const prefix = randomBytes(3).toString('hex');
    const names = files.map((f, i) => `${prefix}-${i}${f.ext}`);
    names.forEach((n, i) => writeFileSync(join(dir, n), files[i]!.content));
    const all = [...names, ...others];
    const listed = must('find', [dir, '-mindepth', '1', '-maxdepth', '1', '-printf', '%f\\n']).split('\n').filter((n) => all.includes(n));
    if (listed.join('/') === [...all].sort().join('/')) return;
    for (const n of names) rmSync(join(dir, n));
  }
  throw new Error(`could not name files in ${dir} in listing order`);
}

interface Tree {
  base: string;
  root: string;
}

function emptyTree(): Tree {
  const base = tempDir('ca-trust');
  const root = join(base, 'root');
  for (const d of ['etc/pki/ca-trust/source/anchors', 'etc/pki/ca-trust/source/blocklist', 'usr/share/pki/ca-trust-source/anchors',
    'usr/share/pki/ca-trust-source/blocklist', 'usr/share/pki/ca-trust-legacy', 'etc/pki/ca-trust/extracted/pem',
    'etc/pki/ca-trust/extracted/openssl', 'etc/pki/ca-trust/extracted/java', 'etc/pki/ca-trust/extracted/edk2']) {
    mkdirSync(join(root, d), { recursive: true });
  }
  writeFileSync(join(root, 'etc/pki/ca-trust/source/README'), 'admin sources\n');
  writeFileSync(join(root, 'usr/share/pki/ca-trust-source/README'), 'packaged sources\n');
  writeFileSync(join(root, 'usr/share/pki/ca-trust-legacy/ca-bundle.legacy.disable.crt'), '');
  return { base, root };
}

/** The source tree of the main scenario. */
function mainTree(): Tree {
  const tree = emptyTree();
  const { base, root } = tree;
  const c = caCertificates(12, base);
  const [all, email, code, plain, distrusted, neutral, blockedBySerial, blockedByFile, adminPem, adminDer, legacy, openssl] = c as
    [string, string, string, string, string, string, string, string, string, string, string, string];
  const leaf = selfSigned(base, 'Not A CA', false);
  const blocked = parseCertificate(der(blockedBySerial));
  const bundle = [
    '# This is a bundle\n\n',
    extension('Every Purpose', '2.5.29.37', EKU.all, all), '\n', certObject('Every Purpose', 'trusted: true\n', all),
    extension('Email Only', '2.5.29.37', EKU.email, email), '\n', certObject('Email Only', 'trusted: true\n', email),
    extension('Code Only', '2.5.29.37', EKU.code, code), '\n',
    certObject('Code Only', 'trusted: true\nnss-server-distrust-after: "%00"\nnss-email-distrust-after: "%00"\n', code),
    certObject('No Extension', 'trusted: true\n', plain),
    extension('Distrusted', '1.3.6.1.4.1.3319.6.10.1', REJECT, distrusted),
    extension('Distrusted', '2.5.29.37', EKU.none, distrusted), '\n',
    certObject('Distrusted', 'x-distrusted: true\nnss-server-distrust-after: "200101000000Z"\n', distrusted),
    certObject('Neutral', 'trusted: false\n', neutral),
    certObject('Blocked By Serial', 'trusted: true\n', blockedBySerial),
    certObject('Blocked By File', 'trusted: true\n', blockedByFile),
    certObject('Leaf In Bundle', 'trusted: true\n', leaf),
    // a duplicate of one the administrator also added as an anchor (/etc comes first)
    certObject('Duplicate In Bundle', 'trusted: true\n', adminDer),
    `[p11-kit-object-v1]\nlabel: "Blocklisted Serial"\nclass: certificate\ncertificate-type: x-509\nmodifiable: false\n`
      + `issuer: "${pct(blocked.issuer)}"\nserial-number: "${pct(blocked.serial)}"\nx-distrusted: true\n\n`,
  ].join('');
  writeFileSync(join(root, 'usr/share/pki/ca-trust-source/ca-bundle.trust.p11-kit'), bundle);
  writeOrdered(join(root, 'etc/pki/ca-trust/source/anchors'), [
    { ext: '.pem', content: adminPem }, { ext: '.der', content: der(adminDer) }, { ext: '.crt', content: adminPem },
  ]);
  writeOrdered(join(root, 'etc/pki/ca-trust/source/blocklist'), [{ ext: '.pem', content: blockedByFile }]);
  // an OpenSSL TRUSTED CERTIFICATE (trusted for TLS only, with an alias) among the admin's plain sources
  const trusted = join(base, 'trusted.pem');
  writeFileSync(join(base, 'openssl.pem'), openssl);
  must('openssl', ['x509', '-in', join(base, 'openssl.pem'), '-addtrust', 'codeSigning', '-addtrust', 'serverAuth', '-addtrust', 'emailProtection', '-addtrust', 'clientAuth',
    '-addreject', 'clientAuth', '-setalias', 'Admin Trusted', '-trustout', '-out', trusted]);
  writeFileSync(join(root, 'usr/share/pki/ca-trust-legacy/ca-bundle.legacy.default.crt'), `# legacy\n${legacy}`);
  // the link ca-legacy makes, relative so that it resolves inside the tree (the effect keeps a link it finds)
  symlinkSync('../../../../usr/share/pki/ca-trust-legacy/ca-bundle.legacy.default.crt', join(root, 'etc/pki/ca-trust/source/ca-bundle.legacy.crt'));
  writeOrdered(join(root, 'etc/pki/ca-trust/source'), [{ ext: '.pem', content: readFileSync(trusted) }], ['ca-bundle.legacy.crt']);
  return tree;
}

/** A self-signed certificate made with openssl: v1 without `ext`, else v3 with those extensions; a key file may be shared. */
function makeCert(dir: string, subject: string, ext?: string, key?: string): string {
  const id = randomBytes(4).toString('hex');
  const keyFile = key ?? join(dir, `${id}.key`);
  if (!existsSync(keyFile)) must('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyFile]);
  must('openssl', ['req', '-new', '-key', keyFile, '-subj', subject, '-out', join(dir, `${id}.csr`)]);
  const args = ['x509', '-req', '-in', join(dir, `${id}.csr`), '-key', keyFile, '-days', '3650', '-out', join(dir, `${id}.pem`)];
  if (ext) {
    writeFileSync(join(dir, `${id}.ext`), ext);
    args.push('-extfile', join(dir, `${id}.ext`));
  }
  must('openssl', args);
  return readFileSync(join(dir, `${id}.pem`), 'latin1');
}

/**
 * The second scenario, from certificates made here: the builder's rules (v1 self-signed roots are
 * authorities, v3 ones without BasicConstraints are not, labels from CN, OU or O), attached
 * BasicConstraints and SubjectKeyIdentifier objects, a category given in the file, purposes from the
 * certificate's own ExtendedKeyUsage, labels that make the same Java alias, non-ASCII and empty
 * labels, a blocklist entry matching another certificate by public key, a distrusted certificate in
 * anchors/, and a certificate untrusted in the first token but trusted in the second.
 */
function generatedTree(): Tree {
  const tree = emptyTree();
  const { base, root } = tree;
  const ca = 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n';
  const v1 = makeCert(base, '/O=Version One Org/OU=Version One Unit');
  const noBc = makeCert(base, '/O=No Basic Constraints', 'keyUsage=critical,keyCertSign\n');
  const attachedCa = makeCert(base, '/CN=Attached CA', 'keyUsage=critical,keyCertSign\n');
  const forcedCategory = makeCert(base, '/CN=Forced Category', 'basicConstraints=critical,CA:FALSE\n');
  const clientOnly = makeCert(base, '/CN=Client Only', `${ca}extendedKeyUsage=clientAuth\n`);
  const anyPurpose = makeCert(base, '/CN=Any Purpose', `${ca}extendedKeyUsage=anyExtendedKeyUsage,clientAuth\n`);
  const sameAlias1 = makeCert(base, '/CN=Same Alias 1', ca);
  const sameAlias2 = makeCert(base, '/CN=Same Alias 2', ca);
  const unicode = makeCert(base, '/CN=Unicode', ca);
  const empty = makeCert(base, '/C=XX', ca);
  const sharedKey = join(base, 'shared.key');
  const crossA = makeCert(base, '/CN=Cross Signed A', ca, sharedKey);
  const crossB = makeCert(base, '/CN=Cross Signed B', ca, sharedKey);
  const distrustedAnchor = makeCert(base, '/CN=Distrusted Anchor', ca);
  const twoTokens = makeCert(base, '/CN=In Both Tokens', ca);
  const keyid = parseCertificate(der(sameAlias1)).extensions.find((e) => e.oid === '2.5.29.14')!.value;
  const skiExt = Buffer.concat([Buffer.from([0x30, 5 + 2 + keyid.length, 0x06, 0x03, 0x55, 0x1d, 0x0e, 0x04, keyid.length]), keyid]);
  const bundle = [
    certObject('Version One', 'trusted: true\n', v1).replace('label: "Version One"\n', ''),
    certObject('No BC', 'trusted: true\n', noBc).replace('label: "No BC"\n', ''),
    extension('Attached CA', '2.5.29.19', '300f0603551d130101ff040530030101ff', attachedCa), '\n',
    certObject('Attached CA', 'trusted: true\n', attachedCa),
    certObject('Forced Category', 'trusted: true\ncertificate-category: authority\n', forcedCategory),
    certObject('Client Only', 'trusted: true\n', clientOnly),
    certObject('Any Purpose', 'trusted: true\n', anyPurpose),
    extension('Same Alias', '2.5.29.14', skiExt.toString('hex'), sameAlias1), '\n',
    certObject('Same  Alias', 'trusted: true\n', sameAlias1),
    certObject('same alias', 'trusted: true\n', sameAlias2),
    certObject('%c3%9cn%c3%afc%c3%b6d%c3%a9 Name', 'trusted: true\n', unicode),
    certObject('', 'trusted: true\n', empty),
    certObject('Cross Signed A', 'trusted: true\n', crossA),
    certObject('In Both Tokens (second)', 'trusted: true\n', twoTokens),
  ].join('');
  writeFileSync(join(root, 'usr/share/pki/ca-trust-source/ca-bundle.trust.p11-kit'), bundle);
  writeOrdered(join(root, 'usr/share/pki/ca-trust-source/blocklist'), [{ ext: '.pem', content: crossB }]);
  writeOrdered(join(root, 'etc/pki/ca-trust/source/anchors'), [
    { ext: '.p11-kit', content: certObject('Distrusted Anchor', 'x-distrusted: true\n', distrustedAnchor) },
  ]);
  writeOrdered(join(root, 'etc/pki/ca-trust/source'), [{ ext: '.pem', content: twoTokens }]);
  return tree;
}

const OUTPUTS: [string, string[]][] = [
  ['openssl/ca-bundle.trust.crt', ['--format=openssl-bundle', '--filter=certificates', '--overwrite', '--comment']],
  ['pem/tls-ca-bundle.pem', ['--format=pem-bundle', '--filter=ca-anchors', '--overwrite', '--comment', '--purpose', 'server-auth']],
  ['pem/email-ca-bundle.pem', ['--format=pem-bundle', '--filter=ca-anchors', '--overwrite', '--comment', '--purpose', 'email']],
  ['pem/objsign-ca-bundle.pem', ['--format=pem-bundle', '--filter=ca-anchors', '--overwrite', '--comment', '--purpose', 'code-signing']],
  ['java/cacerts', ['--format=java-cacerts', '--filter=ca-anchors', '--overwrite', '--purpose', 'server-auth']],
  ['edk2/cacerts.bin', ['--format=edk2-cacerts', '--filter=ca-anchors', '--overwrite', '--purpose=server-auth']],
];

/** What the real update-ca-trust (its `trust extract` calls) writes for the tree, by output name. */
function realExtract(tree: Tree): Map<string, Buffer> {
  const { base, root } = tree;
  const home = join(base, 'home');
  mkdirSync(join(home, '.config/pkcs11/modules'), { recursive: true });
  writeFileSync(join(home, '.config/pkcs11/pkcs11.conf'), 'user-config: only\n');
  writeFileSync(join(home, '.config/pkcs11/modules/trust.module'), `module: ${trustModule()}\ntrust-policy: yes\n`
    + `x-init-reserved: paths=${join(root, 'etc/pki/ca-trust/source')}:${join(root, 'usr/share/pki/ca-trust-source')}\n`);
  const out = join(base, 'out');
  mkdirSync(out, { recursive: true });
  chmodSync(base, 0o755);
  must('chmod', ['-R', 'a+rX', base]);
  chmodSync(out, 0o777);
  const asNobody = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
  const result = new Map<string, Buffer>();
  for (const [name, flags] of OUTPUTS) {
    const dest = join(out, name.replace('/', '-'));
    const [cmd, ...args] = [...asNobody, 'env', `HOME=${home}`, `SOURCE_DATE_EPOCH=${EPOCH}`, 'trust', 'extract', ...flags, dest];
    must(cmd!, args);
    result.set(name, readFileSync(dest));
  }
  return result;
}

/** Ours: the effect on the tree's entries (ca-certificates installed). */
async function ourExtract(root: string): Promise<{ files: Map<string, Buffer>; ctx: EffectContext }> {
  const scan = await scanDirectory(root);
  const ctx = new EffectContext(scan.entries, new Map([['ca-certificates', {}]]), Number(EPOCH), 'x86_64');
  await updateCaTrust(ctx);
  const files = new Map<string, Buffer>();
  for (const e of ctx.added) {
    if (e.type !== 'file' || !e.path.startsWith('etc/pki/ca-trust/extracted/')) continue;
    const chunks: Buffer[] = [];
    for await (const c of e.open!()) chunks.push(c as Buffer);
    files.set(e.path.slice('etc/pki/ca-trust/extracted/'.length), Buffer.concat(chunks));
  }
  return { files, ctx };
}

function assertSame(ours: Map<string, Buffer>, theirs: Map<string, Buffer>): void {
  for (const [name] of OUTPUTS) {
    const a = ours.get(name);
    const b = theirs.get(name)!;
    assert.ok(a, `${name} was not written`);
    if (!a.equals(b) && !name.includes('cacerts')) assert.equal(a.toString('latin1'), b.toString('latin1'), `${name} differs`);
    assert.ok(a.equals(b), `${name} differs from p11-kit's (${a.length} vs ${b.length} bytes)`);
  }
}

describe('update-ca-trust: the extracted bundles, byte for byte as p11-kit writes them', () => {
  it('a Fedora-style bundle, admin anchors (PEM, DER, a duplicate), a blocklist, a TRUSTED CERTIFICATE, the legacy link', { skip: skipNoTrust }, async () => {
    const tree = mainTree();
    const { files, ctx } = await ourExtract(tree.root);
    const theirs = realExtract(tree);
    assertSame(files, theirs);

    const modes = ctx.added.filter((e) => e.path.startsWith('etc/pki/ca-trust/extracted/') && e.type === 'file').map((e) => e.mode);
    assert.deepEqual(modes, Array(6).fill(0o444));
    // what the scenario is about, so that a vacuous match would show
    const tls = theirs.get('pem/tls-ca-bundle.pem')!.toString();
    const labels = (text: string) => text.split('\n').filter((l) => l.startsWith('# ')).map((l) => l.slice(2));
    assert.equal(labels(theirs.get('openssl/ca-bundle.trust.crt')!.toString()).length, 13);
    assert.ok(labels(tls).includes('Every Purpose') && labels(tls).includes('No Extension'));
    for (const gone of ['Email Only', 'Code Only', 'Distrusted', 'Neutral', 'Blocked By Serial', 'Blocked By File', 'Leaf In Bundle', 'Duplicate In Bundle']) {
      assert.ok(!labels(tls).includes(gone), `${gone} is not a TLS anchor`);
    }
    assert.ok(labels(theirs.get('pem/email-ca-bundle.pem')!.toString()).includes('Email Only'));
    assert.ok(labels(theirs.get('pem/objsign-ca-bundle.pem')!.toString()).includes('Code Only'));
    assert.ok(labels(theirs.get('openssl/ca-bundle.trust.crt')!.toString()).includes('Admin Trusted'));
    assert.ok(ctx.notes.some((n) => /^update-ca-trust: \d+ anchors for TLS/.test(n)), ctx.notes.join('\n'));
  });

  it('generated certificates: categories, attached extensions, own purposes, aliases, blocklist by key', { skip: skipNoTrust }, async () => {
    const tree = generatedTree();
    const { files, ctx } = await ourExtract(tree.root);
    const theirs = realExtract(tree);
    assertSame(files, theirs);
    const labels = (name: string) => theirs.get(name)!.toString('latin1').split('\n').filter((l) => l.startsWith('# ')).map((l) => l.slice(2));
    const tls = labels('pem/tls-ca-bundle.pem');
    for (const label of ['Version One Unit', 'Attached CA', 'Forced Category', 'Any Purpose', 'In Both Tokens (second)', 'certificate']) {
      assert.ok(tls.includes(label), `${label} is a TLS anchor: ${tls.join(', ')}`);
    }
    for (const label of ['No Basic Constraints', 'Client Only', 'Cross Signed A', 'Distrusted Anchor']) assert.ok(!tls.includes(label), `${label} is no TLS anchor`);
    assert.ok(labels('openssl/ca-bundle.trust.crt').includes('In Both Tokens'));
    const jks = theirs.get('java/cacerts')!.toString('latin1');
    for (const alias of ['samealias', 'samealias-1', 'ncdname', 'unlabeled']) assert.ok(jks.includes(alias), `alias ${alias}`);
    assert.ok(ctx.notes.some((n) => n.includes('distrust in location for anchors')), ctx.notes.join('\n'));
  });

  it('every CA of the host as a Fedora-style bundle (labels from the subject, real names, mixed trust)', { skip: skipNoTrust || (existsSync(MOZILLA) ? false : 'needs Debian ca-certificates') }, async () => {
    const tree = emptyTree();
    const certs = readdirSync(MOZILLA).filter((f) => f.endsWith('.crt')).sort().map((f) => readFileSync(join(MOZILLA, f), 'latin1'));
    const patterns = [
      (c: string) => certObject('x', 'trusted: true\n', c).replace('label: "x"\n', ''),
      (c: string) => `${extension('Ext', '2.5.29.37', EKU.email, c)}\n${certObject('Email Ext', 'trusted: true\n', c)}`,
      (c: string) => `${extension('Dis', '1.3.6.1.4.1.3319.6.10.1', REJECT, c)}${extension('Dis', '2.5.29.37', EKU.none, c)}\n${certObject('Dis', 'x-distrusted: true\n', c)}`,
      (c: string) => `${extension('All', '2.5.29.37', EKU.all, c)}\n${certObject('All', 'trusted: true\n', c)}`,
      (c: string) => certObject('y', 'trusted: false\n', c).replace('label: "y"\n', ''),
    ];
    writeFileSync(join(tree.root, 'usr/share/pki/ca-trust-source/ca-bundle.trust.p11-kit'), certs.map((c, i) => patterns[i % patterns.length]!(c)).join(''));
    const { files } = await ourExtract(tree.root);
    const theirs = realExtract(tree);
    assertSame(files, theirs);
    assert.ok(theirs.get('pem/tls-ca-bundle.pem')!.toString().split('BEGIN CERTIFICATE').length > certs.length / 3);
  });

  it('ca-legacy install: the .default.crt, or with legacy=disable the .disable.crt; an existing link is kept', async () => {
    const tree = emptyTree();
    const first = await ourExtract(tree.root);
    assert.equal(first.ctx.added.find((e) => e.path.endsWith('ca-bundle.legacy.crt'))?.linkname, '/usr/share/pki/ca-trust-legacy/ca-bundle.legacy.default.crt');
    writeFileSync(join(tree.root, 'etc/pki/ca-trust/ca-legacy.conf'), '# comment\nLegacy = DISABLE \n');
    const { ctx } = await ourExtract(tree.root);
    assert.equal(ctx.added.find((e) => e.path.endsWith('ca-bundle.legacy.crt'))?.linkname, '/usr/share/pki/ca-trust-legacy/ca-bundle.legacy.disable.crt');
    symlinkSync('/elsewhere', join(tree.root, 'etc/pki/ca-trust/source/ca-bundle.legacy.crt'));
    const again = await ourExtract(tree.root);
    assert.equal(again.ctx.added.find((e) => e.path.endsWith('ca-bundle.legacy.crt')), undefined);
  });

  it('no ca-certificates package: nothing is written', async () => {
    const tree = emptyTree();
    const scan = await scanDirectory(tree.root);
    const ctx = new EffectContext(scan.entries, new Map(), Number(EPOCH), 'x86_64');
    assert.equal(await updateCaTrust(ctx), undefined);
    assert.equal(ctx.added.length, 0);
  });

  it('damaged sources: p11-kit\'s fallbacks, named in notes, the same bytes as p11-kit', { skip: skipNoTrust }, async () => {
    const tree = emptyTree();
    const { base, root } = tree;
    const [a, b, c] = caCertificates(3, base) as [string, string, string];
    // an unknown attribute: p11-kit drops the persist reading and takes the file's CERTIFICATE blocks
    writeFileSync(join(root, 'usr/share/pki/ca-trust-source/bad-attribute.p11-kit'),
      `[p11-kit-object-v1]\nlabel: "Bad"\ntrusted: true\nno-such-attribute: 1\n${a}`);
    writeOrdered(join(root, 'etc/pki/ca-trust/source/anchors'), [
      { ext: '.pem', content: `${b}\n-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n` },
      { ext: '.p11-kit', content: `[p11-kit-object-v1]\nclass: certificate\ncertificate-type: x-509\nlabel: "Unclosed\n${c}` },
      { ext: '.crt', content: randomBytes(300) },
    ]);
    const { files, ctx } = await ourExtract(root);
    assertSame(files, realExtract(tree));
    assert.ok(ctx.notes.some((n) => n.includes('bad-attribute.p11-kit') && n.includes('no-such-attribute')), ctx.notes.join('\n'));
    assert.ok(ctx.notes.some((n) => /\.crt: neither a p11-kit, DER nor PEM file/.test(n)), ctx.notes.join('\n'));
  });
});

describe('trust sources: malformed and random input never crash', () => {
  const sample = Buffer.from(`[p11-kit-object-v1]\nlabel: "X"\nclass: x-certificate-extension\nobject-id: 2.5.29.37\n`
    + `value: "%30%16"\n-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n`
    + `[p11-kit-object-v1]\ntrusted: true\n-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n`);

  it('truncations, flipped bytes and random buffers give objects or notes', () => {
    const inputs: Buffer[] = [];
    for (let i = 0; i <= sample.length; i += 7) inputs.push(sample.subarray(0, i));
    for (let i = 0; i < 300; i++) {
      const b = Buffer.from(sample);
      b[Math.floor(Math.random() * b.length)] = Math.floor(Math.random() * 256);
      inputs.push(b);
      inputs.push(randomBytes(Math.floor(Math.random() * 400)));
    }
    const real = existsSync(MOZILLA) ? readdirSync(MOZILLA).find((f) => f.endsWith('.crt')) : undefined;
    if (real) {
      const d = der(readFileSync(join(MOZILLA, real), 'latin1'));
      for (let i = 0; i < 200; i++) {
        const b = Buffer.from(d);
        const at = Math.floor(Math.random() * b.length);
        b[at] = b[at]! ^ (1 << Math.floor(Math.random() * 8));
        inputs.push(b, d.subarray(0, Math.floor(Math.random() * d.length)));
      }
    }
    for (const input of inputs) {
      readPersist(input);
      pemBlocks(input);
      for (const kind of ['plain', 'anchor', 'blocklist'] as const) extractAll([[{ path: '/x', kind, content: input }]]);
    }
  });

  it('mutations of a bundle with attached extensions and a TRUSTED CERTIFICATE run through every format', () => {
    const base = tempDir('ca-trust-fuzz');
    const [cert] = caCertificates(1, base) as [string];
    const bundle = Buffer.from(extension('E', '2.5.29.37', EKU.email, cert) + extension('R', '1.3.6.1.4.1.3319.6.10.1', REJECT, cert)
      + extension('B', '2.5.29.19', '300f0603551d130101ff040530030101ff', cert) + certObject('C', 'trusted: true\n', cert));
    writeFileSync(join(base, 'c.pem'), cert);
    const trusted = must('openssl', ['x509', '-in', join(base, 'c.pem'), '-addtrust', 'serverAuth', '-addreject', 'emailProtection', '-setalias', 'T', '-trustout']);
    const trustedDer = pemBlocks(Buffer.from(trusted))[0]!.data;
    for (let i = 0; i < 400; i++) {
      const b = Buffer.from(bundle);
      for (let n = 1 + Math.floor(Math.random() * 3); n > 0; n--) b[Math.floor(Math.random() * b.length)] = Math.floor(Math.random() * 256);
      const t = Buffer.from(trustedDer);
      const at = Math.floor(Math.random() * t.length);
      t[at] = t[at]! ^ (1 << Math.floor(Math.random() * 8));
      const trustedPem = `-----BEGIN TRUSTED CERTIFICATE-----\n${t.toString('base64')}\n-----END TRUSTED CERTIFICATE-----\n`;
      extractAll([[{ path: '/etc/t.pem', kind: 'plain', content: Buffer.from(trustedPem) }], [{ path: '/usr/b.p11-kit', kind: 'plain', content: b }]]);
    }
  });
});
