import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { UserError } from '../src/errors.js';
import { ContentStore } from '../src/packages/fetch/store.js';
import { parseMetalink, parseMirrorlist } from '../src/packages/rpm/mirrors.js';
import { parseIni, readYumConfig, rpmRepoFromUrl, substituteVars, type RpmRepoConfig } from '../src/packages/rpm/repo-config.js';
import { parseRepomd } from '../src/packages/rpm/repomd.js';
import { openMetadata, openRpmRepository, rpmLocationUrl, type RpmRepository, type RpmRepositoryOptions } from '../src/packages/rpm/repository.js';
import { readPublicKeys as readRpmKeys } from '../src/packages/signing-keys.js';
import { must, ROOT, run, serveDirectory, sha256Hex, tempDir, type Served } from './helpers.js';

// ../shared next to the main checkout; a helper's worktree (under wt/) sits one level deeper.
const CENTOS = [join(ROOT, '../shared/fixtures/rpm/centos-stream-9-baseos'), join(ROOT, '../../shared/fixtures/rpm/centos-stream-9-baseos')].find((p) => existsSync(p)) ?? join(ROOT, '../shared/fixtures/rpm/centos-stream-9-baseos');
const NO_RETRY = { retries: 0, timeoutMs: 10_000 };

function write(path: string, text: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
}

