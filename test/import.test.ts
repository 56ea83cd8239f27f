import assert from 'node:assert/strict';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync, linkSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { busyboxRootfs, cli, cliOk, EPOCH, must, Podman, python, run, sha256Hex, tempDir } from './helpers.js';

interface SkopeoInspect {
  Digest: string;
  Architecture: string;
  Os: string;
  Variant?: string;
  Layers: string[];
  Env?: string[];
}

function skopeoInspect(ref: string): SkopeoInspect {
  return JSON.parse(must('skopeo', ['inspect', ref])) as SkopeoInspect;
}

function manifestDigest(ref: string): string {
  return JSON.parse(cliOk(['inspect', '--json', ref])).digest as string;
}

describe('import of a busybox root filesystem', () => {
  let work: string;
  let rootfs: string;
  const podman = new Podman();

  before(() => {
    work = tempDir('import');
    rootfs = busyboxRootfs(join(work, 'rootfs'));
  });
  after(() => podman.cleanup());

  it('to oci: is accepted by skopeo, unpacked by umoci, and runs in podman', () => {
    const layout = join(work, 'oci');
    const digest = cliOk(['import', rootfs, `oci:${layout}:latest`, '--cmd', '["/bin/sh"]', '--env', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin']).trim();
    assert.match(digest, /^sha256:[a-f0-9]{64}$/);
    const info = skopeoInspect(`oci:${layout}:latest`);
    assert.equal(info.Digest, digest);
    assert.equal(info.Layers.length, 1);

    const bundle = join(work, 'bundle');
    must('umoci', ['unpack', '--rootless', '--image', `${layout}:latest`, bundle]);
    const unpacked = join(bundle, 'rootfs');
    assert.ok(readFileSync(join(unpacked, 'bin/busybox')).equals(readFileSync(join(rootfs, 'bin/busybox'))));
    assert.equal(statSync(join(unpacked, 'tmp')).mode & 0o7777, 0o1777);
    assert.equal(readdirSync(join(unpacked, 'bin')).length, readdirSync(join(rootfs, 'bin')).length);

    podman.ok(['pull', `oci:${layout}:latest`]);
    const r = podman.runImage(`oci:${layout}:latest`, ['/bin/sh', '-c', 'echo success']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'success');
  });

  it('to docker-archive: is accepted by skopeo and podman load, and runs', () => {
    const archive = join(work, 'busybox.tar');
    cliOk(['import', rootfs, `docker-archive:${archive}:fromscratch/busybox:test`]);
    const info = skopeoInspect(`docker-archive:${archive}`);
    assert.equal(info.Layers.length, 1);
    // The digest import prints is the one the archive holds, and the one inspect reads back.
    const printed = cliOk(['import', rootfs, `docker-archive:${archive}:fromscratch/busybox:test`]).trim();
    const index = JSON.parse(must('tar', ['-xOf', archive, 'index.json']));
    assert.equal(index.manifests[0].digest, printed);
    assert.equal(index.manifests[0].annotations['io.containerd.image.name'], 'docker.io/fromscratch/busybox:test');
    assert.equal(manifestDigest(`docker-archive:${archive}`), printed);
    const loaded = podman.ok(['load', '-i', archive]);
    assert.match(loaded, /fromscratch\/busybox:test/);
    const r = podman.runImage('fromscratch/busybox:test', ['/bin/sh', '-c', 'echo success; id -u; stat -c %a /tmp']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['success', '0', '1777']);
  });

  it('to oci-archive: is accepted by skopeo and podman load', () => {
    const archive = join(work, 'busybox-oci.tar');
    const digest = cliOk(['import', rootfs, `oci-archive:${archive}:v1`]).trim();
    assert.equal(skopeoInspect(`oci-archive:${archive}:v1`).Digest, digest);
    podman.ok(['load', '-i', archive]);
  });

  it('gives the same manifest digest from another path, under another umask, with files created in another order', () => {
    const a = join(work, 'again-a', 'tree');
    const b = join(tempDir('elsewhere'), 'x', 'y', 'tree');
    cpSync(rootfs, a, { recursive: true, verbatimSymlinks: true });
    // Same files, created in reverse order so that the directory lists them differently.
    mkdirSync(b, { recursive: true });
    const names = readdirSync(rootfs).reverse();
    for (const n of names) cpSync(join(rootfs, n), join(b, n), { recursive: true, verbatimSymlinks: true });
    for (const dir of [a, b]) {
      chmodSync(dir, 0o755);
      chmodSync(join(dir, 'tmp'), 0o1777);
      chmodSync(join(dir, 'root'), 0o700);
    }
    const one = cliOk(['import', a, `oci:${join(work, 'r1')}`]).trim();
    const two = run('sh', ['-c', `umask 077 && exec "$0" import "$1" "oci:$2"`, join(process.cwd(), 'bin/fromscratch'), b, join(work, 'r2')], {
      env: { ...process.env, SOURCE_DATE_EPOCH: EPOCH },
      cwd: process.cwd(),
    });
    assert.equal(two.status, 0, two.stderr);
    assert.equal(two.stdout.trim(), one);
    // Files that get newer mtimes do not change the digest: they are clamped to SOURCE_DATE_EPOCH.
    writeFileSync(join(b, 'etc/passwd'), readFileSync(join(rootfs, 'etc/passwd')));
    assert.equal(cliOk(['import', b, `oci:${join(work, 'r3')}`]).trim(), one);
  });

  it('sets the image config from flags (checked by skopeo)', () => {
    const layout = join(work, 'configured');
    cliOk([
      'import', rootfs, `oci:${layout}:cfg`,
      '--entrypoint', '["/bin/busybox"]', '--cmd', 'echo hello', '--env', 'PATH=/bin', '--env', 'LANG=C.UTF-8',
      '--workdir', '/root', '--user', '65534:65534', '--label', 'org.example.team=platform',
      '--annotation', 'org.opencontainers.image.source=https://example.invalid/repo', '--platform', 'linux/arm64/v8',
      '--history', 'busybox base',
    ]);
    const config = JSON.parse(must('skopeo', ['inspect', '--config', `oci:${layout}:cfg`]));
    assert.deepEqual(config.config.Entrypoint, ['/bin/busybox']);
    assert.deepEqual(config.config.Cmd, ['/bin/sh', '-c', 'echo hello']);
    assert.deepEqual(config.config.Env, ['PATH=/bin', 'LANG=C.UTF-8']);
    assert.equal(config.config.WorkingDir, '/root');
    assert.equal(config.config.User, '65534:65534');
    assert.deepEqual(config.config.Labels, { 'org.example.team': 'platform' });
    assert.equal(config.architecture, 'arm64');
    assert.equal(config.variant, 'v8');
    assert.equal(config.created, '2023-11-14T22:13:20Z');
    assert.equal(config.history[0].comment, 'busybox base');
    const manifest = JSON.parse(must('skopeo', ['inspect', '--raw', `oci:${layout}:cfg`]));
    assert.equal(manifest.annotations['org.opencontainers.image.source'], 'https://example.invalid/repo');
  });

  it('writes zstd layers that zstd, skopeo and podman accept', () => {
    const layout = join(work, 'zstd');
    cliOk(['import', rootfs, `oci:${layout}:z`, '--compression', 'zstd']);
    const report = JSON.parse(cliOk(['inspect', '--json', `oci:${layout}:z`]));
    assert.equal(report.layers[0].mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');
    const blob = join(layout, 'blobs/sha256', report.layers[0].digest.slice(7));
    assert.equal(`sha256:${must('sh', ['-c', `zstd -dc '${blob}' | sha256sum`]).split(' ')[0]}`, report.layers[0].diffID);
    assert.equal(skopeoInspect(`oci:${layout}:z`).Layers[0], report.layers[0].digest);
    const r = podman.runImage(`oci:${layout}:z`, ['/bin/sh', '-c', 'echo success']);
    assert.equal(r.stdout.trim(), 'success', r.stderr);
  });

  it('copies an image between references through the library API', async () => {
    const { withImage, writeImage } = await import('../src/index.js');
    const archive = join(work, 'for-copy.tar');
    cliOk(['import', rootfs, `docker-archive:${archive}:copy/me:1`]);
    const layout = join(work, 'copied');
    await withImage(`docker-archive:${archive}:copy/me:1`, (image) => writeImage(`oci:${layout}:copied`, image));
    // Written to an OCI layout, the Docker manifest becomes an OCI one over the same config and layers.
    const copied = JSON.parse(cliOk(['inspect', '--json', `oci:${layout}:copied`]));
    const source = JSON.parse(cliOk(['inspect', '--json', `docker-archive:${archive}`]));
    assert.equal(copied.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(copied.configDigest, source.configDigest);
    assert.deepEqual(copied.layers.map((l: { digest: string }) => l.digest), source.layers.map((l: { digest: string }) => l.digest));
    assert.equal(skopeoInspect(`oci:${layout}:copied`).Digest, copied.digest);
    podman.ok(['pull', `oci:${layout}:copied`]);
  });

  it('adds a second tag to an existing layout and keeps the first', () => {
    const layout = join(work, 'multi');
    const first = cliOk(['import', rootfs, `oci:${layout}:one`]).trim();
    const second = cliOk(['import', rootfs, `oci:${layout}:two`, '--env', 'A=b']).trim();
    assert.notEqual(first, second);
    assert.equal(skopeoInspect(`oci:${layout}:one`).Digest, first);
    assert.equal(skopeoInspect(`oci:${layout}:two`).Digest, second);
    // Re-tagging replaces the old entry for that tag.
    cliOk(['import', rootfs, `oci:${layout}:one`, '--env', 'C=d']);
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
    assert.equal(index.manifests.length, 2);
  });
});

describe('import of tar archives', () => {
  let work: string;
  let rootfs: string;

  before(() => {
    work = tempDir('import-tar');
    rootfs = busyboxRootfs(join(work, 'rootfs'));
    must('tar', ['--numeric-owner', '-cf', join(work, 'rootfs.tar'), '-C', rootfs, '.']);
    must('sh', ['-c', `gzip -c rootfs.tar > rootfs.tar.gz && xz -T1 -c rootfs.tar > rootfs.tar.xz && zstd -q -c rootfs.tar > rootfs.tar.zst`], { cwd: work });
  });

  it('reads plain, gzip, xz and zstd tars and standard input into the same layer', () => {
    const diffIDs = new Set<string>();
    for (const file of ['rootfs.tar', 'rootfs.tar.gz', 'rootfs.tar.xz', 'rootfs.tar.zst']) {
      const out = join(work, `out-${file}`);
      cliOk(['import', join(work, file), `oci:${out}`]);
      diffIDs.add(JSON.parse(cliOk(['inspect', '--json', `oci:${out}`])).layers[0].diffID);
    }
    const viaStdin = join(work, 'out-stdin');
    cliOk(['import', '-', `oci:${viaStdin}`], { input: readFileSync(join(work, 'rootfs.tar.gz')) });
    diffIDs.add(JSON.parse(cliOk(['inspect', '--json', `oci:${viaStdin}`])).layers[0].diffID);
    assert.equal(diffIDs.size, 1);
    // The same folder imported directly gives the same layer too.
    cliOk(['import', rootfs, `oci:${join(work, 'out-dir')}`]);
    assert.ok(diffIDs.has(JSON.parse(cliOk(['inspect', '--json', `oci:${join(work, 'out-dir')}`])).layers[0].diffID));
  });

  it('keeps numeric ownership, devices, FIFOs, hardlinks and xattrs from the archive; --owner replaces owners', () => {
    const tarFile = join(work, 'special.tar');
    python(
      `import tarfile,sys,io
t=tarfile.open(sys.argv[1],'w',format=tarfile.PAX_FORMAT)
def add(name, **kw):
    i=tarfile.TarInfo(name); data=kw.pop('data', None)
    for k,v in kw.items(): setattr(i,k,v)
    if data is not None: i.size=len(data)
    t.addfile(i, io.BytesIO(data) if data is not None else None)
add('usr', type=tarfile.DIRTYPE, mode=0o755)
add('usr/bin', type=tarfile.DIRTYPE, mode=0o755)
add('usr/bin/ping', mode=0o4755, uid=0, gid=0, data=b'ping', pax_headers={'SCHILY.xattr.security.capability': bytes.fromhex('0100000200200000').decode('utf-8','surrogateescape')})
add('usr/bin/zz-ping', type=tarfile.LNKTYPE, linkname='usr/bin/ping')
add('home', type=tarfile.DIRTYPE, mode=0o755)
add('home/app', type=tarfile.DIRTYPE, mode=0o750, uid=65532, gid=65532)
add('home/app/data', mode=0o600, uid=65532, gid=65532, data=b'secret')
add('dev', type=tarfile.DIRTYPE, mode=0o755)
add('dev/null', type=tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666)
add('dev/fifo', type=tarfile.FIFOTYPE, mode=0o600)
t.close()`,
      [tarFile],
    );
    const layout = join(work, 'special');
    cliOk(['import', tarFile, `oci:${layout}`]);
    const layer = JSON.parse(cliOk(['inspect', '--json', `oci:${layout}`])).layers[0].digest.slice(7);
    const listing = python(
      `import tarfile,sys
for m in tarfile.open(sys.argv[1]):
    x=m.pax_headers.get('SCHILY.xattr.security.capability')
    print(m.name, m.type.decode(), oct(m.mode), m.uid, m.gid, m.devmajor, m.devminor, m.linkname, x.encode('utf-8','surrogateescape').hex() if x else '')`,
      [join(layout, 'blobs/sha256', layer)],
    ).trim().split('\n');
    assert.deepEqual(listing, [
      'dev 5 0o755 0 0 0 0  ',
      'dev/fifo 6 0o600 0 0 0 0  ',
      'dev/null 3 0o666 0 0 1 3  ',
      'home 5 0o755 0 0 0 0  ',
      'home/app 5 0o750 65532 65532 0 0  ',
      'home/app/data 0 0o600 65532 65532 0 0  ',
      'usr 5 0o755 0 0 0 0  ',
      'usr/bin 5 0o755 0 0 0 0  ',
      'usr/bin/ping 0 0o4755 0 0 0 0  0100000200200000',
      'usr/bin/zz-ping 1 0o4755 0 0 0 0 usr/bin/ping',
    ]);

    const mapped = join(work, 'mapped');
    cliOk(['import', tarFile, `oci:${mapped}`, '--owner', '0:0']);
    const mappedLayer = JSON.parse(cliOk(['inspect', '--json', `oci:${mapped}`])).layers[0].digest.slice(7);
    const owners = must('tar', ['--numeric-owner', '-tvzf', join(mapped, 'blobs/sha256', mappedLayer)]);
    assert.ok(!owners.includes('65532'), owners);
  });

  it('imports a folder with hardlinks, symlinks and a FIFO', () => {
    const dir = join(work, 'linked');
    mkdirSync(join(dir, 'a'), { recursive: true });
    writeFileSync(join(dir, 'z-original'), 'data');
    linkSync(join(dir, 'z-original'), join(dir, 'a/hard'));
    symlinkSync('../z-original', join(dir, 'a/soft'));
    must('mkfifo', [join(dir, 'pipe')]);
    const layout = join(work, 'linked-oci');
    cliOk(['import', dir, `oci:${layout}`, '--owner', '0:0']);
    const layer = JSON.parse(cliOk(['inspect', '--json', `oci:${layout}`])).layers[0].digest.slice(7);
    const listing = must('tar', ['--numeric-owner', '-tvzf', join(layout, 'blobs/sha256', layer)]);
    assert.match(listing, /^-.* a\/hard$/m);
    assert.match(listing, /^h.* z-original link to a\/hard$/m);
    assert.match(listing, /^l.* a\/soft -> \.\.\/z-original$/m);
    assert.match(listing, /^p.* pipe$/m);
  });
});

describe('the two empty images', () => {
  it('import --empty makes an image with no layers (FROM scratch)', () => {
    const layout = join(tempDir('empty'), 'scratch');
    cliOk(['import', '--empty', `oci:${layout}:scratch`]);
    const info = skopeoInspect(`oci:${layout}:scratch`);
    assert.deepEqual(info.Layers, []);
    const config = JSON.parse(must('skopeo', ['inspect', '--config', `oci:${layout}:scratch`]));
    assert.deepEqual(config.rootfs.diff_ids, []);
  });

  it('one empty layer, from --empty-layer or an empty tar on standard input, has the well-known empty diffID', () => {
    const dir = tempDir('empty-layer');
    cliOk(['import', '--empty-layer', `oci:${join(dir, 'a')}`]);
    const emptyTar = Buffer.from(must('tar', ['-c', '--files-from', '/dev/null'], { encoding: 'latin1' }), 'latin1');
    cliOk(['import', '-', `oci:${join(dir, 'b')}`], { input: emptyTar });
    const expected = `sha256:${sha256Hex(Buffer.alloc(1024))}`;
    for (const name of ['a', 'b']) {
      const report = JSON.parse(cliOk(['inspect', '--json', `oci:${join(dir, name)}`]));
      assert.equal(report.layers.length, 1);
      assert.equal(report.layers[0].diffID, expected);
      assert.equal(report.layers[0].uncompressedSize, 1024);
    }
    assert.equal(manifestDigest(`oci:${join(dir, 'a')}`), manifestDigest(`oci:${join(dir, 'b')}`));
    assert.equal(skopeoInspect(`oci:${join(dir, 'a')}`).Layers.length, 1);
    void existsSync;
  });
});
