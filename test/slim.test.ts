import assert from 'node:assert/strict';
import { existsSync, linkSync, mkdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readHostSources } from '../src/packages/deb/apt-sources.js';
import { addLayer, cli, cliOk, must, Podman, python, sharedDir, tempDir } from './helpers.js';

/** One name of an unpacked root filesystem, as Python's os.lstat sees it. */
interface TreeEntry {
  path: string;
  type: 'file' | 'dir' | 'link';
  size: number;
  ino: number;
  target?: string;
}

/** `umoci unpack` of an image, and every name in its root filesystem (umoci is the oracle, not our reader). */
function unpack(layout: string, tag: string, dir: string): { rootfs: string; tree: Map<string, TreeEntry> } {
  must('umoci', ['unpack', '--image', `${layout}:${tag}`, dir]);
  const rootfs = join(dir, 'rootfs');
  const out = python(
    `
import json, os, stat, sys
root = sys.argv[1]; out = []
for base, dirs, files in os.walk(root):
    for name in dirs + files:
        p = os.path.join(base, name); st = os.lstat(p); rel = os.path.relpath(p, root)
        if stat.S_ISLNK(st.st_mode): out.append({'path': rel, 'type': 'link', 'size': 0, 'ino': st.st_ino, 'target': os.readlink(p)})
        elif stat.S_ISDIR(st.st_mode): out.append({'path': rel, 'type': 'dir', 'size': 0, 'ino': st.st_ino})
        else: out.append({'path': rel, 'type': 'file', 'size': st.st_size, 'ino': st.st_ino})
print(json.dumps(out))
`,
    [rootfs],
  );
  return { rootfs, tree: new Map((JSON.parse(out) as TreeEntry[]).map((e) => [e.path, e])) };
}

/** Bytes of the regular files `before` has and `after` lacks, each inode once, summed per prefix group. */
function removedBytes(before: Map<string, TreeEntry>, after: Map<string, TreeEntry>, group: (path: string) => string): Map<string, number> {
  const seen = new Set<number>();
  const sums = new Map<string, number>();
  for (const e of before.values()) {
    if (e.type !== 'file' || after.has(e.path) || seen.has(e.ino)) continue;
    seen.add(e.ino);
    const g = group(e.path);
    sums.set(g, (sums.get(g) ?? 0) + e.size);
  }
  return sums;
}

function manifestOf(layout: string, tag: string): { layers: { digest: string; size: number }[]; config: { digest: string } } {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const d = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag)!.digest;
  return JSON.parse(readFileSync(join(layout, 'blobs/sha256', d.slice(7)), 'utf8'));
}

function blobPath(layout: string, digest: string): string {
  return join(layout, 'blobs/sha256', digest.slice(7));
}

interface SlimSummary {
  digest: string;
  savedBytes: number;
  categories: Record<string, number>;
  layers: { index: number; before: string; after: string; rewritten: boolean }[];
  droppedWhiteouts: number;
  dpkg?: { editedFiles: number; removedLines: number; config?: string };
}