/** Expects a UserError whose message matches every pattern. */
async function rejectsUser(promise: Promise<unknown> | (() => unknown), ...patterns: (RegExp | string)[]): Promise<string> {
  let error: unknown;
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof UserError, `expected a UserError, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
  for (const p of patterns) {
    if (typeof p === 'string') assert.ok(error.message.includes(p), `"${error.message}" does not mention "${p}"`);
    else assert.match(error.message, p);
  }
  return error.message;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

function repoAt(baseurl: string, extra: Partial<RpmRepoConfig> = {}): RpmRepoConfig {
  return { ...rpmRepoFromUrl(baseurl), ...extra };
}

/** Every file in the store's sha256 folder is named after its content. */
function assertStoreHonest(store: ContentStore): void {
  const top = join(store.root, 'sha256');
  if (!existsSync(top)) return;
  for (const prefix of readdirSync(top)) {
    for (const name of readdirSync(join(top, prefix))) {
      assert.equal(sha256Hex(readFileSync(join(top, prefix, name))), name, `store file ${prefix}/${name} holds other bytes`);
    }
  }
  const tmp = join(store.root, 'tmp');
  if (existsSync(tmp)) assert.deepEqual(readdirSync(tmp), [], 'temporaries left in the store');
}

describe('yum.conf and .repo files', () => {
  const dir = tempDir('rpm-conf');
  const root = join(dir, 'root');
  const conf = join(dir, 'yum.conf');

  before(() => {
    write(
      conf,
      `# a yum.conf as mkimage-yum.sh -y reads it
[main]
gpgcheck=1
repo_gpgcheck = 0
installonly_limit=3
tsflags=nodocs
install_weak_deps=False
exclude=kernel* , grub2*
keepcache=0
reposdir=/etc/yum.repos.d
  /etc/extra.repos.d

[local]
name=Local $releasever
baseurl=file:///srv/repo/$basearch/
gpgcheck=0
`,
    );
    write(join(root, 'etc/dnf/vars/contentdir'), 'stream\nignored second line\n');
    write(join(root, 'etc/yum/vars/stream'), '9-stream\n');
    write(
      join(root, 'etc/yum.repos.d/centos.repo'),
      `[baseos]
name = CentOS Stream $releasever - BaseOS
baseurl=http://mirror-a.invalid/\${contentdir}/$stream/BaseOS/$basearch/os/
	http://mirror-b.invalid/$contentdir/$releasever-stream/BaseOS/$arch/os/,
  http://mirror-c.invalid/$contentdir/
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-centosofficial
  file:///etc/pki/rpm-gpg/RPM-GPG-KEY-extra
priority=10
; a comment
# another
skip_if_unavailable=on
module_hotfixes=1

[baseos-debug]
name=Debug
baseurl=http://mirror-a.invalid/$undefinedvar/
enabled=0
`,
    );
    write(
      join(root, 'etc/extra.repos.d/extra.repo'),
      `[appstream]
name=AppStream
mirrorlist=http://mirrors.invalid/?release=$releasever&arch=$basearch&repo=AppStream
repo_gpgcheck=yes
gpgcheck=no
gpgkey=https://keys.invalid/key.asc
cost=500
excludepkgs=foo bar,baz
includepkgs=qux*
enabled=true

[epel]
metalink=https://mirrors.invalid/metalink?repo=epel-$releasever&arch=$basearch
enabled=1
`,
    );
    write(join(root, 'etc/extra.repos.d/not-a-repo.txt'), 'garbage that is never read\n');
  });

  it('reads [main], the conf\'s repositories and every reposdir .repo file, with variables', async () => {
    const config = await readYumConfig(conf, { root, releasever: '9', env: { DNF_VAR_stream: 'from-env', DNF0: 'zero', YUM1: 'one', OTHER: 'x' } });
    assert.deepEqual(config.main, {
      reposdir: ['/etc/yum.repos.d', '/etc/extra.repos.d'],
      varsdir: ['/etc/dnf/vars', '/etc/yum/vars'],
      tsflags: ['nodocs'],
      nodocs: true,
      installWeakDeps: false,
      excludepkgs: ['kernel*', 'grub2*'],
      keepcache: false,
      gpgcheck: true,
      repoGpgcheck: false,
      releasever: '9',
    });
    // The vars files win over the environment, as in dnf (update_from_etc runs after the environment).
    assert.deepEqual(config.vars, {
      stream: '9-stream',
      DNF0: 'zero',
      YUM1: 'one',
      contentdir: 'stream',
      arch: 'x86_64',
      basearch: 'x86_64',
      releasever: '9',
      releasever_major: '9',
    });
    const defaults = { enabled: true, gpgcheck: true, repoGpgcheck: false, gpgkey: [], priority: 99, cost: 1000, excludepkgs: [], includepkgs: [], skipIfUnavailable: false };
    const extra = join(root, 'etc/extra.repos.d/extra.repo');
    const centos = join(root, 'etc/yum.repos.d/centos.repo');
    assert.deepEqual(config.repos, [
      { ...defaults, id: 'local', name: 'Local 9', baseurl: ['file:///srv/repo/x86_64'], gpgcheck: false, source: `${conf}:13` },
      {
        ...defaults,
        id: 'baseos',
        name: 'CentOS Stream 9 - BaseOS',
        baseurl: ['http://mirror-a.invalid/stream/9-stream/BaseOS/x86_64/os', 'http://mirror-b.invalid/stream/9-stream/BaseOS/x86_64/os', 'http://mirror-c.invalid/stream'],
        gpgkey: ['file:///etc/pki/rpm-gpg/RPM-GPG-KEY-centosofficial', 'file:///etc/pki/rpm-gpg/RPM-GPG-KEY-extra'],
        priority: 10,
        skipIfUnavailable: true,
        source: `${centos}:1`,
      },
      { ...defaults, id: 'baseos-debug', name: 'Debug', baseurl: ['http://mirror-a.invalid/$undefinedvar'], enabled: false, source: `${centos}:14` },
      {
        ...defaults,
        id: 'appstream',
        name: 'AppStream',
        baseurl: [],
        mirrorlist: 'http://mirrors.invalid/?release=9&arch=x86_64&repo=AppStream',
        repoGpgcheck: true,
        gpgcheck: false,
        gpgkey: ['https://keys.invalid/key.asc'],
        cost: 500,
        excludepkgs: ['foo', 'bar', 'baz'],
        includepkgs: ['qux*'],
        source: `${extra}:1`,
      },
      { ...defaults, id: 'epel', name: 'epel', baseurl: [], metalink: 'https://mirrors.invalid/metalink?repo=epel-9&arch=x86_64', source: `${extra}:12` },
    ]);
  });

  it('agrees with dnf itself on every repository option', async () => {
    // dnf's own reader (Debian's python3-dnf, for the system python) is the oracle.
    const script = `
import dnf, json, os, sys
root, conf = sys.argv[1], sys.argv[2]
b = dnf.Base(); c = b.conf
c.config_file_path = conf
c.read(priority=dnf.conf.PRIO_MAINCONFIG)
for k, v in (('releasever', '9'), ('basearch', 'aarch64'), ('arch', 'aarch64')): c.substitutions[k] = v
c.substitutions.update_from_etc(root, varsdir=c.varsdir)
c.reposdir = [os.path.join(root, d.lstrip('/')) for d in c.reposdir]
b.read_all_repos()
out = [dict(id=r.id, name=r.name, baseurl=[u.rstrip('/') for u in r.baseurl], mirrorlist=r.mirrorlist, metalink=r.metalink,
  enabled=bool(r.enabled), gpgcheck=bool(r.gpgcheck), repoGpgcheck=bool(r.repo_gpgcheck), gpgkey=list(r.gpgkey),
  priority=r.priority, cost=r.cost, excludepkgs=list(r.excludepkgs), includepkgs=list(r.includepkgs),
  skipIfUnavailable=bool(r.skip_if_unavailable)) for r in b.repos.values()]
print(json.dumps(dict(repos=sorted(out, key=lambda r: r['id']), tsflags=list(c.tsflags), installWeakDeps=bool(c.install_weak_deps),
  excludepkgs=list(c.excludepkgs), keepcache=bool(c.keepcache), gpgcheck=bool(c.gpgcheck))))
`;
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(DNF_VAR_|DNF[0-9]$)/.test(k)));
    const dnf = JSON.parse(must('/usr/bin/python3', ['-c', script, root, conf], { env })) as { repos: Record<string, unknown>[] };
    const ours = await readYumConfig(conf, { root, releasever: '9', arch: 'aarch64', env: {} });
    const projected = ours.repos
      .map((r) => {
        const { source: _source, mirrorlist, metalink, ...rest } = r;
        return { ...rest, mirrorlist: mirrorlist ?? null, metalink: metalink ?? null };
      })
      .sort((a, b) => a.id.localeCompare(b.id));
    assert.equal(dnf.repos.length, 5);
    assert.deepEqual(
      projected.map((r) => JSON.stringify(r, Object.keys(r).sort())),
      dnf.repos.map((r) => JSON.stringify(r, Object.keys(r).sort())),
    );
    assert.deepEqual(dnf, {
      ...dnf,
      tsflags: ours.main.tsflags,
      installWeakDeps: ours.main.installWeakDeps,
      excludepkgs: ours.main.excludepkgs,
      keepcache: ours.main.keepcache,
      gpgcheck: ours.main.gpgcheck,
    });
  });

  it('takes releasever from [main] unless --releasever is given, and asks for it when missing', async () => {
    const withMain = join(dir, 'releasever.conf');
    write(withMain, `[main]\nreleasever=8\nreposdir=/none\n[r]\nbaseurl=http://x.invalid/$releasever/\n`);
    assert.deepEqual((await readYumConfig(withMain, { root, env: {} })).repos[0]!.baseurl, ['http://x.invalid/8']);
    assert.deepEqual((await readYumConfig(withMain, { root, env: {}, releasever: '10' })).repos[0]!.baseurl, ['http://x.invalid/10']);
    const without = join(dir, 'noreleasever.conf');
    write(without, `[main]\nreposdir=/none\n\n[r]\nname=r\nbaseurl=http://x.invalid/$releasever/os\n`);
    await rejectsUser(readYumConfig(without, { root, env: {} }), `${without}:6`, '$releasever', '--releasever');
  });

  it('refuses bad lines naming FILE:LINE', async () => {
    const cases: [string, number, RegExp][] = [
      ['[main]\ngpgcheck=1\nthis is not an option\n', 3, /expected "key=value"/],
      ['gpgcheck=1\n[main]\n', 1, /before any \[section\]/],
      ['[main]\n[r]\nbaseurl=http://x.invalid/\nenabled=maybe\n', 4, /"maybe" is not a boolean/],
      ['[main]\n[r]\nbaseurl=http://x.invalid/\npriority=high\n', 4, /priority must be a whole number/],
      ['[main]\n\n[r\nbaseurl=http://x.invalid/\n', 3, /malformed section header/],
      ['[main]\n[r]\nbaseurl=http://x.invalid/\nbaseurl=http://y.invalid/\n', 4, /set twice/],
      ['[main]\n[r]\nname=no url\n', 2, /no baseurl, mirrorlist or metalink/],
      ['[main]\n[r]\nbaseurl=ftp://x.invalid/\n', 3, /not an http:\/\/, https:\/\/ or file:\/\/ URL/],
      ['[main]\n[bad id!]\nbaseurl=http://x.invalid/\n', 2, /not a valid repository id/],
      ['[main]\n=value\n', 2, /without a key/],
      ['[main]\n[r]\nbaseurl=http://x.invalid/\nhttp://y.invalid/\n', 4, /a URL continuing the line above must be indented/],
      ['[main]\n[r]\nbaseurl=http://x.invalid/\nhttp://y.invalid/?a=b\n', 4, /expected "key=value"/],
      ['[main]\n[r]\nbaseurl=http://x.invalid/\n[r]\n', 4, /defined twice/],
    ];
    for (const [i, [text, line, pattern]] of cases.entries()) {
      const file = join(dir, `bad-${i}.conf`);
      write(file, text.replace('[main]\n', '[main]\nreposdir=/none\n'));
      await rejectsUser(readYumConfig(file, { root, env: {} }), `${file}:${line + (text.startsWith('[main]') ? 1 : 0)}:`, pattern);
    }
    // The same repository id twice, across files: both places are named.
    const twice = join(dir, 'twice.conf');
    write(twice, `[main]\nreposdir=/etc/yum.repos.d\n\n[baseos]\nbaseurl=http://x.invalid/\n`);
    await rejectsUser(readYumConfig(twice, { root, releasever: '9', env: {} }), `${join(root, 'etc/yum.repos.d/centos.repo')}:1`, `already defined at ${twice}:4`);
    await rejectsUser(readYumConfig(join(dir, 'missing.conf'), { root }), 'missing.conf: cannot be read (ENOENT)');
  });

  it('parses the INI dialect: colons, continuations, comments, blank lines ending a value', () => {
    const sections = parseIni('[a]\nKey: v1\n  v2\n# c\n\tv3\n\n  after-blank = 1\n; x\n[b]\n', 'f');
    assert.deepEqual(
      sections.map((s) => [s.name, s.line, [...s.entries].map(([k, e]) => [k, e.value, e.line])]),
      [
        ['a', 1, [['key', 'v1\nv2\nv3', 2], ['after-blank', '1', 7]]],
        ['b', 9, []],
      ],
    );
    assert.equal(substituteVars('$a${a}$ab${b:-d}${a:+p}${b:+q}$', { a: 'A' }), 'AA$abdp$');
    // libdnf's default and alternative forms (newer than the dnf 4.14 the other test compares with).
    assert.equal(substituteVars('${missing:-fall$a}/${a:+set}/${a:-unused}', { a: 'A' }), 'fallA/set/A');
  });

  it('never fails otherwise than with a UserError on random or damaged input', () => {
    const good = readFileSync(join(root, 'etc/yum.repos.d/centos.repo'));
    const alphabet = '[]=:#; \t\nabc$/{}-_.,\r';
    for (let i = 0; i < 500; i++) {
      const damaged = Buffer.from(good);
      for (let j = 0; j <= i % 5; j++) {
        const at = (i * 7919 + j * 104729) % damaged.length;
        damaged[at] = alphabet.charCodeAt((i + j) % alphabet.length);
      }
      const inputs = [damaged.toString('utf8'), randomBytes(i % 200).toString('latin1'), good.toString('utf8').slice(0, i % good.length)];
      for (const text of inputs) {
        try {
          parseIni(text, 'f.repo');
        } catch (err) {
          assert.ok(err instanceof UserError && err.message.startsWith('f.repo:'), String(err));
        }
      }
    }
  });

  it('makes --rpm-repo repositories with a deterministic id', () => {
    const a = rpmRepoFromUrl('http://127.0.0.1:8080/centos/9/BaseOS/x86_64/os/', { gpgcheck: true, gpgkey: ['file:///k'] });
    assert.equal(a.id, rpmRepoFromUrl('http://127.0.0.1:8080/centos/9/BaseOS/x86_64/os').id);
    assert.match(a.id, /^127\.0\.0\.1-8080-centos-9-BaseOS-x86_64-os-[0-9a-f]{8}$/);
    assert.notEqual(a.id, rpmRepoFromUrl('http://127.0.0.1:8081/centos/9/BaseOS/x86_64/os').id);
    assert.deepEqual({ ...a, id: '' }, {
      id: '',
      name: 'http://127.0.0.1:8080/centos/9/BaseOS/x86_64/os',
      baseurl: ['http://127.0.0.1:8080/centos/9/BaseOS/x86_64/os'],
      enabled: true,
      gpgcheck: true,
      repoGpgcheck: false,
      gpgkey: ['file:///k'],
      priority: 99,
      cost: 1000,
      excludepkgs: [],
      includepkgs: [],
      skipIfUnavailable: false,
      source: '--rpm-repo',
    });
    assert.throws(() => rpmRepoFromUrl('rsync://x/y'), (err) => err instanceof UserError && /--rpm-repo rsync:\/\/x\/y/.test(err.message));
  });
});

