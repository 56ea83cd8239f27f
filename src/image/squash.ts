import { join } from 'node:path';
import type { CompressionOptions } from '../compression/compress.js';
import type { SourcedEntry } from '../entries/entry-set.js';
import { canonicalizeEntries } from '../entries/entry-set.js';
import { UserError } from '../errors.js';
import { fileLayer, type Layer } from '../layer/layer.js';
import { writeLayer, type WrittenLayer } from '../layer/layer-writer.js';
import { whiteoutEntry } from '../layer/whiteout.js';
import type { History, ImageConfig } from '../oci/config.js';
import type { Entry } from '../tar/entry.js';
import { ContentSpool } from './content-spool.js';
import { ImageFilesystem, type ImageFsEntry } from './filesystem.js';
import { assembleImage, isoTime, type Image } from './image.js';

export interface SquashOptions {
  /** Keep layers 0..from and squash the ones above; default: squash every layer. */
  from?: number;
  /** The same, naming the last kept layer by its digest. */
  fromLayer?: string;
  /** The history comment of the squashed layer. */
  message?: string;
  /** The time of the new history entry (and of whiteouts); default: the image's `created`. */
  sourceDateEpoch?: number;
  compression: CompressionOptions;
}

export interface SquashResult {
  image: Image;
  /** Layers merged into the new one, and how many lower layers were kept. */
  squashed: number;
  kept: number;
  written: WrittenLayer;
  whiteouts: number;
}

/** The number of layers to keep below the squashed one. */
function keptLayers(image: Image, options: SquashOptions): number {
  const count = image.layers.length;
  if (options.from !== undefined && options.fromLayer !== undefined) throw new UserError('--from and --from-layer exclude each other');
  if (options.fromLayer !== undefined) {
    const index = image.layers.findIndex((l) => l.descriptor.digest === options.fromLayer || l.diffID === options.fromLayer);
    if (index === -1) throw new UserError(`--from-layer ${options.fromLayer}: the image has no such layer (its layers: ${image.layers.map((l) => l.descriptor.digest).join(', ')})`);
    options = { ...options, from: index };
  }
  if (options.from === undefined) return 0;
  if (!Number.isInteger(options.from) || options.from < 0 || options.from >= count - 1) {
    const range = count < 2 ? 'none: nothing lies above its only layer' : `0-${count - 2}, so that a layer lies above it`;
    throw new UserError(`--from ${options.from}: out of range; the image has ${count} layer${count === 1 ? '' : 's'} (0-${count - 1}), and N can be ${range}`);
  }
  return options.from + 1;
}

/**
 * The history of the kept layers (up to the entry that made the last kept one; history entries of empty
 * steps such as ENV count for no layer) and one entry for the squashed layer.
 */
function squashedHistory(config: ImageConfig, kept: number, entry: History): History[] {
  const history = config.history ?? [];
  const out: History[] = [];
  let layers = 0;
  for (const h of history) {
    if (layers === kept) break;
    out.push(h);
    if (!h.empty_layer) layers++;
  }
  return [...out, entry];
}

/**
 * The entries of one layer that turns the kept layers' filesystem into the whole image's: every entry
 * that a squashed layer made or changed, and a whiteout for each path of the kept layers that the
 * squashed ones removed (or replaced by another kind of file) — only those that still hide something.
 */
function squashedEntries(lower: readonly ImageFsEntry[] | undefined, final: ImageFilesystem, kept: number, mtime: number): { changed: ImageFsEntry[]; whiteouts: SourcedEntry[]; lowerFiles: Set<string> } {
  const all = final.list('');
  const byPath = new Map(all.map((e) => [e.path, e]));
  const changed = all.filter((e) => e.layer >= kept);
  const emitted = new Set(changed.map((e) => e.path));
  // A hardlink to a name the squashed layer does not carry stays a link when that name is a file the
  // kept layers made and the squashed ones left alone (unpacking links to it); else it becomes a copy.
  const lowerFiles = new Set<string>();
  const resolved = changed.map((e) => {
    if (e.type !== 'hardlink' || emitted.has(e.linkname!)) return e;
    const target = byPath.get(e.linkname!)!;
    if (target.layer < kept && target.type === 'file') {
      lowerFiles.add(target.path);
      return e;
    }
    return { ...target, path: e.path, layer: e.layer };
  });
  const whiteouts: SourcedEntry[] = [];
  if (lower) {
    let hidden: string | undefined;
    for (const below of lower) {
      if (hidden !== undefined && below.path.startsWith(`${hidden}/`)) continue;
      const now = byPath.get(below.path);
      if (now && (now.type === 'directory') === (below.type === 'directory')) continue;
      whiteouts.push({ ...whiteoutEntry(below.path, mtime), origin: `squash: whiteout of "${below.path}"` });
      hidden = below.path;
    }
  }
  return { changed: resolved, whiteouts, lowerFiles };
}

