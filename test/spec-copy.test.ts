import assert from 'node:assert/strict';
import { existsSync, linkSync, lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { ImageFilesystem } from '../src/image/filesystem.js';
import { parseSpec } from '../src/build-spec/load.js';
import { withImage } from '../src/transport/transports.js';
import { cli, cliOk, listTree, must, python, sha256Hex, tempDir } from './helpers.js';

/** The one layer blob of an image in an OCI layout (our builds write one). */
function layerBlob(layout: string, tag: string): string {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag)!;
  const blob = (digest: string) => join(layout, 'blobs/sha256', digest.slice('sha256:'.length));
  const manifest = JSON.parse(readFileSync(blob(entry.digest), 'utf8')) as { layers: { digest: string }[] };
  assert.equal(manifest.layers.length, 1);
  return blob(manifest.layers[0]!.digest);
}

interface TarLine {
  mode: string;
  owner: string;
  link?: string;
}

/** GNU tar's verbose listing, by path: type and mode letters, numeric uid/gid, link targets. */
function tarListing(blob: string): Map<string, TarLine> {
  const out = new Map<string, TarLine>();
  for (const line of must('tar', ['--numeric-owner', '-tvzf', blob]).split('\n')) {
    const m = /^(\S{10})\s+(\d+\/\d+)\s+\d+\s+\S+\s+\S+\s+(.*)$/.exec(line);
    if (!m) continue;
    const [, mode, owner, rest] = m;
    const hard = / link to /.exec(rest!);
    const sym = / -> /.exec(rest!);
    if (hard) out.set(rest!.slice(0, hard.index).replace(/\/$/, ''), { mode: mode!, owner: owner!, link: rest!.slice(hard.index + hard[0].length) });
    else if (sym) out.set(rest!.slice(0, sym.index), { mode: mode!, owner: owner!, link: rest!.slice(sym.index + sym[0].length) });
    else out.set(rest!.replace(/\/$/, ''), { mode: mode!, owner: owner! });
  }
  return out;
}

/**
 * A two-layer source image: layer 0 imported by fromscratch from a GNU tar of a folder (owner 1234:5678,
 * hardlinks), layer 1 written by Python's tarfile and appended verbatim by umoci: a whiteout, an opaque
 * folder, a file whited out and re-added in the same layer, and a hardlink of its own.
 */
function makeSourceImage(work: string): string {
  const tree = join(work, 'stage');
  for (const d of ['a-outside', 'app/bin', 'app/etc', 'app/lib/sub', 'app/share']) mkdirSync(join(tree, d), { recursive: true });
  writeFileSync(join(tree, 'a-outside/secret'), 'outside bytes\n');
  writeFileSync(join(tree, 'app/bin/tool'), '#!/bin/sh\necho tool\n', { mode: 0o755 });
  linkSync(join(tree, 'app/bin/tool'), join(tree, 'app/bin/tool-hard'));
  // A name in the copied tree linked to a file outside it (GNU tar --sort=name stores the outside one first).
  linkSync(join(tree, 'a-outside/secret'), join(tree, 'app/share/linked-out'));
  writeFileSync(join(tree, 'app/etc/gone.conf'), 'deleted by a whiteout\n');
  writeFileSync(join(tree, 'app/etc/keep.conf'), 'kept\n', { mode: 0o640 });
  writeFileSync(join(tree, 'app/etc/redo.conf'), 'old redo\n');
  writeFileSync(join(tree, 'app/lib/old.txt'), 'hidden by the opaque folder\n');
  writeFileSync(join(tree, 'app/lib/sub/deep.txt'), 'hidden too\n');
  symlinkSync('bin/tool', join(tree, 'app/current'));
  symlinkSync('/app/bin', join(tree, 'bin-link'));
  const tar0 = join(work, 'layer0.tar');
  must('tar', ['--sort=name', '--numeric-owner', '--owner=1234', '--group=5678', '--mtime=@1600000000', '-C', tree, '-cf', tar0, '.']);
  const layout = join(work, 'src');
  cliOk(['import', tar0, `oci:${layout}:base`]);
  must('umoci', ['tag', '--image', `${layout}:base`, 'layered']);

  const tar1 = join(work, 'layer1.tar');
  python(
    `
import io, sys, tarfile
t = tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT)
def add(name, kind='file', data=b'', mode=0o644, link=''):
    i = tarfile.TarInfo(name); i.mode = mode; i.uid = 1234; i.gid = 5678; i.mtime = 1600000100
    if kind == 'dir': i.type = tarfile.DIRTYPE; i.mode = 0o755
    elif kind == 'hard': i.type = tarfile.LNKTYPE; i.linkname = link
    else: i.size = len(data)
    t.addfile(i, io.BytesIO(data) if kind == 'file' else None)
add('app/etc/redo.conf', data=b'new redo\\n')
add('app/etc/.wh.redo.conf')
add('app/etc/.wh.gone.conf')
add('app/lib', 'dir')
add('app/lib/.wh..wh..opq')
add('app/lib/new.txt', data=b'new lib\\n', mode=0o600)
add('app/bin/second', data=b'second\\n', mode=0o755)
add('app/bin/second-hard', 'hard', link='app/bin/second')
t.close()
`,
    [tar1],
  );
  must('umoci', ['raw', 'add-layer', '--image', `${layout}:layered`, tar1]);
  return layout;
}