describe('repomd.xml', () => {
  const fixture = tempDir('rpm-repomd');
  let repomdText: string;

  before(() => {
    must('sh', [join(ROOT, 'test/fixtures/rpm/make-rpm-fixtures.sh'), fixture]);
    repomdText = readFileSync(join(fixture, 'repo/repodata/repomd.xml'), 'utf8');
  });

  it('gives the revision and every data entry as createrepo_c wrote it', () => {
    const repomd = parseRepomd(repomdText, 'repomd.xml');
    assert.equal(repomd.revision, '1700000000');
    assert.deepEqual([...repomd.data.keys()].sort(), ['filelists', 'group', 'group_gz', 'other', 'primary']);
    const primary = repomd.data.get('primary')!;
    const file = join(fixture, 'repo', primary.location.href);
    assert.equal(primary.checksum.algorithm, 'sha256');
    assert.equal(primary.checksum.value, sha256Hex(readFileSync(file)));
    assert.equal(primary.size, statSync(file).size);
    assert.equal(primary.openChecksum?.value, sha256Hex(must('zcat', [file])));
    assert.equal(primary.openSize, Buffer.byteLength(must('zcat', [file])));
    assert.equal(primary.timestamp, 1700000000);
    assert.equal(repomd.data.get('group')!.openChecksum, undefined);
  });

  it('reads xml:base, sha512, sha1 and its old name sha; refuses md5', async () => {
    const entry = (type: string, hex: string, extra = '') =>
      `<?xml version="1.0"?><repomd xmlns="http://linux.duke.edu/metadata/repo"><data type="primary"><checksum type="${type}">${hex}</checksum><location ${extra} href="repodata/p.xml.gz"/></data></repomd>`;
    const r = parseRepomd(entry('sha512', 'AB'.repeat(64), 'xml:base="http://other.invalid/base/"'), 'x');
    assert.deepEqual(r.data.get('primary'), { type: 'primary', checksum: { algorithm: 'sha512', value: 'ab'.repeat(64) }, location: { href: 'repodata/p.xml.gz', base: 'http://other.invalid/base/' } });
    assert.equal(rpmLocationUrl('http://mirror.invalid/os/', r.data.get('primary')!.location), 'http://other.invalid/base/repodata/p.xml.gz');
    assert.equal(rpmLocationUrl('file:///srv/os', { href: 'Packages/a.rpm' }), 'file:///srv/os/Packages/a.rpm');
    assert.deepEqual(parseRepomd(entry('sha', 'a'.repeat(40)), 'x').data.get('primary')!.checksum, { algorithm: 'sha1', value: 'a'.repeat(40) });
    await rejectsUser(() => parseRepomd(entry('md5', 'a'.repeat(32)), 'the/repomd.xml'), 'the/repomd.xml', 'md5 checksums are too weak');
    await rejectsUser(() => parseRepomd(entry('sha256', 'a'.repeat(63)), 'the/repomd.xml'), 'the/repomd.xml', 'is not a sha256 checksum');
    await rejectsUser(() => parseRepomd(entry('crc32', 'a'.repeat(8)), 'the/repomd.xml'), 'unknown checksum type "crc32"');
  });

  it('refuses malformed files naming them: truncated, random bytes, missing parts', async () => {
    const where = 'http://127.0.0.1/repodata/repomd.xml';
    await rejectsUser(() => parseRepomd(repomdText.replace(/<checksum type="sha256">[0-9a-f]+<\/checksum>/, ''), where), where, '"primary" has no <checksum>');
    await rejectsUser(() => parseRepomd(repomdText.replace(/<location href="[^"]*-primary[^"]*"\/>/, ''), where), where, '"primary" has no <location href>');
    await rejectsUser(() => parseRepomd('<html><body>not found</body></html>', where), where, 'not a repomd.xml');
    await rejectsUser(() => parseRepomd('', where), where);
    await rejectsUser(() => parseRepomd(repomdText.replace('<size>', '<size>-'), where), where, 'not a whole number');
    // Every truncation, and random buffers: a UserError naming the file, never another failure.
    for (let end = 0; end < repomdText.length - 12; end += 7) {
      await rejectsUser(() => parseRepomd(repomdText.slice(0, end), where), where);
    }
    for (let i = 0; i < 200; i++) {
      const bytes = randomBytes(1 + (i % 50) * 40);
      await rejectsUser(() => parseRepomd(bytes, where), where);
    }
    // Flipped bytes: either still a valid repomd.xml, or a UserError.
    const original = Buffer.from(repomdText);
    for (let i = 0; i < 300; i++) {
      const copy = Buffer.from(original);
      const at = (i * 7919) % copy.length;
      copy[at] = copy[at]! ^ (1 << i % 8);
      try {
        parseRepomd(copy, where);
      } catch (err) {
        assert.ok(err instanceof UserError && err.message.includes(where), String(err));
      }
    }
  });
});

