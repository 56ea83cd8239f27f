import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createCompressor, type CompressionOptions } from '../compression/compress.js';
import { DigestingStream, type Digest } from '../digest.js';
import { ociLayerMediaType } from '../oci/media-types.js';
import type { Descriptor } from '../oci/descriptor.js';
import type { Entry } from '../tar/entry.js';
import { writeTar } from '../tar/writer.js';

export interface WrittenLayer {
  descriptor: Descriptor;
  diffID: Digest;
  /** Bytes of the uncompressed tar. */
  uncompressedSize: number;
}

/**
 * Writes entries as a layer blob at `path` in one streaming pass: tar, hash (diffID), compress, hash
 * (digest), write. Nothing is held in memory beyond a chunk. On failure the file is removed.
 */
export async function writeLayer(
  entries: Iterable<Entry> | AsyncIterable<Entry>,
  path: string,
  options: CompressionOptions & { onProgress?: (uncompressedBytes: number) => void },
): Promise<WrittenLayer> {
  const uncompressed = new DigestingStream();
  const compressed = new DigestingStream();
  const compressor = createCompressor(options);
  const tar = Readable.from(writeTar(entries), { objectMode: false });
  const { onProgress } = options;
  const timer = onProgress ? setInterval(() => onProgress(uncompressed.size), 100) : undefined;
  try {
    if (compressor) await pipeline(tar, uncompressed, compressor, compressed, createWriteStream(path));
    else await pipeline(tar, uncompressed, compressed, createWriteStream(path));
  } catch (err) {
    await rm(path, { force: true });
    throw err;
  } finally {
    clearInterval(timer);
  }
  onProgress?.(uncompressed.size);
  return {
    descriptor: { mediaType: ociLayerMediaType(options.compression), digest: compressed.digest, size: compressed.size },
    diffID: uncompressed.digest,
    uncompressedSize: uncompressed.size,
  };
}
