import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { cliAsync, must, ROOT, run, serveDirectory, sharedDir, tempDir } from './helpers.js';
import { DEPENDENCY_KINDS, formatDependency, makeStubRepo, readRepodata, type RepoPackage, type Repodata, type StubRepo } from './stub-rpm-repo.js';

// ../shared next to the main checkout; a helper's worktree (under wt/) sits one level deeper.
const REPODATA = [join(ROOT, '../shared/fixtures/rpm/centos-stream-9-baseos/repodata'), join(ROOT, '../../shared/fixtures/rpm/centos-stream-9-baseos/repodata')].find((p) => existsSync(p));
const SKIP = REPODATA ? false : 'needs ../shared (the CentOS Stream 9 BaseOS metadata in ../shared/fixtures/rpm)';
const CONTAINER_SET = ['bash', 'coreutils-single', 'glibc-minimal-langpack', 'filesystem', 'setup', 'rpm', 'dnf'];

interface Request {
  label: string;
  packages?: string[];
  groups?: string[];
  weak: boolean;
}

const REQUESTS: Request[] = [false, true].flatMap((weak) => [
  { label: `container set, weak deps ${weak ? 'on' : 'off'}`, packages: CONTAINER_SET, weak },
  // group_install with dnf's default package types (mandatory, default, conditional).
  { label: `@core, weak deps ${weak ? 'on' : 'off'}`, groups: ['core'], weak },
  { label: `bash, weak deps ${weak ? 'on' : 'off'}`, packages: ['bash'], weak },
]);

/**
 * dnf's own resolution (libsolv) of each request against one repository, as a fresh Base each: an empty
 * installroot, releasever 9, no .repo files, the repository as a baseurl, no system repository. Prints,
 * per request, the sorted NEVRAs of the transaction's install set.
 */
const DNF_RESOLVE = `
import json, os, sys
import dnf, dnf.const
url, tmp, requests = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
out = []
for req in requests:
    base = dnf.Base()
    c = base.conf
    c.installroot = os.path.join(tmp, 'root')
    c.cachedir = os.path.join(tmp, 'cache')
    c.reposdir = [os.path.join(tmp, 'repos.d')]
    c.releasever = '9'
    c.install_weak_deps = req['weak']
    c.gpgcheck = False
    base.repos.add_new_repo('r', c, baseurl=[url])
    base.fill_sack(load_system_repo=False)
    base.read_comps(arch_filter=True)
    for g in req.get('groups') or []:
        base.group_install(g, tuple(dnf.const.GROUP_PACKAGE_TYPES))
    for p in req.get('packages') or []:
        base.install(p)
    base.resolve()
    out.append(sorted(str(p) for p in base.transaction.install_set))
    base.close()
print(json.dumps(out))
`;

function dnfResolve(url: string, requests: Request[]): string[][] {
  const tmp = tempDir('dnf-resolve');
  const env = { ...process.env, HOME: rpmHome(tmp) };
  const parsed: unknown = JSON.parse(must('/usr/bin/python3', ['-c', DNF_RESOLVE, url, tmp, JSON.stringify(requests)], { env }));
  assert.ok(Array.isArray(parsed) && parsed.length === requests.length);
  return parsed.map((set) => {
    assert.ok(Array.isArray(set) && set.every((s) => typeof s === 'string'));
    return set.map(String);
  });
}

const nevra = (p: RepoPackage) => `${p.name}-${p.epoch}:${p.version}-${p.release}.${p.arch}`;

/** A package's dependencies and files, in a form to compare: provides as a set (see below), the rest as lists. */
function shape(p: RepoPackage): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const kind of DEPENDENCY_KINDS) {
    const deps = p.deps[kind].map((d) => JSON.stringify([d.name, d.flags ?? '', d.epoch ?? '', d.ver ?? '', d.rel ?? '', d.pre ?? false])).sort();
    // A provide repeated in a real header (one automatic, one written in the spec: rpm keeps both and
    // createrepo_c lists both) cannot be written twice in a spec; libsolv reads them as one.
    out[kind] = kind === 'provides' ? [...new Set(deps)] : deps;
  }
  out['files'] = p.files.map((f) => `${f.type} ${f.path}`).sort();
  return out;
}

