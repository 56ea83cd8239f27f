import { join } from 'node:path';
import { withTempDir } from '../fs/temp.js';
import { LayerCache, layerKey } from '../layer/layer-cache.js';
import { writeLayer, type WrittenLayer } from '../layer/layer-writer.js';
import type { Compression } from '../oci/media-types.js';
import type { ContentStore } from '../packages/fetch/store.js';
import type { ProgressStatus } from '../progress/progress.js';
import type { Entry } from '../tar/entry.js';

export interface CachedLayerOptions {
  compression: Compression;
  /** Keep the layer in the store's layer cache and reuse it for the same entries. */
  cache: boolean;
  progress?: (status: ProgressStatus) => void;
  log: (line: string) => void;
}

/**
 * The layer blob for canonical entries: from the layer cache when the same entries were written before
 * (same packages, effects, spec and SOURCE_DATE_EPOCH), else written now (tar, compress, hash in one
 * pass) into the store and kept there for the next build. `key` is the layer cache's key, when cached.
 */
export async function cachedLayer(canonical: Entry[], store: ContentStore, work: string, options: CachedLayerOptions): Promise<{ blob: string; written: WrittenLayer; key?: string }> {
  const compression = { compression: options.compression } as const;
  // Tar size estimate for the display: contents plus a header (and padding) per entry.
  const total = canonical.reduce((n, e) => n + e.size + 1024, 0);
  const onProgress = (done: number) => options.progress?.({ step: 'compress', done, total: Math.max(done, total), unit: 'bytes' });
  if (!options.cache) {
    const blob = join(work, 'layer.blob');
    return { blob, written: await writeLayer(canonical, blob, { ...compression, onProgress }) };
  }
  const cache = new LayerCache(store);
  const key = await layerKey(canonical, compression);
  const hit = await cache.get(key);
  if (hit) {
    options.log(`layer: the same entries as a layer in the cache (${hit.written.descriptor.digest}); reused, not compressed again`);
    return { blob: hit.path, written: hit.written, key };
  }
  return withTempDir(
    store.tempPrefix('layer'),
    async (dir) => {
      const tmp = join(dir, 'layer.blob');
      const written = await writeLayer(canonical, tmp, { ...compression, onProgress });
      return { blob: await cache.put(key, tmp, written), written, key };
    },
    await store.tempParent(),
  );
}
