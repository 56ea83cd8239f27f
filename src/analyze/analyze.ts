import type { Digest } from '../digest.js';
import { ImageFilesystem, type DroppedFile } from '../image/filesystem.js';
import type { Image } from '../image/image.js';
import { layerHistory } from '../oci/config.js';
import type { InstalledPackage } from '../packages/installed.js';
import { keptCategories, SLIM_CATEGORIES, slimCategory } from '../slim/rules.js';
import { withImage, type SourceOptions } from '../transport/transports.js';
import { fileTree, type FileTreeNode } from './file-tree.js';
import { isDatabaseFile, readPackageDatabase, type PackageManager } from './package-database.js';

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
export type Waste = Omit<DroppedFile, 'size'> & { bytes: number };

/** The waste one pair of steps makes, with what to do about it. */
export interface WastePair {
  addedBy: number;
  removedBy: number;
  bytes: number;
  files: number;
  largest: string[];
  advice: string;
}

/**
 * Bytes `fromscratch slim` (its default categories) would take out of the final filesystem, by category:
 * docs, man, info, locales, caches, logs, cracklib, sln, ldconfig.
 */
export type Savings = { docs: number; man: number; locales: number; caches: number } & Record<string, number>;

export interface AnalyzeReport {
  reference: string;
  digest: Digest;
  /** Bytes of file contents over all layers (what pulling the image unpacks). */
  totalBytes: number;
  /** Of those, bytes the final filesystem does not show (deleted or overwritten by a later layer). */
  wastedBytes: number;
  /** (totalBytes − wastedBytes) / totalBytes: 1 when every byte shipped is seen. */
  efficiency: number;
  /** wastedBytes over the content bytes of the layers above the first (dive's "user" layers); null (infinite) when they hold none but something is wasted. */
  wastedPercent: number | null;
  /** Bytes of the layer blobs as stored (what a registry holds and a pull downloads). */
  storedBytes: number;
  layers: LayerAnalysis[];
  waste: WastePair[];
  largestWaste: Waste[];
  /** From the image's package database, when it has one: every installed package, its size and why it is there. */
  packageManager?: PackageManager;
  /** Why a package database the image has was not read (rpm's Berkeley DB and ndb backends). */
  packageNote?: string;
  packageCount: number;
  packages: InstalledPackage[];
  /** Shared-library packages installed in more than one version. */
  duplicateLibraries: string[][];
  savings: Savings;
  /** What the layers do that unpacking tolerates but should not be there (a whiteout of a path no lower layer has). */
  warnings: string[];
}

export interface AnalyzeOptions {
  /** Also build the final filesystem's tree of sizes (for the HTML report). */
  tree?: boolean;
}

export interface Analysis {
  report: AnalyzeReport;
  /** The final filesystem by size, for the treemap (when asked for). */
  tree?: FileTreeNode;
}

export const MB = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;

