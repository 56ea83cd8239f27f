import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { normalizeEntryPath, normalizeLinkTarget, sortByEntryPath } from '../entries/path.js';
import { UserError } from '../errors.js';
import { classifyWhiteout, WHITEOUT_PREFIX } from '../layer/whiteout.js';
import { openUncompressed } from '../layer/layer.js';
import type { Entry, EntryHeader } from '../tar/entry.js';
import { readTar, TarFormatError, type TarRecord } from '../tar/reader.js';
import type { Image } from './image.js';

/** Where a file's bytes are: the index of a layer and the index of the entry in that layer's tar. */
export interface ContentRef {
  layer: number;
  entry: number;
}

/**
 * A file's identity (an inode): hardlinks made in any layer share it, so a link keeps the bytes it was
 * made to, even when a later layer replaces or deletes the name it was linked to.
 */
interface Inode {
  header: EntryHeader;
  content: ContentRef;
  /** Names the file has in the view; when the last goes, its bytes ship but are never seen. */
  names: number;
  /** The name it was made with. */
  path: string;
}

interface Node {
  /** Metadata as the layer gave it (for hardlinked files, the inode's). */
  header: EntryHeader;
  /** Index of the layer the entry came from (0 = the bottom one). */
  layer: number;
  inode?: Inode;
  children?: Map<string, Node>;
}

/** An entry of the merged view: path relative to the root, the layer it came from. */
export interface ImageFsEntry extends EntryHeader {
  layer: number;
  /** For files: where the bytes are (read by `spoolContent`). */
  content?: ContentRef;
}

/** What one layer did to the view below it. */
export interface LayerChanges {
  /** Names the layer added, and names it replaced (or, for folders, whose metadata it changed). */
  added: number;
  changed: number;
  /** Names its whiteouts and opaque markers took away (everything below a removed folder counts). */
  removed: number;
  /** Bytes of file content the layer carries. */
  fileBytes: number;
}

/** A file (an inode: all its hardlinked names) that a later layer deleted or overwrote. */
export interface DroppedFile {
  /** The name it was made with. */
  path: string;
  size: number;
  addedBy: number;
  removedBy: number;
  how: 'deleted' | 'overwritten';
}

export interface ReadOptions {
  /** Apply only the first `layerCount` layers. */
  layerCount?: number;
  /** Sees every entry as the layer streams by (whiteouts too, path normalised); may read the body. */
  onRecord?: (layer: number, path: string, record: TarRecord) => Promise<void> | void;
  /** Told of each file whose last name a later layer removes or replaces. */
  onDrop?: (dropped: DroppedFile) => void;
  /** Called once a layer is applied, with the view up to that layer. */
  onLayer?: (layer: number, changes: LayerChanges, view: ImageFilesystem) => void;
}

/** Several images may spool into one folder. */
let spoolCounter = 0;

function implicitDir(path: string, layer: number): Node {
  // A layer that writes below a folder no layer made: as unpacking does, the folder is created.
  return { header: { path, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 }, layer, children: new Map() };
}

function split(path: string): string[] {
  return path === '' ? [] : path.split('/');
}

/**
 * The filesystem an image's layers make when applied in order (image-spec layer.md, "Applying
 * changesets"): later entries replace earlier ones, a directory over a directory keeps the children,
 * `.wh.NAME` deletes NAME and `.wh..wh..opq` empties a folder — both only of what lower layers had.
 *
 * Reading keeps headers only (one layer's at a time beyond the merged tree); bytes stay in the layers
 * until `spoolContent` copies the ones a caller selects.
 */
export class ImageFilesystem {
  private readonly root: Node = implicitDir('', -1);

  private constructor(readonly image: Image, readonly name: string) {}

  private onDrop: ReadOptions['onDrop'];

