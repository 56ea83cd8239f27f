import { Readable } from 'node:stream';
import { compareEntryPaths, normalizeEntryPath, normalizeLinkTarget, UnsafePathError } from '../entries/path.js';
import { UserError } from '../errors.js';
import { collectGarbage } from '../memory/garbage.js';
import { classifyWhiteout, WHITEOUT_PREFIX } from '../layer/whiteout.js';

/** aufs' metadata names (`.wh..wh.plnk`, `.wh..wh.aufs`, `.wh..wh.orph`), which Docker's unpacking skips. */
const AUFS_META_PREFIX = `${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`;
import { openUncompressed, type Layer } from '../layer/layer.js';
import type { Entry, EntryHeader } from '../tar/entry.js';
import { readTar, TarFormatError, type TarRecord } from '../tar/reader.js';
import { ContentSpool, type ContentRef } from './content-spool.js';
import type { Image } from './image.js';

export type { ContentRef };

/**
 * A file's identity (an inode): hardlinks made in any layer share it, so a link keeps the bytes it was
 * made to, even when a later layer replaces or deletes the name it was linked to.
 */
interface Inode {
  meta: Meta;
  /** Where its bytes are (a ContentRef, kept as two numbers: the view has one inode per file). */
  layer: number;
  entry: number;
  /** Names the file has in the view; when the last goes, its bytes ship but are never seen. */
  names: number;
}

/**
 * An entry's header without its path: a node's path is where it sits in the tree, and is made only when
 * the view is listed. Keeping it per node would keep, for every name, the string the layer gave and the
 * ones resolving it made (about half of the view's memory on an image of many small files).
 */
type Meta = Omit<EntryHeader, 'path'>;

interface Node {
  /** Metadata as the layer gave it (for hardlinked files, the inode's). */
  meta: Meta;
  /** Index of the layer the entry came from (0 = the bottom one). */
  layer: number;
  inode: Inode | undefined;
  children: Map<string, Node> | undefined;
}

/** A node; every field set from the start, so V8 keeps them all inside the object. */
function newNode(meta: Meta, layer: number, inode?: Inode, children?: Map<string, Node>): Node {
  return { meta, layer, inode, children };
}

function contentOf(inode: Inode): ContentRef {
  return { layer: inode.layer, entry: inode.entry };
}

/** A layer's entry waiting for its layer's whiteouts to be applied first. */
interface PendingRecord {
  path: string;
  meta: Meta;
  entry: number;
  /** The name as the tar has it, kept for hardlinks only: an error names it. */
  rawPath?: string;
}

/** An entry of the merged view: path relative to the root, the layer it came from. */
export interface ImageFsEntry extends EntryHeader {
  layer: number;
  /** For files: where the bytes are (read by `spoolContent`). */
  content?: ContentRef;
}

/** A name of the view as `walk` gives it: no header beyond what sizes need. */
export interface WalkedEntry {
  path: string;
  type: EntryHeader['type'];
  size: number;
  layer: number;
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
  /** Its last name: the one whose removal made its bytes unreachable. */
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
  /**
   * A whiteout of a path no lower layer has: an error unless this is given (analyze reports it; some
   * builders emit such whiteouts, and unpackers ignore them).
   */
  onMissingWhiteout?: (message: string) => void;
  /** Called once a layer is applied, with the view up to that layer. */
  onLayer?: (layer: number, changes: LayerChanges, view: ImageFilesystem) => void;
}

function implicitDir(layer: number): Node {
  // A layer that writes below a folder no layer made: as unpacking does, the folder is created.
  return newNode({ type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 }, layer, undefined, new Map());
}

/** Owner names, one string each however many entries carry them. */
const ownerNames = new Map<string, string>();
function ownerName(name: string): string {
  let shared = ownerNames.get(name);
  if (shared === undefined) ownerNames.set(name, (shared = name));
  return shared;
}

/** The header as the view keeps it: one shape for every node, owner names shared. */
function metaOf(h: EntryHeader): Meta {
  // Most entries carry both owner names: made in one literal, their fields stay inside the object.
  const meta: Meta =
    h.uname !== undefined && h.gname !== undefined
      ? { type: h.type, mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime, size: h.size, uname: ownerName(h.uname), gname: ownerName(h.gname) }
      : { type: h.type, mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime, size: h.size };
  if (h.uname !== undefined && meta.uname === undefined) meta.uname = ownerName(h.uname);
  if (h.gname !== undefined && meta.gname === undefined) meta.gname = ownerName(h.gname);
  if (h.linkname !== undefined) meta.linkname = h.linkname;
  if (h.devmajor !== undefined) meta.devmajor = h.devmajor;
  if (h.devminor !== undefined) meta.devminor = h.devminor;
  if (h.xattrs !== undefined) meta.xattrs = h.xattrs;
  return meta;
}

