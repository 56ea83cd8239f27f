import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { gzipSync, createGunzip } from 'node:zlib';
import { UserError } from '../src/errors.js';
import { parseComps } from '../src/packages/rpm/comps.js';
import { parseFilelists } from '../src/packages/rpm/filelists.js';
import { fullNevra, type RpmPackage, type RpmRepository } from '../src/packages/rpm/package.js';
import { parsePrimary } from '../src/packages/rpm/primary.js';
import { resolveRpm, type RpmResolveOptions } from '../src/packages/rpm/resolver.js';
import { parseRichDependency, richCnf, richHolds } from '../src/packages/rpm/rich-dependency.js';
import { RpmUniverse, type RepositoryInput } from '../src/packages/rpm/universe.js';
import { compareEvr, formatEvr, parseEvr, rpmvercmp } from '../src/packages/rpm/version.js';
import { ROOT, must, run, tempDir } from './helpers.js';

const PYTHON = '/usr/bin/python3';
const haveDnf = run(PYTHON, ['-c', 'import dnf, rpm']).status === 0;
// ../shared next to the main checkout (a helper's worktree sits one level deeper).
const CENTOS = [join(ROOT, '../shared/fixtures/rpm/centos-stream-9-baseos'), join(ROOT, '../../shared/fixtures/rpm/centos-stream-9-baseos')].find((p) => existsSync(p)) ?? join(ROOT, '../shared/fixtures/rpm/centos-stream-9-baseos');

// ---------------------------------------------------------------------------------------------------------
// The oracle: dnf's Python API on an empty install root, one repository per base URL.

const ORACLE = `
import sys, json, tempfile, dnf
req = json.loads(sys.argv[1])
base = dnf.Base()
root = tempfile.mkdtemp()
c = base.conf
c.installroot = root
c.cachedir = root + '/cache'
c.reposdir = []
c.releasever = '9'
c.substitutions['basearch'] = 'x86_64'
c.arch = 'x86_64'
c.install_weak_deps = req.get('weak', False)
c.excludepkgs = req.get('exclude', [])
for i, r in enumerate(req['repos']):
    base.repos.add_new_repo(r.get('id', 'r%d' % i), c, baseurl=[r['url']], priority=r.get('priority', 99), cost=r.get('cost', 1000), gpgcheck=False)
base.fill_sack(load_system_repo=False)
try:
    if req.get('groups'):
        base.read_comps()
    for s in req.get('install', []):
        base.install(s)
    for g in req.get('groups', []):
        base.group_install(g['id'], tuple(g.get('types') or c.group_package_types))
    base.resolve()
except Exception as e:
    print(json.dumps({'error': str(e)}))
    sys.exit(0)
print(json.dumps({'packages': sorted('%s-%s:%s-%s.%s@%s' % (p.name, p.epoch, p.version, p.release, p.arch, p.reponame) for p in base.transaction.install_set)}))
`;

interface OracleRequest {
  repos: { id: string; url: string; priority?: number; cost?: number }[];
  install?: string[];
  groups?: { id: string; types?: string[] }[];
  weak?: boolean;
  exclude?: string[];
}

/** Many requests against the same repositories in one dnf process (the goal reset between them). */
const ORACLE_BATCH = ORACLE.replace(/try:[^]*$/, `
out = []
for job in req['jobs']:
    base.reset(goal=True)
    try:
        for s in job: base.install(s)
        base.resolve()
        out.append({'packages': sorted('%s-%s:%s-%s.%s@%s' % (p.name, p.epoch, p.version, p.release, p.arch, p.reponame) for p in base.transaction.install_set)})
    except Exception as e:
        out.append({'error': str(e)})
print(json.dumps(out))
`);

function dnfResolveMany(req: Omit<OracleRequest, 'install'> & { jobs: string[][] }): { packages?: string[]; error?: string }[] {
  return JSON.parse(must(PYTHON, ['-c', ORACLE_BATCH, JSON.stringify(req)])) as { packages?: string[]; error?: string }[];
}

function dnfResolve(req: OracleRequest): { packages?: string[]; error?: string } {
  return JSON.parse(must(PYTHON, ['-c', ORACLE, JSON.stringify(req)])) as { packages?: string[]; error?: string };
}

const withRepo = (pkgs: RpmPackage[]) => pkgs.map((p) => `${fullNevra(p)}@${p.repository.id}`).sort();

// ---------------------------------------------------------------------------------------------------------
// Hand-written repositories.

interface TestPackage {
  name: string;
  /** `[E:]V-R` */
  evr: string;
  arch?: string;
  requires?: string[];
  provides?: string[];
  conflicts?: string[];
  obsoletes?: string[];
  recommends?: string[];
  supplements?: string[];
  files?: string[];
}

const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** `name`, `name >= [E:]V[-R]`, `(rich)`, with a `pre:` prefix for Requires(pre). */
function entry(spec: string): string {
  const pre = spec.startsWith('pre:');
  const text = pre ? spec.slice(4) : spec;
  const m = /^(\S+) (=|<|>|<=|>=) (\S+)$/.exec(text);
  let attrs = `name="${xmlEscape(m && !text.startsWith('(') ? m[1]! : text)}"`;
  if (m && !text.startsWith('(')) {
    const flags = { '=': 'EQ', '<': 'LT', '>': 'GT', '<=': 'LE', '>=': 'GE' }[m[2]!]!;
    const evr = parseEvr(m[3]!);
    attrs += ` flags="${flags}" epoch="${evr.epoch ?? 0}" ver="${evr.version}"${evr.release !== undefined ? ` rel="${evr.release}"` : ''}`;
  }
  return `<rpm:entry ${attrs}${pre ? ' pre="1"' : ''}/>`;
}

const inPrimary = (f: string) => f.startsWith('/etc/') || f.includes('bin/');
const pkgid = (p: TestPackage) => createHash('sha256').update(`${p.name}-${p.evr}.${p.arch ?? 'x86_64'}`).digest('hex');

