import { join } from 'node:path';
import type { CompressionOptions } from '../compression/compress.js';
import { compareEntryPaths, sortByEntryPath } from '../entries/path.js';
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

/** The names of the kept layers' view, in the canonical order, and which of them are folders. */
interface KeptNames {
  paths: string[];
  folders: boolean[];
}

function keptNames(view: ImageFilesystem): KeptNames {
  const names: KeptNames = { paths: [], folders: [] };
  for (const e of view.listing('')) {
    names.paths.push(e.path);
    names.folders.push(e.type === 'directory');
  }
  return names;
}

/**
 * A whiteout for each name of the kept layers that the squashed ones removed or replaced by another kind
 * of file (a folder by a file, or the other way), in the canonical order: only the top one of a removed
 * folder, since it hides everything below.
 */
function whiteoutsFor(kept: KeptNames, final: ImageFilesystem, mtime: number): Entry[] {
  const out: Entry[] = [];
  let hidden: string | undefined;
  kept.paths.forEach((path, i) => {
    if (hidden !== undefined && path.startsWith(`${hidden}/`)) return;
    const now = final.get(path);
    if (now && (now.type === 'directory') === kept.folders[i]) return;
    out.push(whiteoutEntry(path, mtime));
    hidden = path;
  });
  return sortByEntryPath(out);
}

/**
 * The new layer's entries, in the canonical order, made as the layer is written: every name a squashed
 * layer made or changed, merged with the whiteouts. The view's listing is already what a layer needs —
 * one entry per name, none below a symlink, each hardlink to the first name of its file — and a link
 * whose first name is not carried points at a file of a kept layer that the squashed ones left alone,
 * so unpacking links to it.
 */
function* squashedEntries(final: ImageFilesystem, kept: number, whiteouts: readonly Entry[], spool: ContentSpool): Generator<Entry> {
  let w = 0;
  for (const e of carried(final, kept)) {
    while (w < whiteouts.length && compareEntryPaths(whiteouts[w]!.path, e.path) < 0) yield whiteouts[w++]!;
    const { layer: _layer, content: _content, ...entry } = e;
    yield e.type === 'file' ? { ...entry, open: final.opener(e, spool) } : entry;
  }
  while (w < whiteouts.length) yield whiteouts[w++]!;
}

/**
 * Reads the image once, spooling the bytes of the squashed layers' files to `work` as they stream by
 * (those a later layer deletes too: that costs a copy, where reading the layers again to pick out the
 * survivors would cost decompressing and hashing them all once more), and returns the new layer's
 * entries, made as they are written: nothing per entry is held beyond the view's tree.
 */
async function squashedLayer(image: Image, name: string, kept: number, mtime: number, work: string): Promise<{ entries: Iterable<Entry>; whiteouts: number; spool: ContentSpool }> {
  let lower: KeptNames | undefined;
  const spool = new ContentSpool(work, name);
  const final = await ImageFilesystem.read(image, name, {
    onRecord: async (index, _path, record) => {
      if (index >= kept && record.header.type === 'file' && record.header.size > 0) await spool.add({ layer: index, entry: record.index }, record.body());
    },
    onLayer: (index, _changes, view) => {
      if (index === kept - 1) lower = keptNames(view);
    },
  }).catch(async (err: unknown) => {
    await spool.finish().catch(() => {});
    throw err;
  });
  const whiteouts = lower ? whiteoutsFor(lower, final, mtime) : [];
  lower = undefined;
  // A carried file whose bytes a kept layer holds (a name linked to a file there, whose first name a
  // squashed layer removed) is copied out of that layer.
  await final.spoolFiles(carried(final, kept), spool);
  return { entries: { [Symbol.iterator]: () => squashedEntries(final, kept, whiteouts, spool) }, whiteouts: whiteouts.length, spool };
}

/** The names of the view that the squashed layers made or changed, in the canonical order. */
function* carried(final: ImageFilesystem, kept: number): Generator<ImageFsEntry> {
  for (const e of final.listing('')) if (e.layer >= kept) yield e;
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
  const { entries, whiteouts, spool } = await squashedLayer(image, name, kept, mtime, work);
  const blob = join(work, 'squashed.layer');
  const written = await writeLayer(entries, blob, options.compression).finally(() => spool.close());
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