  /**
   * The filesystem of the image's layers (or of the first `layerCount`), read once, streaming. Hooks let
   * a caller see entries, dropped files and each layer's view without a second read.
   */
  static async read(image: Image, name: string, options: ReadOptions | number = {}): Promise<ImageFilesystem> {
    const opts: ReadOptions = typeof options === 'number' ? { layerCount: options } : options;
    const fs = new ImageFilesystem(image, name);
    fs.onDrop = opts.onDrop;
    for (const [index, layer] of image.layers.slice(0, opts.layerCount ?? image.layers.length).entries()) {
      const records: { header: EntryHeader; entry: number; rawPath: string }[] = [];
      const whiteouts: { target: string; origin: string }[] = [];
      const opaque: string[] = [];
      const changes: LayerChanges = { added: 0, changed: 0, removed: 0, fileBytes: 0 };
      const origin = (entry: number, rawPath: string) => `entry ${entry + 1} "${rawPath}" of layer ${index} (${layer.descriptor.digest})`;
      for await (const record of fs.layerRecords(index)) {
        const path = normalizeEntryPath(record.header.path);
        await opts.onRecord?.(index, path, record);
        const wh = classifyWhiteout(path);
        if (wh?.kind === 'opaque') opaque.push(wh.dir);
        // `.wh..wh.*` other than the opaque marker is aufs bookkeeping (hardlink folders): nothing to apply.
        else if (wh?.kind === 'whiteout') {
          if (!wh.target.split('/').pop()!.startsWith(WHITEOUT_PREFIX)) whiteouts.push({ target: wh.target, origin: origin(record.index, record.rawPath) });
        } else if (path !== '') {
          records.push({ header: { ...record.header, path }, entry: record.index, rawPath: record.rawPath });
          if (record.header.type === 'file') changes.fileBytes += record.header.size;
        }
      }
      // Whiteouts and opaque markers hide what lower layers have, never the entries of their own layer:
      // they are applied first (whiteouts before opaque folders, which may hold them).
      for (const w of whiteouts) changes.removed += fs.remove(w.target, index, w.origin);
      for (const dir of opaque) changes.removed += fs.clear(dir, index);
      for (const r of records) changes[fs.apply(r.header, index, r.entry, origin(r.entry, r.rawPath))]++;
      opts.onLayer?.(index, changes, fs);
    }
    return fs;
  }

  private async *layerRecords(index: number) {
    const layer = this.image.layers[index]!;
    const where = `${this.name}: layer ${index} (${layer.descriptor.digest})`;
    try {
      // Layer blobs are checked against their digests, which vouch for them even without an end marker.
      for await (const record of readTar(await openUncompressed(layer), { allowMissingEnd: true })) yield record;
    } catch (err) {
      if (err instanceof TarFormatError || err instanceof UserError) throw new UserError(`${where}: ${err.message}`);
      throw err;
    }
  }

  private lookup(path: string): Node | undefined {
    let node: Node | undefined = this.root;
    for (const part of split(path)) node = node?.children?.get(part);
    return node;
  }

  /** Takes a name out of the view (a folder with everything below); returns how many names went. */
  private drop(node: Node, layer: number, how: DroppedFile['how']): number {
    let count = 1;
    const inode = node.inode;
    if (inode && --inode.names === 0 && inode.header.size > 0) {
      this.onDrop?.({ path: inode.path, size: inode.header.size, addedBy: inode.content.layer, removedBy: layer, how });
    }
    for (const child of node.children?.values() ?? []) count += this.drop(child, layer, how);
    return count;
  }

  /** A whiteout: `path` must be in the view (through symlinked parent folders, as overlayfs made it). */
  private remove(path: string, layer: number, origin: string): number {
    const parts = split(path);
    const base = parts.pop()!;
    const parent = this.resolve(parts.join('/'), true);
    const dir = parent === undefined ? undefined : this.lookup(parent);
    const node = dir?.children?.get(base);
    if (!dir || !node) throw new UserError(`${this.name}: ${origin} deletes "/${path}", which no lower layer has`);
    dir.children!.delete(base);
    return this.drop(node, layer, 'deleted');
  }