describe('spec copy: files from another image (COPY --from)', () => {
  let work: string;
  let layout: string;
  before(() => {
    work = tempDir('copy');
    layout = makeSourceImage(work);
  });

  it("reads an image's merged filesystem as umoci unpacks it (whiteouts, opaque folders, hardlinks)", async () => {
    const bundle = join(work, 'umoci-bundle');
    must('umoci', ['unpack', '--rootless', '--image', `${layout}:layered`, bundle]);
    const rootfs = join(bundle, 'rootfs');
    const expected = listTree(rootfs);
    const entries = await withImage(`oci:${layout}:layered`, async (image) => (await ImageFilesystem.read(image, 'src')).list(''));
    assert.deepEqual(entries.map((e) => e.path).sort(), expected);
    for (const e of entries) {
      const st = lstatSync(join(rootfs, e.path));
      if (e.type === 'symlink') assert.equal(readlinkSync(join(rootfs, e.path)), e.linkname, e.path);
      else if (e.type === 'directory') assert.ok(st.isDirectory(), e.path);
      else {
        assert.ok(st.isFile(), e.path);
        assert.equal(st.size, e.type === 'hardlink' ? entries.find((f) => f.path === e.linkname)!.size : e.size, e.path);
        assert.equal(st.mode & 0o7777, e.mode, e.path);
      }
    }
    assert.ok(!expected.includes('app/etc/gone.conf') && !expected.includes('app/lib/old.txt') && !expected.includes('app/lib/sub'));
    assert.equal(readFileSync(join(rootfs, 'app/etc/redo.conf'), 'utf8'), 'new redo\n');
  });

  it('builds an image with the copied trees: bytes, owners, modes, links, whiteouts applied', () => {
    const spec = join(work, 'spec.yaml');
    writeFileSync(
      spec,
      [
        'contents:',
        '  suite: bookworm',
        '  preset: busybox',
        'copy:',
        '  - from: oci:./src:layered', //  relative to the spec's folder
        '    source: /app',
        '    path: /opt/app',
        '  - from: oci:./src:layered',
        '    source: /bin-link', //  a symlink to a folder: followed, as BuildKit does
        '    path: /usr/local/tools',
        '  - from: oci:./src:layered',
        '    source: /app/etc/keep.conf',
        '    path: /etc/app/keep.conf',
        '    uid: 65532',
        '    gid: 65532',
        '    permissions: 0600',
        '',
      ].join('\n'),
    );
    const out = join(work, 'out');
    cliOk(['build', spec, `oci:${out}:copied`], { cwd: '/' }); // `from` resolves against the spec, not the cwd

    const listing = tarListing(layerBlob(out, 'copied'));
    const bundle = join(work, 'built-bundle');
    must('umoci', ['unpack', '--rootless', '--image', `${out}:copied`, bundle]);
    const rootfs = join(bundle, 'rootfs');
    const src = join(work, 'stage');

    // Bytes: as the source image has them (the unpacked source tree for layer 0, layer 1's own for the rest).
    for (const f of ['bin/tool', 'bin/tool-hard', 'etc/keep.conf', 'share/linked-out', 'current']) {
      assert.equal(sha256Hex(readFileSync(join(rootfs, 'opt/app', f))), sha256Hex(readFileSync(join(src, 'app', f))), f);
    }
    assert.equal(readFileSync(join(rootfs, 'opt/app/etc/redo.conf'), 'utf8'), 'new redo\n');
    assert.equal(readFileSync(join(rootfs, 'opt/app/lib/new.txt'), 'utf8'), 'new lib\n');
    assert.equal(readFileSync(join(rootfs, 'opt/app/bin/second'), 'utf8'), 'second\n');
    assert.equal(readFileSync(join(rootfs, 'usr/local/tools/tool'), 'utf8'), '#!/bin/sh\necho tool\n');
    // Whited out, and hidden by the opaque folder.
    for (const gone of ['opt/app/etc/gone.conf', 'opt/app/lib/old.txt', 'opt/app/lib/sub']) assert.ok(!existsSync(join(rootfs, gone)), gone);
    assert.ok(!listing.has('opt/app/etc/gone.conf') && !listing.has('opt/app/lib/sub/deep.txt'));

    // Owners and modes from the tar headers: kept from the image, or overridden.
    assert.deepEqual(listing.get('opt/app/bin/tool'), { mode: '-rwxr-xr-x', owner: '1234/5678' });
    assert.deepEqual(listing.get('opt/app/etc/keep.conf'), { mode: '-rw-r-----', owner: '1234/5678' });
    assert.deepEqual(listing.get('opt/app/lib/new.txt'), { mode: '-rw-------', owner: '1234/5678' });
    assert.equal(listing.get('opt/app')?.owner, '1234/5678');
    assert.deepEqual(listing.get('etc/app/keep.conf'), { mode: '-rw-------', owner: '65532/65532' });
    // Missing parents are made root's, 0755; existing ones (etc) stay the system's.
    assert.deepEqual(listing.get('opt'), { mode: 'drwxr-xr-x', owner: '0/0' });
    assert.deepEqual(listing.get('etc/app'), { mode: 'drwxr-xr-x', owner: '0/0' });
    assert.deepEqual(listing.get('usr/local'), { mode: 'drwxr-xr-x', owner: '0/0' });

    // Links: hardlinks inside the tree stay hardlinks, re-pointed; one to a file outside becomes a file.
    assert.equal(listing.get('opt/app/bin/tool-hard')?.link, 'opt/app/bin/tool');
    assert.equal(listing.get('opt/app/bin/second-hard')?.link, 'opt/app/bin/second');
    assert.equal(lstatSync(join(rootfs, 'opt/app/bin/tool-hard')).ino, lstatSync(join(rootfs, 'opt/app/bin/tool')).ino);
    assert.equal(listing.get('opt/app/share/linked-out')?.mode[0], '-');
    assert.equal(readFileSync(join(rootfs, 'opt/app/share/linked-out'), 'utf8'), 'outside bytes\n');
    assert.deepEqual(listing.get('opt/app/current'), { mode: 'lrwxrwxrwx', owner: '1234/5678', link: 'bin/tool' });
    assert.equal(listing.get('usr/local/tools')?.mode[0], 'd');

    // Deterministic: the same spec and SOURCE_DATE_EPOCH give the same digest.
    const again = cliOk(['build', spec, `oci:${join(work, 'again')}:copied`]).trim();
    assert.equal(again, must('skopeo', ['inspect', '--format', '{{.Digest}}', `oci:${out}:copied`]).trim());
  });

  it('refuses a source not in the image and an unreadable image, naming the YAML path, writing nothing', () => {
    const bad = (name: string, copy: string[], pattern: RegExp) => {
      const spec = join(work, `${name}.yaml`);
      writeFileSync(spec, ['contents:', '  suite: bookworm', '  preset: busybox', 'copy:', ...copy, ''].join('\n'));
      const dest = join(work, `${name}-out`);
      const r = cli(['build', spec, `oci:${dest}:x`]);
      assert.notEqual(r.status, 0, name);
      assert.match(r.stderr, pattern, name);
      assert.ok(!existsSync(dest), `${name}: nothing written`);
    };
    bad('missing', ['  - from: oci:./src:layered', '    source: /app/etc/gone.conf', '    path: /x'], /missing\.yaml:6: copy\[0\]\.source: "\/app\/etc\/gone\.conf" is not in the image oci:.*src:layered/);
    bad('noparent', ['  - from: oci:./src:layered', '    source: /app/bin', '    path: /x', '  - from: oci:./src:base', '    source: /nope/deeper', '    path: /y'], /noparent\.yaml:9: copy\[1\]\.source: "\/nope\/deeper" is not in the image/);
    bad('noimage', ['  - from: oci:./no-such-layout', '    source: /app', '    path: /x'], /noimage\.yaml:5: copy\[0\]\.from: image "oci:.*no-such-layout" cannot be read/);
    bad('notref', ['  - from: docker://busybox', '    source: /app', '    path: /x'], /notref\.yaml:5: copy\[0\]\.from: .*docker:\/\/ \(registry\) transport/);
    bad('belowfile', ['  - from: oci:./src:layered', '    source: /app/etc/keep.conf', '    path: /etc/passwd/keep.conf'], /belowfile\.yaml:5: copy\[0\].*"etc\/passwd\/keep\.conf" is written below "etc\/passwd", which is a file/);
  });

  it('validates copy entries in the schema, with the line', () => {
    assert.throws(() => parseSpec('contents: {}\ncopy:\n  - from: oci:x\n    source: relative\n    path: /a\n    owner: 1\n', 's.yaml'), (err: Error) => {
      assert.match(err.message, /^s\.yaml:4: copy\[0\]\.source: /m);
      assert.match(err.message, /^s\.yaml:6: copy\[0\]: unknown key\(s\) owner/m);
      return true;
    });
    assert.equal(parseSpec('contents: {}\ncopy:\n  - { from: "oci:x", source: /a, path: /b, permissions: 0755 }\n', 's.yaml').copy![0]!.permissions, 0o755);
  });
});
