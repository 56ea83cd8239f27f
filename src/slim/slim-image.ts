import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { CompressionOptions } from '../compression/compress.js';
import { normalizeEntryPath, normalizeLinkTarget, parentPath, symlinkTarget, UnsafePathError } from '../entries/path.js';
import { dirEntry, fileEntry } from '../entries/synthetic.js';
import { UserError } from '../errors.js';
import { ImageFilesystem } from '../image/filesystem.js';
import { assembleImage, type Image } from '../image/image.js';
import { fileLayer, type Layer } from '../layer/layer.js';
import { writeLayer } from '../layer/layer-writer.js';
import { classifyWhiteout } from '../layer/whiteout.js';
import type { Descriptor } from '../oci/descriptor.js';
import type { ImageConfig } from '../oci/config.js';
import type { Entry, EntryType } from '../tar/entry.js';
import { collectGarbage } from '../memory/garbage.js';
import { contentKey, DPKG_CONFIG_DIR, DPKG_RECORD, DPKG_STATUS, dpkgRecordEdits, SLIM_DPKG_CONFIG, type FileEdit } from './dpkg.js';
import { planSlim, type PlanLayer } from './plan.js';
import { classifyPath, dpkgSlimConfig, SERVICES_PATH, SLIM_CATEGORIES, slimServices } from './rules.js';
import { layerName, verifiedLayerRecords } from './verified-layer.js';

export interface SlimOptions {
  /** Categories that stay (see `keptCategories`). */
  keep: ReadonlySet<string>;
  /** Compression of the layers that are written again. */
  compression: CompressionOptions;
  /** Time of the files slim writes (dpkg's configuration); default: the image's `created`. */
  sourceDateEpoch?: number;
}

export interface SlimLayerReport {
  index: number;
  before: Descriptor;
  after: Descriptor;
  /** Written again (false: the same blob). */
  rewritten: boolean;
  droppedEntries: number;
}

export interface SlimResult {
  image: Image;
  /** Bytes of file content the layers no longer carry (uncompressed), in all and per removed category. */
  savedBytes: number;
  categories: Record<string, number>;
  /** Entries dropped per category. */
  entries: Record<string, number>;
  droppedWhiteouts: number;
  layers: SlimLayerReport[];
  /** What was done to dpkg's database, when the image has one. */
  dpkg?: { editedFiles: number; removedLines: number; config?: string };
  notes: string[];
}

/** Library folders the loader finds only through /etc/ld.so.cache (Debian's and Ubuntu's multiarch folders). */
const MULTIARCH_LIB = /^(?:usr\/)?lib\/[a-z0-9_]+-linux-gnu[a-z0-9_]*\//;

/** Files small enough to be read whole while the layers are scanned. */
const SMALL = 16 << 20;