describe('slim: a Debian bookworm minbase image', () => {
  const podman = new Podman();
  let work: string;
  let layout: string;
  let original: Map<string, TreeEntry>;
  let slim: { rootfs: string; tree: Map<string, TreeEntry> };
  let summary: SlimSummary;
  let stderr: string;

  before(async () => {
    const source = (await readHostSources()).find((s) => s.suites.includes('bookworm') && s.signedBy);
    assert.ok(source, 'this machine needs an apt source for bookworm');
    work = tempDir('slim');
    layout = join(work, 'debian');
    cliOk(['build', `oci:${layout}:bookworm`, '--suite', 'bookworm', '--preset', 'minbase'], { env: { FROMSCRATCH_CACHE: join(sharedDir(), 'cache') } });
    const r = cli(['slim', `oci:${layout}:bookworm`, `oci:${layout}:slim`, '--json']);
    assert.equal(r.status, 0, r.stderr);
    summary = JSON.parse(r.stdout) as SlimSummary;
    stderr = r.stderr;
    original = unpack(layout, 'bookworm', join(work, 'original')).tree;
    slim = unpack(layout, 'slim', join(work, 'slim'));
  });
  after(() => podman.cleanup());

  it('removes docs, man pages, info and translations, and keeps every copyright file', () => {
    const left = (prefix: string) => [...slim.tree.values()].filter((e) => e.path.startsWith(prefix) && e.type !== 'dir').map((e) => e.path);
    assert.deepEqual(left('usr/share/doc/').filter((p) => !/^usr\/share\/doc\/[^/]+\/copyright$/.test(p) && slim.tree.get(p)!.type !== 'link'), []);
    // What stays of the docs: copyright files, and per-package links to another package's folder.
    for (const p of left('usr/share/doc/').filter((x) => slim.tree.get(x)!.type === 'link')) assert.match(p, /^usr\/share\/doc\/[^/]+$/);
    assert.deepEqual(left('usr/share/man/'), []);
    assert.deepEqual(left('usr/share/locale/').filter((p) => p !== 'usr/share/locale/locale.alias'), []);
    assert.deepEqual(left('usr/share/info/'), []);
    // Emptied folders go, but for the man section folders.
    assert.deepEqual([...slim.tree.values()].filter((e) => e.path.startsWith('usr/share/man/')).map((e) => e.path).sort(), ['usr/share/man/man1', 'usr/share/man/man5', 'usr/share/man/man7', 'usr/share/man/man8']);
    assert.ok(!slim.tree.has('usr/share/locale/de'));
    // Every installed package's copyright file is still there (through the per-package links too).
    const status = readFileSync(join(slim.rootfs, 'var/lib/dpkg/status'), 'utf8');
    const packages = [...status.matchAll(/^Package: (.+)$/gm)].map((m) => m[1]!);
    assert.ok(packages.length > 80, `${packages.length} packages`);
    for (const pkg of packages) {
      if (!existsSync(join(work, 'original/rootfs/usr/share/doc', pkg, 'copyright'))) continue;
      assert.ok(existsSync(join(slim.rootfs, 'usr/share/doc', pkg, 'copyright')), `${pkg}'s copyright file`);
    }
    assert.ok(original.has('usr/share/doc/bash/copyright') && slim.tree.has('usr/share/doc/bash/copyright'));
    // update-alternatives' links to removed files go with them (awk.1.gz -> mawk.1.gz), as in an image
    // built slim; the others stay, and none dangles.
    const alternatives = (tree: Map<string, TreeEntry>) => [...tree.values()].filter((e) => e.path.startsWith('etc/alternatives/') && e.type === 'link');
    const gone = alternatives(original).filter((e) => !slim.tree.has(e.path)).map((e) => e.path);
    assert.ok(gone.includes('etc/alternatives/awk.1.gz') && slim.tree.has('etc/alternatives/awk'), gone.join(' '));
    for (const p of gone) assert.match(original.get(p)!.target!, /^\/usr\/share\/(man|doc|info|locale|groff)\//, p);
    for (const e of alternatives(original)) {
      const target = e.target!.replace(/^\//, '');
      if (!original.has(target)) continue; // a target reached through a symlinked folder
      assert.equal(slim.tree.has(e.path), slim.tree.has(target), `/${e.path} -> ${e.target}`);
    }
    // The rest of the image is untouched.
    const elsewhere = [...original.keys()].filter((p) => !/^usr\/share\/(doc|man|locale|info|lintian|groff)\//.test(p) && !p.startsWith('var/lib/dpkg/info/') && !gone.includes(p) && !slim.tree.has(p));
    assert.deepEqual(elsewhere, []);
  });

  it('prints the bytes it saved: what the unpacked trees say, per category and in all', () => {
    const category = (p: string) => (/^usr\/share\/(man|groff)\//.test(p) ? 'man' : /^usr\/share\/info\//.test(p) ? 'info' : /^usr\/share\/locale\//.test(p) ? 'locales' : /^usr\/share\/(doc|lintian)\//.test(p) ? 'docs' : p);
    const removed = removedBytes(original, slim.tree, category);
    assert.deepEqual([...removed.keys()].sort(), ['docs', 'info', 'locales', 'man']);
    for (const [name, bytes] of removed) assert.equal(summary.categories[name], bytes, name);
    const total = [...removed.values()].reduce((a, b) => a + b, 0);
    assert.equal(summary.savedBytes, total);
    assert.ok(total > 30e6, `${total} bytes`);
    assert.match(stderr, new RegExp(`^slim: total +${total} bytes`, 'm'));
    assert.match(stderr, new RegExp(`^slim: docs +${summary.categories['docs']} bytes`, 'm'));
    // analyze predicts it by the same rules.
    const report = JSON.parse(cliOk(['analyze', '--json', `oci:${layout}:bookworm`]));
    for (const [name, bytes] of Object.entries(summary.categories)) assert.equal(report.savings[name], bytes, name);
    const m = manifestOf(layout, 'slim');
    assert.ok(m.layers[0]!.size < manifestOf(layout, 'bookworm').layers[0]!.size - 10e6);
    assert.match(stderr, /MB → [\d.]+ MB compressed/);
  });

  it('keeps dpkg quiet: --verify prints nothing, the file lists name no removed file; programs run', () => {
    const id = podman.ok(['pull', '-q', `oci:${layout}:slim`]).trim().split('\n').pop()!;
    const r = podman.runImage(id, ['bash', '-c', 'dpkg --verify; echo "verify:$?"; dpkg --audit; echo "audit:$?"; apt-get --version | head -1; ls / | wc -l; dpkg -L bash | grep -c "/usr/share/man/.*\\.gz$" || true']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^verify:0\naudit:0\napt \d[^\n]*\n\d+\n0\n$/);
    // The lists edited are the ones the image shows, and they lost what slim removed.
    assert.ok(summary.dpkg && summary.dpkg.editedFiles > 50 && summary.dpkg.removedLines > 1000, JSON.stringify(summary.dpkg));
    const list = readFileSync(join(slim.rootfs, 'var/lib/dpkg/info/bash.list'), 'utf8');
    assert.match(list, /^\/usr\/share\/doc\/bash\/copyright$/m);
    assert.doesNotMatch(list, /^\/usr\/share\/man\/man1\/bash\.1\.gz$/m);
    assert.match(readFileSync(join(work, 'original/rootfs/var/lib/dpkg/info/bash.list'), 'utf8'), /^\/usr\/share\/man\/man1\/bash\.1\.gz$/m);
  });

  it('keeps packages installed later slim through a dpkg path-exclude file (network)', () => {
    const config = readFileSync(join(slim.rootfs, 'etc/dpkg/dpkg.cfg.d/fromscratch-slim'), 'utf8');
    assert.match(config, /^path-exclude \/usr\/share\/doc\/\*$/m);
    assert.match(config, /^path-include \/usr\/share\/doc\/\*\/copyright$/m);
    assert.match(config, /^path-exclude \/usr\/share\/man\/\*$/m);
    const id = podman.ok(['pull', '-q', `oci:${layout}:slim`]).trim().split('\n').pop()!;
    const r = podman.runImage(id, ['bash', '-c', 'apt-get update -qq && apt-get install -y -qq --no-install-recommends less >/dev/null && less --version | head -1 && ls /usr/share/doc/less && ls /usr/share/man/man1'], [], 'host');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^less \d+[^\n]*\ncopyright\n$/);
  });

  it('--keep man keeps the man pages, and the dpkg file leaves them to packages', () => {
    const r = cli(['slim', `oci:${layout}:bookworm`, `oci:${layout}:man`, '--keep', 'man', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const kept = unpack(layout, 'man', join(work, 'man'));
    const manPages = (t: Map<string, TreeEntry>) => [...t.values()].filter((e) => e.path.startsWith('usr/share/man/') && e.type !== 'dir').map((e) => e.path).sort();
    assert.ok(manPages(original).length > 100);
    assert.deepEqual(manPages(kept.tree), manPages(original));
    assert.ok(!kept.tree.has('usr/share/doc/bash/changelog.Debian.gz') && original.has('usr/share/doc/bash/changelog.Debian.gz'));
    const summary = JSON.parse(r.stdout) as SlimSummary;
    assert.equal(summary.categories['man'], undefined);
    assert.doesNotMatch(readFileSync(join(kept.rootfs, 'etc/dpkg/dpkg.cfg.d/fromscratch-slim'), 'utf8'), /\/usr\/share\/man/);
    assert.match(readFileSync(join(kept.rootfs, 'var/lib/dpkg/info/bash.list'), 'utf8'), /^\/usr\/share\/man\/man1\/bash\.1\.gz$/m);
  });

  it('is deterministic, and slimming a slim image changes nothing', () => {
    const again = cliOk(['slim', `oci:${layout}:bookworm`, `oci:${join(work, 'again')}:slim`]).trim();
    assert.equal(again, summary.digest);
    const twice = JSON.parse(cliOk(['slim', `oci:${layout}:slim`, `oci:${layout}:twice`, '--json'])) as SlimSummary;
    assert.equal(twice.digest, summary.digest);
    assert.equal(twice.savedBytes, 0);
    assert.equal(twice.layers[0]!.rewritten, false);
  });

  it('removes zoneinfo when asked, but the zone /etc/localtime names; refuses to remove ld.so.cache from a multiarch image', () => {
    const r = cli(['slim', `oci:${layout}:bookworm`, `oci:${layout}:tz`, '--remove', 'zoneinfo', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const tz = unpack(layout, 'tz', join(work, 'tz'));
    assert.ok(original.has('usr/share/zoneinfo/Europe/Berlin') && !tz.tree.has('usr/share/zoneinfo/Europe/Berlin'));
    assert.equal(tz.tree.get('etc/localtime')?.target, '/usr/share/zoneinfo/Etc/UTC');
    assert.equal(tz.tree.get('usr/share/zoneinfo/Etc/UTC')?.type, 'file');
    assert.equal(tz.tree.get('usr/share/zoneinfo/UTC')?.target, 'Etc/UTC');
    assert.ok((JSON.parse(r.stdout) as SlimSummary).categories['zoneinfo']! > 500_000);

    const dest = join(work, 'no-ld-cache');
    const refused = cli(['slim', `oci:${layout}:bookworm`, `oci:${dest}:x`, '--remove', 'ld.so.cache']);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /--remove ld\.so\.cache: .* keeps libraries in \/usr\/lib\/x86_64-linux-gnu, which the dynamic loader finds only through \/etc\/ld\.so\.cache/);
    assert.ok(!existsSync(dest));
  });
});

function layerNames(layout: string, digest: string): string[] {
  return must('tar', ['-tzf', blobPath(layout, digest)]).trim().split('\n').map((n) => n.replace(/\/$/, '')).sort();
}

describe('slim: an image of several layers', () => {
  let work: string;
  let layout: string;
  let summary: SlimSummary;

  before(() => {
    work = tempDir('slim-layers');
    const tree = join(work, 'tree');
    for (const d of ['usr/bin', 'usr/share/doc/a', 'usr/share/man/man1', 'usr/share/locale/de/LC_MESSAGES', 'var/cache/apt/archives/partial', 'var/lib/apt/lists', 'etc']) mkdirSync(join(tree, d), { recursive: true });
    writeFileSync(join(tree, 'usr/bin/a'), 'binary a\n');
    writeFileSync(join(tree, 'usr/share/doc/a/copyright'), 'licence of a\n');
    writeFileSync(join(tree, 'usr/share/doc/a/README'), 'x'.repeat(1000));
    writeFileSync(join(tree, 'usr/share/doc/a/guide'), 'g'.repeat(2000));
    // A name outside the docs linked to a doc file: the bytes stay, for the link.
    linkSync(join(tree, 'usr/share/doc/a/guide'), join(tree, 'usr/share/guide'));
    writeFileSync(join(tree, 'usr/share/man/man1/a.1.gz'), 'm'.repeat(300));
    writeFileSync(join(tree, 'usr/share/locale/de/LC_MESSAGES/a.mo'), 'l'.repeat(400));
    writeFileSync(join(tree, 'var/cache/apt/archives/a.deb'), 'd'.repeat(5000));
    writeFileSync(join(tree, 'var/lib/apt/lists/deb_Packages'), 'p'.repeat(700));
    writeFileSync(join(tree, 'etc/x'), 'x\n');
    layout = join(work, 'img');
    cliOk(['import', tree, `oci:${layout}:base`, '--owner', '0:0']);
    must('umoci', ['tag', '--image', `${layout}:base`, 'layered']);
    // Layer 1: nothing slim removes.
    addLayer(`${layout}:layered`, join(work, 'l1.tar'), [['opt', 'dir', ''], ['opt/app', 'file', 'app\n']]);
    // Layer 2: more docs; a whiteout that hides only a removed file, one that hides a kept file, and
    // an opaque folder over a copyright file (kept).
    addLayer(`${layout}:layered`, join(work, 'l2.tar'), [
      ['usr/share/doc/b', 'dir', ''], ['usr/share/doc/b/copyright', 'file', 'licence of b\n'], ['usr/share/doc/b/NEWS', 'file', 'n'.repeat(3000)],
      ['usr/share/doc/a/.wh.README', 'file', ''], ['etc/.wh.x', 'file', ''],
      ['usr/share/locale/de/LC_MESSAGES/b.mo', 'file', 'b'.repeat(600)],
    ]);
    // Layer 3: a folder made opaque: it hides a copyright file, so it stays.
    addLayer(`${layout}:layered`, join(work, 'l3.tar'), [['usr/share/doc/a', 'dir', ''], ['usr/share/doc/a/.wh..wh..opq', 'file', ''], ['usr/share/doc/a/copyright', 'file', 'new licence of a\n']]);
    const r = cli(['slim', `oci:${layout}:layered`, `oci:${layout}:slim`, '--json']);
    assert.equal(r.status, 0, r.stderr);
    summary = JSON.parse(r.stdout) as SlimSummary;
  });

  it('keeps the layers it removes nothing from, and the history', () => {
    const before = manifestOf(layout, 'layered');
    const after = manifestOf(layout, 'slim');
    assert.equal(after.layers.length, 4);
    assert.equal(after.layers[1]!.digest, before.layers[1]!.digest);
    assert.equal(after.layers[3]!.digest, before.layers[3]!.digest);
    assert.notEqual(after.layers[0]!.digest, before.layers[0]!.digest);
    assert.notEqual(after.layers[2]!.digest, before.layers[2]!.digest);
    assert.deepEqual(summary.layers.map((l) => l.rewritten), [true, false, true, false]);
    const config = (tag: string) => JSON.parse(readFileSync(blobPath(layout, manifestOf(layout, tag).config.digest), 'utf8'));
    assert.deepEqual(config('slim').history, config('layered').history);
    assert.equal(config('slim').rootfs.diff_ids[1], config('layered').rootfs.diff_ids[1]);
  });

  it('drops the whiteout that hides only removed files, keeps the others, and unpacks with umoci', () => {
    const after = manifestOf(layout, 'slim');
    assert.deepEqual(layerNames(layout, after.layers[2]!.digest), ['etc/.wh.x', 'usr/share/doc/b', 'usr/share/doc/b/copyright']);
    assert.equal(summary.droppedWhiteouts, 1);
    // The doc file a kept hardlink names stays (its bytes would stay anyway); apt's folders stay empty.
    assert.deepEqual(layerNames(layout, after.layers[0]!.digest), [
      'etc', 'etc/x', 'usr', 'usr/bin', 'usr/bin/a', 'usr/share', 'usr/share/doc', 'usr/share/doc/a', 'usr/share/doc/a/copyright', 'usr/share/doc/a/guide',
      'usr/share/guide', 'usr/share/locale', 'usr/share/man', 'usr/share/man/man1', 'var', 'var/cache', 'var/cache/apt', 'var/cache/apt/archives',
      'var/cache/apt/archives/partial', 'var/lib', 'var/lib/apt', 'var/lib/apt/lists',
    ].sort());
    const { tree } = unpack(layout, 'slim', join(work, 'unpacked'));
    const files = [...tree.values()].filter((e) => e.type === 'file').map((e) => e.path).sort();
    assert.deepEqual(files, ['opt/app', 'usr/bin/a', 'usr/share/doc/a/copyright', 'usr/share/doc/b/copyright', 'usr/share/guide']);
    assert.equal(readFileSync(join(work, 'unpacked/rootfs/usr/share/doc/a/copyright'), 'utf8'), 'new licence of a\n');
    assert.equal(readFileSync(join(work, 'unpacked/rootfs/usr/share/guide'), 'utf8'), 'g'.repeat(2000));
    // Bytes: layer 0 lost README, man, locale, .deb and lists; layer 2 NEWS and b.mo.
    assert.deepEqual(summary.categories, { docs: 1000 + 3000, man: 300, info: 0, locales: 400 + 600, caches: 5000 + 700, logs: 0, cracklib: 0, sln: 0, ldconfig: 0 });
  });

  it('removes the categories kept by default when asked, but what kept links lead to', () => {
    const tree = join(work, 'optional');
    for (const d of ['etc', 'var/lib/rpm', 'usr/share/zoneinfo/Europe', 'usr/share/zoneinfo/America', 'usr/share/zoneinfo/Asia', 'usr/share/zoneinfo/Etc']) mkdirSync(join(tree, d), { recursive: true });
    writeFileSync(join(tree, 'etc/services'), '# Network services\n\nssh\t\t22/tcp\t\t\t# SSH\nhttp\t\t80/tcp\t\twww\nhttp-alt\t8080/tcp\twebcache\n');
    writeFileSync(join(tree, 'etc/ld.so.cache'), 'c'.repeat(100));
    writeFileSync(join(tree, 'var/lib/rpm/rpmdb.sqlite'), 'r'.repeat(200));
    for (const zone of ['Europe/Berlin', 'America/New_York', 'Asia/Tokyo', 'Etc/UTC']) writeFileSync(join(tree, 'usr/share/zoneinfo', zone), `TZif ${zone}`);
    symlinkSync('America/New_York', join(tree, 'usr/share/zoneinfo/posixrules'));
    symlinkSync('Etc/UTC', join(tree, 'usr/share/zoneinfo/UTC'));
    symlinkSync('/usr/share/zoneinfo/Asia/Tokyo', join(tree, 'etc/localtime'));
    const image = join(work, 'optional-img');
    cliOk(['import', tree, `oci:${image}:x`, '--owner', '0:0']);
    const r = cli(['slim', `oci:${image}:x`, `oci:${image}:slim`, '--remove', 'services,ld.so.cache,pkgdb,zoneinfo', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const { rootfs, tree: after } = unpack(image, 'slim', join(work, 'optional-unpacked'));
    assert.equal(readFileSync(join(rootfs, 'etc/services'), 'utf8'), 'ssh 22/tcp\nhttp 80/tcp www\n');
    assert.ok(!after.has('etc/ld.so.cache') && !after.has('var/lib/rpm/rpmdb.sqlite') && after.has('var/lib/rpm'));
    const zones = [...after.values()].filter((e) => e.path.startsWith('usr/share/zoneinfo/') && e.type !== 'dir').map((e) => e.path).sort();
    assert.deepEqual(zones, ['usr/share/zoneinfo/America/New_York', 'usr/share/zoneinfo/Asia/Tokyo', 'usr/share/zoneinfo/Etc/UTC', 'usr/share/zoneinfo/UTC', 'usr/share/zoneinfo/posixrules']);
    assert.ok(!after.has('usr/share/zoneinfo/Europe'));
    const s = JSON.parse(r.stdout) as SlimSummary;
    assert.equal(s.categories['services'], readFileSync(join(tree, 'etc/services')).length - 'ssh 22/tcp\nhttp 80/tcp www\n'.length);
    assert.equal(s.categories['ld.so.cache'], 100);
    assert.equal(s.categories['pkgdb'], 200);
    assert.equal(s.categories['zoneinfo'], 'TZif Europe/Berlin'.length);
  });

  it('refuses an unknown category, naming the valid ones', () => {
    const dest = join(work, 'unknown');
    const r = cli(['slim', `oci:${layout}:layered`, `oci:${dest}:x`, '--keep', 'docs,manpages']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--keep manpages: no such category; the categories are docs, man, info, locales, caches,/);
    assert.ok(!existsSync(dest));
  });

  it('names a corrupt, a truncated or a substituted layer and writes nothing', () => {
    const layer2 = manifestOf(layout, 'layered').layers[2]!;
    const cases: [string, (copy: string) => void, RegExp][] = [
      ['corrupt', (copy) => {
        const path = blobPath(copy, layer2.digest);
        const bytes = readFileSync(path);
        const at = Math.floor(bytes.length / 2);
        bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at);
        writeFileSync(path, bytes);
      }, /layer 2 \(sha256:[0-9a-f]{64}\).*(corrupt|does not match its digest)/],
      ['truncated', (copy) => truncateSync(blobPath(copy, layer2.digest), Math.floor(layer2.size / 2)), /layer 2 \(sha256:[0-9a-f]{64}\).*(truncated|corrupt|does not match)/],
      ['substituted', (copy) => writeFileSync(blobPath(copy, layer2.digest), readFileSync(blobPath(copy, manifestOf(layout, 'layered').layers[1]!.digest))), /layer 2 \(sha256:[0-9a-f]{64}\).*does not match its digest/],
    ];
    for (const [what, damage, message] of cases) {
      const copy = join(work, `copy-${what}`);
      must('cp', ['-a', layout, copy]);
      damage(copy);
      const dest = join(work, `out-${what}`);
      const r = cli(['slim', `oci:${copy}:layered`, `oci:${dest}:x`]);
      assert.notEqual(r.status, 0, what);
      assert.match(r.stderr, message, what);
      assert.ok(r.stderr.includes(layer2.digest), `${what}: ${r.stderr}`);
      assert.ok(!existsSync(dest), what);
    }
  });
});
