import { parentPath } from '../entries/path.js';
import type { EntryType } from '../tar/entry.js';
import { classifyPath, slimCategory } from './rules.js';

/** What the plan needs of one layer entry (paths normalised). Entries outside every category are not kept here. */
export interface PlanRecord {
  /** Position of the entry in the layer's tar. */
  index: number;
  path: string;
  type: EntryType;
  size: number;
}

/** The entries of one layer that a plan looks at. */
export interface PlanLayer {
  /** Entries inside some category's paths. */
  records: PlanRecord[];
  /** Whiteouts and opaque markers, with the path they hide (for opaque markers: the folder). */
  whiteouts: { index: number; kind: 'whiteout' | 'opaque'; target: string }[];
}

export interface PlanInput {
  layers: readonly PlanLayer[];
  /** Every hardlink of the image (any layer): its name and the name it links to. */
  hardlinks: readonly { path: string; linkname: string }[];
  /** Categories that stay. */
  keep: ReadonlySet<string>;
  /** Paths that stay whatever their category (the zone /etc/localtime names). */
  protectedPaths: ReadonlySet<string>;
}

export interface SlimPlan {
  /** Per layer: the entries dropped, by their index in the tar, with their category ('' for whiteouts). */
  dropped: Map<number, string>[];
  /** Whether the entry at `path` goes (for the final view: dpkg's file lists). */
  removes(path: string, type: EntryType): boolean;
  /** Bytes of file content dropped, and entries dropped, per category (over all layers). */
  savedBytes: Map<string, number>;
  droppedEntries: Map<string, number>;
  droppedWhiteouts: number;
}

/** A tree of names, for replaying the layers' changesets (names only). */
class NameTree {
  private readonly root = new Map<string, Map<string, unknown>>();

  private node(path: string, create: boolean): Map<string, unknown> | undefined {
    let node = this.root as Map<string, unknown>;
    for (const part of path.split('/')) {
      let next = node.get(part) as Map<string, unknown> | undefined;
      if (!next) {
        if (!create) return undefined;
        next = new Map();
        node.set(part, next);
      }
      node = next;
    }
    return node;
  }

  add(path: string): void {
    this.node(path, true);
  }

  has(path: string): boolean {
    return this.node(path, false) !== undefined;
  }

  hasChildren(path: string): boolean {
    return (this.node(path, false)?.size ?? 0) > 0;
  }

  remove(path: string): void {
    const parent = parentPath(path);
    const base = path.slice(parent ? parent.length + 1 : 0);
    (parent ? this.node(parent, false) : this.root)?.delete(base);
  }

  clear(path: string): void {
    this.node(path, false)?.clear();
  }
}

function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let p = parentPath(path); p !== ''; p = parentPath(p)) out.push(p);
  return out;
}

/**
 * Decides which entries of which layers go. A non-directory goes when its category is removed, unless
 * it is an exception, a protected path, or a name a kept hardlink needs (the bytes stay with the link
 * anyway). A folder of a category that prunes folders goes when no kept entry lies below it in any
 * layer (so that a folder's metadata stays wherever something is left in it). A whiteout goes when it
 * hid something before and hides nothing once the lower layers are slimmed: replaying the changesets
 * twice over the category's names, as they were and as they will be, tells.
 */
export function planSlim(input: PlanInput): SlimPlan {
  const { keep, protectedPaths } = input;
  const categoryOf = (path: string, type: EntryType) => slimCategory(path, keep, type);

  // Names kept hardlinks link to stay; a link chain is followed to the name holding the bytes.
  const linksByPath = new Map<string, string[]>();
  for (const h of input.hardlinks) linksByPath.set(h.path, [...(linksByPath.get(h.path) ?? []), h.linkname]);
  const needed = new Set<string>();
  const pending = input.hardlinks.filter((h) => categoryOf(h.path, 'hardlink') === undefined || protectedPaths.has(h.path)).map((h) => h.linkname);
  while (pending.length) {
    const name = pending.pop()!;
    if (needed.has(name)) continue;
    needed.add(name);
    pending.push(...(linksByPath.get(name) ?? []));
  }

  const dropsNonDir = (path: string, type: EntryType): string | undefined => {
    if (protectedPaths.has(path) || needed.has(path)) return undefined;
    return categoryOf(path, type);
  };
  const prunable = (path: string): string | undefined => {
    if (protectedPaths.has(path)) return undefined;
    const c = classifyPath(path, 'directory');
    return c && !c.exception && !keep.has(c.category.name) && c.category.pruneFolders ? c.category.name : undefined;
  };

  // Folders with something kept below them, in any layer.
  const keptBelow = new Set<string>();
  for (const layer of input.layers) {
    for (const r of layer.records) {
      const kept = r.type === 'directory' ? prunable(r.path) === undefined : dropsNonDir(r.path, r.type) === undefined;
      if (kept) for (const a of ancestors(r.path)) keptBelow.add(a);
    }
  }
  const drops = (path: string, type: EntryType): string | undefined => {
    if (type !== 'directory') return dropsNonDir(path, type);
    return keptBelow.has(path) ? undefined : prunable(path);
  };

  const savedBytes = new Map<string, number>();
  const droppedEntries = new Map<string, number>();
  let droppedWhiteouts = 0;
  const before = new NameTree();
  const after = new NameTree();
  const dropped = input.layers.map((layer) => {
    const out = new Map<number, string>();
    for (const w of layer.whiteouts) {
      // Whiteouts above a category's paths (".wh.usr") always stay: they hide more than slim decides on.
      if (!classifyPath(w.target, 'directory')) continue;
      const hid = w.kind === 'opaque' ? before.hasChildren(w.target) : before.has(w.target);
      const hides = w.kind === 'opaque' ? after.hasChildren(w.target) : after.has(w.target);
      if (hid && !hides) {
        out.set(w.index, '');
        droppedWhiteouts++;
      }
    }
    for (const tree of [before, after]) {
      for (const w of layer.whiteouts) (w.kind === 'opaque' ? tree.clear(w.target) : tree.remove(w.target));
    }
    for (const r of layer.records) {
      before.add(r.path);
      const category = drops(r.path, r.type);
      if (category === undefined) {
        after.add(r.path);
        continue;
      }
      out.set(r.index, category);
      savedBytes.set(category, (savedBytes.get(category) ?? 0) + (r.type === 'file' ? r.size : 0));
      droppedEntries.set(category, (droppedEntries.get(category) ?? 0) + 1);
    }
    return out;
  });
  return { dropped, removes: (path, type) => drops(path, type) !== undefined, savedBytes, droppedEntries, droppedWhiteouts };
}