  /** An opaque marker: the folder's children from lower layers go (a folder new in this layer has none). */
  private clear(path: string, layer: number): number {
    const node = this.lookup(path);
    let count = 0;
    for (const child of node?.children?.values() ?? []) count += this.drop(child, layer, 'deleted');
    node?.children?.clear();
    return count;
  }

  private apply(given: EntryHeader, layer: number, entry: number, origin: string): 'added' | 'changed' {
    let header = given;
    const parts = split(header.path);
    const base = parts.pop()!;
    let dir = this.root;
    let at = '';
    for (const part of parts) {
      let next = dir.children!.get(part);
      let real = at ? `${at}/${part}` : part;
      if (next?.header.type === 'symlink') {
        // Unpacking writes through a symlink to a folder (inside the root); so does this view.
        const resolved = this.resolve(real, true);
        const target = resolved === undefined ? undefined : this.lookup(resolved);
        if (target?.children) [next, real] = [target, resolved!];
      }
      if (!next?.children) {
        if (next) this.drop(next, layer, 'overwritten');
        next = implicitDir(real, layer);
        dir.children!.set(part, next);
      }
      dir = next;
      at = real;
    }
    header = { ...header, path: at ? `${at}/${base}` : base };
    const existing = dir.children!.get(base);
    const node: Node = { header, layer };
    if (header.type === 'directory') node.children = existing?.children ?? new Map();
    else if (header.type === 'file') node.inode = { header, content: { layer, entry }, names: 1, path: header.path };
    else if (header.type === 'hardlink') {
      let target: string;
      try {
        target = normalizeLinkTarget(header.linkname ?? '');
      } catch (err) {
        throw new UserError(`${this.name}: ${origin}: hardlink target ${(err as Error).message}`);
      }
      const linked = this.lookup(target)?.inode;
      if (!linked) throw new UserError(`${this.name}: ${origin}: hardlink to "${target}", which is not a file at that point`);
      // Counted before the old name goes, so relinking a name to its own inode drops nothing.
      linked.names++;
      node.inode = linked;
      node.header = { ...linked.header, path: header.path };
    }
    if (existing && !(node.children && existing.children)) this.drop(existing, layer, 'overwritten');
    dir.children!.set(base, node);
    return existing ? 'changed' : 'added';
  }

  /** The entry at `path` (relative or absolute), without following symlinks. */
  get(path: string): ImageFsEntry | undefined {
    const node = this.lookup(normalizeEntryPath(path.replace(/^\/+/, '')));
    return node && node !== this.root ? this.asEntry(node, node.header.path) : undefined;
  }

  /**
   * Resolves symlinks in `path` as the kernel would inside the image's root (absolute targets start at
   * the root, '..' stops at it); the last component is followed only when `followLast` is set.
   * Returns the resolved path, or undefined when a component does not exist.
   */
  resolve(path: string, followLast: boolean): string | undefined {
    const pending = split(normalizeEntryPath(path.replace(/^\/+/, ''))).reverse();
    const resolved: string[] = [];
    let hops = 0;
    while (pending.length) {
      const part = pending.pop()!;
      if (part === '.' || part === '') continue;
      if (part === '..') {
        resolved.pop();
        continue;
      }
      const node = this.lookup([...resolved, part].join('/'));
      if (!node) return undefined;
      if (node.header.type === 'symlink' && (pending.length > 0 || followLast)) {
        if (++hops > 40) return undefined; // ELOOP, as Linux counts
        const target = node.header.linkname ?? '';
        if (target.startsWith('/')) resolved.length = 0;
        pending.push(...target.split('/').reverse());
        continue;
      }
      resolved.push(part);
    }
    return resolved.join('/');
  }

