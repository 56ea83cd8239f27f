import assert from 'node:assert/strict';
import { existsSync, linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { duplicateLibraries, installedPackages } from '../src/packages/deb/installed-packages.js';
import { addLayer, busyboxRootfs, cli, cliOk, must, Podman, python, tempDir } from './helpers.js';

/** What a container would see: every path with its type, mode, owner, size, link target or content hash, and hardlink groups. */
function rootfsListing(layout: string, tag: string, dir: string): string {
  must('umoci', ['unpack', '--image', `${layout}:${tag}`, dir]);
  return python(
    `
import hashlib, os, stat, sys
root = os.path.join(sys.argv[1], 'rootfs'); inodes = {}; out = []
for base, dirs, files in os.walk(root):
    dirs.sort()
    for name in sorted(dirs + files):
        p = os.path.join(base, name); st = os.lstat(p); rel = os.path.relpath(p, root)
        if stat.S_ISLNK(st.st_mode): what = 'link ' + os.readlink(p)
        elif stat.S_ISDIR(st.st_mode): what = 'dir'
        else:
            what = 'file %d %s' % (st.st_size, hashlib.sha256(open(p, 'rb').read()).hexdigest())
            if st.st_nlink > 1: what += ' group ' + inodes.setdefault(st.st_ino, rel)
        out.append('%s %o %d:%d %s' % (rel, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, what))
print('\\n'.join(out))
`,
    [dir],
  );
}

function manifestOf(layout: string, tag: string): { layers: { digest: string; size: number }[]; config: { digest: string } } {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const d = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag)!.digest;
  return JSON.parse(readFileSync(join(layout, 'blobs/sha256', d.slice(7)), 'utf8'));
}

