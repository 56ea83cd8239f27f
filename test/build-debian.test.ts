import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readHostSources, type AptSource } from '../src/packages/deb/apt-sources.js';
import { DEBIAN_SLIM_CATEGORIES } from '../src/packages/deb/slim.js';
import { SLIM_CATEGORIES } from '../src/slim/rules.js';
import { cli, CLI, EPOCH, cliAsync, cliOk, debootstrapChroot, must, Podman, ROOT, sha256Hex, sharedDir, tempDir } from './helpers.js';

/**
 * `fromscratch build` of Debian minbase, checked against a debootstrap chroot of the same suite and by
 * running dpkg and apt inside the image with podman.
 */
describe('build: Debian bookworm minbase', () => {
  let source: AptSource;
  let chroot: string;
  let layout: string;
  let cache: string;
  const podman = new Podman();
  const servers: Server[] = [];

  const inImage = (script: string, network = 'none') => {
    const r = podman.runImage('fromscratch-test/debian:bookworm', ['bash', '-c', script], [], network);
    assert.equal(r.status, 0, `${script}\n${r.stderr}${r.stdout}`);
    return r.stdout;
  };

  before(async () => {
    source = (await readHostSources()).find((s) => s.suites.includes('bookworm') && s.signedBy)!;
    assert.ok(source, 'this machine needs an apt source for bookworm');
    chroot = debootstrapChroot('bookworm', source.uris[0]!);
    cache = join(sharedDir(), 'cache');
    layout = join(tempDir('build'), 'debian');
    cliOk(['build', `oci:${layout}:bookworm`, '--suite', 'bookworm', '--preset', 'minbase'], { env: { FROMSCRATCH_CACHE: cache } });
    // Imported once: `podman run oci:...` would copy the image into storage on every run.
    const id = podman.ok(['pull', '-q', `oci:${layout}:bookworm`]).trim().split('\n').pop()!;
    podman.ok(['tag', id, 'fromscratch-test/debian:bookworm']);
  });
  after(() => {
    podman.cleanup();
    servers.forEach((s) => s.close());
  });

  it('installs the packages and versions debootstrap installs', () => {
    const ours = inImage("dpkg-query -W -f '${Package} ${Version}\\n'").trim().split('\n').sort();
    const theirs = must('chroot', [chroot, 'dpkg-query', '-W', '-f', '${Package} ${Version}\\n']).trim().split('\n').sort();
    assert.deepEqual(ours, theirs);
  });

  it('has the same dpkg status, accounts, shells, diversions, alternatives and PAM stack as the debootstrap chroot', () => {
    const files = ['var/lib/dpkg/status', 'etc/passwd', 'etc/group', 'etc/gshadow', 'etc/shells', 'var/lib/dpkg/diversions', 'var/lib/dpkg/alternatives/awk', 'var/lib/dpkg/alternatives/which', 'etc/nsswitch.conf', 'etc/profile', 'root/.bashrc',
      'etc/pam.d/common-auth', 'etc/pam.d/common-account', 'etc/pam.d/common-password', 'etc/pam.d/common-session', 'etc/pam.d/common-session-noninteractive',
      'var/lib/pam/auth', 'var/lib/pam/session', 'var/lib/pam/seen'];
    // One container: each file's bytes as base64 on a line.
    const lines = inImage(files.map((f) => `base64 -w0 /${f}; echo`).join('; ')).trim().split('\n');
    files.forEach((file, i) => assert.equal(Buffer.from(lines[i]!, 'base64').toString('utf8'), readFileSync(join(chroot, file), 'utf8'), file));
  });

  it('passes dpkg --audit, dpkg --verify and apt-get check; awk and which exist', () => {
    const out = inImage('echo "audit:$(dpkg --audit)"; echo "verify:$(dpkg --verify)"; apt-get check -qq && echo check-ok; awk "BEGIN { print 6 * 7 }"; which which');
    assert.equal(out, 'audit:\nverify:\ncheck-ok\n42\n/usr/bin/which\n');
  });

  it('installs more packages with apt inside the image (network)', () => {
    const out = inImage('apt-get update -qq && apt-get install -y -qq --no-install-recommends curl >/dev/null && curl --version', 'host');
    assert.match(out, /^curl \d/);
  });

  it('gives the same digest when built again with the same SOURCE_DATE_EPOCH, also offline', () => {
    const first = JSON.parse(must('skopeo', ['inspect', `oci:${layout}:bookworm`])).Digest;
    const again = join(tempDir('build'), 'again');
    const digest = cliOk(['build', `oci:${again}:bookworm`, '--suite', 'bookworm', '--offline'], { env: { FROMSCRATCH_CACHE: cache } }).trim();
    assert.equal(digest, first);
  });

  it('gives the same digest from the .debs alone, and ignores damaged cache records and blobs', () => {
    const first = JSON.parse(must('skopeo', ['inspect', `oci:${layout}:bookworm`])).Digest;
    // A copy of the cache without the derived records: resolution and decoding happen again, offline.
    const copy = join(tempDir('cache'), 'copy');
    must('cp', ['-a', cache, copy]);
    must('rm', ['-rf', join(copy, 'resolutions'), join(copy, 'unpacked'), join(copy, 'layers')]);
    const build = (name: string) => cliOk(['build', `oci:${join(tempDir('build'), name)}:x`, '--suite', 'bookworm', '--offline'], { env: { FROMSCRATCH_CACHE: copy } });
    assert.equal(build('fresh').trim(), first);
    // Damage one record of each kind and the decoded contents of bash: each is noticed and redone.
    const records = (dir: string) => must('find', [join(copy, dir), '-name', '*.json']).trim().split('\n');
    const damage = (path: string, from: string, to: string) => {
      const text = readFileSync(path, 'utf8');
      assert.ok(text.includes(from), `${path} has ${from}`);
      writeFileSync(path, text.replace(from, to));
    };
    damage(records('resolutions')[0]!, '"bash"', '"bosh"');
    damage(records('unpacked').find((r) => readFileSync(r, 'utf8').includes('"mode":493'))!, '"mode":493', '"mode":2541');
    damage(records('layers')[0]!, '"diffID":"sha256:', '"diffID":"sha256:0');
    const bashRecord = records('unpacked').find((r) => readFileSync(r, 'utf8').includes('usr/bin/bash'))!;
    const blob = JSON.parse(readFileSync(bashRecord, 'utf8').split('\n')[1]!).content.sha256 as string;
    const blobPath = join(copy, 'sha256', blob.slice(0, 2), blob);
    const bytes = readFileSync(blobPath);
    bytes[1000] = bytes[1000]! ^ 0xff;
    writeFileSync(blobPath, bytes);
    assert.equal(build('damaged').trim(), first);
    // Unchanged inputs: the compressed layer is reused from the cache.
    const again = cli(['build', `oci:${join(tempDir('build'), 'again')}:x`, '--suite', 'bookworm', '--offline'], { env: { FROMSCRATCH_CACHE: copy } });
    assert.equal(again.stdout.trim(), first, again.stderr);
    assert.match(again.stderr, /^layer: the same entries as a layer in the cache \(sha256:[a-f0-9]{64}\); reused, not compressed again$/m);
    // Without SOURCE_DATE_EPOCH every build is new: its layer is not kept in the cache.
    const kept = records('layers').length;
    const unpinned = cli(['build', `oci:${join(tempDir('build'), 'unpinned')}:x`, '--suite', 'bookworm', '--offline'], { env: { FROMSCRATCH_CACHE: copy, SOURCE_DATE_EPOCH: '' } });
    assert.equal(unpinned.status, 0, unpinned.stderr);
    assert.equal(records('layers').length, kept);
  });

  it('builds several architectures into one OCI index; its amd64 image is the single-architecture one', async () => {
    const out = join(tempDir('build'), 'multi');
    const summary = JSON.parse(cliOk(['build', `oci:${out}:multi`, '--suite', 'bookworm', '--arch', 'amd64,arm64', '--json'], { env: { FROMSCRATCH_CACHE: cache } }));
    const rawText = must('skopeo', ['inspect', '--raw', `oci:${out}:multi`]);
    const raw = JSON.parse(rawText);
    assert.equal(raw.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.equal(summary.digest, `sha256:${sha256Hex(rawText)}`);
    assert.deepEqual(raw.manifests.map((m: { platform: unknown }) => m.platform), [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }]);
    assert.equal(raw.manifests[0].digest, JSON.parse(must('skopeo', ['inspect', `oci:${layout}:bookworm`])).Digest);
    const arm = JSON.parse(must('skopeo', ['inspect', '--override-arch', 'arm64', '--override-variant', 'v8', `oci:${out}:multi`]));
    assert.equal(arm.Architecture, 'arm64');
    assert.deepEqual(summary.images.map((i: { packages: { name: string }[] }) => i.packages.map((p) => p.name)).reduce((a: string[], b: string[]) => (assert.deepEqual(a, b), a)).length, 88);
    // The arm64 image holds arm64 binaries and dpkg knows it as arm64.
    const report = JSON.parse(cliOk(['inspect', '--json', '--platform', 'linux/arm64/v8', `oci:${out}:multi`]));
    assert.equal(report.digest, raw.manifests[1].digest);
    assert.deepEqual(arm.Layers, report.layers.map((l: { digest: string }) => l.digest));
    const blob = join(out, 'blobs/sha256', report.layers[0].digest.slice(7));
    const bash = execFileSync('tar', ['-xzOf', blob, 'usr/bin/bash'], { maxBuffer: 64 << 20 });
    assert.equal(bash.readUInt16LE(18), 0xb7, 'e_machine of usr/bin/bash is EM_AARCH64');
    assert.match(must('tar', ['-xzOf', blob, 'var/lib/dpkg/status']), /^Package: bash\n(?:.+\n)*?Architecture: arm64$/m);
    // A docker archive holds one platform per name: refused, nothing written.
    const dest = join(tempDir('build'), 'multi.tar');
    const r = await cliAsync(['build', `docker-archive:${dest}`, '--suite', 'bookworm', '--arch', 'amd64,arm64', '--offline'], { FROMSCRATCH_CACHE: cache });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /cannot hold an index of 2 platforms/);
    assert.ok(!existsSync(dest));
  });

  it('locks the package set, and a build from the lockfile gives the same image', () => {
    const dir = tempDir('lock');
    const lockfile = join(dir, 'fromscratch.lock.json');
    cliOk(['lock', lockfile, '--suite', 'bookworm', '--offline'], { env: { FROMSCRATCH_CACHE: cache } });
    const lock = JSON.parse(readFileSync(lockfile, 'utf8'));
    assert.equal(lock.packages.length, 88);
    assert.deepEqual(Object.keys(lock.packages[0]).slice(0, 7), ['name', 'version', 'architecture', 'sha256', 'size', 'repository', 'filename']);
    const first = JSON.parse(must('skopeo', ['inspect', `oci:${layout}:bookworm`])).Digest;
    const fromLock = cliOk(['build', `oci:${join(dir, 'image')}:x`, '--lockfile', lockfile, '--offline'], { env: { FROMSCRATCH_CACHE: cache } }).trim();
    assert.equal(fromLock, first);
  });

  it('fails clearly when the archive no longer has a locked package', async () => {
    const dir = tempDir('lock');
    const lockfile = join(dir, 'old.lock.json');
    cliOk(['lock', lockfile, '--suite', 'bookworm', '--offline'], { env: { FROMSCRATCH_CACHE: cache } });
    const lock = JSON.parse(readFileSync(lockfile, 'utf8'));
    const bash = lock.packages.find((p: { name: string }) => p.name === 'bash');
    bash.version = '5.2.15-2+b999';
    bash.filename = bash.filename.replace(/_[^_]+_amd64\.deb$/, '_5.2.15-2+b999_amd64.deb');
    bash.sha256 = '0'.repeat(64);
    writeFileSync(lockfile, JSON.stringify(lock));
    const r = await cliAsync(['build', `oci:${join(dir, 'image')}`, '--lockfile', lockfile], { FROMSCRATCH_CACHE: cache });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /bash 5\.2\.15-2\+b999: the archive no longer has it \(.*is gone\); resolve again, or refresh the lockfile with fromscratch lock/);
    assert.ok(!existsSync(join(dir, 'image')));
    const wrongArch = await cliAsync(['build', `oci:${join(dir, 'image')}`, '--lockfile', lockfile, '--arch', 'arm64'], { FROMSCRATCH_CACHE: cache });
    assert.match(wrongArch.stderr, /is for amd64, but this build is for arm64/);
  });

  it('builds the slim variant: no docs but copyright, man folders kept empty, dpkg keeps later installs slim', () => {
    const out = join(tempDir('build'), 'slim');
    cliOk(['build', join(ROOT, 'examples/debian-bookworm-slim.yaml'), `oci:${out}:slim`, '--offline'], { env: { FROMSCRATCH_CACHE: cache } });
    const slim = JSON.parse(cliOk(['inspect', '--json', `oci:${out}:slim`]));
    const full = JSON.parse(cliOk(['inspect', '--json', `oci:${layout}:bookworm`]));
    assert.ok(slim.totalSize < full.totalSize * 0.7, `${slim.totalSize} vs ${full.totalSize}`);
    const listing = must('tar', ['-tzf', join(out, 'blobs/sha256', slim.layers[0].digest.slice(7))]);
    assert.match(listing, /^usr\/share\/doc\/bash\/copyright$/m);
    assert.doesNotMatch(listing, /^usr\/share\/doc\/bash\/CHANGES\.gz$/m);
    assert.match(listing, /^usr\/share\/man\/man1\/$/m);
    assert.doesNotMatch(listing, /^usr\/share\/man\/man1\/.+/m);
    assert.doesNotMatch(listing, /^usr\/share\/locale\/de\//m);
    const cfg = must('tar', ['-xzOf', join(out, 'blobs/sha256', slim.layers[0].digest.slice(7)), 'etc/dpkg/dpkg.cfg.d/docker']);
    assert.match(cfg, /^path-exclude \/usr\/share\/doc\/\*$/m);
    assert.match(cfg, /^path-include \/usr\/share\/doc\/\*\/copyright$/m);
    // One table: the slim build lacks what `fromscratch slim` takes from the full image for the same
    // categories, and the same alternatives links. Only three names differ, each for its reason: the dpkg
    // file's name (Debian's "docker" against slim's own), /usr/share/info/dir (base-files' postinst writes
    // it after dpkg's path-exclude), and the builtins.7.gz alternative, which update-alternatives does not
    // set up when its only file, a man page, was never unpacked.
    const others = SLIM_CATEGORIES.filter((c) => c.removedByDefault && !DEBIAN_SLIM_CATEGORIES.includes(c.name)).map((c) => c.name);
    const slimmed = join(tempDir('build'), 'slimmed');
    cliOk(['slim', `oci:${layout}:bookworm`, `oci:${slimmed}:slim`, '--keep', others.join(',')]);
    const slimmedReport = JSON.parse(cliOk(['inspect', '--json', `oci:${slimmed}:slim`]));
    const names = (layoutDir: string, digest: string) => new Set(must('tar', ['-tzf', join(layoutDir, 'blobs/sha256', digest.slice(7))]).trim().split('\n'));
    const built = names(out, slim.layers[0].digest);
    const slimmedNames = names(slimmed, slimmedReport.layers[0].digest);
    assert.deepEqual([...built].filter((n) => !slimmedNames.has(n)).sort(), ['etc/dpkg/dpkg.cfg.d/docker', 'usr/share/info/dir']);
    assert.deepEqual([...slimmedNames].filter((n) => !built.has(n)).sort(), ['etc/dpkg/dpkg.cfg.d/fromscratch-slim', 'var/lib/dpkg/alternatives/builtins.7.gz']);
  });

  it('builds the ~1 MB busybox image with a link for every applet, and it runs', () => {
    const out = join(tempDir('build'), 'busybox');
    cliOk(['build', join(ROOT, 'examples/busybox.yaml'), `oci:${out}:latest`], { env: { FROMSCRATCH_CACHE: cache } });
    const report = JSON.parse(cliOk(['inspect', '--json', `oci:${out}:latest`]));
    assert.ok(report.totalSize < 1.5e6, `${report.totalSize} bytes`);
    assert.deepEqual(report.config.Cmd, ['sh']);
    const applets = must('/bin/busybox', ['--list-full']).trim().split('\n').filter((a) => a !== 'bin/busybox');
    const listing = must('tar', ['-tvzf', join(out, 'blobs/sha256', report.layers[0].digest.slice(7))]);
    for (const applet of applets) assert.ok(listing.includes(` ${applet} -> /bin/busybox\n`), applet);
    const r = podman.runImage(`oci:${out}:latest`, ['sh', '-c', 'echo success']);
    assert.equal(r.stdout.trim(), 'success', r.stderr);
  });

  it('shows live progress on a terminal and plain lines elsewhere', () => {
    const out = join(tempDir('build'), 'tty');
    // script(1) gives the build a pseudo-terminal, as a person's shell would. Another SOURCE_DATE_EPOCH
    // than the other builds', so the layer is compressed anew (not reused from the cache) and shown.
    const epoch = String(Number(EPOCH) + 1);
    const tty = must('script', ['-qec', `${CLI} build oci:${out}:x --suite bookworm --offline`, '/dev/null'], { env: { ...process.env, FROMSCRATCH_CACHE: cache, SOURCE_DATE_EPOCH: epoch } });
    assert.match(tty, /\r\x1b\[2Kfetch and unpack: \[[#.]{20}\] \d+\/88 packages/);
    assert.match(tty, /\r\x1b\[2Kcompress: \[[#.]{20}\] [\d.]+ MB\/[\d.]+ MB/);
    assert.match(tty, /^resolve: 88 packages/m);
    assert.match(tty, /\nsha256:[a-f0-9]{64}\r?\n$/);
    const plain = cli(['build', `oci:${out}-plain:x`, '--suite', 'bookworm', '--offline'], { env: { FROMSCRATCH_CACHE: cache } });
    assert.equal(plain.status, 0, plain.stderr);
    assert.doesNotMatch(plain.stderr, /\x1b|\r/);
    assert.match(plain.stderr, /^write: oci:/m);
  });

  it('analyze lists every installed package with its size and why it is there', () => {
    const report = JSON.parse(cliOk(['analyze', '--json', `oci:${layout}:bookworm`]));
    const installed = inImage("dpkg-query -W -f '${Package} ${Version} ${Installed-Size}\\n'").trim().split('\n').sort();
    assert.equal(report.packageManager, 'dpkg');
    assert.equal(report.packageCount, 88);
    assert.deepEqual(report.packages.map((p: { name: string; version: string; installedBytes: number }) => `${p.name} ${p.version} ${p.installedBytes / 1024}`).sort(), installed);
    for (const p of report.packages) {
      assert.ok(p.why.length > 0, p.name);
      // A chain names the package last; a seed gives the reason (essential, required, top-level).
      if (p.why.length > 1) assert.equal(p.why.at(-1), p.name);
      else assert.match(p.why[0], /^(essential|required|top-level)$/, p.name);
    }
    assert.deepEqual(report.packages.find((p: { name: string }) => p.name === 'libapt-pkg6.0').why, ['apt', 'libapt-pkg6.0']);
    assert.equal(report.wastedBytes, 0);
    assert.ok(report.savings.locales > 20e6 && report.savings.docs > 1e6 && report.savings.man > 1e6, JSON.stringify(report.savings));
    const over = cli(['analyze', '--ci-rule', 'highestPackageCount=87', `oci:${layout}:bookworm`]);
    assert.equal(over.status, 1);
    assert.match(over.stdout, /^ {2}FAIL: highestPackageCount: 88 packages installed, at most 87 allowed$/m);
    assert.equal(cli(['analyze', '--ci-rule', 'highestPackageCount=88', `oci:${layout}:bookworm`]).status, 0);
  });

  it('analyze: the file tree colours files by the package that installed them', async () => {
    const { analyze } = await import('../src/analyze/analyze.js');
    const tree = (await analyze(`oci:${layout}:bookworm`, { tree: true })).tree!;
    const find = (path: string) => path.split('/').reduce<typeof tree | undefined>((n, name) => n?.children?.find((c) => c.name === name), tree);
    // dpkg lists /bin/ls; on merged /usr the file is usr/bin/ls.
    assert.equal(find('usr/bin/ls')?.package, 'coreutils');
    assert.equal(find('usr/lib/x86_64-linux-gnu/libc.so.6')?.package, 'libc6');
    assert.equal(find('etc/ld.so.cache')?.package, undefined);
    assert.equal(find('usr')!.size, find('usr')!.children!.reduce((n, c) => n + c.size, 0));
    assert.ok(tree.size > 100e6 && tree.size < 200e6, String(tree.size));
  });

  it('prints a JSON summary', () => {
    const out = join(tempDir('build'), 'json');
    const summary = JSON.parse(cliOk(['build', `oci:${out}:x`, '--suite', 'bookworm', '--offline', '--json', '--label', 'team=platform', '--annotation', 'org.opencontainers.image.source=https://example.org/base-images'], { env: { FROMSCRATCH_CACHE: cache } }));
    assert.match(summary.digest, /^sha256:/);
    assert.equal(summary.packages.length, 88);
    assert.equal(summary.platform, 'linux/amd64');
    assert.ok(summary.compressedSize > 10e6 && summary.uncompressedSize > summary.compressedSize);
    const manifest = JSON.parse(must('skopeo', ['inspect', '--raw', `oci:${out}:x`]));
    assert.deepEqual(manifest.annotations, {
      'org.opencontainers.image.created': '2023-11-14T22:13:20Z',
      'org.opencontainers.image.description': 'Debian bookworm (minbase)',
      'org.opencontainers.image.source': 'https://example.org/base-images',
    });
    assert.deepEqual(JSON.parse(must('skopeo', ['inspect', '--config', `oci:${out}:x`])).config.Labels, { team: 'platform' });
  });

  it('builds the distroless-style example: nonroot user, no shell, CA bundle, /tmp 1777', () => {
    const out = join(tempDir('build'), 'static');
    cliOk(['build', join(ROOT, 'examples/distroless-static.yaml'), `oci:${out}:static`], { env: { FROMSCRATCH_CACHE: cache } });
    const report = JSON.parse(cliOk(['inspect', '--json', `oci:${out}:static`]));
    assert.equal(report.config.User, '65532');
    assert.deepEqual(report.config.Entrypoint, ['/app']);
    const listing = must('tar', ['--numeric-owner', '-tvzf', join(out, 'blobs/sha256', report.layers[0].digest.slice(7))]);
    assert.match(listing, /^drwxrwxrwt 0\/0 .* tmp\/$/m);
    assert.match(listing, /^drwxr-xr-x 65532\/65532 .* home\/nonroot\/$/m);
    assert.match(listing, / etc\/ssl\/certs\/ca-certificates\.crt$/m);
    assert.doesNotMatch(listing, / usr\/bin\/(bash|dash|sh)$/m);
    const passwd = must('tar', ['-xzOf', join(out, 'blobs/sha256', report.layers[0].digest.slice(7)), 'etc/passwd']);
    assert.match(passwd, /^nonroot:x:65532:65532:nonroot:\/home\/nonroot:\/usr\/sbin\/nologin$/m);
  });

  it('refuses a tampered .deb and writes nothing', async () => {
    // A loopback copy of the archive that serves bash's .deb with one byte changed.
    const upstream = source.uris[0]!.replace(/\/+$/, '');
    const server = createServer(async (req, res) => {
      const response = await fetch(upstream + req.url);
      let body = Buffer.from(await response.arrayBuffer());
      if (/\/bash_[^/]*\.deb$/.test(req.url ?? '')) {
        body = Buffer.from(body);
        body[body.length - 100] = body[body.length - 100]! ^ 0xff;
      }
      res.writeHead(response.status, { 'content-length': body.length });
      res.end(body);
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const dest = join(tempDir('build'), 'tampered');
    const r = await cliAsync(['build', `oci:${dest}`, '--suite', 'bookworm', '--mirror', mirror, '--keyring', source.signedBy!], {
      FROMSCRATCH_CACHE: join(tempDir('cache'), 'fresh'),
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /bash .*\.deb\): SHA256 mismatch: expected [a-f0-9]{64}, got [a-f0-9]{64}/);
    assert.ok(!existsSync(dest));
  });
});