/**
 * A HOME whose .rpmmacros puts rpm's database in the root at /var/lib/rpm, where CentOS keeps it: Debian's
 * rpm keeps it in ~/.rpmdb otherwise, and the real ~/.rpmdb is left alone.
 */
function rpmHome(work: string): string {
  const home = join(work, 'home');
  mkdirSync(home);
  writeFileSync(join(home, '.rpmmacros'), '%_dbpath /var/lib/rpm\n');
  return home;
}

describe('stub RPM repository made from the CentOS Stream 9 BaseOS metadata', { skip: SKIP }, () => {
  let real: Repodata;
  let stub: StubRepo;
  let stubData: Repodata;
  let realSets: string[][];
  let shared: string; // scripts/test.sh's folder for the run (the stubs are made once), or one of ours

  before(async () => {
    if (!REPODATA) return;
    real = await readRepodata(REPODATA);
    shared = sharedDir();
    stub = await makeStubRepo({ repodata: REPODATA, out: shared });
    console.log(`stub repository: ${stub.packages} packages, ${stub.cached ? 'cached' : `built in ${stub.seconds.toFixed(1)} s`}`);
    stubData = await readRepodata(join(stub.dir, 'repodata'));
    realSets = dnfResolve(`file://${join(REPODATA, '..')}`, REQUESTS);
  });

  it('writes dependencies as a spec does', () => {
    assert.equal(formatDependency({ name: 'glibc', flags: 'GE', epoch: '0', ver: '2.34', rel: '21.el9' }), 'glibc >= 2.34-21.el9');
    assert.equal(formatDependency({ name: 'shadow-utils', flags: 'EQ', epoch: '2', ver: '4.9' }), 'shadow-utils = 2:4.9');
    assert.equal(formatDependency({ name: '(a if b)' }), '(a if b)');
    assert.equal(formatDependency({ name: 'x%y' }), 'x%%y');
  });

  it('holds every package of the metadata with its EVR, arch, dependencies of every kind and files', () => {
    assert.equal(real.packages.length, 1125);
    assert.equal(stub.packages, 1125);
    const stubs = new Map(stubData.packages.map((p) => [nevra(p), p]));
    assert.deepEqual([...stubs.keys()].sort(), real.packages.map(nevra).sort());
    let mismatched = 0;
    for (const p of real.packages) {
      const s = stubs.get(nevra(p));
      assert.ok(s);
      const [a, b] = [shape(p), shape(s)];
      if (JSON.stringify(a) !== JSON.stringify(b)) {
        mismatched++;
        for (const k of Object.keys(a)) assert.deepEqual(b[k], a[k], `${nevra(p)}: ${k}`);
      }
    }
    assert.equal(mismatched, 0);
    // The edge cases the metadata holds: epochs, noarch and i686, pre requirements, rich dependencies,
    // file names with spaces, brackets and backslashes, %ghost files and folders.
    const find = (name: string, arch = 'x86_64') => stubData.packages.find((p) => p.name === name && p.arch === arch);
    assert.equal(find('shadow-utils')?.epoch, '2');
    assert.ok(find('glibc', 'i686'));
    assert.ok(find('setup', 'noarch'));
    assert.ok(find('filesystem')?.deps.requires.some((d) => d.name === 'setup' && d.pre));
    assert.ok(stubData.packages.some((p) => p.deps.supplements.some((d) => d.name.startsWith('('))));
    assert.ok(stubData.packages.some((p) => p.deps.requires.some((d) => d.name.startsWith('('))));
    const files = new Set(stubData.packages.flatMap((p) => p.files.map((f) => `${f.type} ${f.path}`)));
    for (const f of ['file /usr/bin/[', 'file /usr/lib/python3.9/site-packages/setuptools/script (dev).tmpl', 'file /usr/lib/systemd/system/system-systemd\\x2dcryptsetup.slice', 'ghost /var/run', 'dir /usr/lib64']) {
      assert.ok(files.has(f), f);
    }
    assert.ok(stubData.comps && /<id>core<\/id>/.test(stubData.comps.toString()), 'the comps file');
  });

  it('dnf resolves every request to the same set on the stubs as on the real metadata', () => {
    const stubSets = dnfResolve(stub.url, REQUESTS);
    REQUESTS.forEach((r, i) => {
      const [want, got] = [realSets[i] ?? [], stubSets[i] ?? []];
      console.log(`${r.label}: ${want.length} packages`);
      assert.ok(want.length > 0, r.label);
      assert.deepEqual(got, want, r.label);
    });
    // Weak dependencies change the sets: the comparison covers both cases.
    assert.notDeepEqual(realSets[0], realSets[3]);
    assert.ok(realSets[0]?.includes('coreutils-single-8.32-31.el9.x86_64'));
    assert.ok(!realSets[0]?.some((p) => p.startsWith('coreutils-8')), 'coreutils-single, not coreutils');
  });

  it('is cached by its input, and a name subset with what it may need resolves alike', async () => {
    const again = await makeStubRepo({ repodata: REPODATA ?? '', out: shared });
    assert.equal(again.cached, true);
    assert.equal(again.dir, stub.dir);
    const subset = await makeStubRepo({ repodata: REPODATA ?? '', out: shared, names: ['bash'] });
    console.log(`subset for bash: ${subset.packages} packages, ${subset.cached ? 'cached' : `built in ${subset.seconds.toFixed(1)} s`}`);
    assert.ok(subset.packages < stub.packages);
    const bash = REQUESTS.filter((r) => r.packages?.length === 1);
    assert.deepEqual(dnfResolve(subset.url, bash), dnfResolve(`file://${join(REPODATA ?? '', '..')}`, bash));
    // Every stub package of the two builds (other spec files, other runs) is byte for byte the same:
    // SOURCE_DATE_EPOCH, a fixed build host and source package name.
    const digest = (dir: string, f: string) => createHash('sha256').update(readFileSync(join(dir, 'Packages', f))).digest('hex');
    const rpms = readdirSync(join(subset.dir, 'Packages'));
    assert.equal(rpms.length, subset.packages);
    for (const f of rpms) assert.equal(digest(subset.dir, f), digest(stub.dir, f), f);
  });

  it('dnf --installroot installs the container set, and rpm finds it complete', () => {
    const work = tempDir('dnf-install');
    const root = join(work, 'root');
    const home = rpmHome(work);
    writeFileSync(join(work, 'dnf.conf'), `[main]\nreposdir=${join(work, 'repos.d')}\ncachedir=${join(work, 'cache')}\ngpgcheck=0\ninstall_weak_deps=0\n`);
    const env = { ...process.env, HOME: home };
    must('dnf', ['-y', '-q', '-c', join(work, 'dnf.conf'), '--installroot', root, '--releasever', '9', '--repofrompath', `stub,${stub.url}`, 'install', ...CONTAINER_SET], { env });
    assert.ok(existsSync(join(root, 'var/lib/rpm/rpmdb.sqlite')));
    assert.ok(!existsSync(join(home, '.rpmdb')));
    const rpm = (args: string[]) => run('rpm', ['--root', root, ...args], { env });
    const installed = must('rpm', ['--root', root, '-qa', '--qf', '%{NAME}-%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}.%{ARCH}\\n'], { env }).trim().split('\n').sort();
    assert.deepEqual(installed, realSets[0]);
    for (const args of [['-Va', '--nofiles'], ['--verifydb'], ['-Va'], ['-V', ...CONTAINER_SET]]) {
      const r = rpm(args);
      assert.equal(r.status, 0, `rpm ${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.doesNotMatch(r.stdout + r.stderr, /Unsatisfied|missing/, `rpm ${args.join(' ')}`);
    }
    assert.equal(must('rpm', ['--root', root, '-qf', '/usr/bin/sh', '--qf', '%{NAME}\\n'], { env }).trim(), 'bash');
    // The folder symlinks of filesystem, made by its %pretrans as the real package does.
    assert.ok(lstatSync(join(root, 'lib64')).isSymbolicLink());
    assert.ok(existsSync(join(root, 'usr/lib64/libc.so.6')));
  });

  it('fromscratch builds the sets dnf resolves (container set, @core, weak deps): rpm lists them, no unsatisfied dependency; analyze explains each package', async () => {
    const work = tempDir('fromscratch-rpm');
    const server = await serveDirectory(stub.dir);
    const env = { ...process.env, HOME: rpmHome(work) };
    const cases: [string, string[], string[]][] = [
      ['container', ['--include', CONTAINER_SET.join(',')], realSets[0]!],
      ['core', ['--group', 'core'], realSets[1]!],
      ['weak', ['--include', CONTAINER_SET.join(','), '--weak-deps'], realSets[3]!],
    ];
    try {
      for (const [name, flags, want] of cases) {
        const layout = `${join(work, 'image')}:${name}`;
        const r = await cliAsync(['build', `oci:${layout}`, '--rpm-repo', `${server.url}/`, ...flags], { FROMSCRATCH_CACHE: join(work, 'cache') });
        assert.equal(r.status, 0, r.stderr);
        const root = join(work, `rootfs-${name}`);
        must('umoci', ['raw', 'unpack', '--rootless', '--image', layout, root]);
        const installed = must('rpm', ['--root', root, '-qa', '--qf', '%{NAME}-%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}.%{ARCH}\\n'], { env }).trim().split('\n').sort();
        assert.deepEqual(installed, want, name);
        for (const args of [['-Va', '--nofiles'], ['--verifydb']]) {
          const v = run('rpm', ['--root', root, ...args], { env });
          assert.equal(v.status, 0, `${name}: rpm ${args.join(' ')}: ${v.stdout}${v.stderr}`);
          assert.doesNotMatch(v.stdout + v.stderr, /Unsatisfied|missing/, `rpm ${args.join(' ')}`);
        }
        // With files: only %ghost files differ, and only in mode: filelists carry no modes, so the stubs declare
        // every ghost a 0644 file, while update-ca-trust's bundles are 0444 (as the real package declares
        // them) and /var/run is filesystem's link to ../run.
        const va = run('rpm', ['--root', root, '-Va'], { env }).stdout.trim().split('\n').filter(Boolean);
        for (const line of va) assert.match(line, /^\.M\.{7} {2}g \/(etc\/pki\/ca-trust\/extracted\/|var\/run$)/, `${name}: ${line}`);
      }
    } finally {
      await server.close();
    }
    // analyze: every package with its size and the chain that brought it in, from a requested name to it.
    const report = JSON.parse(must(join(ROOT, 'bin/fromscratch'), ['analyze', '--json', `oci:${join(work, 'image')}:container`]));
    assert.equal(report.packageManager, 'rpm');
    assert.equal(report.packages.length, realSets[0]!.length);
    // Chains start at a package nothing installed needs at run time: a requested one, or one brought in only
    // by an install-time requirement (Requires(pre) of shadow-utils: rpm -e would let it go).
    const packages = report.packages as { name: string; installedBytes: number; why: string[] }[];
    const roots = new Set(packages.filter((p) => p.why.join() === 'top-level').map((p) => p.name));
    for (const name of CONTAINER_SET) assert.ok(packages.some((p) => p.name === name), name);
    assert.ok(roots.has('dnf'), [...roots].join(' '));
    for (const p of packages) {
      assert.equal(typeof p.installedBytes, 'number', p.name);
      if (roots.has(p.name)) continue;
      assert.equal(p.why.at(-1), p.name, p.name);
      assert.ok(roots.has(p.why[0]!), `${p.name}: ${p.why.join(' → ')}`);
    }
  });
});
