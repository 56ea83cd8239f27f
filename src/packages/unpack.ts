import { availableParallelism } from 'node:os';
import pLimit from 'p-limit';
import type { Ecosystem, UnpackedPackage } from './ecosystem.js';
import { fetchPackage, storeKey } from './fetch/package-fetcher.js';
import type { ContentStore } from './fetch/store.js';
import { UnpackedCache } from './unpacked-cache.js';

export interface UnpackProgress {
  /** Packages ready (from the unpacked cache, or fetched and decoded). */
  done: number;
  count: number;
  /** Bytes downloaded so far, and the bytes of the packages not found in the store or the unpacked cache. */
  downloaded: number;
  toDownload: number;
  /** Packages served by the unpacked cache (neither fetched nor decoded). */
  cached: number;
}

/** The part of an ecosystem that turns its package files into entries. */
export type PackageDecoder<P> = Pick<Ecosystem<never, P, unknown>, 'id' | 'decoderVersion' | 'ref' | 'decode' | 'verifyPart'>;

export interface UnpackOptions {
  store: ContentStore;
  offline?: boolean;
  /** Downloads at once (default 6). */
  downloads?: number;
  onProgress?: (p: UnpackProgress) => void;
}

/**
 * Every package as entries, in the order given: from the unpacked cache when it has them, else fetched
 * (verified) and decoded. Downloads and decoding overlap — a package is decoded as soon as it has
 * arrived, while others are still downloading — each with its own bound (decoding runs on the thread
 * pool, one per core plus one to keep a core busy while another reads).
 */
export async function unpackPackages<P>(packages: readonly P[], decoder: PackageDecoder<P>, options: UnpackOptions): Promise<UnpackedPackage[]> {
  const cache = new UnpackedCache(options.store, decoder.id, decoder.decoderVersion);
  const download = pLimit(options.downloads ?? 6);
  // availableParallelism honours a container's CPU limit; each decode holds an xz dictionary (8+ MiB).
  const decode = pLimit(Math.min(4, Math.max(2, availableParallelism() + 1)));
  const lookup = pLimit(8);
  const progress: UnpackProgress = { done: 0, count: packages.length, downloaded: 0, toDownload: 0, cached: 0 };
  const report = () => options.onProgress?.(progress);
  let failed = false;
  const one = async (pkg: P): Promise<UnpackedPackage> => {
    const ref = decoder.ref(pkg);
    const hit = await lookup(async () => {
      if (failed) return undefined;
      const key = await storeKey(ref, options.store);
      return key === undefined ? undefined : cache.get(key);
    });
    if (hit) {
      progress.cached++;
      progress.done++;
      report();
      return hit;
    }
    progress.toDownload += ref.size;
    const verifyPart = decoder.verifyPart?.bind(decoder);
    const fetched = await download(() => {
      if (failed) throw new Error('cancelled');
      return fetchPackage(ref, { store: options.store, ...(options.offline ? { offline: true } : {}), ...(verifyPart ? { verifyPart: (file: string) => verifyPart(file, pkg) } : {}) }, (n) => {
        progress.downloaded += n;
        report();
      });
    });
    const unpacked = await decode(() => {
      if (failed) throw new Error('cancelled');
      return cache.put(fetched.sha256, (spoolDir) => decoder.decode(fetched.path, pkg, spoolDir));
    });
    progress.done++;
    report();
    return unpacked;
  };
  // The first failure is the one reported; work not yet started is dropped rather than begun.
  const results = packages.map((pkg) => one(pkg).catch((err: unknown) => {
    failed = true;
    throw err;
  }));
  try {
    return await Promise.all(results);
  } finally {
    await Promise.allSettled(results);
  }
}