function primaryXml(pkgs: TestPackage[]): string {
  const body = pkgs.map((p) => {
    const evr = parseEvr(p.evr);
    const arch = p.arch ?? 'x86_64';
    const rel = (tag: string, list: string[] | undefined) => (list?.length ? `<rpm:${tag}>${list.map(entry).join('')}</rpm:${tag}>` : '');
    return `<package type="rpm"><name>${p.name}</name><arch>${arch}</arch><version epoch="${evr.epoch ?? 0}" ver="${evr.version}" rel="${evr.release}"/>
<checksum type="sha256" pkgid="YES">${pkgid(p)}</checksum><summary>${p.name} &amp; co</summary><description>test</description>
<time file="1" build="2"/><size package="100" installed="200" archive="300"/><location href="Packages/${p.name}-${evr.version}-${evr.release}.${arch}.rpm"/>
<format><rpm:license>MIT</rpm:license><rpm:group>Unspecified</rpm:group><rpm:sourcerpm>${p.name}-${evr.version}-${evr.release}.src.rpm</rpm:sourcerpm><rpm:header-range start="10" end="20"/>
${rel('provides', [`${p.name} = ${p.evr}`, ...(p.provides ?? [])])}${rel('requires', p.requires)}${rel('conflicts', p.conflicts)}${rel('obsoletes', p.obsoletes)}${rel('recommends', p.recommends)}${rel('supplements', p.supplements)}
${(p.files ?? []).filter(inPrimary).map((f) => `<file>${f}</file>`).join('')}</format></package>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="${pkgs.length}">\n${body.join('\n')}\n</metadata>\n`;
}

function filelistsXml(pkgs: TestPackage[]): string {
  const body = pkgs.map((p) => {
    const evr = parseEvr(p.evr);
    return `<package pkgid="${pkgid(p)}" name="${p.name}" arch="${p.arch ?? 'x86_64'}"><version epoch="${evr.epoch ?? 0}" ver="${evr.version}" rel="${evr.release}"/>${(p.files ?? []).map((f) => `<file>${f}</file>`).join('')}</package>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="${pkgs.length}">\n${body.join('\n')}\n</filelists>\n`;
}

/** Writes repodata/ (primary, filelists, optional comps, repomd with real checksums), as createrepo_c lays it out. */
function writeRepo(dir: string, pkgs: TestPackage[], comps?: string): void {
  mkdirSync(join(dir, 'repodata'), { recursive: true });
  const files: [string, string, boolean][] = [['primary', primaryXml(pkgs), true], ['filelists', filelistsXml(pkgs), true]];
  if (comps) files.push(['group', comps, false]);
  const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
  const data = files.map(([type, xml, gz]) => {
    const bytes = gz ? gzipSync(Buffer.from(xml)) : Buffer.from(xml);
    const name = `repodata/${sha(bytes)}-${type}.xml${gz ? '.gz' : ''}`;
    writeFileSync(join(dir, name), bytes);
    return `<data type="${type}"><checksum type="sha256">${sha(bytes)}</checksum>${gz ? `<open-checksum type="sha256">${sha(xml)}</open-checksum>` : ''}<location href="${name}"/><timestamp>1</timestamp><size>${bytes.length}</size>${gz ? `<open-size>${Buffer.byteLength(xml)}</open-size>` : ''}</data>`;
  });
  writeFileSync(join(dir, 'repodata/repomd.xml'), `<?xml version="1.0" encoding="UTF-8"?>\n<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm"><revision>1</revision>${data.join('')}</repomd>\n`);
  writeFileSync(join(dir, 'primary.xml'), files[0]![1]);
  writeFileSync(join(dir, 'filelists.xml'), files[1]![1]);
  if (comps) writeFileSync(join(dir, 'comps.xml'), comps);
}

const MAIN: TestPackage[] = [
  // epochs: 1:1.0 beats 0:2.0; a requirement below epoch 1 takes 0:2.0
  { name: 'ep', evr: '0:2.0-1' },
  { name: 'ep', evr: '1:1.0-1' },
  { name: 'ep-user', evr: '1.0-1', requires: ['ep < 1:0'] },
  // ~ sorts before the release, ^ after it
  { name: 'tl', evr: '1.0~rc1-1' },
  { name: 'tl', evr: '1.0-1' },
  { name: 'tl', evr: '1.0^git1-1' },
  { name: 'tl-old-user', evr: '1-1', requires: ['tl < 1.0'] },
  // rich dependencies
  { name: 'rich-app', evr: '1-1', requires: ['((rich-a or rich-b) and (rich-c if rich-cond))', '(rich-w with rich-w-feature)', '(rich-x without rich-x-bad)', '(rich-u unless rich-cond)', '(rich-e if rich-a else rich-f)'] },
  { name: 'rich-if-app', evr: '1-1', requires: ['(rich-c if rich-cond)', '(rich-e unless rich-b else rich-f)'] },
  { name: 'rich-a', evr: '1-1' },
  { name: 'rich-b', evr: '1-1' },
  { name: 'rich-c', evr: '1-1' },
  { name: 'rich-cond', evr: '1-1' },
  { name: 'rich-u', evr: '1-1' },
  { name: 'rich-e', evr: '1-1' },
  { name: 'rich-f', evr: '1-1' },
  { name: 'rich-w1', evr: '1-1', provides: ['rich-w'] },
  { name: 'rich-w2', evr: '1-1', provides: ['rich-w', 'rich-w-feature'] },
  { name: 'rich-x1', evr: '1-1', provides: ['rich-x', 'rich-x-bad'] },
  { name: 'rich-x2', evr: '1-1', provides: ['rich-x'] },
  // conflicts steer the choice of a provider
  { name: 'cf-app', evr: '1-1', requires: ['cf-base', 'cf-backend'] },
  { name: 'cf-base', evr: '1-1', conflicts: ['cf-one'] },
  { name: 'cf-one', evr: '1-1', provides: ['cf-backend'] },
  { name: 'cf-two', evr: '1-1', provides: ['cf-backend'] },
  { name: 'cf-clash', evr: '1-1', conflicts: ['cf-base'] },
  // obsoletes: the replacement wins
  { name: 'ob-old', evr: '1.0-1' },
  { name: 'ob-new', evr: '2.0-1', obsoletes: ['ob-old < 2'], provides: ['ob-old = 2.0-1'] },
  { name: 'ob-user', evr: '1-1', requires: ['ob-old'] },
  // file requirements: one only filelists.xml answers, one primary does
  { name: 'fr-app', evr: '1-1', requires: ['/usr/share/fr/data.txt', '/usr/bin/frtool'] },
  { name: 'fr-data', evr: '1-1', files: ['/usr/share/fr', '/usr/share/fr/data.txt'] },
  { name: 'fr-tools', evr: '1-1', files: ['/usr/bin/frtool', '/usr/share/man/man1/frtool.1.gz'] },
  // multilib: an i686-only program drags the i686 library and, in lock-step, the x86_64 one
  { name: 'ml-lib', evr: '1.0-1', provides: ['libml.so.1()(64bit)'] },
  { name: 'ml-lib', evr: '1.0-1', arch: 'i686', provides: ['libml.so.1'] },
  { name: 'ml-app', evr: '1.0-1', arch: 'i686', requires: ['libml.so.1'] },
  { name: 'ml-user', evr: '1.0-1', requires: ['ml-lib'] },
  { name: 'noarch-doc', evr: '1-1', arch: 'noarch', requires: ['ml-lib'] },
  // pre requires: installed first
  { name: 'pre-app', evr: '1-1', requires: ['pre:pre-tool', 'pre-lib'] },
  { name: 'pre-tool', evr: '1-1', requires: ['pre-lib'] },
  { name: 'pre-lib', evr: '1-1', requires: ['pre-app'] },
  // weak dependencies
  { name: 'wk-app', evr: '1-1', recommends: ['wk-extra'] },
  { name: 'wk-extra', evr: '1-1' },
  { name: 'wk-plugin', evr: '1-1', supplements: ['wk-app'] },
  // provider choice by name, and a virtual provide
  { name: 'zz-impl', evr: '1-1', provides: ['virt'] },
  { name: 'aa-impl', evr: '1-1', provides: ['virt'] },
  { name: 'virt-user', evr: '1-1', requires: ['virt'] },
  // an unsatisfiable chain
  { name: 'ch-top', evr: '1-1', requires: ['ch-mid'] },
  { name: 'ch-mid', evr: '1-1', requires: ['ch-missing >= 2'] },
  // priority and cost across repositories
  { name: 'pr-lib', evr: '2.0-1' },
  { name: 'co-pkg', evr: '1.0-1' },
  { name: 'aa-impl2', evr: '1-1', provides: ['virt2'] },
  { name: 'virt2-user', evr: '1-1', requires: ['virt2'] },
  { name: 'mv', evr: '1.0-1' },
];
const HIGH: TestPackage[] = [{ name: 'pr-lib', evr: '1.0-1' }, { name: 'zz-impl2', evr: '1-1', provides: ['virt2'] }];
const CHEAP: TestPackage[] = [{ name: 'co-pkg', evr: '1.0-1' }, { name: 'mv', evr: '2.0-1' }];

const COMPS = `<?xml version="1.0" encoding="UTF-8"?>
<comps>
  <group><id>grp</id><name>Test group</name><name xml:lang="de">Testgruppe</name><description>d</description><default>true</default><uservisible>true</uservisible>
    <packagelist>
      <packagereq type="mandatory">tl</packagereq>
      <packagereq type="default">ep-user</packagereq>
      <packagereq type="optional">wk-app</packagereq>
      <packagereq type="conditional" requires="tl">rich-b</packagereq>
      <packagereq type="conditional" requires="nothing-asked">rich-c</packagereq>
      <packagereq type="conditional" requires="ep">rich-e</packagereq>
      <packagereq type="default" basearchonly="true">ml-lib</packagereq>
      <packagereq type="mandatory">no-such-package</packagereq>
    </packagelist>
  </group>
  <environment><id>env</id><name>Env</name><grouplist><groupid>grp</groupid></grouplist><optionlist><groupid>other</groupid></optionlist></environment>
  <category><id>cat</id><name>Cat</name><grouplist><groupid>grp</groupid></grouplist></category>
</comps>
`;

function repos(): { dir: string; list: { id: string; dir: string; priority: number; cost: number }[] } {
  const dir = tempDir('rpm-resolver');
  const list = [
    { id: 'main', dir: join(dir, 'main'), priority: 99, cost: 1000 },
    { id: 'high', dir: join(dir, 'high'), priority: 10, cost: 1000 },
    { id: 'cheap', dir: join(dir, 'cheap'), priority: 99, cost: 500 },
  ];
  writeRepo(list[0]!.dir, MAIN, COMPS);
  writeRepo(list[1]!.dir, HIGH);
  writeRepo(list[2]!.dir, CHEAP);
  return { dir, list };
}

async function loadUniverse(list: { id: string; dir: string; priority: number; cost: number }[], paths: string[] = []): Promise<RpmUniverse> {
  const inputs: RepositoryInput[] = list.map((r) => ({
    repository: { id: r.id, priority: r.priority, cost: r.cost },
    primary: createReadStream(join(r.dir, 'primary.xml')),
    primaryFile: `${r.id}/primary.xml`,
    filelists: () => createReadStream(join(r.dir, 'filelists.xml')),
    filelistsFile: `${r.id}/filelists.xml`,
    comps: existsSync(join(r.dir, 'comps.xml')) ? createReadStream(join(r.dir, 'comps.xml')) : undefined,
  }));
  return RpmUniverse.load(inputs, { arch: 'x86_64', paths });
}

// ---------------------------------------------------------------------------------------------------------

describe('rpm versions', () => {
  // rpm's own cases (tests/rpmvercmp.at in rpm's source).
  const RPM_CASES: [string, string, number][] = [
    ['1.0', '1.0', 0], ['1.0', '2.0', -1], ['2.0', '1.0', 1], ['2.0.1', '2.0.1', 0], ['2.0', '2.0.1', -1], ['2.0.1', '2.0', 1],
    ['2.0.1a', '2.0.1a', 0], ['2.0.1a', '2.0.1', 1], ['2.0.1', '2.0.1a', -1], ['5.5p1', '5.5p1', 0], ['5.5p1', '5.5p2', -1],
    ['5.5p2', '5.5p1', 1], ['5.5p10', '5.5p10', 0], ['5.5p1', '5.5p10', -1], ['5.5p10', '5.5p1', 1], ['10xyz', '10.1xyz', -1],
    ['10.1xyz', '10xyz', 1], ['xyz10', 'xyz10', 0], ['xyz10', 'xyz10.1', -1], ['xyz10.1', 'xyz10', 1], ['xyz.4', 'xyz.4', 0],
    ['xyz.4', '8', -1], ['8', 'xyz.4', 1], ['xyz.4', '2', -1], ['2', 'xyz.4', 1], ['5.5p2', '5.6p1', -1], ['5.6p1', '5.5p2', 1],
    ['5.6p1', '6.5p1', -1], ['6.5p1', '5.6p1', 1], ['6.0.rc1', '6.0', 1], ['6.0', '6.0.rc1', -1], ['10b2', '10a1', 1],
    ['10a2', '10b2', -1], ['1.0aa', '1.0aa', 0], ['1.0a', '1.0aa', -1], ['1.0aa', '1.0a', 1], ['10.0001', '10.0001', 0],
    ['10.0001', '10.1', 0], ['10.1', '10.0001', 0], ['10.0001', '10.0039', -1], ['10.0039', '10.0001', 1], ['4.999.9', '5.0', -1],
    ['5.0', '4.999.9', 1], ['20101121', '20101121', 0], ['20101121', '20101122', -1], ['20101122', '20101121', 1], ['2_0', '2_0', 0],
    ['2.0', '2_0', 0], ['2_0', '2.0', 0], ['a', 'a', 0], ['a+', 'a+', 0], ['a+', 'a_', 0], ['a_', 'a+', 0], ['+a', '+a', 0],
    ['+a', '_a', 0], ['_a', '+a', 0], ['+_', '+_', 0], ['_+', '+_', 0], ['_+', '_+', 0], ['+', '_', 0], ['_', '+', 0],
    ['1.0~rc1', '1.0~rc1', 0], ['1.0~rc1', '1.0', -1], ['1.0', '1.0~rc1', 1], ['1.0~rc1', '1.0~rc2', -1], ['1.0~rc2', '1.0~rc1', 1],
    ['1.0~rc1~git123', '1.0~rc1~git123', 0], ['1.0~rc1~git123', '1.0~rc1', -1], ['1.0~rc1', '1.0~rc1~git123', 1], ['1.0^', '1.0^', 0],
    ['1.0^', '1.0', 1], ['1.0', '1.0^', -1], ['1.0^git1', '1.0^git1', 0], ['1.0^git1', '1.0', 1], ['1.0', '1.0^git1', -1],
    ['1.0^git1', '1.0^git2', -1], ['1.0^git2', '1.0^git1', 1], ['1.0^git1', '1.01', -1], ['1.01', '1.0^git1', 1],
    ['1.0^20160101', '1.0^20160101', 0], ['1.0^20160101', '1.0.1', -1], ['1.0.1', '1.0^20160101', 1],
    ['1.0^20160101^git1', '1.0^20160101^git1', 0], ['1.0^20160102', '1.0^20160101^git1', 1], ['1.0^20160101^git1', '1.0^20160102', -1],
    ['1.0~rc1^git1', '1.0~rc1^git1', 0], ['1.0~rc1^git1', '1.0~rc1', 1], ['1.0~rc1', '1.0~rc1^git1', -1], ['1.0^git1~pre', '1.0^git1~pre', 0],
    ['1.0^git1', '1.0^git1~pre', 1], ['1.0^git1~pre', '1.0^git1', -1],
  ];

  it(`rpmvercmp matches rpm's ${RPM_CASES.length} test cases`, () => {
    for (const [a, b, want] of RPM_CASES) assert.equal(rpmvercmp(a, b), want, `rpmvercmp(${a}, ${b})`);
  });

  it('rpmvercmp matches python3-rpm on 3,000 random pairs', { skip: haveDnf ? false : 'needs /usr/bin/python3 with rpm' }, () => {
    let seed = 12345;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const alphabet = '0123456789abz.~^_+0019.';
    const word = () => Array.from({ length: 1 + Math.floor(rnd() * 8) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
    const pairs = Array.from({ length: 3000 }, () => [word(), word()] as [string, string]);
    for (let i = 0; i < 300; i++) pairs.push([pairs[i]![0], pairs[i]![0]]);
    const out = must(PYTHON, ['-c', `import rpm, json, sys\nfor a, b in json.load(sys.stdin): print(rpm.labelCompare(('0', a, '1'), ('0', b, '1')))`], { input: JSON.stringify(pairs) });
    const theirs = out.trim().split('\n').map(Number);
    assert.equal(theirs.length, pairs.length);
    const wrong = pairs.filter(([a, b], i) => rpmvercmp(a, b) !== theirs[i]).slice(0, 5);
    assert.deepEqual(wrong, []);
  });

  it('parses, compares and prints EVRs as dnf does', () => {
    assert.deepEqual(parseEvr('2:1.0-3.el9'), { epoch: 2, version: '1.0', release: '3.el9' });
    assert.deepEqual(parseEvr('1.0'), { epoch: undefined, version: '1.0' });
    assert.equal(compareEvr(parseEvr('1.0-1'), parseEvr('0:1.0-1')), 0);
    assert.equal(compareEvr(parseEvr('1:1.0-1'), parseEvr('9.0-1')), 1);
    assert.equal(formatEvr(parseEvr('0:1.0-1')), '1.0-1');
    assert.equal(formatEvr(parseEvr('3:1.0-1')), '3:1.0-1');
  });
});

describe('rich dependencies', () => {
  const installed = new Set(['a', 'c']);
  const providers: Record<string, string[]> = { a: ['a'], b: ['b'], c: ['c'], d: ['d'], ab: ['a', 'b'], f1: ['a'], f2: ['a', 'b'] };
  const ctx = { providers: (dep: { name: string }) => providers[dep.name] ?? [], installed: (p: string) => installed.has(p) };
  const holds = (s: string) => richHolds(parseRichDependency(s), ctx);

  it('evaluates and, or, if, if-else, unless, unless-else, with, without and nesting', () => {
    assert.equal(holds('(a and c)'), true);
    assert.equal(holds('(a and b)'), false);
    assert.equal(holds('(b or c or d)'), true);
    assert.equal(holds('(b if a)'), false);
    assert.equal(holds('(b if d)'), true);
    assert.equal(holds('(b if d else c)'), true);
    assert.equal(holds('(b if d else b)'), false);
    // libsolv's reading, which dnf follows: `A unless B` is `A and not B`.
    assert.equal(holds('(c unless d)'), true);
    assert.equal(holds('(c unless a)'), false);
    assert.equal(holds('(b unless d)'), false);
    assert.equal(holds('(b unless a else c)'), true);
    assert.equal(holds('(f1 with f2)'), true);
    assert.equal(holds('(f2 without f1)'), false);
    assert.equal(holds('((a or b) and (c if (a and (d or c))))'), true);
    assert.equal(holds('(a >= 1.0 and c < 2)'), true);
  });

  it('parses versions and names with parentheses; rejects malformed ones with a UserError', () => {
    const r = parseRichDependency('(libc.so.6()(64bit) and foo >= 1:2.0-3)');
    assert.equal(r.op, 'and');
    assert.deepEqual(r.op === 'and' && r.items.map((i) => (i.op === 'atom' ? i.dep : undefined)), [
      { name: 'libc.so.6()(64bit)' },
      { name: 'foo', flags: 'GE', epoch: 1, version: '2.0', release: '3' },
    ]);
    for (const bad of ['(a and', 'a and b', '(a frob b)', '(a and b) x', '()', '(a >=)', '(a without b without c)', '('.repeat(5000)]) {
      assert.throws(() => parseRichDependency(bad), UserError, bad);
    }
  });

  it('random input: parsed or a UserError, never another exception or a hang', () => {
    let seed = 4242;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const words = ['(', ')', '((', '))', 'a', 'b(x)', 'and', 'or', 'if', 'else', 'unless', 'with', 'without', '>=', '=', '<', '1:2.0-3', ' ', '  ', '\t'];
    let parsed = 0;
    for (let i = 0; i < 5000; i++) {
      const text = `(${Array.from({ length: 1 + Math.floor(rnd() * 12) }, () => words[Math.floor(rnd() * words.length)]).join(' ')})`;
      try {
        const rich = parseRichDependency(text);
        richHolds(rich, ctx);
        richCnf(rich, ctx.providers);
        parsed++;
      } catch (e) {
        assert.ok(e instanceof UserError, `${text}: ${String(e)}`);
      }
    }
    assert.ok(parsed > 100, `${parsed} parsed`);
  });
});

describe('repository metadata readers', () => {
  it('reads primary, filelists and comps as streams, sharing strings', async () => {
    const repo: RpmRepository = { id: 't', priority: 99, cost: 1000 };
    const pkgs = await parsePrimary(Readable.from([primaryXml(MAIN)]), { file: 'primary.xml', repository: repo });
    assert.equal(pkgs.length, MAIN.length);
    const ep = pkgs.find((p) => p.name === 'ep' && p.epoch === 1)!;
    assert.equal(ep.version, '1.0');
    assert.equal(ep.checksum.algorithm, 'sha256');
    assert.equal(ep.summary, 'ep & co');
    assert.equal(ep.size.archive, 300);
    assert.deepEqual(ep.headerRange, { start: 10, end: 20 });
    const pre = pkgs.find((p) => p.name === 'pre-app')!;
    assert.deepEqual(pre.requires[0], { name: 'pre-tool', pre: true });
    assert.equal(pre.requires[1]!.pre, undefined);
    // Equal strings are one string (what the pool is for): the same name object in two packages.
    const users = pkgs.filter((p) => p.requires.some((d) => d.name === 'ml-lib'));
    assert.equal(users.length, 2);
    const fr = pkgs.find((p) => p.name === 'fr-tools')!;
    assert.deepEqual(fr.files, ['/usr/bin/frtool']);
    const files = await parseFilelists(Readable.from([filelistsXml(MAIN)]), { file: 'filelists.xml', wanted: new Set(['/usr/share/fr/data.txt']) });
    assert.deepEqual([...files.values()], [['/usr/share/fr/data.txt']]);
    const comps = await parseComps(Readable.from([COMPS]), 'comps.xml');
    assert.equal(comps.groups[0]!.name, 'Test group');
    assert.deepEqual(comps.groups[0]!.packages.find((p) => p.type === 'conditional'), { name: 'rich-b', type: 'conditional', requires: 'tl' });
    assert.deepEqual(comps.environments[0], { id: 'env', name: 'Env', description: '', groups: ['grp'], options: ['other'] });
    assert.deepEqual(comps.categories[0]!.groups, ['grp']);
  });

  it('malformed, truncated, flipped and random input: a UserError naming the file and line, never a crash or hang', async () => {
    const xml = Buffer.from(primaryXml(MAIN));
    const repo: RpmRepository = { id: 't', priority: 99, cost: 1000 };
    let seed = 99;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const inputs: Buffer[] = [Buffer.alloc(0), Buffer.from('<metadata>'), Buffer.from('<other/>'), Buffer.from('<metadata><package><name>x</name></package></metadata>')];
    for (let i = 0; i < 40; i++) inputs.push(xml.subarray(0, Math.floor(rnd() * xml.length)));
    for (let i = 0; i < 60; i++) {
      const b = Buffer.from(xml);
      for (let k = 0; k < 3; k++) {
        const at = Math.floor(rnd() * b.length);
        b[at] = b[at]! ^ (1 << Math.floor(rnd() * 8));
      }
      inputs.push(b);
    }
    for (let i = 0; i < 30; i++) inputs.push(Buffer.from(Array.from({ length: Math.floor(rnd() * 5000) }, () => Math.floor(rnd() * 256))));
    let errors = 0;
    for (const input of inputs) {
      const chunks = [input.subarray(0, 100), input.subarray(100)];
      for (const parse of [
        () => parsePrimary(Readable.from(chunks), { file: 'repodata/primary.xml', repository: repo }),
        () => parseFilelists(Readable.from(chunks), { file: 'repodata/primary.xml', wanted: new Set() }),
        () => parseComps(Readable.from(chunks), 'repodata/primary.xml'),
      ]) {
        try {
          await parse();
        } catch (e) {
          assert.ok(e instanceof UserError, `not a UserError: ${String(e)}`);
          assert.match(e.message, /^repodata\/primary\.xml:\d+: /);
          errors++;
        }
      }
    }
    assert.ok(errors > inputs.length * 2, `${errors} errors`);
    await assert.rejects(parsePrimary(Readable.from(['<metadata>\n<package>\n<name>a</name>\n</package>\n</metadata>']), { file: 'p.xml', repository: repo }), /^UserError: p\.xml:4: package a has no <arch>/);
  });
});

describe('resolver on hand-written repositories (dnf as the oracle)', async () => {
  const { list } = repos();
  const universe = await loadUniverse(list);
  const oracleRepos = list.map((r) => ({ id: r.id, url: `file://${r.dir}`, priority: r.priority, cost: r.cost }));
  const names = (pkgs: RpmPackage[]) => pkgs.map((p) => `${p.name}-${formatEvr({ epoch: p.epoch, version: p.version, release: p.release })}.${p.arch}`).sort();

  const cases: { title: string; request: RpmResolveOptions; expect: string[] | RegExp }[] = [
    { title: 'epochs: 1:1.0 beats 0:2.0', request: { install: ['ep'] }, expect: ['ep-1:1.0-1.x86_64'] },
    { title: 'epochs: a requirement below epoch 1', request: { install: ['ep-user'] }, expect: ['ep-2.0-1.x86_64', 'ep-user-1.0-1.x86_64'] },
    { title: '~ and ^: the caret version is newest', request: { install: ['tl'] }, expect: ['tl-1.0^git1-1.x86_64'] },
    { title: '~ and ^: below 1.0 is the tilde version', request: { install: ['tl-old-user'] }, expect: ['tl-1.0~rc1-1.x86_64', 'tl-old-user-1-1.x86_64'] },
    { title: 'a NEVR request', request: { install: ['tl-1.0-1'] }, expect: ['tl-1.0-1.x86_64'] },
    { title: 'rich dependencies', request: { install: ['rich-app'] }, expect: ['rich-a-1-1.x86_64', 'rich-app-1-1.x86_64', 'rich-e-1-1.x86_64', 'rich-u-1-1.x86_64', 'rich-w2-1-1.x86_64', 'rich-x2-1-1.x86_64'] },
    { title: '`A unless B` forbids B (libsolv reads it as `A and not B`)', request: { install: ['rich-app', 'rich-cond'] }, expect: /rich-cond/ },
    { title: 'rich dependencies: if with the condition installed, unless-else', request: { install: ['rich-if-app', 'rich-cond'] }, expect: ['rich-b-1-1.x86_64', 'rich-c-1-1.x86_64', 'rich-cond-1-1.x86_64', 'rich-f-1-1.x86_64', 'rich-if-app-1-1.x86_64'] },
    { title: 'conflicts steer the provider', request: { install: ['cf-app'] }, expect: ['cf-app-1-1.x86_64', 'cf-base-1-1.x86_64', 'cf-two-1-1.x86_64'] },
    { title: 'a conflicting request fails', request: { install: ['cf-app', 'cf-clash'] }, expect: /cf-clash|cf-base/ },
    { title: 'obsoletes: the replacement is installed for the old name', request: { install: ['ob-old'] }, expect: ['ob-new-2.0-1.x86_64'] },
    { title: 'obsoletes: a requirement of the old name', request: { install: ['ob-user'] }, expect: ['ob-new-2.0-1.x86_64', 'ob-user-1-1.x86_64'] },
    { title: 'file requirements from primary and filelists', request: { install: ['fr-app'] }, expect: ['fr-app-1-1.x86_64', 'fr-data-1-1.x86_64', 'fr-tools-1-1.x86_64'] },
    { title: 'a file path request', request: { install: ['/usr/bin/frtool'] }, expect: ['fr-tools-1-1.x86_64'] },
    { title: 'multilib: i686 only when required, with its x86_64 twin', request: { install: ['ml-app'] }, expect: ['ml-app-1.0-1.i686', 'ml-lib-1.0-1.i686', 'ml-lib-1.0-1.x86_64'] },
    { title: 'multilib: x86_64 by default', request: { install: ['ml-user', 'noarch-doc'] }, expect: ['ml-lib-1.0-1.x86_64', 'ml-user-1.0-1.x86_64', 'noarch-doc-1-1.noarch'] },
    { title: 'an explicit arch', request: { install: ['ml-lib.i686'] }, expect: ['ml-lib-1.0-1.i686'] },
    { title: 'pre requires and a loop', request: { install: ['pre-app'] }, expect: ['pre-app-1-1.x86_64', 'pre-lib-1-1.x86_64', 'pre-tool-1-1.x86_64'] },
    { title: 'weak dependencies off', request: { install: ['wk-app'] }, expect: ['wk-app-1-1.x86_64'] },
    { title: 'weak dependencies on (recommends, supplements)', request: { install: ['wk-app'], weakDeps: true }, expect: ['wk-app-1-1.x86_64', 'wk-extra-1-1.x86_64', 'wk-plugin-1-1.x86_64'] },
    { title: 'a virtual provide: the first name', request: { install: ['virt-user'] }, expect: ['aa-impl-1-1.x86_64', 'virt-user-1-1.x86_64'] },
    { title: 'a virtual provide requested', request: { install: ['virt'] }, expect: ['aa-impl-1-1.x86_64'] },
    { title: 'priority: the better repository wins over a newer version', request: { install: ['pr-lib'] }, expect: ['pr-lib-1.0-1.x86_64'] },
    { title: 'priority: a provider from the better repository, whatever its name', request: { install: ['virt2-user'] }, expect: ['virt2-user-1-1.x86_64', 'zz-impl2-1-1.x86_64'] },
    { title: 'equal priorities: the newest version from any repository', request: { install: ['mv'] }, expect: ['mv-2.0-1.x86_64'] },
    { title: 'excludes', request: { install: ['cf-app'], exclude: ['cf-two'] }, expect: /cf-backend/ },
    { title: 'an unsatisfiable chain', request: { install: ['ch-top'] }, expect: /requested ch-top:\s+ch-top-1-1\.x86_64 requires ch-mid\s+→ ch-mid-1-1\.x86_64 requires ch-missing >= 2, but nothing provides it/ },
    { title: 'group, default types (conditional members by what ends up installed; a missing member noted)', request: { install: [], groups: [{ id: 'grp' }] }, expect: ['ep-2.0-1.x86_64', 'ep-user-1.0-1.x86_64', 'ml-lib-1.0-1.x86_64', 'rich-b-1-1.x86_64', 'rich-e-1-1.x86_64', 'tl-1.0^git1-1.x86_64'] },
    { title: 'group, mandatory only', request: { install: [], groups: [{ id: 'grp', types: ['mandatory'] }] }, expect: ['tl-1.0^git1-1.x86_64'] },
    { title: 'group, with optional', request: { install: [], groups: [{ id: 'grp', types: ['mandatory', 'default', 'optional'] }], weakDeps: true }, expect: ['ep-2.0-1.x86_64', 'ep-user-1.0-1.x86_64', 'ml-lib-1.0-1.x86_64', 'wk-app-1-1.x86_64', 'wk-extra-1-1.x86_64', 'wk-plugin-1-1.x86_64', 'tl-1.0^git1-1.x86_64'].sort() },
  ];

  for (const c of cases) {
    it(c.title, { skip: haveDnf ? false : 'needs /usr/bin/python3 with dnf' }, () => {
      const theirs = dnfResolve({ repos: oracleRepos, install: c.request.install, groups: c.request.groups, weak: c.request.weakDeps, exclude: c.request.exclude });
      if (c.expect instanceof RegExp) {
        assert.throws(() => resolveRpm(universe, c.request), (e: unknown) => e instanceof UserError && (c.expect as RegExp).test(e.message));
        assert.ok(theirs.error, `dnf resolved it: ${theirs.packages?.join(' ')}`);
        return;
      }
      const ours = resolveRpm(universe, c.request);
      assert.deepEqual(withRepo(ours.packages), theirs.packages, 'same set (and repositories) as dnf');
      assert.deepEqual(names(ours.packages), [...c.expect].sort());
    });
  }

  it('cost: of equal versions, the cheaper repository\'s copy', () => {
    const ours = resolveRpm(universe, { install: ['co-pkg'] });
    assert.deepEqual(withRepo(ours.packages), ['co-pkg-0:1.0-1.x86_64@cheap']);
    if (haveDnf) assert.deepEqual(dnfResolve({ repos: oracleRepos, install: ['co-pkg'] }).packages, ['co-pkg-0:1.0-1.x86_64@cheap']);
  });

  it('notes group members no repository has; why-chains; pre requires first in the install order', () => {
    const g = resolveRpm(universe, { install: [], groups: [{ id: 'grp' }] });
    assert.deepEqual(g.notes, ['No match for group package "no-such-package"']);
    const r = resolveRpm(universe, { install: ['pre-app', 'ml-app'] });
    const order = r.packages.map((p) => `${p.name}.${p.arch}`);
    assert.ok(order.indexOf('pre-tool.x86_64') < order.indexOf('pre-app.x86_64'), order.join(' '));
    assert.ok(order.indexOf('ml-lib.i686') < order.indexOf('ml-app.i686'), order.join(' '));
    assert.deepEqual(r.why.get('pre-tool'), ['requested pre-app', 'pre-app requires pre-tool']);
    assert.deepEqual(r.why.get('ml-lib.x86_64'), ['requested ml-app', 'ml-app requires libml.so.1', 'ml-lib requires ml-lib of the best architecture = 1.0-1']);
    assert.deepEqual(resolveRpm(universe, { install: ['pre-app', 'ml-app'] }).packages, r.packages, 'deterministic');
  });

  it('unknown names and groups: near names', () => {
    assert.throws(() => resolveRpm(universe, { install: ['ep-usr'] }), /No match for argument: ep-usr; did you mean ep-user/);
    assert.throws(() => resolveRpm(universe, { install: ['wk-ap'] }), /did you mean wk-app/);
    assert.throws(() => resolveRpm(universe, { install: [], groups: [{ id: 'gr' }] }), /no group "gr".*did you mean grp/);
  });
});

describe('resolver on random repositories (dnf as the oracle)', { skip: haveDnf ? false : 'needs /usr/bin/python3 with dnf' }, () => {
  /** A random universe: versions, epochs, virtual provides, versioned requirements, conflicts, obsoletes, multilib, weak deps, two repositories. */
  function randomRepos(seed: number): { main: TestPackage[]; extra: TestPackage[]; names: string[] } {
    let state = seed;
    const rnd = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const pick = <T,>(list: T[]): T => list[Math.floor(rnd() * list.length)]!;
    const names = Array.from({ length: 36 }, (_, i) => `p${String.fromCharCode(97 + (i % 26))}${i}`);
    const virtuals = ['v-a', 'v-b', 'v-c', 'v-d'];
    const versions = ['1.0-1', '1.0-2', '2.0~rc1-1', '2.0-1', '1:0.5-1', '2.0^git1-1'];
    const main: TestPackage[] = [];
    const extra: TestPackage[] = [];
    names.forEach((name, i) => {
      const count = rnd() < 0.3 ? 2 : 1;
      const arch = rnd() < 0.15 ? 'noarch' : 'x86_64';
      const evrs = [...new Set(Array.from({ length: count }, () => pick(versions)))];
      for (const evr of evrs) {
        const dep = () => {
          const target = rnd() < 0.25 ? pick(virtuals) : pick(names.slice(i + 1).length ? names.slice(i + 1) : names);
          const r = rnd();
          return r < 0.15 ? `${target} >= 1.0` : r < 0.2 ? `${target} < 2.0` : target;
        };
        const p: TestPackage = {
          name, evr, arch,
          requires: Array.from({ length: Math.floor(rnd() * 3) }, dep),
          provides: rnd() < 0.3 ? [`${pick(virtuals)} = ${evr}`] : [],
          conflicts: rnd() < 0.08 ? [pick(names)] : [],
          obsoletes: rnd() < 0.05 ? [`${pick(names)} < 1.0`] : [],
          recommends: rnd() < 0.2 ? [dep()] : [],
          supplements: rnd() < 0.1 ? [pick(names)] : [],
        };
        (rnd() < 0.2 ? extra : main).push(p);
        if (arch === 'x86_64' && rnd() < 0.15) (rnd() < 0.5 ? extra : main).push({ ...p, arch: 'i686', requires: [...(p.requires ?? []), `lib${name}.so`], provides: [`lib${name}.so`] });
      }
    });
    return { main, extra, names };
  }

  for (const seed of Array.from({ length: Number(process.env['RPM_RANDOM_UNIVERSES'] ?? 6) }, (_, i) => i + 1)) {
    it(`random universe ${seed}: 40 requests, weak deps on and off, equal to dnf`, async () => {
      const { main, extra, names } = randomRepos(seed);
      const dir = tempDir('rpm-random');
      const list = [
        { id: 'main', dir: join(dir, 'main'), priority: 99, cost: 1000 },
        { id: 'extra', dir: join(dir, 'extra'), priority: seed % 2 ? 50 : 99, cost: seed % 3 ? 500 : 1000 },
      ];
      writeRepo(list[0]!.dir, main);
      writeRepo(list[1]!.dir, extra);
      const universe = await loadUniverse(list);
      let state = seed * 7919;
      const rnd = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
      const jobs = Array.from({ length: 40 }, () => Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => (rnd() < 0.1 ? 'v-a' : names[Math.floor(rnd() * names.length)]!)));
      let solved = 0;
      const differ: string[] = [];
      for (const weak of [false, true]) {
        const theirs = dnfResolveMany({ repos: list.map((r) => ({ id: r.id, url: `file://${r.dir}`, priority: r.priority, cost: r.cost })), jobs, weak });
        jobs.forEach((job, k) => {
          const t = theirs[k]!;
          let ours: string[] | undefined;
          let error: string | undefined;
          try {
            ours = withRepo(resolveRpm(universe, { install: job, weakDeps: weak }).packages);
          } catch (e) {
            if (!(e instanceof UserError)) throw e;
            error = e.message;
          }
          const same = ours === undefined ? t.packages === undefined : JSON.stringify(ours) === JSON.stringify(t.packages);
          if (!same) {
            const extra = (ours ?? []).filter((x) => !(t.packages ?? []).includes(x));
            const missing = (t.packages ?? []).filter((x) => !(ours ?? []).includes(x));
            differ.push(`${job.join(' ')}${weak ? ' (weak)' : ''}: ${ours ? `only ours: ${extra.join(' ')}; only dnf's: ${missing.join(' ')}` : `we fail (${error?.split('\n')[0]}), dnf: ${t.packages?.length} packages`}`);
          }
          if (ours) solved++;
        });
      }
      console.log(`# random universe ${seed}: ${jobs.length * 2 - differ.length}/${jobs.length * 2} equal to dnf, ${solved} solvable`);
      assert.deepEqual(differ, []);
      assert.ok(solved > 20, `only ${solved} requests were solvable`);
    });
  }
});

describe('resolver on CentOS Stream 9 BaseOS against dnf', { skip: existsSync(join(CENTOS, 'repodata')) ? (haveDnf ? false : 'needs /usr/bin/python3 with dnf') : 'needs ../shared (the CentOS Stream 9 BaseOS metadata)' }, async () => {
  const repodata = join(CENTOS, 'repodata');
  const file = (kind: string) => join(repodata, readdirSync(repodata).find((n) => n.includes(`-${kind}`))!);
  const gunzip = (path: string) => createReadStream(path).pipe(createGunzip());
  const universe = await RpmUniverse.load(
    [{ repository: { id: 'baseos', priority: 99, cost: 1000 }, primary: gunzip(file('primary')), primaryFile: 'primary.xml.gz', filelists: gunzip(file('filelists')), filelistsFile: 'filelists.xml.gz', comps: gunzip(file('comps')), compsFile: 'comps.xml.gz' }],
    { arch: 'x86_64', paths: ['/usr/share/licenses/zlib'] },
  );
  const CONTAINER = ['bash', 'coreutils-single', 'glibc-minimal-langpack', 'filesystem', 'setup', 'rpm', 'dnf'];

  it('loads 1,125 packages, the comps groups', () => {
    assert.equal(universe.packages.length, 1125);
    assert.ok(universe.comps.groups.some((g) => g.id === 'core'));
  });

  const requests: { title: string; request: RpmResolveOptions }[] = [];
  for (const weakDeps of [false, true]) {
    const w = weakDeps ? 'weak deps on' : 'weak deps off';
    requests.push(
      { title: `the container set, ${w}`, request: { install: CONTAINER, weakDeps } },
      { title: `--group core (mandatory, default, conditional), ${w}`, request: { install: [], groups: [{ id: 'core' }], weakDeps } },
      { title: `--group core, mandatory only, ${w}`, request: { install: [], groups: [{ id: 'core', types: ['mandatory'] }], weakDeps } },
      { title: `bash, ${w}`, request: { install: ['bash'], weakDeps } },
      { title: `/usr/bin/ls, ${w}`, request: { install: ['/usr/bin/ls'], weakDeps } },
      { title: `a path only filelists has, ${w}`, request: { install: ['/usr/share/licenses/zlib'], weakDeps } },
      { title: `curl (not curl-minimal), ${w}`, request: { install: ['curl'], weakDeps } },
      { title: `curl-minimal, ${w}`, request: { install: ['curl-minimal', 'dnf'], weakDeps } },
      { title: `coreutils, ${w}`, request: { install: ['coreutils'], weakDeps } },
      { title: `a virtual provide (libcurl.so.4()(64bit)), ${w}`, request: { install: ['libcurl.so.4()(64bit)'], weakDeps } },
      { title: `glibc-langpack choice (glibc alone), ${w}`, request: { install: ['glibc'], weakDeps } },
      { title: `a glob (python3-*-libs), ${w}`, request: { install: ['python3-*libs'], weakDeps } },
      { title: `an i686 package, ${w}`, request: { install: ['libacl.i686'], weakDeps } },
    );
  }
  for (const { title, request } of requests) {
    it(title, () => {
      const t0 = performance.now();
      const ours = resolveRpm(universe, request);
      const ms = performance.now() - t0;
      const theirs = dnfResolve({ repos: [{ id: 'baseos', url: `file://${CENTOS}` }], install: request.install, groups: request.groups, weak: request.weakDeps });
      const mine = withRepo(ours.packages);
      const only = (a: string[], b: string[] | undefined) => a.filter((x) => !(b ?? []).includes(x));
      assert.deepEqual({ ours: only(mine, theirs.packages), dnf: only(theirs.packages ?? [], mine), error: theirs.error }, { ours: [], dnf: [], error: undefined });
      console.log(`# ${title}: ${mine.length} packages, equal to dnf's; resolved in ${Math.round(ms)} ms`);
      assert.equal(new Set(ours.packages).size, ours.packages.length);
      assert.equal(ours.why.size, ours.packages.length);
    });
  }

  it('failures: near names for a misspelt package or group, the conflict for coreutils with coreutils-single (dnf fails too)', () => {
    assert.throws(() => resolveRpm(universe, { install: ['coreutil'] }), /No match for argument: coreutil; did you mean coreutils,/);
    assert.throws(() => resolveRpm(universe, { install: ['curl-minmal'] }), /did you mean curl-minimal/);
    assert.throws(() => resolveRpm(universe, { install: [], groups: [{ id: 'cor' }] }), /no group "cor".*did you mean core\?/);
    assert.throws(() => resolveRpm(universe, { install: ['coreutils', 'coreutils-single'] }), /coreutils-single.*conflicts with coreutils-single|coreutils.*conflicts/);
    assert.ok(dnfResolve({ repos: [{ id: 'baseos', url: `file://${CENTOS}` }], install: ['coreutils', 'coreutils-single'] }).error);
  });

  it('install order: every requirement met by an earlier package except inside requirement loops; pre requirements first', () => {
    for (const request of [{ install: CONTAINER }, { install: [], groups: [{ id: 'core' }] }]) {
      const order = resolveRpm(universe, request).packages;
      const at = new Map(order.map((p, i) => [p, i]));
      const edges = (pre: boolean) => order.map((p) => p.requires.filter((d) => !d.name.startsWith('rpmlib(') && !d.name.startsWith('(') && (!pre || d.pre)).map((d) => universe.whatProvides(d).map((q) => universe.pkg(q)).filter((q) => at.has(q) && q !== p)));
      const reaches = (graph: RpmPackage[][][], from: RpmPackage, to: RpmPackage) => {
        const seen = new Set<RpmPackage>([from]);
        const todo = [from];
        while (todo.length) {
          for (const q of graph[at.get(todo.pop()!)!]!.flat()) {
            if (q === to) return true;
            if (!seen.has(q)) {
              seen.add(q);
              todo.push(q);
            }
          }
        }
        return false;
      };
      for (const pre of [false, true]) {
        const graph = edges(pre);
        const late = order.flatMap((p, i) => graph[i]!.filter((providers) => providers.length > 0 && providers.every((q) => at.get(q)! > i) && !providers.some((q) => reaches(graph, q, p))).map((providers) => `${p.name} needs ${providers.map((q) => q.name).join('|')}`));
        assert.deepEqual(late, [], `${pre ? 'pre ' : ''}requirements met late`);
      }
    }
  });

  it('performance: primary + filelists parse and the container set resolves in well under a few seconds', async () => {
    const t0 = performance.now();
    const fresh = await RpmUniverse.load(
      [{ repository: { id: 'baseos', priority: 99, cost: 1000 }, primary: gunzip(file('primary')), primaryFile: 'primary.xml.gz', filelists: gunzip(file('filelists')), filelistsFile: 'filelists.xml.gz' }],
      { arch: 'x86_64' },
    );
    const t1 = performance.now();
    const r = resolveRpm(fresh, { install: CONTAINER });
    const t2 = performance.now();
    const rss = process.resourceUsage().maxRSS / 1024;
    console.log(`# parse primary+filelists ${Math.round(t1 - t0)} ms, resolve the container set (${r.packages.length} packages) ${Math.round(t2 - t1)} ms, peak RSS of the test process ${Math.round(rss)} MB`);
    assert.ok(t2 - t0 < 4000, `${t2 - t0} ms`);
    assert.ok(r.why.get('libsolv')!.length >= 2);
  });
});