describe('mirrorlists and metalinks', () => {
  it('parses both, best mirror first', async () => {
    assert.deepEqual(parseMirrorlist('# comment\nhttp://a.invalid/os/\n\nhttps://b.invalid/os/repodata/repomd.xml\nrsync://c.invalid/os\n', 'm'), {
      baseUrls: ['http://a.invalid/os', 'https://b.invalid/os'],
      repomdChecksums: [],
    });
    const metalink = `<?xml version="1.0" encoding="utf-8"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/" xmlns:mm0="http://fedorahosted.org/mirrormanager" type="dynamic">
 <files>
  <file name="repomd.xml">
   <mm0:timestamp>1700000000</mm0:timestamp>
   <size>3000</size>
   <verification>
    <hash type="md5">${'1'.repeat(32)}</hash>
    <hash type="sha1">${'2'.repeat(40)}</hash>
    <hash type="sha256">${'3'.repeat(64)}</hash>
   </verification>
   <mm0:alternates>
    <mm0:alternate><mm0:timestamp>1690000000</mm0:timestamp><verification><hash type="sha512">${'4'.repeat(128)}</hash></verification></mm0:alternate>
   </mm0:alternates>
   <resources maxconnections="1">
    <url protocol="rsync" type="rsync" location="US" preference="100">rsync://r.invalid/os/repodata/repomd.xml</url>
    <url protocol="https" type="https" location="US" preference="90">https://low.invalid/os/repodata/repomd.xml</url>
    <url protocol="https" type="https" location="DE" preference="99">https://high.invalid/os/repodata/repomd.xml</url>
   </resources>
  </file>
 </files>
</metalink>`;
    assert.deepEqual(parseMetalink(metalink, 'ml'), {
      baseUrls: ['https://high.invalid/os', 'https://low.invalid/os'],
      repomdChecksums: [
        { algorithm: 'sha256', value: '3'.repeat(64) },
        { algorithm: 'sha512', value: '4'.repeat(128) },
      ],
    });
    await rejectsUser(() => parseMetalink(metalink.replace(/<verification>[\s\S]*?<\/verification>/g, ''), 'the-metalink'), 'the-metalink', 'no usable checksum');
    await rejectsUser(() => parseMetalink(metalink.slice(0, 400), 'the-metalink'), 'the-metalink', 'not a well-formed metalink');
    await rejectsUser(() => parseMirrorlist('# nothing\n', 'the-list'), 'the-list', 'lists no http');
  });
});

