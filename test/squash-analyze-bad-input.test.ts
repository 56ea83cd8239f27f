import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { busyboxRootfs, cli, cliOk, listTree, must, python, run, sha256Hex, tempDir } from './helpers.js';

type Spec = [string, 'file' | 'text' | 'dir' | 'hard', (string | number)?][];

/**
 * A layer tar written by Python's tarfile: `file` holds the given string, `text` that many bytes of
 * seeded pseudo-text (deflate codes it with Huffman tables, so damage to it is caught early), `hard` a
 * hardlink to the given name. Returns the tar and its gzip (`gzip -n`) bytes.
 */
function layer(file: string, entries: Spec): { tar: Buffer; gz: Buffer } {
  python(
    `
import io, json, random, sys, tarfile
rng = random.Random(7)
words = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(2, 9))) for _ in range(500)]
t = tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT)
for name, kind, arg in json.loads(sys.argv[2]):
    i = tarfile.TarInfo(name); i.mtime = 1600000000; i.mode = 0o644; data = None
    if kind == 'dir': i.type = tarfile.DIRTYPE; i.mode = 0o755
    elif kind == 'hard': i.type = tarfile.LNKTYPE; i.linkname = arg
    else:
        if kind == 'text':
            out = []; n = 0
            while n < arg:
                out.append(rng.choice(words) + rng.choice('  \\n')); n += len(out[-1])
            b = ''.join(out).encode()[:arg]
        else: b = arg.encode()
        i.size = len(b); data = io.BytesIO(b)
    t.addfile(i, data)
t.close()
`,
    [file, JSON.stringify(entries.map(([n, k, a]) => [n, k, a ?? null]))],
  );
  must('gzip', ['-n', '-k', '-f', file]);
  return { tar: readFileSync(file), gz: readFileSync(`${file}.gz`) };
}

interface LayerBlob {
  /** The blob's bytes as stored. */
  bytes: Buffer;
  /** Digest of the uncompressed tar (config's diff_ids). */
  diffID: string;
  /** What the manifest says, when it is not the truth. */
  digest?: string;
  size?: number;
}

const sha = (b: Buffer | string) => `sha256:${sha256Hex(b)}`;

/** Writes an OCI layout of one image, tagged `tag`, whose manifest lists `layers` as given. */
function writeLayout(dir: string, tag: string, layers: LayerBlob[]): void {
  mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
  const put = (bytes: Buffer | string, digest = sha(bytes)) => {
    writeFileSync(join(dir, 'blobs/sha256', digest.slice(7)), bytes);
    return { digest, size: Buffer.byteLength(bytes) };
  };
  const descriptors = layers.map((l) => {
    const written = put(l.bytes, l.digest);
    return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: written.digest, size: l.size ?? written.size };
  });
  const created = '2020-09-13T12:26:40Z';
  const config = JSON.stringify({
    architecture: 'amd64', os: 'linux', created, config: {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
    history: layers.map((_, i) => ({ created, created_by: `step ${i}` })),
  });
  const manifest = JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...put(config) }, layers: descriptors,
  });
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...put(manifest), annotations: { 'org.opencontainers.image.ref.name': tag } }],
  }));
}

/**
 * The blob with 64 bytes from `start` changed: set to 0xff, which at the start of the deflate data (after
 * gzip's 10-byte header) is an invalid block type, or flipped, which in the middle of Huffman-coded text
 * decodes to other bytes that only the CRC at the end of the stream catches.
 */
function damaged(blob: Buffer, start: number, how: 'ones' | 'flip'): Buffer {
  const copy = Buffer.from(blob);
  for (let i = start; i < start + 64; i++) copy[i] = how === 'ones' ? 0xff : copy[i]! ^ 0x5a;
  return copy;
}