/** A history step as people read it: `layer 3 \`rm /tmp/foo\``. */
function stepName(layer: LayerAnalysis | undefined, index: number): string {
  const by = layer?.createdBy?.replace(/^\/bin\/sh -c (#\(nop\) )?/, '').slice(0, 80);
  return `layer ${index}${by ? ` \`${by}\`` : ''}`;
}

/** Waste grouped by the pair of steps that made it, largest first, with advice in words. */
function wastePairs(waste: readonly Waste[], layers: readonly LayerAnalysis[]): WastePair[] {
  const pairs = new Map<string, WastePair & { deletes: boolean }>();
  for (const w of [...waste].sort((a, b) => b.bytes - a.bytes)) {
    const key = `${w.addedBy}:${w.removedBy}`;
    const pair = pairs.get(key) ?? { addedBy: w.addedBy, removedBy: w.removedBy, bytes: 0, files: 0, largest: [], advice: '', deletes: false };
    pair.bytes += w.bytes;
    pair.files++;
    pair.deletes ||= w.how === 'deleted';
    if (pair.largest.length < 5) pair.largest.push(`/${w.path}`);
    pairs.set(key, pair);
  }
  return [...pairs.values()]
    .sort((a, b) => b.bytes - a.bytes)
    .map(({ deletes, ...p }) => ({
      ...p,
      advice: `${stepName(layers[p.removedBy], p.removedBy)} ${deletes ? 'deletes' : 'overwrites'} ${MB(p.bytes)} added by ${stepName(layers[p.addedBy], p.addedBy)} (${p.largest.slice(0, 2).join(', ')}${p.files > 2 ? ', …' : ''}): do both in one RUN, or build in a stage and copy only the result`,
    }));
}

/**
 * Reads every layer of an image once, streaming (headers into a tree of names; only package-database
 * files are read whole), and reports sizes per layer, the bytes later layers delete or overwrite (each
 * byte once: dive counts every copy of a path found in several layers, the visible one too), the
 * installed packages and what slimming would save.
 */
export async function analyzeImage(image: Image, reference: string, options: AnalyzeOptions = {}): Promise<Analysis> {
  const history = layerHistory(image.config);
  const layers: LayerAnalysis[] = [];
  const waste: Waste[] = [];
  const warnings: string[] = [];
  // Database files, the latest of each path only (an rpmdb rewritten by every layer is held once).
  const captured = new Map<string, { layer: number; entry: number; bytes: Buffer }>();
  const view = await ImageFilesystem.read(image, reference, {
    onRecord: async (layer, path, record) => {
      if (record.header.type !== 'file' || !isDatabaseFile(path)) return;
      const chunks: Buffer[] = [];
      for await (const chunk of record.body()) chunks.push(chunk);
      captured.set(path, { layer, entry: record.index, bytes: Buffer.concat(chunks) });
    },
    onDrop: ({ size, ...dropped }) => waste.push({ ...dropped, bytes: size }),
    onMissingWhiteout: (message) => warnings.push(message),
    onLayer: (index, changes) => {
      const layer = image.layers[index]!;
      const createdBy = history[index]?.created_by;
      layers.push({ index, digest: layer.descriptor.digest, size: layer.descriptor.size, ...changes, ...(createdBy ? { createdBy } : {}) });
    },
  });
  const totalBytes = layers.reduce((n, l) => n + l.fileBytes, 0);
  const wastedBytes = waste.reduce((n, w) => n + w.bytes, 0);
  const userBytes = totalBytes - (layers[0]?.fileBytes ?? 0);

  // slim's own rules, so this is what it would save (up to the files it keeps because a kept link needs them).
  const keep = keptCategories();
  const savings: Savings = { docs: 0, man: 0, locales: 0, caches: 0 };
  for (const c of SLIM_CATEGORIES) if (!keep.has(c.name)) savings[c.name] = 0;
  const databasePaths: string[] = [];
  for (const e of view.walk()) {
    if (e.type !== 'file') continue;
    const category = slimCategory(e.path, keep, e.type);
    if (category) savings[category] = (savings[category] ?? 0) + e.size;
    if (isDatabaseFile(e.path)) databasePaths.push(e.path);
  }
  const { database, note } = await readPackageDatabase(
    databasePaths,
    (path) => {
      // The final view's bytes: a hardlink to a name that is not a database path was not kept.
      const content = view.get(path)?.content;
      const kept = captured.get(path);
      return kept && content?.layer === kept.layer && content.entry === kept.entry ? kept.bytes : undefined;
    },
    (path) => view.get(path)?.type === 'file',
    reference,
  );
  const packages = database?.packages ?? [];
  const report: AnalyzeReport = {
    reference,
    digest: image.digest,
    totalBytes,
    wastedBytes,
    efficiency: totalBytes === 0 ? 1 : (totalBytes - wastedBytes) / totalBytes,
    wastedPercent: userBytes > 0 ? wastedBytes / userBytes : wastedBytes > 0 ? null : 0,
    storedBytes: image.layers.reduce((n, l) => n + l.descriptor.size, 0),
    layers,
    waste: wastePairs(waste, layers),
    largestWaste: [...waste].sort((a, b) => b.bytes - a.bytes).slice(0, 20),
    ...(database ? { packageManager: database.manager } : {}),
    ...(note ? { packageNote: note } : {}),
    packageCount: packages.length,
    packages,
    duplicateLibraries: database?.duplicateLibraries ?? [],
    savings,
    warnings,
  };
  return { report, ...(options.tree ? { tree: fileTree(view, database?.owners ?? new Map()) } : {}) };
}

export async function analyze(reference: string, options: SourceOptions & AnalyzeOptions = {}): Promise<Analysis> {
  return withImage(reference, (image) => analyzeImage(image, reference, options), options);
}