  /**
   * `path` and everything below it, in the canonical order. Names that share an inode inside the
   * selection stay hardlinks (to the first of them); a name linked to a file outside it becomes a file.
   */
  list(path: string): ImageFsEntry[] {
    const start = normalizeEntryPath(path.replace(/^\/+/, ''));
    const top = this.lookup(start);
    if (!top) return [];
    const nodes: Node[] = [];
    const walk = (node: Node) => {
      if (node !== this.root) nodes.push(node);
      for (const child of node.children?.values() ?? []) walk(child);
    };
    walk(top);
    const ordered = sortByEntryPath(nodes.map((node) => ({ path: node.header.path, node })));
    const firstName = new Map<Inode, string>();
    return ordered.map(({ path: p, node }) => {
      if (!node.inode) return this.asEntry(node, p);
      const first = firstName.get(node.inode);
      if (first === undefined) {
        firstName.set(node.inode, p);
        return { ...node.inode.header, path: p, type: 'file', layer: node.layer, content: node.inode.content };
      }
      const link: ImageFsEntry = { ...node.inode.header, path: p, type: 'hardlink', linkname: first, size: 0, layer: node.layer };
      delete link.xattrs;
      return link;
    });
  }

  private asEntry(node: Node, path: string): ImageFsEntry {
    if (node.inode) return { ...node.inode.header, path, type: 'file', layer: node.layer, content: node.inode.content };
    return { ...node.header, path, layer: node.layer };
  }

  /**
   * Copies the bytes of the given files out of the layers into `spoolDir` (one spool file per layer,
   * each layer read once, only the layers that hold some of them) and returns the entries with `open`.
   */
  async spoolContent<T extends ImageFsEntry>(entries: readonly T[], spoolDir: string): Promise<(T & Entry)[]> {
    const wanted = new Map<number, Set<number>>();
    for (const e of entries) {
      if (e.type !== 'file' || !e.content || e.size === 0) continue;
      const set = wanted.get(e.content.layer) ?? new Set<number>();
      set.add(e.content.entry);
      wanted.set(e.content.layer, set);
    }
    const spans = new Map<string, { file: string; start: number; end: number }>();
    for (const [layer, indexes] of [...wanted].sort(([a], [b]) => a - b)) {
      const file = join(spoolDir, `image-${spoolCounter++}-layer-${layer}.spool`);
      const out = createWriteStream(file);
      let failed: Error | undefined;
      out.on('error', (err) => (failed = err));
      let offset = 0;
      try {
        // The whole layer is read, not only up to the last wanted entry, so its digest is checked.
        for await (const record of this.layerRecords(layer)) {
          if (!indexes.has(record.index)) continue;
          const start = offset;
          for await (const chunk of record.body()) {
            if (!out.write(chunk)) await once(out, 'drain');
            offset += chunk.length;
          }
          spans.set(`${layer}:${record.index}`, { file, start, end: offset - 1 });
        }
      } finally {
        out.end();
        await once(out, 'close');
      }
      if (failed) throw new UserError(`cannot spool ${this.name} to ${file}: ${failed.message}`);
    }
    return entries.map((e) => {
      if (e.type !== 'file' || !e.content) return { ...e };
      if (e.size === 0) return { ...e, open: () => Readable.from([]) };
      const span = spans.get(`${e.content.layer}:${e.content.entry}`);
      if (!span) throw new Error(`content of "${e.path}" was not found in layer ${e.content.layer}`);
      return { ...e, open: () => createReadStream(span.file, { start: span.start, end: span.end, highWaterMark: 1 << 20 }) };
    });
  }
}

/**
 * The entries at and below `path` in an image's merged filesystem, with their bytes spooled to
 * `spoolDir`: what `COPY --from` and squashing need, without holding a layer in memory.
 */
export async function readImageTree(image: Image, name: string, path: string, spoolDir: string): Promise<(ImageFsEntry & Entry)[]> {
  const fs = await ImageFilesystem.read(image, name);
  return fs.spoolContent(fs.list(path), spoolDir);
}