describe('squash and analyze of a broken image: a clear error naming layer and entry, nothing written', () => {
  let work: string;
  let out: string;
  let existing: string;
  let good: LayerBlob[];

  before(() => {
    work = tempDir('squash-bad');
    out = join(work, 'out');
    mkdirSync(out);
    const l0 = layer(join(work, 'l0.tar'), [['etc', 'dir'], ['etc/a', 'file', 'a\n'], ['etc/b', 'file', 'b\n']]);
    const l1 = layer(join(work, 'l1.tar'), [['opt', 'dir'], ['opt/first', 'file', 'first\n'], ['opt/big.txt', 'text', 8_000_000], ['opt/last', 'file', 'last\n']]);
    const l2 = layer(join(work, 'l2.tar'), [['etc/.wh.a', 'file', ''], ['etc/c', 'file', 'c\n']]);
    good = [l0, l1, l2].map((l) => ({ bytes: l.gz, diffID: sha(l.tar) }));
    writeLayout(join(work, 'good'), 'x', good);
    // The undamaged image is valid to third-party tools, and squashes and analyses.
    must('skopeo', ['inspect', `oci:${join(work, 'good')}:x`]);
    must('umoci', ['unpack', '--image', `${join(work, 'good')}:x`, join(work, 'good-unpacked')]);
    cliOk(['squash', `oci:${join(work, 'good')}:x`, `oci:${join(work, 'good-squashed')}:x`]);
    cliOk(['analyze', `oci:${join(work, 'good')}:x`]);
    // A destination layout that already holds another image.
    existing = join(work, 'existing');
    cliOk(['import', busyboxRootfs(join(work, 'rootfs')), `oci:${existing}:other`]);
  });

  /** Whether gzip itself finds the blob broken: the oracle that the damage is real. */
  function gzipRejects(bytes: Buffer): boolean {
    const file = join(work, `blob-${sha256Hex(bytes).slice(0, 12)}.gz`);
    writeFileSync(file, bytes);
    return run('gzip', ['-t', file]).status !== 0;
  }

  /** A layout of the good layers with layer `index` replaced. */
  function variant(name: string, index: number, replacement: LayerBlob): string {
    const dir = join(work, name);
    writeLayout(dir, 'x', good.map((l, i) => (i === index ? replacement : l)));
    return `oci:${dir}:x`;
  }

  /** Runs the CLI with a fresh TMPDIR; it must fail with `message`, print no stack, and leave TMPDIR empty. */
  function fails(args: string[], message: RegExp): void {
    const tmp = join(work, `tmp-${Math.random().toString(16).slice(2)}`);
    mkdirSync(tmp);
    const r = cli(args, { env: { TMPDIR: tmp } });
    assert.notEqual(r.status, 0, `expected failure, got: ${r.stdout}`);
    assert.match(r.stderr, /^fromscratch: error: /);
    assert.match(r.stderr, message);
    assert.ok(!r.stderr.includes('    at '), `a stack trace was printed:\n${r.stderr}`);
    assert.deepEqual(listTree(tmp), [], 'temporary files were left behind');
  }

  /** squash to a new destination and to an existing layout, and analyze: each fails, nothing is written. */
  function refused(source: string, message: RegExp, squashArgs: string[] = [], analyzeRefuses = true): void {
    fails(['squash', source, `oci:${join(out, 'new')}:x`, ...squashArgs], message);
    assert.deepEqual(listTree(out), [], 'something was left at the destination');
    const before = listTree(existing);
    const index = readFileSync(join(existing, 'index.json'));
    fails(['squash', source, `oci:${existing}:squashed`, ...squashArgs], message);
    assert.deepEqual(listTree(existing), before, 'the existing layout changed');
    assert.ok(readFileSync(join(existing, 'index.json')).equals(index));
    if (squashArgs.length === 0 && analyzeRefuses) fails(['analyze', source], message);
  }

  it('a corrupt gzip layer (its digest updated to match)', () => {
    const bytes = damaged(good[1]!.bytes, 10, 'ones');
    assert.ok(gzipRejects(bytes), 'gzip -t should reject the damaged blob');
    const source = variant('corrupt', 1, { bytes, diffID: good[1]!.diffID });
    refused(source, new RegExp(`: layer 1 \\(${sha(bytes)}\\): layer ${sha(bytes)}: gzip data is corrupt or truncated \\(invalid block type\\)$`, 'm'));
  });

  it('a gzip layer whose content fails its CRC (its digest updated to match)', () => {
    const bytes = damaged(good[1]!.bytes, Math.floor(good[1]!.bytes.length / 2), 'flip');
    assert.ok(gzipRejects(bytes), 'gzip -t should reject the damaged blob');
    const source = variant('crc', 1, { bytes, diffID: good[1]!.diffID });
    // Node's gunzip reports the failure as soon as it finds it, while an entry is being read.
    refused(source, new RegExp(`: layer 1 \\(${sha(bytes)}\\), entry \\d "opt/[a-z.]+": layer ${sha(bytes)}: gzip data is corrupt or truncated \\(incorrect data check\\)$`, 'm'));
  });

  it('a truncated layer (its digest updated to match)', () => {
    const bytes = good[1]!.bytes.subarray(0, Math.floor(good[1]!.bytes.length / 2));
    assert.ok(gzipRejects(bytes), 'gzip -t should reject the truncated blob');
    const source = variant('truncated', 1, { bytes, diffID: good[1]!.diffID });
    refused(source, new RegExp(`layer 1 \\(${sha(bytes)}\\), entry 3 "opt/big\\.txt": .*gzip data is corrupt or truncated \\(unexpected end of file\\)`));
  });

  it('a layer blob holding the bytes of another layer (a valid gzip tar, but not the one its digest names)', () => {
    const source = variant('swapped', 1, { ...good[2]!, digest: sha(good[1]!.bytes), size: good[2]!.bytes.length });
    assert.notEqual(run('umoci', ['unpack', '--image', source.slice(4), join(work, 'swapped-unpacked')]).status, 0, 'umoci should reject the blob');
    refused(source, new RegExp(`layer 1 \\(${sha(good[1]!.bytes)}\\)(, after entry 2 "etc/c")?: .*blob ${sha(good[1]!.bytes)} does not match its digest \\(content hashes to ${sha(good[2]!.bytes)}\\)`));
  });

  it('a layer blob that does not match its digest only in what follows the end-of-archive marker', () => {
    // Tar readers stop at the marker; the blob must still be read to its end for its digest to be checked.
    const tar = Buffer.concat([readFileSync(join(work, 'l1.tar')), randomBytes(4 << 20)]);
    writeFileSync(join(work, 'trailing.tar'), tar);
    must('gzip', ['-n', '-k', '-f', join(work, 'trailing.tar')]);
    const bytes = readFileSync(join(work, 'trailing.tar.gz'));
    const source = variant('trailing', 1, { bytes, diffID: good[1]!.diffID, digest: sha(good[1]!.bytes), size: bytes.length });
    refused(source, new RegExp(`: layer 1 \\(${sha(good[1]!.bytes)}\\), after entry 4 "opt/last": .*: blob ${sha(good[1]!.bytes)} does not match its digest \\(content hashes to ${sha(bytes)}\\)$`, 'm'));
  });

  it('a layer blob with bytes changed in place (its digest no longer matches)', () => {
    const bytes = damaged(good[1]!.bytes, 10, 'ones');
    const source = variant('changed', 1, { bytes, diffID: good[1]!.diffID, digest: sha(good[1]!.bytes) });
    assert.notEqual(run('umoci', ['unpack', '--image', source.slice(4), join(work, 'changed-unpacked')]).status, 0, 'umoci should reject the blob');
    // The decoder fails first, at the start of the blob: the digest, checked at its end, is named as the cause.
    refused(source, new RegExp(`: layer 1 \\(${sha(good[1]!.bytes)}\\): .*: blob ${sha(good[1]!.bytes)} does not match its digest \\(content hashes to ${sha(bytes)}\\); reading it failed with: layer ${sha(good[1]!.bytes)}: gzip data is corrupt or truncated \\(invalid block type\\)$`, 'm'));
  });

  it('a hardlink to a name no layer has', () => {
    const l = layer(join(work, 'hard.tar'), [['opt', 'dir'], ['opt/link', 'hard', 'opt/missing']]);
    const source = variant('hardlink', 1, { bytes: l.gz, diffID: sha(l.tar) });
    refused(source, new RegExp(`entry 2 "opt/link" of layer 1 \\(${sha(l.gz)}\\): hardlink to "opt/missing", which is not a file at that point`));
  });

  it('a whiteout of a path no lower layer has', () => {
    const l = layer(join(work, 'ghost.tar'), [['etc/.wh.ghost', 'file', '']]);
    const source = variant('ghost', 2, { bytes: l.gz, diffID: sha(l.tar) });
    const message = `entry 1 "etc/\\.wh\\.ghost" of layer 2 \\(${sha(l.gz)}\\) deletes "/etc/ghost", which no lower layer has`;
    refused(source, new RegExp(message), [], false);
    // analyze writes nothing, and some builders emit such whiteouts (unpackers ignore them): it says so.
    const report = JSON.parse(cliOk(['analyze', '--json', source]));
    assert.equal(report.warnings.length, 1);
    assert.match(report.warnings[0], new RegExp(message));
    assert.match(cliOk(['analyze', source]), new RegExp(`^Warning: .*${message}`, 'm'));
  });

  it('--from-layer naming a layer the image does not have, and --from out of range into an existing layout', () => {
    const source = `oci:${join(work, 'good')}:x`;
    refused(source, /--from-layer sha256:0{64}: the image has no such layer \(its layers: sha256:/, ['--from-layer', `sha256:${'0'.repeat(64)}`]);
    refused(source, /--from 5: out of range; the image has 3 layers \(0-2\), and N can be 0-1/, ['--from', '5']);
  });
});