describe('squash: layers merged into one, whiteouts applied', () => {
  let work: string;
  let layout: string;
  let original: string;

  before(() => {
    work = tempDir('squash');
    const tree = join(work, 'tree');
    for (const d of ['big', 'keep', 'replaced/sub', 'typechange']) mkdirSync(join(tree, d), { recursive: true });
    writeFileSync(join(tree, 'big/blob'), randomBytes(3 << 20));
    writeFileSync(join(tree, 'keep/x'), 'x\n');
    linkSync(join(tree, 'keep/x'), join(tree, 'keep/x-hard'));
    symlinkSync('keep/x', join(tree, 'sym'));
    writeFileSync(join(tree, 'replaced/old'), 'old\n');
    writeFileSync(join(tree, 'replaced/sub/deep'), 'deep\n');
    writeFileSync(join(tree, 'typechange/child'), 'child\n');
    layout = join(work, 'img');
    cliOk(['import', tree, `oci:${layout}:base`, '--owner', '0:0']);
    must('umoci', ['tag', '--image', `${layout}:base`, 'layered']);
    // Layer 1: the seed's "dd" step, and a hardlink to a file of layer 0.
    addLayer(`${layout}:layered`, join(work, 'l1.tar'), [['tmp', 'dir', 0], ['tmp/big2', 'file', 5 << 20], ['keep/y-hard', 'hard', 'keep/x'], ['keep/y', 'file', 'y\n']]);
    // Layer 2: the "rm" step, a folder replaced (opaque) and a folder turned into a file.
    addLayer(`${layout}:layered`, join(work, 'l2.tar'), [
      ['tmp/.wh.big2', 'file', ''], ['big/.wh.blob', 'file', ''],
      ['replaced', 'dir', 0], ['replaced/.wh..wh..opq', 'file', ''], ['replaced/new', 'file', 'new\n'],
      ['.wh.typechange', 'file', ''], ['typechange', 'file', 'now a file\n'],
    ]);
    original = rootfsListing(layout, 'layered', join(work, 'original'));
  });

  it('squashes every layer: the same files, ≥ 7 MB smaller, deterministic', () => {
    const r = cli(['squash', `oci:${layout}:layered`, `oci:${layout}:all`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^squash: 3 layers into one \(0 kept below, 0 whiteouts re-emitted\)/m);
    const m = manifestOf(layout, 'all');
    assert.equal(m.layers.length, 1);
    const before = manifestOf(layout, 'layered').layers.reduce((n, l) => n + l.size, 0);
    assert.ok(before - m.layers[0]!.size > 7e6, `${before} → ${m.layers[0]!.size}`);
    assert.equal(rootfsListing(layout, 'all', join(work, 'all')), original);
    const config = JSON.parse(readFileSync(join(layout, 'blobs/sha256', m.config.digest.slice(7)), 'utf8'));
    assert.equal(config.rootfs.diff_ids.length, 1);
    assert.equal(config.history.length, 1);
    assert.match(config.history[0].comment, /layers 0-2 squashed into one/);
    assert.equal(cliOk(['squash', `oci:${layout}:layered`, `oci:${layout}:again`]).trim(), r.stdout.trim());
    must('skopeo', ['inspect', `oci:${layout}:all`]);
  });

  it('squashes above layer 0: layer 0 kept as is, whiteouts only for what it has', () => {
    const r = cli(['squash', `oci:${layout}:layered`, `oci:${layout}:above0`, '--from', '0', '--message', 'app layers']);
    assert.equal(r.status, 0, r.stderr);
    const m = manifestOf(layout, 'above0');
    const o = manifestOf(layout, 'layered');
    assert.equal(m.layers.length, 2);
    assert.equal(m.layers[0]!.digest, o.layers[0]!.digest);
    const names = must('tar', ['-tzf', join(layout, 'blobs/sha256', m.layers[1]!.digest.slice(7))]).trim().split('\n').sort();
    const whiteouts = names.filter((n) => n.includes('.wh.'));
    // big/blob, the folder turned file, and the replaced folder's old children; never tmp/big2 (not below).
    assert.deepEqual(whiteouts, ['big/.wh.blob', 'replaced/.wh.old', 'replaced/.wh.sub', '.wh.typechange'].sort());
    assert.ok(!names.some((n) => n.startsWith('tmp/big2')));
    assert.equal(rootfsListing(layout, 'above0', join(work, 'above0')), original);
    // The same, naming layer 0 by its digest.
    const byDigest = cliOk(['squash', `oci:${layout}:layered`, `oci:${layout}:bydigest`, '--from-layer', o.layers[0]!.digest, '--message', 'app layers']).trim();
    assert.equal(byDigest, r.stdout.trim());
  });

  it('analyze: counts exactly the bytes later layers delete, once each, hardlinks by their last name', () => {
    const report = JSON.parse(cliOk(['analyze', '--json', `oci:${layout}:layered`]));
    // big/blob (3 MiB, layer 0) and tmp/big2 (5 MiB, layer 1) deleted by layer 2, with the replaced
    // folder's old files and the folder turned into a file; keep/x survives through its names.
    const small = 'old\n'.length + 'deep\n'.length + 'child\n'.length;
    assert.equal(report.wastedBytes, (3 << 20) + (5 << 20) + small);
    assert.equal(report.layers.length, 3);
    assert.deepEqual(report.waste.map((w: { addedBy: number; removedBy: number }) => [w.addedBy, w.removedBy]), [[1, 2], [0, 2]]);
    assert.ok(Math.abs(report.efficiency - (report.totalBytes - report.wastedBytes) / report.totalBytes) < 1e-12);
    const squashed = JSON.parse(cliOk(['analyze', '--json', `oci:${layout}:all`]));
    assert.equal(squashed.wastedBytes, 0);
    assert.equal(squashed.efficiency, 1);
    assert.equal(squashed.totalBytes, report.totalBytes - report.wastedBytes);
  });

  it('analyze --ci: fails an image over a threshold, passes one under it, with the reason', () => {
    const report = JSON.parse(cliOk(['analyze', '--json', `oci:${layout}:layered`]));
    // dive's defaults (lowest efficiency 90%, highest user-wasted 10%): the wasteful image fails, its squash passes.
    const failed = cli(['analyze', '--ci', `oci:${layout}:layered`]);
    assert.equal(failed.status, 1, failed.stderr);
    assert.match(failed.stdout, /^ {2}FAIL: lowestEfficiency: efficiency \d+\.\d%, lowest allowed 90\.0%$/m);
    assert.match(failed.stdout, /^Result: FAIL /m);
    assert.match(failed.stderr, /fails the CI rules: lowestEfficiency \(efficiency/);
    const passed = cli(['analyze', '--ci', `oci:${layout}:all`]);
    assert.equal(passed.status, 0, passed.stderr);
    assert.match(passed.stdout, /^Result: PASS \[Total: 5\] \[Passed: 2\] \[Failed: 0\] \[Skipped: 3\]$/m);
    // Thresholds just either side of the measured values, from a .dive-ci style file and from flags.
    const config = join(work, 'ci.yaml');
    writeFileSync(config, `rules:\n  lowestEfficiency: ${(report.efficiency * 0.99).toFixed(6)}\n  highestWastedBytes: ${report.wastedBytes}\n  highestUserWastedPercent: disabled\n  highestImageSize: ${report.totalBytes}\n`);
    const under = cli(['analyze', '--ci-config', config, '--json', `oci:${layout}:layered`]);
    assert.equal(under.status, 0, under.stderr);
    assert.deepEqual(JSON.parse(under.stdout).ci.results.map((r: { rule: string; passed: boolean }) => [r.rule, r.passed]), [['lowestEfficiency', true], ['highestWastedBytes', true], ['highestImageSize', true]]);
    const over = cli(['analyze', '--ci-config', config, '--ci-rule', `highestImageSize=${report.totalBytes - 1}`, '--ci-rule', `highestWastedBytes=${report.wastedBytes - 1}`, `oci:${layout}:layered`]);
    assert.equal(over.status, 1);
    assert.match(over.stderr, /highestWastedBytes \(wasted [\d.]+ MB \(\d+ bytes\), at most [\d.]+ MB \(\d+ bytes\) allowed\); highestImageSize \(image contents/);
    // Sizes with units, as dive reads them.
    const seen = report.totalBytes - report.wastedBytes;
    assert.equal(cli(['analyze', '--ci-rule', `highestImageSize=${Math.floor(seen / 1000) - 1}KB`, '--ci-rule', 'lowestEfficiency=disabled', '--ci-rule', 'highestUserWastedPercent=disabled', `oci:${layout}:all`]).status, 1);
    assert.equal(cli(['analyze', '--ci-rule', `highestImageSize=${(seen / 1024 ** 2 + 0.01).toFixed(2)}MiB`, `oci:${layout}:all`]).status, 0);
  });

  it('analyze --ci: reads .dive-ci from the current folder, with the values and key spellings dive takes', () => {
    const report = JSON.parse(cliOk(['analyze', '--json', `oci:${layout}:layered`]));
    const dir = join(work, 'ci-cwd');
    mkdirSync(dir);
    // Quoted numbers, units with commas, "off", an empty value, kebab-case keys and other top-level settings.
    writeFileSync(join(dir, '.dive-ci'), `log:\n  level: info\nrules:\n  lowestEfficiency: off\n  highest-wasted-bytes: "${report.wastedBytes.toLocaleString('en-US')}"\n  highestUserWastedPercent:\n  highestImageSize: "${report.totalBytes / 1024} KiB"\n`);
    const r = cli(['analyze', '--ci', `oci:${layout}:layered`], { cwd: dir });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ {2}PASS: highestWastedBytes: .*$\n^ {2}PASS: highestImageSize: /m);
    assert.match(r.stdout, /^ {2}SKIP: lowestEfficiency$/m);
    writeFileSync(join(dir, '.dive-ci'), `rules:\n  highestWastedBytes: "${report.wastedBytes - 1}"\n`);
    const over = cli(['analyze', '--ci', `oci:${layout}:layered`], { cwd: dir });
    assert.equal(over.status, 1);
    assert.match(over.stdout, /FAIL: highestWastedBytes/);
    // dive's defaults still apply to the rules the file leaves out.
    assert.match(over.stdout, /FAIL: lowestEfficiency/);
  });

  it('analyze --ci: waste with no content above the first layer is an infinite share, as in dive', async () => {
    const { checkCiRules } = await import('../src/analyze/ci-rules.js');
    const report = JSON.parse(cliOk(['analyze', '--json', `oci:${layout}:layered`]));
    const onlyDeletes = { ...report, totalBytes: report.layers[0].fileBytes, wastedBytes: 10 };
    const outcome = checkCiRules(onlyDeletes, { highestUserWastedPercent: 1 });
    assert.equal(outcome.passed, false);
    assert.match(outcome.results[0]!.detail, /the layers above the first hold none/);
    assert.equal(checkCiRules({ ...onlyDeletes, wastedBytes: 0 }, { highestUserWastedPercent: 0, highestWastedBytes: 0 }).passed, true);
  });

  it('analyze --ci: a bad rule names the file, line and key, or the flag', () => {
    const config = join(work, 'bad-ci.yaml');
    writeFileSync(config, 'rules:\n  lowestEfficiency: 0.9\n  highestWastedBytes: lots\n');
    const r = cli(['analyze', '--ci-config', config, `oci:${layout}:all`]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`${config}:3: rules\\.highestWastedBytes: .*"lots" is not a size`));
    const flag = cli(['analyze', '--ci-rule', 'lowestEfficency=0.9', `oci:${layout}:all`]);
    assert.equal(flag.status, 1);
    assert.match(flag.stderr, /--ci-rule "lowestEfficency=0\.9": expected NAME=VALUE with NAME one of lowestEfficiency, /);
    assert.match(cli(['analyze', '--ci-rule', 'lowestEfficiency=1.5', `oci:${layout}:all`]).stderr, /--ci-rule lowestEfficiency=1\.5: 1\.5 is not a ratio between 0 and 1/);
    assert.match(cli(['analyze', '--ci-rule', 'lowestEfficiency=', `oci:${layout}:all`]).stderr, /no value \(to turn the rule off, give "disabled"\)/);
  });

  it('squashes above layer 0 when a squashed layer deletes every kept name of a file it links to: the bytes come from the kept layer', () => {
    must('umoci', ['tag', '--image', `${layout}:base`, 'relinked']);
    addLayer(`${layout}:relinked`, join(work, 'r1.tar'), [['keep/z-hard', 'hard', 'keep/x']]);
    addLayer(`${layout}:relinked`, join(work, 'r2.tar'), [['keep/.wh.x', 'file', ''], ['keep/.wh.x-hard', 'file', '']]);
    const expected = rootfsListing(layout, 'relinked', join(work, 'relinked'));
    assert.match(expected, /^keep\/z-hard 644 0:0 file 2 /m);
    cliOk(['squash', `oci:${layout}:relinked`, `oci:${layout}:relinked-squashed`, '--from', '0']);
    const m = manifestOf(layout, 'relinked-squashed');
    const names = must('tar', ['-tvzf', join(layout, 'blobs/sha256', m.layers[1]!.digest.slice(7))]);
    assert.match(names, /^-rw-r--r-- 0\/0 +2 .* keep\/z-hard$/m);
    assert.equal(rootfsListing(layout, 'relinked-squashed', join(work, 'relinked-squashed')), expected);
  });

  it('an opaque marker reached through a symlinked folder, and a whiteout below a folder the same layer whites out, as umoci applies them', () => {
    must('umoci', ['tag', '--image', `${layout}:base`, 'edge']);
    addLayer(`${layout}:edge`, join(work, 'e1.tar'), [['rl', 'sym', 'replaced']]);
    addLayer(`${layout}:edge`, join(work, 'e2.tar'), [['rl/.wh..wh..opq', 'file', ''], ['rl/new2', 'file', 'n\n'], ['.wh.keep', 'file', ''], ['keep/.wh.x', 'file', '']]);
    const expected = rootfsListing(layout, 'edge', join(work, 'edge'));
    assert.doesNotMatch(expected, /^replaced\/old /m);
    assert.match(expected, /^replaced\/new2 /m);
    for (const from of [[], ['--from', '0']]) {
      const tag = `edge-squashed${from.length}`;
      cliOk(['squash', `oci:${layout}:edge`, `oci:${layout}:${tag}`, ...from]);
      assert.equal(rootfsListing(layout, tag, join(work, tag)), expected);
    }
    const report = JSON.parse(cliOk(['analyze', '--json', `oci:${layout}:edge`]));
    assert.equal(report.wastedBytes, 'old\n'.length + 'deep\n'.length + 'x\n'.length);
    assert.deepEqual(report.warnings, []);
  });

  it("aufs metadata (.wh..wh.plnk hardlink folder) is not part of the filesystem, but links into it keep their bytes", () => {
    must('umoci', ['tag', '--image', `${layout}:base`, 'aufs']);
    addLayer(`${layout}:aufs`, join(work, 'a1.tar'), [
      ['.wh..wh.aufs', 'file', ''], ['.wh..wh.plnk', 'dir', 0], ['.wh..wh.plnk/234.567', 'file', 'linked bytes\n'], ['z', 'hard', '.wh..wh.plnk/234.567'],
    ]);
    cliOk(['squash', `oci:${layout}:aufs`, `oci:${layout}:aufs-squashed`, '--from', '0']);
    const m = manifestOf(layout, 'aufs-squashed');
    const names = must('tar', ['-tvzf', join(layout, 'blobs/sha256', m.layers[1]!.digest.slice(7))]);
    assert.doesNotMatch(names, /\.wh\./);
    assert.match(names, /^-rw-r--r-- 0\/0 +13 .* z$/m);
    const report = JSON.parse(cliOk(['analyze', '--json', `oci:${layout}:aufs`]));
    assert.equal(report.layers[1].added, 1);
  });

  it('refuses --from out of range and writes nothing', () => {
    const r = cli(['squash', `oci:${layout}:layered`, `oci:${join(work, 'none')}:x`, '--from', '2']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--from 2: out of range; the image has 3 layers \(0-2\), and N can be 0-1/);
    assert.ok(!existsSync(join(work, 'none')));
  });
});

/** `podman export` of a container of the image, as `tar -tv` lines without dates (type, mode, owner, size, name, link). */
function exportListing(podman: Podman, image: string): string {
  const id = podman.ok(['create', image]).trim();
  const tar = join(tempDir('export'), 'fs.tar');
  podman.ok(['export', '-o', tar, id]);
  podman.ok(['rm', id]);
  return must('tar', ['--numeric-owner', '-tvf', tar]).trim().split('\n')
    .map((l) => l.split(/\s+/).filter((_, i) => i !== 3 && i !== 4).join(' ')).sort().join('\n');
}

describe('squash: an image podman built (the seed\'s dd-then-rm example)', () => {
  const podman = new Podman();
  let work: string;
  let archive: string;
  after(() => podman.cleanup());

  before(() => {
    work = tempDir('squash-podman');
    cliOk(['import', busyboxRootfs(join(work, 'rootfs')), `oci:${join(work, 'bb')}:latest`, '--owner', '0:0', '--cmd', '["/bin/sh"]', '--env', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin']);
    podman.ok(['pull', '-q', `oci:${join(work, 'bb')}:latest`]);
    podman.ok(['tag', podman.ok(['images', '-q']).trim().split('\n')[0]!, 'localhost/bb:latest']);
    writeFileSync(join(work, 'Containerfile'), [
      'FROM localhost/bb:latest',
      'RUN dd if=/dev/urandom of=/big bs=1M count=50',
      'RUN rm /big',
      'RUN mkdir -p /d/sub && echo a > /d/a && ln /d/a /d/a-hard && echo s > /d/sub/s',
      'RUN ln /bin/busybox /bin/bb-hard && rm -rf /d && mkdir /d && echo b > /d/b',
      '',
    ].join('\n'));
    podman.ok(['build', '-q', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '-t', 'localhost/waste:latest', work]);
    archive = join(work, 'waste.tar');
    podman.ok(['save', '--format', 'oci-archive', '-o', archive, 'localhost/waste:latest']);
  });

  it('analyze: reports the 50 MB the rm step wastes and names both steps', () => {
    const report = JSON.parse(cliOk(['analyze', '--json', `oci-archive:${archive}`]));
    assert.ok(report.wastedBytes >= 50 * 2 ** 20, String(report.wastedBytes));
    assert.ok(report.efficiency < 0.1, String(report.efficiency));
    const top = report.waste[0];
    assert.match(report.layers[top.addedBy].createdBy, /dd if=\/dev\/urandom of=\/big/);
    assert.match(report.layers[top.removedBy].createdBy, /rm \/big/);
    assert.match(top.advice, /^layer \d+ `rm \/big` deletes 52\.4 MB added by layer \d+ `dd if=\/dev\/urandom of=\/big bs=1M count=50` \(\/big\): do both in one RUN, or build in a stage and copy only the result$/);
    assert.match(cliOk(['analyze', `oci-archive:${archive}`]), /^Efficiency: {2}\d+\.\d%$/m);
  });

  for (const from of [undefined, '0']) {
    it(`squashes${from ? ` above layer ${from}` : ''}: ≥ 45 MB smaller, loads in podman, same files as the original`, () => {
      const out = join(work, `sq${from ?? ''}`);
      const r = cli(['squash', `oci-archive:${archive}`, `oci:${out}:latest`, ...(from ? ['--from', from] : [])]);
      assert.equal(r.status, 0, r.stderr);
      const size = (ref: string) => JSON.parse(cliOk(['inspect', '--json', ref])).totalSize as number;
      const [before, squashed] = [size(`oci-archive:${archive}`), size(`oci:${out}:latest`)];
      assert.ok(before - squashed >= 45e6, `${before} → ${squashed}`);
      const id = podman.ok(['pull', '-q', `oci:${out}:latest`]).trim().split('\n').pop()!;
      assert.equal(exportListing(podman, id), exportListing(podman, 'localhost/waste:latest'));
      assert.match(exportListing(podman, id), / d\/b$/m);
      assert.doesNotMatch(exportListing(podman, id), / (big|d\/a)$/m);
      assert.equal(podman.runImage(id, ['cat', '/d/b']).stdout, 'b\n');
    });
  }
});

describe('analyze: packages from a dpkg status file', () => {
  const status = [
    ['app', '1', 'optional', 'libssl3, mail-transport-agent | exim4'],
    ['libssl3', '3.0', 'optional', 'libc6'],
    ['libssl1.1', '1.1', 'optional', 'libc6'],
    ['old-tool', '2', 'optional', 'libssl1.1'],
    ['postfix', '3', 'optional', 'libc6', 'mail-transport-agent'],
    ['libc6', '2.36', 'required', ''],
    ['removed', '9', 'optional', '', '', 'deinstall ok config-files'],
  ].map(([name, version, priority, depends, provides, state]) =>
    [`Package: ${name}`, `Status: ${state || 'install ok installed'}`, `Priority: ${priority}`, 'Installed-Size: 10', 'Architecture: amd64', `Version: ${version}`,
      ...(depends ? [`Depends: ${depends}`] : []), ...(provides ? [`Provides: ${provides}`] : [])].join('\n')).join('\n\n');

  it('gives each installed package its size and the chain that brought it in', () => {
    const packages = installedPackages(status, 'status');
    const why = Object.fromEntries(packages.map((p) => [p.name, p.why]));
    assert.deepEqual(Object.keys(why), ['app', 'libc6', 'libssl1.1', 'libssl3', 'old-tool', 'postfix']);
    assert.deepEqual(why, {
      app: ['top-level'], 'old-tool': ['top-level'], libc6: ['required'],
      libssl3: ['app', 'libssl3'], 'libssl1.1': ['old-tool', 'libssl1.1'],
      // A virtual dependency is satisfied by the installed provider.
      postfix: ['app', 'postfix'],
    });
    assert.equal(packages[0]!.installedBytes, 10240);
  });

  it('finds a shared library installed in two versions', () => {
    assert.deepEqual(duplicateLibraries(installedPackages(status, 'status')), [['libssl1.1', 'libssl3']]);
  });
});
