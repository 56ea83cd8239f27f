import type { Digest } from '../digest.js';
import { normalizeEntryPath, normalizeLinkTarget } from '../entries/path.js';
import { UserError } from '../errors.js';
import type { Image } from '../image/image.js';
import { openUncompressed } from '../layer/layer.js';
import { classifyWhiteout } from '../layer/whiteout.js';
import { layerHistory } from '../oci/config.js';
import { readTar, TarFormatError } from '../tar/reader.js';
import { withImage, type SourceOptions } from '../transport/transports.js';
import { duplicateLibraries, installedPackages, type InstalledPackage } from '../packages/deb/installed-packages.js';

/** A file's bytes, shared by its hardlinked names: wasted only when its last name goes. */
interface Inode {
  size: number;
  layer: number;
  names: number;
  path: string;
}

interface Node {
  type: string;
  inode?: Inode;
  children?: Map<string, Node>;
}

export interface LayerAnalysis {
  index: number;
  digest: Digest;
  /** Bytes of the blob as stored. */
  size: number;
  /** Bytes of file contents the layer carries. */
  fileBytes: number;
  createdBy?: string;
  added: number;
  changed: number;
  removed: number;
}

/** Bytes a layer ships that a later layer deletes or overwrites, so the final filesystem never shows them. */
export interface Waste {
  path: string;
  bytes: number;
  addedBy: number;
  removedBy: number;
  how: 'deleted' | 'overwritten';
}

/** The waste one pair of steps makes, with what to do about it. */
export interface WastePair {
  addedBy: number;
  removedBy: number;
  bytes: number;
  files: number;
  largest: string[];
  advice: string;
}

/** Bytes the `slim` cleanups would take out of the final filesystem, by category. */
export interface Savings {
  docs: number;
  man: number;
  locales: number;
  caches: number;
}

export interface AnalyzeReport {
  reference: string;
  digest: Digest;
  /** Bytes of file contents over all layers (what pulling the image unpacks). */
  totalBytes: number;
  /** Of those, bytes the final filesystem does not show (deleted or overwritten by a later layer). */
  wastedBytes: number;
  /** (totalBytes − wastedBytes) / totalBytes: 1 when every byte shipped is seen. */
  efficiency: number;
  layers: LayerAnalysis[];
  waste: WastePair[];
  largestWaste: Waste[];
  /** From the image's dpkg database, when it has one: every installed package, its size and why it is there. */
  packageManager?: 'dpkg';
  packageCount: number;
  packages: InstalledPackage[];
  /** Shared-library packages installed in more than one version. */
  duplicateLibraries: string[][];
  savings: Savings;
}

const DPKG_STATUS = 'var/lib/dpkg/status';