function join(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** `a/b/c` → `a`, `a/b`. */
function ancestors(path: string): string[] {
  const parts = split(path);
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

function split(path: string): string[] {
  return path === '' ? [] : path.split('/');
}

/** The reason a layer's blob fails its digest check, or undefined when it passes (or is not checked). */
async function digestMismatch(layer: Layer): Promise<string | undefined> {
  try {
    for await (const _ of await layer.open());
    return undefined;
  } catch (err) {
    return err instanceof UserError ? err.message : undefined;
  }
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
  private readonly root: Node = implicitDir(-1);

  private constructor(readonly image: Image, readonly name: string) {}

  private onDrop: ReadOptions['onDrop'];
  /** aufs' hardlink folder (`.wh..wh.plnk/…`): files hardlinks may point at, never in the view itself. */
  private readonly aufsLinks = new Map<string, Inode>();

  /**
   * The names in the tree while it is made, one string each: a name split off a path is a slice that
   * keeps the whole path alive, and names repeat (every package's `index.js`, every locale's `LC_MESSAGES`).
   */
  private names: Map<string, string> | undefined = new Map();

  /** Set once every layer is applied: from then on the view no longer changes. */
  private complete = false;

  /** The whole view as `list('')` gives it, kept once the view is complete: callers often want it twice. */
  private fullListing: ImageFsEntry[] | undefined;

  /**
   * The filesystem of the image's layers (or of the first `layerCount`), read once, streaming. Hooks let
   * a caller see entries, dropped files and each layer's view without a second read.
   */
  static async read(image: Image, name: string, options: ReadOptions | number = {}): Promise<ImageFilesystem> {
    const opts: ReadOptions = typeof options === 'number' ? { layerCount: options } : options;
    const fs = new ImageFilesystem(image, name);
    fs.onDrop = opts.onDrop;
    for (const [index, layer] of image.layers.slice(0, opts.layerCount ?? image.layers.length).entries()) {
      const records: PendingRecord[] = [];
      const whiteouts: { target: string; origin: string }[] = [];
      const opaque: string[] = [];
      const changes: LayerChanges = { added: 0, changed: 0, removed: 0, fileBytes: 0 };
      const origin = (entry: number, rawPath: string) => `entry ${entry + 1} "${rawPath}" of layer ${index} (${layer.descriptor.digest})`;
      await fs.readLayer(index, async (record) => {
        const path = normalizeEntryPath(record.header.path);
        await opts.onRecord?.(index, path, record);
        const wh = classifyWhiteout(path);
        if (wh?.kind === 'opaque') opaque.push(wh.dir);
        // Names starting `.wh..wh.` other than the opaque marker are aufs bookkeeping: not part of the
        // filesystem (as Docker skips them), but files in its hardlink folder can be linked to.
        else if (path.split('/').some((part) => part.startsWith(AUFS_META_PREFIX))) {
          if (record.header.type === 'file') {
            fs.aufsLinks.set(path, { meta: metaOf(record.header), layer: index, entry: record.index, names: 0 });
            changes.fileBytes += record.header.size;
          }
        } else if (wh?.kind === 'whiteout') {
          whiteouts.push({ target: wh.target, origin: origin(record.index, record.rawPath) });
        } else if (path !== '') {
          const pending: PendingRecord = { path, meta: metaOf(record.header), entry: record.index };
          if (record.header.type === 'hardlink') pending.rawPath = record.rawPath;
          records.push(pending);
          if (record.header.type === 'file') changes.fileBytes += record.header.size;
        }
      });
      // Whiteouts and opaque markers hide what lower layers have, never the entries of their own layer:
      // they are applied first (whiteouts before opaque folders, which may hold them).
      const removed = new Set<string>();
      for (const w of whiteouts) {
        // A whiteout below a folder this layer already whited out has nothing left to hide.
        if (ancestors(w.target).some((a) => removed.has(a))) continue;
        changes.removed += fs.remove(w.target, index, w.origin, opts.onMissingWhiteout);
        removed.add(w.target);
      }
      for (const dir of opaque) changes.removed += fs.clear(dir, index);
      for (const r of records) changes[fs.apply(r, index, () => origin(r.entry, r.rawPath ?? r.path))]++;
      records.length = 0;
      opts.onLayer?.(index, changes, fs);
    }
    fs.complete = true;
    fs.names = undefined;
    // What streamed through (on a large image, tens of MB of buffers V8 has promoted and not yet freed)
    // is garbage now: collected, when the CLI allows (--expose-gc), before callers build their listings.
    collectGarbage();
    return fs;
  }

  /**
   * Streams a layer's entries to `each`, which may read their bodies. Failures of the layer's data
   * (compression, tar structure, unsafe names, digest) become a UserError naming the layer, its digest
   * and the entry being read (or the last one read); when the blob does not match its digest, that is
   * given as the cause.
   */
  private async readLayer(index: number, each: (record: TarRecord) => Promise<void> | void): Promise<void> {
    const layer = this.image.layers[index]!;
    let last: TarRecord | undefined;
    let inside = false;
    const stream = await openUncompressed(layer);
    const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    // readTar lets go of its source at the end-of-archive marker; what follows is still read here, so
    // the blob is hashed to its end and checked against its digest. Its digest vouches for a layer
    // without an end marker, too.
    const source: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => ({ next: () => iterator.next() }) };
    try {
      for await (const record of readTar(source, { allowMissingEnd: true })) {
        [last, inside] = [record, true];
        await each(record);
        // What `each` left of the body is passed over here, so a failure in it names this entry.
        for await (const _ of record.body());
        inside = false;
      }
      while (!(await iterator.next()).done);
    } catch (err) {
      throw await this.layerError(index, err, last && `${inside ? '' : 'after '}entry ${last.index + 1} "${last.rawPath}"`);
    } finally {
      await iterator.return?.();
    }
  }

  private async layerError(index: number, err: unknown, entry: string | undefined): Promise<unknown> {
    if (!(err instanceof TarFormatError || err instanceof UserError || err instanceof UnsafePathError)) return err;
    const layer = this.image.layers[index]!;
    let message = err.message;
    if (!/does not match its digest|but its descriptor says/.test(message)) {
      // Damaged bytes usually break the decompressor or the tar structure before the end of the blob,
      // where its digest is checked: when the digest is the reason, say so.
      const mismatch = await digestMismatch(layer);
      if (mismatch) message = `${mismatch}; reading it failed with: ${message}`;
    }
    return new UserError(`${this.name}: layer ${index} (${layer.descriptor.digest})${entry ? `, ${entry}` : ''}: ${message}`, { cause: err });
  }

  private key(name: string): string {
    let key = this.names?.get(name);
    if (key === undefined) {
      // A copy of its own (JSON's parser makes new strings, lone surrogates included); V8 copies names
      // shorter than 13 characters when splitting already.
      key = name.length < 13 ? name : (JSON.parse(JSON.stringify(name)) as string);
      this.names?.set(key, key);
    }
    return key;
  }

  private lookup(path: string): Node | undefined {
    let node: Node | undefined = this.root;
    for (const part of split(path)) node = node?.children?.get(part);
    return node;
  }

  /** Takes a name out of the view (a folder with everything below); returns how many names went. */
  private drop(node: Node, path: string, layer: number, how: DroppedFile['how']): number {
    let count = 1;
    const inode = node.inode;
    if (inode && --inode.names === 0 && inode.meta.size > 0) {
      this.onDrop?.({ path, size: inode.meta.size, addedBy: inode.layer, removedBy: layer, how });
    }
    if (node.children) for (const [name, child] of node.children) count += this.drop(child, join(path, name), layer, how);
    return count;
  }

  /** A whiteout: `path` must be in the view (its parent folders resolved through symlinks, as unpacking does). */
  private remove(path: string, layer: number, origin: string, onMissing: ReadOptions['onMissingWhiteout']): number {
    const parts = split(path);
    const base = parts.pop()!;
    const parent = this.resolve(parts.join('/'), true);
    const dir = parent === undefined ? undefined : this.lookup(parent);
    const node = dir?.children?.get(base);
    if (!dir || !node) {
      const message = `${this.name}: ${origin} deletes "/${path}", which no lower layer has`;
      if (!onMissing) throw new UserError(message);
      onMissing(message);
      return 0;
    }
    dir.children!.delete(base);
    return this.drop(node, join(parent!, base), layer, 'deleted');
  }

  /** An opaque marker: the folder's children from lower layers go (a folder new in this layer has none). */
  private clear(path: string, layer: number): number {
    const resolved = this.resolve(path, true);
    const node = resolved === undefined ? undefined : this.lookup(resolved);
    let count = 0;
    for (const [name, child] of node?.children ?? []) count += this.drop(child, join(resolved!, name), layer, 'deleted');
    node?.children?.clear();
    return count;
  }

  private apply(record: PendingRecord, layer: number, origin: () => string): 'added' | 'changed' {
    const meta = record.meta;
    const parts = split(record.path);
    const base = parts.pop()!;
    let dir = this.root;
    // The real path of `dir`, made only when a symlinked folder on the way makes it differ from the given one.
    let real: string | undefined;
    // The real path of the i-th component, before a symlink there is followed.
    const at = (i: number) => join(real ?? parts.slice(0, i).join('/'), parts[i]!);
    for (const [i, part] of parts.entries()) {
      let next = dir.children!.get(part);
      let nextReal = real === undefined ? undefined : join(real, part);
      if (next?.meta.type === 'symlink') {
        // Unpacking writes through a symlink to a folder (inside the root); so does this view.
        const resolved = this.resolve(at(i), true);
        const target = resolved === undefined ? undefined : this.lookup(resolved);
        if (target?.children) [next, nextReal] = [target, resolved!];
      }
      if (!next?.children) {
        if (next) this.drop(next, at(i), layer, 'overwritten');
        next = implicitDir(layer);
        dir.children!.set(this.key(part), next);
      }
      dir = next;
      real = nextReal;
    }
    const path = real === undefined ? record.path : join(real, base);
    const existing = dir.children!.get(base);
    const node = newNode(meta, layer);
    if (meta.type === 'directory') node.children = existing?.children ?? new Map();
    else if (meta.type === 'file') node.inode = { meta, layer, entry: record.entry, names: 1 };
    else if (meta.type === 'hardlink') {
      let target: string;
      try {
        target = normalizeLinkTarget(meta.linkname ?? '');
      } catch (err) {
        throw new UserError(`${this.name}: ${origin()}: hardlink target ${(err as Error).message}`);
      }
      const linked = this.lookup(target)?.inode ?? this.aufsLinks.get(target);
      if (!linked) throw new UserError(`${this.name}: ${origin()}: hardlink to "${target}", which is not a file at that point`);
      // Counted before the old name goes, so relinking a name to its own inode drops nothing.
      linked.names++;
      node.inode = linked;
      node.meta = linked.meta;
    }
    if (existing && !(node.children && existing.children)) this.drop(existing, path, layer, 'overwritten');
    if (existing) dir.children!.set(base, node);
    else dir.children!.set(this.key(base), node);
    return existing ? 'changed' : 'added';
  }

  /** The entry at `path` (relative or absolute), without following symlinks. */
  get(path: string): ImageFsEntry | undefined {
    const normalized = normalizeEntryPath(path.replace(/^\/+/, ''));
    const node = this.lookup(normalized);
    return node && node !== this.root ? this.asEntry(node, normalized) : undefined;
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
      if (node.meta.type === 'symlink' && (pending.length > 0 || followLast)) {
        if (++hops > 40) return undefined; // ELOOP, as Linux counts
        const target = node.meta.linkname ?? '';
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
   * The entries may be shared between calls: callers copy them to change them.
   */
  list(path: string): ImageFsEntry[] {
    const start = normalizeEntryPath(path.replace(/^\/+/, ''));
    if (start === '' && this.complete) return [...(this.fullListing ??= [...this.listing('')])];
    return [...this.listing(start)];
  }

  /**
   * What `list` gives, made as it is taken: a caller that streams the view (squash writes it straight
   * into a layer) holds none of it.
   */
  *listing(path: string): Generator<ImageFsEntry> {
    const start = normalizeEntryPath(path.replace(/^\/+/, ''));
    const top = this.lookup(start);
    if (!top) return;
    // Depth first with each folder's names in byte order is the canonical order (sortByEntryPath), and
    // sorting names folder by folder keeps a listing of a large image from building a key per path.
    const firstName = new Map<Inode, string>();
    const self = this;
    function* visit(node: Node, at: string): Generator<ImageFsEntry> {
      if (node !== self.root) yield self.listed(node, at, firstName);
      if (!node.children?.size) return;
      for (const name of [...node.children.keys()].sort(compareEntryPaths)) yield* visit(node.children.get(name)!, join(at, name));
    }
    yield* visit(top, start);
  }

  /** A node as `list` gives it: the first name of an inode is the file, later ones link to it. */
  private listed(node: Node, p: string, firstName: Map<Inode, string>): ImageFsEntry {
    if (!node.inode) return this.asEntry(node, p);
    const first = firstName.get(node.inode);
    if (first === undefined) {
      // Only a file with other names needs its first remembered.
      if (node.inode.names > 1) firstName.set(node.inode, p);
      return { path: p, ...node.inode.meta, type: 'file', layer: node.layer, content: contentOf(node.inode) };
    }
    const link: ImageFsEntry = { path: p, ...node.inode.meta, type: 'hardlink', linkname: first, size: 0, layer: node.layer };
    delete link.xattrs;
    return link;
  }

  /**
   * Every name of the view, parents before their children (in no set order otherwise), without copying
   * the view: for callers that only add sizes up. A hardlinked file is a `file` at the first name met and
   * a `hardlink` (size 0) at the others.
   */
  *walk(): Generator<WalkedEntry> {
    const seen = new Set<Inode>();
    const stack: [string, Node][] = [...this.root.children!].reverse();
    while (stack.length) {
      const [path, node] = stack.pop()!;
      if (node.inode) {
        const first = !seen.has(node.inode);
        seen.add(node.inode);
        yield { path, type: first ? 'file' : 'hardlink', size: first ? node.inode.meta.size : 0, layer: node.layer, content: contentOf(node.inode) };
      } else yield { path, type: node.meta.type, size: 0, layer: node.layer };
      if (node.children) for (const [name, child] of [...node.children].reverse()) stack.push([`${path}/${name}`, child]);
    }
  }

  private asEntry(node: Node, path: string): ImageFsEntry {
    if (node.inode) return { path, ...node.inode.meta, type: 'file', layer: node.layer, content: contentOf(node.inode) };
    return { path, ...node.meta, layer: node.layer };
  }

  /**
   * The given entries with `open` on files, their bytes spooled: those `spool` holds already (copied as
   * the layers streamed by in `read`) are not read again; the others are copied out of their layers,
   * each of those layers read once. `spool` is a folder for a new spool, or one to add to.
   */
  async spoolContent<T extends ImageFsEntry>(entries: readonly T[], spool: string | ContentSpool): Promise<(T & Entry)[]> {
    const store = typeof spool === 'string' ? new ContentSpool(spool, this.name) : spool;
    await this.spoolFiles(entries, store);
    return entries.map((e) => {
      if (e.type !== 'file' || !e.content) return { ...e };
      return { ...e, open: this.opener(e, store) };
    });
  }

  /**
   * Copies the bytes of the given entries' files that `spool` does not hold yet out of their layers (each
   * of those layers read once) and finishes the spool: from then on `opener` reads any of them.
   */
  async spoolFiles(entries: Iterable<ImageFsEntry>, spool: ContentSpool): Promise<void> {
    const wanted = new Map<number, Set<number>>();
    for (const e of entries) {
      if (e.type !== 'file' || !e.content || e.size === 0 || spool.has(e.content)) continue;
      const set = wanted.get(e.content.layer) ?? new Set<number>();
      set.add(e.content.entry);
      wanted.set(e.content.layer, set);
    }
    try {
      for (const [layer, indexes] of [...wanted].sort(([a], [b]) => a - b)) {
        // The whole layer is read, not only up to the last wanted entry, so its digest is checked.
        await this.readLayer(layer, async (record) => {
          if (indexes.has(record.index)) await spool.add({ layer, entry: record.index }, record.body());
        });
      }
    } catch (err) {
      await spool.finish().catch(() => {});
      throw err;
    }
    await spool.finish();
  }

  /** How to read a file entry's bytes from a spool that `spoolFiles` filled. */
  opener(entry: ImageFsEntry, spool: ContentSpool): () => Readable {
    if (entry.size === 0) return () => Readable.from([]);
    const open = entry.content && spool.opener(entry.content);
    if (!open) throw new Error(`content of "${entry.path}" was not found in layer ${entry.content?.layer}`);
    return open;
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