async function readBody(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** What the first read of the layers learns (entry headers only, but for a few small files). */
interface Scan {
  layers: PlanLayer[];
  hardlinks: { path: string; linkname: string }[];
  /** The first entry found in a multiarch library folder, and ld.so.conf names that add folders. */
  multiarch?: string;
  ldConfig?: string;
  /** Rewritten /etc/services files, and how many bytes each sheds. */
  services: (FileEdit & { saved: number })[];
  /** The bytes of every dpkg file list and checksum file, by `contentKey` (small; saves reading the layers again). */
  dpkgRecords: Map<string, Buffer>;
  /** Where the top layer has slim's dpkg configuration file already. */
  topConfigEntry?: { index: number; type: string };
  /** Every entry directly in /etc/alternatives, where update-alternatives keeps its links. */
  alternatives: { layer: number; index: number; path: string; type: EntryType }[];
}

/** update-alternatives' folder of links: each names the file chosen for an alternative. */
const ALTERNATIVES_DIR = 'etc/alternatives';

async function scanLayers(image: Image, name: string, keep: ReadonlySet<string>): Promise<Scan> {
  const scan: Scan = { layers: [], hardlinks: [], services: [], dpkgRecords: new Map(), alternatives: [] };
  const top = image.layers.length - 1;
  const ldCacheGoes = !keep.has('ld.so.cache');
  for (let i = 0; i <= top; i++) {
    const layer: PlanLayer = { records: [], whiteouts: [] };
    for await (const record of verifiedLayerRecords(image, name, i)) {
      const { header } = record;
      let path: string;
      let linkname: string | undefined;
      try {
        path = normalizeEntryPath(header.path);
        if (header.type === 'hardlink') linkname = normalizeLinkTarget(header.linkname ?? '');
      } catch (err) {
        if (err instanceof UnsafePathError) throw new UserError(`${layerName(image, name, i)}: entry ${record.index + 1} "${record.rawPath}": ${err.message}`);
        throw err;
      }
      if (path === '') continue;
      const wh = classifyWhiteout(path);
      if (wh) {
        layer.whiteouts.push({ index: record.index, kind: wh.kind, target: wh.kind === 'opaque' ? wh.dir : wh.target });
        continue;
      }
      if (linkname !== undefined) scan.hardlinks.push({ path, linkname });
      if (classifyPath(path, header.type)) layer.records.push({ index: record.index, path, type: header.type, size: header.size });
      if (ldCacheGoes) {
        if (scan.multiarch === undefined && MULTIARCH_LIB.test(path)) scan.multiarch = parentPath(path).split('/').slice(0, path.startsWith('usr/') ? 3 : 2).join('/');
        if (path.startsWith('etc/ld.so.conf.d/') && header.type === 'file' && header.size > 0) scan.ldConfig ??= path;
        if (path === 'etc/ld.so.conf' && header.type === 'file' && header.size <= SMALL) {
          const text = (await readBody(record.body())).toString('utf8');
          if (text.split('\n').some((l) => l.trim() !== '' && !/^\s*(#|include\s)/.test(l))) scan.ldConfig ??= path;
        }
      }
      if (header.type === 'file' && header.size <= SMALL && DPKG_RECORD.test(path)) scan.dpkgRecords.set(contentKey(i, record.index), await readBody(record.body()));
      if (i === top && path === SLIM_DPKG_CONFIG) scan.topConfigEntry = { index: record.index, type: header.type };
      if (parentPath(path) === ALTERNATIVES_DIR) scan.alternatives.push({ layer: i, index: record.index, path, type: header.type });
      if (!keep.has('services') && path === SERVICES_PATH && header.type === 'file' && header.size <= SMALL) {
        const content = Buffer.from(slimServices((await readBody(record.body())).toString('utf8')));
        if (content.length < header.size) scan.services.push({ layer: i, entry: record.index, path, content, saved: header.size - content.length });
      }
    }
    scan.layers.push(layer);
  }
  return scan;
}

/** The names a symlink leads through to what it finds (resolved in the image), added to `chain`. */
function symlinkChain(fs: ImageFilesystem, start: string, chain: Set<string>): void {
  let path = start;
  for (let hops = 0; hops < 40; hops++) {
    const real = fs.resolve(path, false);
    if (real === undefined) break;
    chain.add(real);
    const entry = fs.get(real);
    if (entry?.type !== 'symlink') break;
    const target = entry.linkname ?? '';
    try {
      path = symlinkTarget(real, target);
    } catch {
      break;
    }
  }
}

/**
 * The /etc/alternatives links whose file slim removes (awk.1.gz -> /usr/share/man/man1/mawk.1.gz once
 * man pages go): update-alternatives makes no link to a missing file, which is what an image built slim
 * has, so they go too rather than dangle. Only a link one layer alone holds is taken out; dropping one
 * that overwrites or is overwritten in another layer would change what that layer shows.
 */
function orphanedAlternatives(fs: ImageFilesystem, entries: Scan['alternatives'], hardlinks: Scan['hardlinks'], removes: (path: string, type: EntryType) => boolean): { layer: number; index: number; category: string }[] {
  const layersOf = new Map<string, number>();
  for (const e of entries) layersOf.set(e.path, (layersOf.get(e.path) ?? 0) + 1);
  // A name a hardlink entry points at must stay, or that layer would not unpack.
  const linkedTo = new Set(hardlinks.map((h) => h.linkname));
  const out: { layer: number; index: number; category: string }[] = [];
  for (const e of entries) {
    if (e.type !== 'symlink' || layersOf.get(e.path) !== 1 || linkedTo.has(e.path) || fs.get(e.path)?.layer !== e.layer) continue;
    // Every name the link leads through: update-alternatives follows the whole chain.
    const chain = new Set<string>();
    symlinkChain(fs, e.path, chain);
    chain.delete(e.path);
    for (const name of chain) {
      const found = fs.get(name);
      if (!found || found.type === 'directory' || !removes(name, found.type)) continue;
      out.push({ layer: e.layer, index: e.index, category: classifyPath(name, found.type)!.category.name });
      break;
    }
  }
  return out;
}

async function fileContent(fs: ImageFilesystem, path: string, work: string): Promise<Buffer | undefined> {
  const entry = fs.get(path);
  if (entry?.type !== 'file') return undefined;
  const [spooled] = await fs.spoolContent([entry], work);
  return spooled?.open ? readBody(spooled.open()) : Buffer.alloc(0);
}

/** What slim changes in which layer, and what it saves. */
interface Changes {
  /** Per layer: entries dropped (by index in the tar), with their category ('' for whiteouts). */
  dropped: Map<number, string>[];
  edits: FileEdit[];
  /** Entries added to the top layer. */
  appended: Entry[];
  savedBytes: Map<string, number>;
  droppedEntries: Map<string, number>;
  droppedWhiteouts: number;
  dpkg?: SlimResult['dpkg'];
  notes: string[];
}

/**
 * Reads the layers' headers and the merged filesystem and decides every change. Kept apart from the
 * writing so that the headers and the merged view are garbage by the time layers are written again.
 */
async function planChanges(image: Image, name: string, options: SlimOptions, work: string): Promise<Changes> {
  const { keep } = options;
  const notes: string[] = [];
  const scan = await scanLayers(image, name, keep);
  if (!keep.has('ld.so.cache') && (scan.multiarch || scan.ldConfig)) {
    const why = scan.multiarch
      ? `${name} keeps libraries in /${scan.multiarch}, which the dynamic loader finds only through /etc/ld.so.cache`
      : `${name} names library folders in /${scan.ldConfig}, which the dynamic loader finds only through /etc/ld.so.cache`;
    throw new UserError(`--remove ld.so.cache: ${why}; without it, programs linked to those libraries would not start`);
  }

  const fs = await ImageFilesystem.read(image, name);
  collectGarbage(); // what reading the layers left behind
  // What kept links lead to stays: the zone /etc/localtime names, and the targets of the symlinks a
  // category keeps (zoneinfo's UTC -> Etc/UTC, posixrules -> America/New_York).
  const protectedPaths = new Set<string>();
  if (!keep.has('zoneinfo')) symlinkChain(fs, 'etc/localtime', protectedPaths);
  for (const layer of scan.layers) {
    for (const r of layer.records) {
      const c = r.type === 'symlink' ? classifyPath(r.path, r.type) : undefined;
      if (c?.exception && !keep.has(c.category.name)) symlinkChain(fs, r.path, protectedPaths);
    }
  }
  const plan = planSlim({ layers: scan.layers, hardlinks: scan.hardlinks, keep, protectedPaths });
  for (const link of orphanedAlternatives(fs, scan.alternatives, scan.hardlinks, plan.removes)) {
    plan.dropped[link.layer]!.set(link.index, link.category);
    plan.droppedEntries.set(link.category, (plan.droppedEntries.get(link.category) ?? 0) + 1);
  }
  const savedBytes = new Map(plan.savedBytes);
  if (!keep.has('services')) savedBytes.set('services', scan.services.reduce((n, s) => n + s.saved, 0));

  const created = image.config.created ? Math.floor(Date.parse(image.config.created) / 1000) : 0;
  const mtime = options.sourceDateEpoch ?? (Number.isFinite(created) ? created : 0);
  const top = image.layers.length - 1;
  const edits: FileEdit[] = scan.services.map(({ saved: _saved, ...edit }) => edit);
  const appended: Entry[] = [];
  let dpkg: SlimResult['dpkg'];
  if (fs.get(DPKG_STATUS)) {
    const records = await dpkgRecordEdits(fs, plan.removes, scan.dpkgRecords, work);
    edits.push(...records.edits);
    for (const path of records.skipped) notes.push(`dpkg: /${path} is a hardlink to bytes elsewhere; left as it is`);
    dpkg = { editedFiles: records.edits.length, removedLines: records.lines };
    const config = dpkgSlimConfig(keep);
    const existing = await fileContent(fs, SLIM_DPKG_CONFIG, work);
    if (config !== undefined && !existing?.equals(Buffer.from(config))) {
      const blocked = ['etc', 'etc/dpkg', 'etc/dpkg/dpkg.cfg.d', SLIM_DPKG_CONFIG].find((p) => {
        const e = fs.get(p);
        return e !== undefined && e.type !== (p === SLIM_DPKG_CONFIG ? 'file' : 'directory');
      });
      if (blocked) notes.push(`dpkg: /${blocked} is not a ${blocked === SLIM_DPKG_CONFIG ? 'file' : 'folder'}; no /${SLIM_DPKG_CONFIG} written`);
      else if (scan.topConfigEntry?.type === 'file') edits.push({ layer: top, entry: scan.topConfigEntry.index, path: SLIM_DPKG_CONFIG, content: Buffer.from(config) });
      else {
        for (const dir of ['etc', 'etc/dpkg', DPKG_CONFIG_DIR]) if (!fs.get(dir)) appended.push(dirEntry(dir, { mtime }));
        appended.push(fileEntry(SLIM_DPKG_CONFIG, config, { mtime }));
      }
      if (!blocked) dpkg.config = `/${SLIM_DPKG_CONFIG}`;
    }
  }
  return {
    dropped: plan.dropped, edits, appended, savedBytes, droppedEntries: plan.droppedEntries, droppedWhiteouts: plan.droppedWhiteouts,
    ...(dpkg ? { dpkg } : {}), notes,
  };
}

/**
 * Removes what the categories not in `keep` cover from every layer of an image, keeping its layer
 * structure and history. Layers are read in streaming passes (headers first, to plan; then each layer
 * that changes is written again from its own stream, in its own entry order, without the dropped
 * entries); layers with nothing to change keep their blob. Whiteouts left hiding nothing go too. In a
 * dpkg-based image, the removed paths leave dpkg's file lists and checksums, and a dpkg.cfg.d file
 * keeps packages installed later slim. The config changes only in its diff_ids.
 */
export async function slimImage(image: Image, name: string, options: SlimOptions, work: string): Promise<SlimResult> {
  const { keep } = options;
  if (image.layers.length === 0) throw new UserError(`${name} has no layers to slim`);
  const changes = await planChanges(image, name, options, work);
  // The headers and the merged view just became garbage: give their memory back before writing
  // (bin/fromscratch runs node with --expose-gc).
  collectGarbage();

  const top = image.layers.length - 1;
  const layers: Layer[] = [];
  const reports: SlimLayerReport[] = [];
  for (const [i, layer] of image.layers.entries()) {
    const dropped = changes.dropped[i]!;
    const replaced = new Map(changes.edits.filter((e) => e.layer === i).map((e) => [e.entry, e]));
    const extra = i === top ? changes.appended : [];
    if (dropped.size === 0 && replaced.size === 0 && extra.length === 0) {
      layers.push(layer);
      reports.push({ index: i, before: layer.descriptor, after: layer.descriptor, rewritten: false, droppedEntries: 0 });
      continue;
    }
    const blob = join(work, `layer-${i}.blob`);
    const written = await writeLayer(rewrittenEntries(image, name, i, dropped, replaced, extra), blob, options.compression);
    layers.push(fileLayer(blob, written.descriptor, written.diffID));
    reports.push({ index: i, before: layer.descriptor, after: written.descriptor, rewritten: true, droppedEntries: dropped.size });
  }

  const categories: Record<string, number> = {};
  const entries: Record<string, number> = {};
  for (const c of SLIM_CATEGORIES) {
    if (keep.has(c.name)) continue;
    categories[c.name] = changes.savedBytes.get(c.name) ?? 0;
    entries[c.name] = changes.droppedEntries.get(c.name) ?? 0;
  }
  const config: ImageConfig = { ...image.config, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) } };
  return {
    image: assembleImage(config, layers, image.manifest.annotations),
    savedBytes: Object.values(categories).reduce((a, b) => a + b, 0),
    categories,
    entries,
    droppedWhiteouts: changes.droppedWhiteouts,
    layers: reports,
    ...(changes.dpkg ? { dpkg: changes.dpkg } : {}),
    notes: changes.notes,
  };
}

/**
 * One layer's entries as they stream out of its blob, in their order, without the dropped ones and
 * with the edited files' new bytes; `extra` entries come last. The root folder's own entry is left
 * out (its owner and mode are the runtime's), as every layer fromscratch writes does.
 */
async function* rewrittenEntries(image: Image, name: string, index: number, dropped: ReadonlyMap<number, string>, replaced: ReadonlyMap<number, FileEdit>, extra: readonly Entry[]): AsyncGenerator<Entry> {
  for await (const record of verifiedLayerRecords(image, name, index)) {
    if (dropped.has(record.index)) continue;
    const { uname: _uname, gname: _gname, ...header } = record.header;
    const entry: Entry = { ...header, path: normalizeEntryPath(header.path) };
    if (entry.path === '') continue;
    if (header.type === 'hardlink') entry.linkname = normalizeLinkTarget(header.linkname ?? '');
    const edit = replaced.get(record.index);
    if (edit) {
      yield { ...entry, size: edit.content.length, open: () => Readable.from([edit.content]) };
      continue;
    }
    if (header.type === 'file' && header.size > 0) entry.open = () => Readable.from(record.body());
    yield entry;
  }
  yield* extra;
}