/** Which slim category a path of the final filesystem falls in (copyright files and locale.alias stay). */
function savingsCategory(path: string): keyof Savings | undefined {
  if (/^usr\/share\/doc\/[^/]+\/copyright$/.test(path) || path === 'usr/share/locale/locale.alias') return undefined;
  if (/^usr\/share\/(doc|info|lintian\/overrides|linda)\//.test(path)) return 'docs';
  if (/^usr\/share\/(man|groff)\//.test(path)) return 'man';
  // Translations and locale sources; not the compiled locales in /usr/lib/locale (C.utf8 is libc's own).
  if (/^usr\/share\/(locale|i18n)\//.test(path)) return 'locales';
  if (/^var\/cache\/(apt|debconf|man|ldconfig)\/./.test(path) || /^var\/lib\/apt\/lists\/./.test(path) || /^var\/cache\/(dnf|yum|apk)\/./.test(path) || /^var\/log\/./.test(path)) return 'caches';
  return undefined;
}

const MB = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/**
 * Replays the layers' changesets over a tree of names (headers only, nothing in memory but names and
 * sizes) and records, for every byte a layer ships, whether a later layer deletes or overwrites it.
 * dive counts each copy of a path that occurs in more than one layer, the visible one too; here only the
 * bytes that the final filesystem does not show are waste, each counted once.
 */
class WasteTracker {
  private readonly root: Node = { type: 'directory', children: new Map() };
  readonly waste: Waste[] = [];

  private lookup(path: string): Node | undefined {
    let node: Node | undefined = this.root;
    for (const part of path === '' ? [] : path.split('/')) node = node?.children?.get(part);
    return node;
  }

  private parent(path: string): { dir: Node; base: string } {
    const parts = path.split('/');
    const base = parts.pop()!;
    let dir = this.root;
    for (const part of parts) {
      let next = dir.children!.get(part);
      if (!next?.children) {
        next = { type: 'directory', children: new Map() };
        dir.children!.set(part, next);
      }
      dir = next;
    }
    return { dir, base };
  }

  /** Drops a name (and everything below it); counts removed names; records bytes whose last name went. */
  private drop(node: Node, path: string, layer: number, how: Waste['how']): number {
    let count = 1;
    if (node.inode && --node.inode.names === 0 && node.inode.size > 0) {
      this.waste.push({ path: node.inode.path, bytes: node.inode.size, addedBy: node.inode.layer, removedBy: layer, how });
    }
    for (const [name, child] of node.children ?? []) count += this.drop(child, `${path}/${name}`, layer, how);
    return count;
  }

  /** The files of the final filesystem, each hardlinked file once, with its size and layer. */
  *files(node: Node = this.root, path = '', seen = new Set<Inode>()): Generator<{ path: string; size: number; layer: number }> {
    for (const [name, child] of node.children ?? []) {
      const at = path ? `${path}/${name}` : name;
      if (child.inode && !seen.has(child.inode)) {
        seen.add(child.inode);
        yield { path: at, size: child.inode.size, layer: child.inode.layer };
      }
      yield* this.files(child, at, seen);
    }
  }

  /** The layer whose file a path of the final filesystem shows, if it is a file. */
  fileLayer(path: string): number | undefined {
    return this.lookup(path)?.inode?.layer;
  }

  remove(path: string, layer: number): number {
    const node = this.lookup(path);
    if (!node || node === this.root) return 0;
    const { dir, base } = this.parent(path);
    dir.children!.delete(base);
    return this.drop(node, path, layer, 'deleted');
  }

  clear(path: string, layer: number): number {
    const node = this.lookup(path);
    let count = 0;
    for (const [name, child] of node?.children ?? []) count += this.drop(child, `${path}/${name}`, layer, 'deleted');
    node?.children?.clear();
    return count;
  }

  /** Applies one entry; says whether it added a name or changed one. */
  apply(path: string, type: string, size: number, linkname: string | undefined, layer: number): 'added' | 'changed' {
    const { dir, base } = this.parent(path);
    const existing = dir.children!.get(base);
    if (type === 'directory' && existing?.children) {
      existing.type = type;
      return 'changed';
    }
    if (existing) this.drop(existing, path, layer, 'overwritten');
    const node: Node = { type };
    if (type === 'directory') node.children = new Map();
    else if (type === 'file') node.inode = { size, layer, names: 1, path };
    else if (type === 'hardlink' && linkname !== undefined) {
      const target = this.lookup(linkname)?.inode;
      if (target) {
        target.names++;
        node.inode = target;
      }
    }
    dir.children!.set(base, node);
    return existing ? 'changed' : 'added';
  }
}

/** Reads every layer of an image once, streaming, and reports sizes per layer and the waste between them. */
export async function analyzeImage(image: Image, reference: string): Promise<AnalyzeReport> {
  const history = layerHistory(image.config);
  const tracker = new WasteTracker();
  const layers: LayerAnalysis[] = [];
  let totalBytes = 0;
  // The dpkg database as each layer wrote it (small): the final one is read after the last layer.
  const status = new Map<number, Buffer>();
  for (const [index, layer] of image.layers.entries()) {
    const where = `${reference}: layer ${index} (${layer.descriptor.digest})`;
    const stats: LayerAnalysis = { index, digest: layer.descriptor.digest, size: layer.descriptor.size, fileBytes: 0, added: 0, changed: 0, removed: 0 };
    const createdBy = history[index]?.created_by;
    if (createdBy) stats.createdBy = createdBy;
    const entries: { path: string; type: string; size: number; linkname?: string }[] = [];
    const opaque: string[] = [];
    const whiteouts: string[] = [];
    try {
      for await (const record of readTar(await openUncompressed(layer), { allowMissingEnd: true })) {
        const path = normalizeEntryPath(record.header.path);
        const wh = classifyWhiteout(path);
        if (wh?.kind === 'opaque') opaque.push(wh.dir);
        else if (wh?.kind === 'whiteout') whiteouts.push(wh.target);
        else if (path !== '') {
          const linkname = record.header.type === 'hardlink' ? normalizeLinkTarget(record.header.linkname ?? '') : undefined;
          entries.push({ path, type: record.header.type, size: record.header.size, ...(linkname !== undefined ? { linkname } : {}) });
          if (path === DPKG_STATUS && record.header.type === 'file') {
            const chunks: Buffer[] = [];
            for await (const chunk of record.body()) chunks.push(chunk);
            status.set(index, Buffer.concat(chunks));
          }
          if (record.header.type === 'file') stats.fileBytes += record.header.size;
        }
      }
    } catch (err) {
      if (err instanceof TarFormatError || err instanceof UserError) throw new UserError(`${where}: ${err.message}`);
      throw err;
    }
    // Whiteouts delete what lower layers had, never the entries of their own layer: applied first.
    for (const dir of opaque) stats.removed += tracker.clear(dir, index);
    for (const target of whiteouts) stats.removed += tracker.remove(target, index);
    for (const e of entries) stats[tracker.apply(e.path, e.type, e.size, e.linkname, index)]++;
    totalBytes += stats.fileBytes;
    layers.push(stats);
  }
  const wastedBytes = tracker.waste.reduce((n, w) => n + w.bytes, 0);
  const step = (i: number) => `layer ${i}${layers[i]?.createdBy ? ` \`${layers[i]!.createdBy!.replace(/^\/bin\/sh -c (#\(nop\) )?/, '').slice(0, 80)}\`` : ''}`;
  const pairs = new Map<string, WastePair>();
  for (const w of [...tracker.waste].sort((a, b) => b.bytes - a.bytes)) {
    const key = `${w.addedBy}:${w.removedBy}`;
    const pair = pairs.get(key) ?? { addedBy: w.addedBy, removedBy: w.removedBy, bytes: 0, files: 0, largest: [], advice: '' };
    pair.bytes += w.bytes;
    pair.files++;
    if (pair.largest.length < 5) pair.largest.push(`/${w.path}`);
    pairs.set(key, pair);
  }
  const waste = [...pairs.values()].sort((a, b) => b.bytes - a.bytes);
  for (const p of waste) {
    const verb = tracker.waste.some((w) => w.addedBy === p.addedBy && w.removedBy === p.removedBy && w.how === 'deleted') ? 'deletes' : 'overwrites';
    p.advice = `${step(p.removedBy)} ${verb} ${MB(p.bytes)} added by ${step(p.addedBy)} (${p.largest.slice(0, 2).join(', ')}${p.files > 2 ? ', …' : ''}): do both in one RUN, or build in a stage and copy only the result`;
  }
  const savings: Savings = { docs: 0, man: 0, locales: 0, caches: 0 };
  for (const f of tracker.files()) {
    const category = savingsCategory(f.path);
    if (category) savings[category] += f.size;
  }
  const statusLayer = tracker.fileLayer(DPKG_STATUS);
  const statusText = statusLayer === undefined ? undefined : status.get(statusLayer)?.toString('utf8');
  const packages = statusText === undefined ? [] : installedPackages(statusText, `${reference}: /${DPKG_STATUS}`);
  return {
    reference,
    digest: image.digest,
    totalBytes,
    wastedBytes,
    efficiency: totalBytes === 0 ? 1 : (totalBytes - wastedBytes) / totalBytes,
    layers,
    waste,
    largestWaste: [...tracker.waste].sort((a, b) => b.bytes - a.bytes).slice(0, 20),
    ...(statusText !== undefined ? { packageManager: 'dpkg' as const } : {}),
    packageCount: packages.length,
    packages,
    duplicateLibraries: duplicateLibraries(packages),
    savings,
  };
}

export async function analyze(reference: string, options: SourceOptions = {}): Promise<AnalyzeReport> {
  return withImage(reference, (image) => analyzeImage(image, reference), options);
}

export function formatAnalyze(r: AnalyzeReport): string {
  const lines = [
    `Reference:   ${r.reference}`,
    `Digest:      ${r.digest}`,
    `Contents:    ${MB(r.totalBytes)} in ${r.layers.length} layer(s)`,
    `Wasted:      ${MB(r.wastedBytes)} (deleted or overwritten by a later layer)`,
    `Efficiency:  ${(r.efficiency * 100).toFixed(1)}%`,
    '',
    'Layer  stored      contents    added  changed  removed  created by',
  ];
  for (const l of r.layers) {
    lines.push(`${String(l.index).padStart(5)}  ${MB(l.size).padStart(10)}  ${MB(l.fileBytes).padStart(10)}  ${String(l.added).padStart(5)}  ${String(l.changed).padStart(7)}  ${String(l.removed).padStart(7)}  ${l.createdBy ?? ''}`);
  }
  if (r.waste.length) {
    lines.push('', 'Waste:');
    for (const p of r.waste) lines.push(`  ${p.advice}`);
  }
  if (r.packageManager) {
    lines.push('', `Packages (${r.packageManager}): ${r.packageCount}, ${MB(r.packages.reduce((n, p) => n + p.installedBytes, 0))} installed; largest:`);
    for (const p of [...r.packages].sort((a, b) => b.installedBytes - a.installedBytes).slice(0, 15)) {
      lines.push(`  ${MB(p.installedBytes).padStart(9)}  ${p.name} ${p.version}  (${p.why.join(' → ')})`);
    }
    for (const group of r.duplicateLibraries) lines.push(`  several versions of one library: ${group.join(', ')}`);
  }
  lines.push('', `Slimming would save: docs ${MB(r.savings.docs)}, man pages ${MB(r.savings.man)}, locales ${MB(r.savings.locales)}, caches and logs ${MB(r.savings.caches)}`);
  return lines.join('\n');
}
