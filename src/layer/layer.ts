import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { openDecompressed } from '../compression/decompress.js';
import type { Digest } from '../digest.js';
import type { Descriptor } from '../oci/descriptor.js';

/**
 * A layer of an image: its blob as stored (descriptor) and its diffID (digest of the uncompressed tar).
 * Content is read lazily, so an image can be described, copied or inspected without unpacking.
 */
export interface Layer {
  readonly descriptor: Descriptor;
  readonly diffID: Digest;
  /** The blob exactly as stored (compressed or not). */
  open(): Promise<Readable>;
  /** Where the blob already is a plain local file, so a sink may link it instead of copying. */
  readonly localPath?: string;
}

/** The uncompressed tar stream of a layer, whatever compression its blob has. */
export async function openUncompressed(layer: Layer): Promise<Readable> {
  const { stream } = await openDecompressed(await layer.open(), `layer ${layer.descriptor.digest}`);
  return stream;
}

/** A layer whose blob is a file on disk. */
export function fileLayer(path: string, descriptor: Descriptor, diffID: Digest): Layer {
  return {
    descriptor,
    diffID,
    localPath: path,
    open: async () => createReadStream(path, { highWaterMark: 1 << 20 }),
  };
}
