import type { Duplex } from 'node:stream';
import { CompressStream } from 'zstd-napi';
import type { Compression } from '../oci/media-types.js';
import { UserError } from '../errors.js';
import { ParallelGzip } from './parallel-gzip.js';

export interface CompressionOptions {
  compression: Compression;
  /** gzip 1-9 (default 6, as gzip -6); zstd 1-19 (default 3, as the zstd command line). */
  level?: number;
}

/**
 * A streaming compressor for layer blobs. Its output depends only on the input and the options: gzip is
 * cut into fixed-size blocks whatever the thread count, its header carries no name and mtime 0, and zstd always runs with the same worker count (zstd's output is
 * the same for any count ≥ 1, but differs between 0 and ≥ 1).
 */
const LEVELS: Record<Compression, [number, number]> = { gzip: [1, 9], zstd: [1, 19], none: [0, 0] };

/** Throws a UserError for a level the chosen compression does not have. */
export function checkCompressionOptions(options: CompressionOptions): void {
  if (options.level === undefined || options.compression === 'none') return;
  const [min, max] = LEVELS[options.compression];
  if (!Number.isInteger(options.level) || options.level < min || options.level > max) {
    throw new UserError(`compression level ${options.level} is out of range for ${options.compression} (${min}-${max})`);
  }
}

export function createCompressor(options: CompressionOptions): Duplex | undefined {
  checkCompressionOptions(options);
  if (options.compression === 'gzip') {
    return new ParallelGzip({ level: options.level ?? 6 });
  }
  if (options.compression === 'zstd') {
    return new CompressStream({ compressionLevel: options.level ?? 3, nbWorkers: 2, checksumFlag: true });
  }
  return undefined;
}
