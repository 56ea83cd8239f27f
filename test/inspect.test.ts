import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { busyboxRootfs, cli, cliOk, must, tempDir } from './helpers.js';

interface Report {
  digest: string;
  mediaType: string;
  config: { Cmd?: string[] };
  history: { created_by?: string; comment?: string }[];
  layers: { digest: string; diffID: string; chainID: string; size: number; uncompressedSize: number; history?: { comment?: string } }[];
}

/** The image-spec's ChainID, computed here on its own so the test does not trust the tool's code. */
function expectedChainIDs(diffIDs: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIDs) {
    const prev = out.at(-1);
    out.push(prev ? `sha256:${createHash('sha256').update(`${prev} ${d}`).digest('hex')}` : d);
  }
  return out;
}

describe('inspect', () => {
  let work: string;
  let rootfs: string;
  let multi: string;

  before(() => {
    work = tempDir('inspect');
    rootfs = busyboxRootfs(join(work, 'rootfs'));
    // A three-layer image made by umoci, an implementation of its own, on top of one of ours.
    multi = join(work, 'multi');
    cliOk(['import', rootfs, `oci:${multi}:base`]);
    let from = 'base';
    for (const [i, file] of ['etc/motd', 'etc/issue'].entries()) {
      const bundle = join(work, `bundle${i}`);
      must('umoci', ['unpack', '--rootless', '--image', `${multi}:${from}`, bundle]);
      must('sh', ['-c', `echo layer ${i} > '${join(bundle, 'rootfs', file)}'`]);
      from = i === 0 ? 'middle' : 'top';
      must('umoci', ['repack', '--image', `${multi}:${from}`, '--history.comment', `add ${file}`, bundle]);
    }
    must('umoci', ['rm', '--image', `${multi}:middle`]);
  });

  it('reports chainIDs that match the image-spec formula over the diffIDs', () => {
    const report = JSON.parse(cliOk(['inspect', '--json', `oci:${multi}:top`])) as Report;
    assert.equal(report.layers.length, 3);
    assert.deepEqual(report.layers.map((l) => l.chainID), expectedChainIDs(report.layers.map((l) => l.diffID)));
    assert.notEqual(report.layers[2]!.chainID, report.layers[2]!.diffID);
    const config = JSON.parse(must('skopeo', ['inspect', '--config', `oci:${multi}:top`]));
    assert.deepEqual(report.layers.map((l) => l.diffID), config.rootfs.diff_ids);
    assert.equal(report.layers[2]!.history?.comment, 'add etc/issue');
  });

  it('reports digests and sizes as skopeo and gzip see them', () => {
    const report = JSON.parse(cliOk(['inspect', '--json', `oci:${multi}:top`])) as Report;
    const raw = JSON.parse(must('skopeo', ['inspect', '--raw', `oci:${multi}:top`]));
    assert.equal(report.digest, `sha256:${createHash('sha256').update(must('skopeo', ['inspect', '--raw', `oci:${multi}:top`])).digest('hex')}`);
    assert.equal(report.mediaType, raw.mediaType);
    for (const [i, layer] of report.layers.entries()) {
      assert.equal(layer.digest, raw.layers[i].digest);
      assert.equal(layer.size, raw.layers[i].size);
      const blob = join(multi, 'blobs/sha256', layer.digest.slice(7));
      assert.equal(layer.uncompressedSize, Number(must('sh', ['-c', `gzip -dc '${blob}' | wc -c`]).trim()));
    }
  });

  it('reads a docker-archive that skopeo wrote (the classic docker save layout)', () => {
    const archive = join(work, 'skopeo-docker.tar');
    must('skopeo', ['copy', `oci:${multi}:top`, `docker-archive:${archive}:example/multi:v1`]);
    const ours = JSON.parse(cliOk(['inspect', '--json', `docker-archive:${archive}:example/multi:v1`])) as Report;
    const theirs = JSON.parse(must('skopeo', ['inspect', `docker-archive:${archive}`]));
    assert.deepEqual(ours.layers.map((l) => l.digest), theirs.Layers);
    // skopeo calls these uncompressed layers tar.gzip (a containers/image quirk), so the manifests it
    // synthesises differ from ours; the config and the layers are the same blobs.
    const raw = JSON.parse(must('skopeo', ['inspect', '--raw', `docker-archive:${archive}`]));
    assert.equal(JSON.parse(cliOk(['inspect', '--json', `docker-archive:${archive}`])).configDigest, raw.config.digest);
    assert.deepEqual(ours.layers.map((l) => l.chainID), expectedChainIDs(ours.layers.map((l) => l.diffID)));
    // Selection by index and by an unknown name.
    assert.equal(JSON.parse(cliOk(['inspect', '--json', `docker-archive:${archive}:@0`])).digest, ours.digest);
    const r = cli(['inspect', `docker-archive:${archive}:example/other:v1`]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /no image named example\/other:v1 \(names: (docker\.io\/)?example\/multi:v1\)/);
  });

  it('reads an oci-archive that skopeo wrote, and prints a readable summary', () => {
    const archive = join(work, 'skopeo-oci.tar');
    must('skopeo', ['copy', `oci:${multi}:top`, `oci-archive:${archive}:v2`]);
    const text = cliOk(['inspect', `oci-archive:${archive}:v2`]);
    assert.match(text, /^Digest: +sha256:[a-f0-9]{64}$/m);
    assert.match(text, /^Platform: +linux\/amd64$/m);
    assert.match(text, /^Layer 2 .*\n +digest +sha256:.*\n +diffID +sha256:.*\n +chainID +sha256:/m);
  });

  it('asks for a tag when a layout holds several images', () => {
    const r = cli(['inspect', `oci:${multi}`]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /holds 2 images; name one with :TAG \(tags: base, top\)/);
  });

  it('refuses a blob whose content does not match its digest', () => {
    const copy = join(work, 'tampered');
    must('cp', ['-r', multi, copy]);
    const report = JSON.parse(cliOk(['inspect', '--json', `oci:${copy}:base`])) as Report;
    const blob = join(copy, 'blobs/sha256', report.layers[0]!.digest.slice(7));
    must('sh', ['-c', `printf 'X' | dd of='${blob}' bs=1 seek=100 conv=notrunc status=none`]);
    const r = cli(['inspect', `oci:${copy}:base`]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /corrupt|does not match its digest/);
  });
});