describe('opening repositories', () => {
  const fixture = tempDir('rpm-repo');
  const repoDir = join(fixture, 'repo');
  let server: Served;
  const stores: string[] = [];
  const newStore = () => {
    const root = join(tempDir('rpm-store'), 'store');
    stores.push(root);
    return new ContentStore(root);
  };
  const options = (store: ContentStore, extra: Partial<RpmRepositoryOptions> = {}): RpmRepositoryOptions => ({ store, http: NO_RETRY, ...extra });

  before(async () => {
    must('sh', [join(ROOT, 'test/fixtures/rpm/make-rpm-fixtures.sh'), fixture]);
    server = await serveDirectory(fixture);
  });
  after(async () => {
    await server.close();
  });

  it('opens the fixture repository over http; primary, filelists and comps stream decompressed as zcat gives them', async () => {
    const store = newStore();
    const repo = await openRpmRepository(repoAt(`${server.url}/repo/`), options(store));
    assert.equal(repo.baseUrl, `${server.url}/repo`);
    assert.equal(repo.repomdUrl, `${server.url}/repo/repodata/repomd.xml`);
    assert.equal(repo.revision, '1700000000');
    assert.equal(repo.signed, false);
    assert.equal(repo.repomdSha256, sha256Hex(readFileSync(join(repoDir, 'repodata/repomd.xml'))));
    for (const [kind, file] of [['primary', repo.primary], ['filelists', repo.filelists], ['group_gz', repo.group!]] as const) {
      assert.equal(file.type, kind);
      assert.equal(file.compression, 'gzip');
      const original = join(repoDir, repo.repomd.data.get(kind)!.location.href);
      assert.equal(file.url, `${server.url}/repo/${repo.repomd.data.get(kind)!.location.href}`);
      assert.ok(file.path.startsWith(store.root));
      assert.deepEqual(readFileSync(file.path), readFileSync(original));
      assert.deepEqual(await readAll(await openMetadata(file)), Buffer.from(must('zcat', [original])));
    }
    assert.match((await readAll(await openMetadata(repo.primary))).toString(), /<name>hello<\/name>/);
    assertStoreHonest(store);
  });

  it('opens file:// repositories', async () => {
    const repo = await openRpmRepository(repoAt(pathToFileURL(repoDir).href), options(newStore()));
    assert.equal(repo.baseUrl, pathToFileURL(repoDir).href);
    assert.equal(repo.primary.url, `${pathToFileURL(repoDir).href}/${repo.repomd.data.get('primary')!.location.href}`);
    await rejectsUser(openRpmRepository(repoAt(pathToFileURL(join(fixture, 'nowhere')).href), options(newStore())), 'nowhere/repodata/repomd.xml: no such file');
  });

  /**
   * Debian's createrepo_c is built without zstd: recompress primary and filelists with zstd(1) and
   * rewrite their repomd.xml entries (checksum, size, file name), as createrepo_c --compress-type zstd would.
   */
  function recompressZstd(dir: string): void {
    const repomdPath = join(dir, 'repodata/repomd.xml');
    let repomd = readFileSync(repomdPath, 'utf8');
    for (const type of ['primary', 'filelists']) {
      const block = new RegExp(`<data type="${type}">[\\s\\S]*?</data>`).exec(repomd)![0];
      const href = /<location href="([^"]+)"/.exec(block)![1]!;
      const oldFile = join(dir, href);
      const zst = `${oldFile}.tmp.zst`;
      must('sh', ['-c', 'zcat "$1" | zstd -q -19 -o "$2"', 'sh', oldFile, zst]);
      const bytes = readFileSync(zst);
      const hex = sha256Hex(bytes);
      const newHref = `repodata/${hex}-${type}.xml.zst`;
      writeFileSync(join(dir, newHref), bytes);
      rmSync(zst);
      rmSync(oldFile);
      const updated = block
        .replace(/(<checksum type="sha256">)[0-9a-f]+/, `$1${hex}`)
        .replace(/<location href="[^"]+"/, `<location href="${newHref}"`)
        .replace(/<size>[0-9]+<\/size>/, `<size>${bytes.length}</size>`);
      repomd = repomd.replace(block, updated);
    }
    writeFileSync(repomdPath, repomd);
  }

  for (const [compression, decoder] of [['xz', 'xz'], ['zstd', 'zstd'], ['gz', 'gzip']] as const) {
    it(`reads ${compression} metadata as ${decoder} -dc gives it`, async () => {
      const dir = join(fixture, `repo-${compression}`);
      cpSync(join(repoDir, 'Packages'), join(dir, 'Packages'), { recursive: true });
      const made = compression === 'zstd' ? 'gz' : compression;
      must('createrepo_c', ['--quiet', '--no-database', `--general-compress-type=${made}`, `--compress-type=${made}`, '-g', join(ROOT, 'test/fixtures/rpm/comps.xml'), dir]);
      if (compression === 'zstd') recompressZstd(dir);
      const repo = await openRpmRepository(repoAt(`${server.url}/repo-${compression}`), options(newStore()));
      assert.equal(repo.primary.compression, decoder);
      assert.ok(repo.group);
      for (const file of [repo.primary, repo.filelists]) {
        const original = join(dir, repo.repomd.data.get(file.type)!.location.href);
        const expected = Buffer.from(must(decoder, ['-dc', original]));
        assert.ok(expected.length > 100);
        assert.deepEqual(await readAll(await openMetadata(file)), expected);
      }
    });
  }

  it('verifies sha512 and sha1 repositories, and finds them in the store again offline', async () => {
    for (const checksum of ['sha512', 'sha1']) {
      const dir = join(fixture, `repo-${checksum}`);
      cpSync(join(repoDir, 'Packages'), join(dir, 'Packages'), { recursive: true });
      must('createrepo_c', ['--quiet', '--no-database', `--checksum=${checksum}`, '-g', join(ROOT, 'test/fixtures/rpm/comps.xml'), dir]);
      const store = newStore();
      const online = await openRpmRepository(repoAt(`${server.url}/repo-${checksum}`), options(store));
      assert.equal(online.primary.checksum.algorithm, checksum);
      assert.equal(online.primary.checksum.value, createHash(checksum).update(readFileSync(join(dir, online.repomd.data.get('primary')!.location.href))).digest('hex'));
      const offline = await openRpmRepository(repoAt(`${server.url}/repo-${checksum}`), options(store, { offline: true }));
      assert.deepEqual(offline, online);
      assertStoreHonest(store);
    }
  });

  it('refuses a tampered primary naming the file and both checksums; nothing is stored under a wrong name', async () => {
    const store = newStore();
    const repomd = parseRepomd(readFileSync(join(repoDir, 'repodata/repomd.xml')), 'x');
    const href = repomd.data.get('primary')!.location.href;
    const good = readFileSync(join(repoDir, href));
    const bad = Buffer.from(good);
    bad[bad.length >> 1] = bad[bad.length >> 1]! ^ 0x10;
    server.override.set(`/repo/${href}`, bad);
    try {
      await rejectsUser(
        openRpmRepository(repoAt(`${server.url}/repo`), options(store)),
        `${server.url}/repo/${href}`,
        `expected ${sha256Hex(good)}`,
        `got ${sha256Hex(bad)}`,
      );
    } finally {
      server.override.delete(`/repo/${href}`);
    }
    assert.equal(existsSync(store.path(sha256Hex(good))), false);
    assert.equal(existsSync(store.path(sha256Hex(bad))), false);
    assertStoreHonest(store);
    // A store file damaged later is noticed and fetched again.
    const repo = await openRpmRepository(repoAt(`${server.url}/repo`), options(store));
    writeFileSync(repo.primary.path, bad);
    const again = await openRpmRepository(repoAt(`${server.url}/repo`), options(store));
    assert.deepEqual(readFileSync(again.primary.path), good);
  });

  it('refuses a tampered primary of a sha512 repository; nothing is stored for it', async () => {
    const dir = join(fixture, 'repo-sha512-tampered');
    cpSync(join(repoDir, 'Packages'), join(dir, 'Packages'), { recursive: true });
    must('createrepo_c', ['--quiet', '--no-database', '--checksum=sha512', dir]);
    const href = parseRepomd(readFileSync(join(dir, 'repodata/repomd.xml')), 'x').data.get('primary')!.location.href;
    const good = readFileSync(join(dir, href));
    const bad = Buffer.from(good);
    bad[10] = bad[10]! ^ 0x01;
    server.override.set(`/repo-sha512-tampered/${href}`, bad);
    const store = newStore();
    try {
      await rejectsUser(
        openRpmRepository(repoAt(`${server.url}/repo-sha512-tampered`), options(store)),
        `${server.url}/repo-sha512-tampered/${href}`,
        `SHA512 mismatch: expected ${createHash('sha512').update(good).digest('hex')}, got ${createHash('sha512').update(bad).digest('hex')}`,
      );
    } finally {
      server.override.delete(`/repo-sha512-tampered/${href}`);
    }
    assert.equal(existsSync(store.path(sha256Hex(bad))), false);
    for (const hex of [createHash('sha512').update(good).digest('hex'), createHash('sha512').update(bad).digest('hex')]) {
      assert.equal(existsSync(join(store.root, 'checksum/sha512', hex.slice(0, 2), hex)), false, 'no checksum record for the refused file');
    }
    assertStoreHonest(store);
  });

  it('takes the plain comps when the compressed one is missing from the mirror', async () => {
    const repomd = parseRepomd(readFileSync(join(repoDir, 'repodata/repomd.xml')), 'x');
    const gz = `/repo/${repomd.data.get('group_gz')!.location.href}`;
    server.override.set(gz, null);
    const notes: string[] = [];
    try {
      const repo = await openRpmRepository(repoAt(`${server.url}/repo`), options(newStore(), { log: (m) => notes.push(m) }));
      assert.equal(repo.group?.type, 'group');
      assert.equal(repo.group.compression, 'none');
      assert.deepEqual(await readAll(await openMetadata(repo.group)), readFileSync(join(repoDir, repomd.data.get('group')!.location.href)));
      assert.equal(notes.length, 1);
      assert.match(notes[0]!, /using the repository's group instead/);
    } finally {
      server.override.delete(gz);
    }
  });

  it('refuses decompressed bytes that do not match open-checksum', async () => {
    const repo = await openRpmRepository(repoAt(`${server.url}/repo`), options(newStore()));
    const wrong = { ...repo.primary, openChecksum: { algorithm: 'sha256' as const, value: '0'.repeat(64) } };
    await rejectsUser(readAll(await openMetadata(wrong)), repo.primary.url, 'decompressed SHA256 mismatch');
    const short = { ...repo.primary, openSize: 5 };
    await rejectsUser(readAll(await openMetadata(short)), repo.primary.url, 'decompressed size mismatch');
  });

  it('offline: the same repository from the store with the server gone; an empty store is a clear error', async () => {
    const dir = join(fixture, 'offline');
    cpSync(repoDir, dir, { recursive: true });
    const own = await serveDirectory(fixture);
    const store = newStore();
    const config = repoAt(`${own.url}/offline`);
    const online = await openRpmRepository(config, options(store));
    await own.close();
    const offline = await openRpmRepository(config, options(store, { offline: true }));
    assert.deepEqual(offline, online);
    assert.deepEqual(await readAll(await openMetadata(offline.primary)), await readAll(await openMetadata(online.primary)));
    await rejectsUser(openRpmRepository(config, options(newStore(), { offline: true })), `${own.url}/offline/repodata/repomd.xml`, 'not in the cache', '--offline');
    // A saved repomd.xml whose metadata files are gone from the store: the file is named.
    rmSync(online.filelists.path);
    await rejectsUser(openRpmRepository(config, options(store, { offline: true })), online.filelists.url, '--offline');
  });

  it('mirrorlist: skips a dead mirror; metalink: checks repomd.xml against its hash', async () => {
    write(join(fixture, 'mirrors.txt'), `# mirrors\nhttp://127.0.0.1:9/dead/\n${server.url}/repo/\n`);
    const notes: string[] = [];
    const base = { ...repoAt('http://unused.invalid'), baseurl: [] };
    const listStore = newStore();
    const listed = { ...base, mirrorlist: `${server.url}/mirrors.txt` };
    const viaList = await openRpmRepository(listed, options(listStore, { log: (m) => notes.push(m) }));
    assert.equal(viaList.baseUrl, `${server.url}/repo`);
    assert.equal(notes.length, 1);
    assert.match(notes[0]!, /127\.0\.0\.1:9\/dead\/repodata\/repomd\.xml.*trying the next mirror/);
    // Offline, the repository is found again by its mirrorlist URL.
    assert.deepEqual(await openRpmRepository(listed, options(listStore, { offline: true })), viaList);
    await rejectsUser(openRpmRepository(listed, options(newStore(), { offline: true })), `repomd.xml (from ${server.url}/mirrors.txt) is not in the cache`);

    const repomdBytes = readFileSync(join(repoDir, 'repodata/repomd.xml'));
    const metalink = (sha: string) => `<?xml version="1.0"?><metalink version="3.0" xmlns="http://www.metalinker.org/"><files><file name="repomd.xml">
      <verification><hash type="sha256">${sha}</hash></verification>
      <resources><url protocol="http" type="http" preference="100">${server.url}/repo/repodata/repomd.xml</url></resources></file></files></metalink>`;
    write(join(fixture, 'metalink-good.xml'), metalink(sha256Hex(repomdBytes)));
    write(join(fixture, 'metalink-stale.xml'), metalink('0'.repeat(64)));
    const viaMetalink = await openRpmRepository({ ...base, metalink: `${server.url}/metalink-good.xml` }, options(newStore()));
    assert.equal(viaMetalink.baseUrl, `${server.url}/repo`);
    await rejectsUser(openRpmRepository({ ...base, metalink: `${server.url}/metalink-stale.xml` }, options(newStore())), `${server.url}/repo/repodata/repomd.xml`, "does not match the metalink's checksums");
  });

  it('refuses malformed repomd.xml served by the repository, naming its URL', async () => {
    const path = '/repo/repodata/repomd.xml';
    const original = readFileSync(join(repoDir, 'repodata/repomd.xml'));
    const url = `${server.url}${path}`;
    const bodies = [original.subarray(0, original.length >> 1), randomBytes(2000), Buffer.from(original.toString().replace(/<checksum type="sha256">[0-9a-f]+<\/checksum>/, ''))];
    try {
      for (const body of bodies) {
        server.override.set(path, body);
        await rejectsUser(openRpmRepository(repoAt(`${server.url}/repo`), options(newStore())), url);
      }
      server.override.set(path, null);
      await rejectsUser(openRpmRepository(repoAt(`${server.url}/repo`), options(newStore())), url, 'not available from any mirror');
    } finally {
      server.override.delete(path);
    }
  });

  describe('signed repomd.xml', () => {
    const gnupg = tempDir('rpm-gpg');
    const other = tempDir('rpm-gpg');
    const signedDir = join(fixture, 'signed');
    const pubKey = join(gnupg, 'public.asc');
    const signedBy = (home: string, file: string) => must('gpg', ['--batch', '--homedir', home, '--yes', '--armor', '--detach-sign', '-o', `${file}.asc`, file]);

    before(() => {
      for (const home of [gnupg, other]) must('gpg', ['--batch', '--homedir', home, '--passphrase', '', '--quick-gen-key', `Repo ${home.slice(-6)} <repo@example.invalid>`, 'ed25519', 'sign', 'never']);
      writeFileSync(pubKey, must('gpg', ['--batch', '--homedir', gnupg, '--armor', '--export']));
      cpSync(repoDir, signedDir, { recursive: true });
      signedBy(gnupg, join(signedDir, 'repodata/repomd.xml'));
    });
    after(() => {
      for (const home of [gnupg, other]) run('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
    });

    const signedRepo = (extra: Partial<RpmRepoConfig> = {}) => repoAt(`${server.url}/signed`, { repoGpgcheck: true, gpgkey: [pathToFileURL(pubKey).href], ...extra });
    const url = () => `${server.url}/signed/repodata/repomd.xml`;

    it('verifies the detached signature with the repository\'s gpgkey, online and offline', async () => {
      const store = newStore();
      const repo = await openRpmRepository(signedRepo(), options(store));
      assert.equal(repo.signed, true);
      assert.equal(repo.keys.length, 1);
      assert.ok(server.requests.includes('/signed/repodata/repomd.xml.asc'));
      const offline = await openRpmRepository(signedRepo(), options(store, { offline: true }));
      assert.equal(offline.signed, true);
      assert.equal(offline.repomdSha256, repo.repomdSha256);
      // A key given by the caller asks for a signature even without repo_gpgcheck.
      const keys = await readRpmKeys(readFileSync(pubKey), 'key');
      // Key files holding several armoured blocks (as RPM-GPG-KEY files may), or binary keys.
      const otherKey = must('gpg', ['--batch', '--homedir', other, '--armor', '--export']);
      assert.equal((await readRpmKeys(Buffer.from(otherKey + readFileSync(pubKey, 'utf8')), 'two')).length, 2);
      must('gpg', ['--batch', '--homedir', gnupg, '--yes', '--export', '-o', join(gnupg, 'public.gpg')]);
      const binary = readFileSync(join(gnupg, 'public.gpg'));
      assert.equal((await readRpmKeys(binary, 'binary'))[0]!.getFingerprint(), keys[0]!.getFingerprint());
      await rejectsUser(readRpmKeys(Buffer.from('not a key'), 'the-key-url'), 'the-key-url', 'no readable OpenPGP public key');
      const both = join(gnupg, 'both.asc');
      writeFileSync(both, otherKey + readFileSync(pubKey, 'utf8'));
      assert.equal((await openRpmRepository(signedRepo({ gpgkey: [pathToFileURL(both).href] }), options(newStore()))).signed, true);
      assert.equal((await openRpmRepository(repoAt(`${server.url}/signed`), options(newStore(), { keys }))).signed, true);
      // The fixture repository's own repomd.xml.asc (by the fixture's key) hidden: a repository with no signature.
      server.override.set('/repo/repodata/repomd.xml.asc', null);
      await rejectsUser(openRpmRepository(repoAt(`${server.url}/repo`), options(newStore(), { keys })), `${server.url}/repo/repodata/repomd.xml`, '.asc is missing');
      server.override.delete('/repo/repodata/repomd.xml.asc');
    });

    it('refuses a tampered repomd.xml, a signature by another key, a missing signature, naming the URL', async () => {
      const path = '/signed/repodata/repomd.xml';
      const original = readFileSync(join(signedDir, 'repodata/repomd.xml'));
      try {
        server.override.set(path, Buffer.from(original.toString().replace('<revision>1700000000', '<revision>1700000001')));
        await rejectsUser(openRpmRepository(signedRepo(), options(newStore())), url(), 'does not verify');
        server.override.delete(path);

        const foreign = join(fixture, 'foreign-repomd.xml');
        writeFileSync(foreign, original);
        signedBy(other, foreign);
        server.override.set(`${path}.asc`, readFileSync(`${foreign}.asc`));
        await rejectsUser(openRpmRepository(signedRepo(), options(newStore())), url(), 'does not verify');

        server.override.set(`${path}.asc`, Buffer.from('not a signature'));
        await rejectsUser(openRpmRepository(signedRepo(), options(newStore())), `${url()}.asc`, 'not an OpenPGP signature');

        server.override.set(`${path}.asc`, null);
        await rejectsUser(openRpmRepository(signedRepo(), options(newStore())), url(), 'repo_gpgcheck=1', '.asc is missing');
      } finally {
        server.override.delete(path);
        server.override.delete(`${path}.asc`);
      }
      await rejectsUser(openRpmRepository(signedRepo({ gpgkey: [] }), options(newStore())), 'repo_gpgcheck=1 but no gpgkey');
      await rejectsUser(openRpmRepository(signedRepo({ gpgkey: [pathToFileURL(join(gnupg, 'none.asc')).href] }), options(newStore())), 'none.asc', 'no such file');
    });
  });

  it('opens the real CentOS Stream 9 BaseOS metadata', { skip: existsSync(join(CENTOS, 'repodata/repomd.xml')) ? false : 'needs ../shared (fixtures/rpm/centos-stream-9-baseos)' }, async () => {
    const centos = await serveDirectory(CENTOS);
    try {
      const repo = await openRpmRepository(repoAt(centos.url), options(newStore()));
      assert.equal(repo.revision, '1644263915');
      assert.equal(repo.primary.type, 'primary');
      assert.equal(repo.filelists.type, 'filelists');
      assert.equal(repo.group?.type, 'group_gz');
      const primaryFile = join(CENTOS, repo.repomd.data.get('primary')!.location.href);
      const primary = await readAll(await openMetadata(repo.primary));
      assert.equal(sha256Hex(primary), sha256Hex(must('zcat', [primaryFile])));
      assert.equal(primary.toString().match(/<package type="rpm">/g)?.length, 1125);
      assert.equal((await readAll(await openMetadata(repo.filelists))).length, repo.filelists.openSize);
      assert.match((await readAll(await openMetadata(repo.group!))).toString(), /<id>core<\/id>/);
      assert.ok(!centos.requests.some((r) => r.includes('other.xml')), 'other.xml is not fetched');
    } finally {
      await centos.close();
    }
  });
});
