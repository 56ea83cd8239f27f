import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { CompressionOptions } from '../compression/compress.js';
import { digestStream } from '../digest.js';
import { readChecked, tryWriteChecked } from '../packages/fetch/checked-record.js';
import type { ContentStore } from '../packages/fetch/store.js';
import type { Entry } from '../tar/entry.js';
import type { WrittenLayer } from './layer-writer.js';

const require = createRequire(import.meta.url);

/** Bump whenever the tar writer or a compressor may write other bytes for the same entries. */
const LAYER_FORMAT = 2;

/** The version of zstd-napi (its bundled libzstd makes the bytes of zstd layers). */
function zstdVersion(): string {
  try {
    return (require('zstd-napi/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The digest of a file entry's content, read through `open()`, for entries with no contentId. */
async function hashContent(entry: Entry): Promise<string> {
  return entry.open ? (await digestStream(entry.open())).digest : 'empty';
}

/**
 * A key for the layer blob that `entries` (canonical: normalised, ordered, mtimes clamped) written
 * with `compression` give: everything the tar writer puts in a header, each file's content identity, the
 * compression settings and the zlib version (gzip bytes depend on it). Content comes from the entry's
 * contentId when it has one (packages' decoded contents are identified by their stored blob), else it is
 * read and hashed.
 */
export async function layerKey(entries: readonly Entry[], compression: CompressionOptions): Promise<string> {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ format: LAYER_FORMAT, zlib: process.versions.zlib, zstd: compression.compression === 'zstd' ? zstdVersion() : null, compression: compression.compression, level: compression.level ?? null }));
  for (const e of entries) {
    const xattrs = e.xattrs ? Object.entries(e.xattrs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => [k, v.toString('base64')]) : [];
    const content = e.type === 'file' && e.size > 0 ? (e.contentId ?? (await hashContent(e))) : '';
    hash.update(`${JSON.stringify([e.path, e.type, e.mode, e.uid, e.gid, e.mtime, e.size, e.linkname ?? '', e.devmajor ?? 0, e.devminor ?? 0, xattrs, content])}\n`);
  }
  return hash.digest('hex');
}

interface LayerRecord {
  written: WrittenLayer;
}

/**
 * Layers already written, by layerKey: the blob lives in the content store under its digest (verified
 * on read like every stored file), a checked record maps the key to its descriptor and diffID. Building
 * the same entries again (the same packages, spec and SOURCE_DATE_EPOCH) then reuses the compressed
 * layer instead of compressing ~120 MB again, as a build cache reuses an unchanged step.
 */
export class LayerCache {
  constructor(private readonly store: ContentStore) {}

  private recordPath(key: string): string {
    return join(this.store.root, 'layers', `${key}.json`);
  }

  async get(key: string): Promise<{ path: string; written: WrittenLayer } | undefined> {
    const record = (await readChecked(this.recordPath(key))) as LayerRecord | undefined;
    const d = record?.written?.descriptor;
    if (!d || typeof d.digest !== 'string' || !d.digest.startsWith('sha256:') || typeof d.size !== 'number') return undefined;
    const path = await this.store.get(d.digest.slice('sha256:'.length), d.size);
    return path ? { path, written: record.written } : undefined;
  }

  /** Keeps a blob this process wrote and hashed (on the store's file system); returns its stored path. */
  async put(key: string, blob: string, written: WrittenLayer): Promise<string> {
    const path = await this.store.adopt(blob, written.descriptor.digest.slice('sha256:'.length));
    await tryWriteChecked(this.recordPath(key), { written } satisfies LayerRecord);
    return path;
  }
}