/**
 * Reads the image once and returns what the new layer carries, its bytes spooled to `work`: the entries
 * the squashed layers made or changed, whiteouts for what they removed from the kept ones, and the kept
 * files the entries may link to. Only those outlive this function: the merged tree and its listings are
 * garbage once it returns, before the entries are canonicalised and the layer is written.
 */
async function squashedLayerContent(image: Image, name: string, kept: number, mtime: number, work: string): Promise<{ entries: SourcedEntry[]; whiteouts: number; lowerFiles: Set<string> }> {
  // One read: the view of the kept layers is listed as it stands once the last of them is applied, and
  // the bytes of the squashed layers' files are spooled as they stream by (those a later layer deletes
  // too: that costs a copy, where reading the layers again to pick out the survivors would cost
  // decompressing and hashing them all once more).
  let lower: ImageFsEntry[] | undefined;
  const spool = new ContentSpool(work, name);
  const final = await ImageFilesystem.read(image, name, {
    onRecord: async (index, _path, record) => {
      if (index >= kept && record.header.type === 'file' && record.header.size > 0) await spool.add({ layer: index, entry: record.index }, record.body());
    },
    onLayer: (index, _changes, view) => {
      if (index === kept - 1) lower = view.list('');
    },
  }).catch(async (err: unknown) => {
    await spool.finish().catch(() => {});
    throw err;
  });
  const { changed, whiteouts, lowerFiles } = squashedEntries(lower, final, kept, mtime);
  // Files of the squashed layers whose bytes a kept layer holds (a hardlink's last name) are read from it.
  const spooled = await final.spoolContent(changed, spool);
  const entries: SourcedEntry[] = [
    ...spooled.map(({ layer, content: _content, ...e }) => ({ ...e, origin: `layer ${layer} of ${name}: "${e.path}"` })),
    ...whiteouts,
  ];
  return { entries, whiteouts: whiteouts.length, lowerFiles };
}

/** The new layer's entries, canonical, with nothing else of the read left reachable. */
async function squashedLayerEntries(image: Image, name: string, kept: number, mtime: number, work: string): Promise<{ entries: Entry[]; whiteouts: number }> {
  const { entries, whiteouts, lowerFiles } = await squashedLayerContent(image, name, kept, mtime, work);
  // The merged tree and its listings are garbage now: V8 would otherwise size its heap after them (on a
  // 2 GB image, ~150 MB, mostly dead) for the rest of the run. Collected when the CLI allows (--expose-gc).
  collectGarbage();
  return { entries: canonicalizeEntries(entries, { lowerFiles }), whiteouts };
}

function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/**
 * Squashes an image's layers (all, or those above a kept layer) into one, as `docker build --squash` and
 * docker-squash do, streaming: layer headers are read into a tree (no content in memory), the bytes of
 * the squashed layers' files are spooled to `work` on the way, and the layer is written once. Whiteouts and
 * opaque folders of the squashed layers are applied (image-spec "Applying changesets"); hardlinks and
 * symlinks stay. The config keeps everything but `rootfs.diff_ids` and `history`.
 */
export async function squashImage(image: Image, name: string, options: SquashOptions, work: string): Promise<SquashResult> {
  const kept = keptLayers(image, options);
  const squashed = image.layers.length - kept;
  if (squashed === 0) throw new UserError(`${name} has no layers to squash`);
  const created = options.sourceDateEpoch !== undefined ? isoTime(options.sourceDateEpoch) : (image.config.created ?? isoTime(0));
  const mtime = Math.floor(Date.parse(created) / 1000) || 0;
  const { entries, whiteouts } = await squashedLayerEntries(image, name, kept, mtime, work);
  // The sources of the canonical entries are garbage too: collected before the write for the same reason.
  collectGarbage();
  const blob = join(work, 'squashed.layer');
  const written = await writeLayer(entries, blob, options.compression);
  const newLayer: Layer = fileLayer(blob, written.descriptor, written.diffID);
  const first = kept;
  const last = image.layers.length - 1;
  const entry: History = {
    created,
    created_by: `fromscratch squash${kept ? ` --from ${kept - 1}` : ''}`,
    comment: options.message ?? `layers ${first}-${last} squashed into one`,
  };
  const config: ImageConfig = {
    ...image.config,
    rootfs: { type: 'layers', diff_ids: [...image.config.rootfs.diff_ids.slice(0, kept), written.diffID] },
    history: squashedHistory(image.config, kept, entry),
  };
  const layers = [...image.layers.slice(0, kept), newLayer];
  return { image: assembleImage(config, layers, image.manifest.annotations), squashed, kept, written, whiteouts };
}
