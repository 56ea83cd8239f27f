import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { UserError } from '../errors.js';
import type { Image } from '../image/image.js';
import { openUncompressed } from '../layer/layer.js';
import { readTar, TarFormatError, type TarRecord } from '../tar/reader.js';

/** How error messages name a layer. */
export function layerName(image: Image, name: string, index: number): string {
  return `${name}: layer ${index} (${image.layers[index]!.descriptor.digest})`;
}

/**
 * The records of a layer's tar, read to the very end of the blob: readTar stops at the end-of-archive
 * marker, which would leave the blob's digest check (made when its stream ends) and the compressor's
 * own checksum unread. The uncompressed bytes are hashed and compared with the config's diff_id, so a
 * layer that does not match its descriptor or its diff_id fails here, naming the layer, before anything
 * is written.
 */
export async function* verifiedLayerRecords(image: Image, name: string, index: number): AsyncGenerator<TarRecord> {
  const layer = image.layers[index]!;
  const where = layerName(image, name, index);
  let stream: Readable | undefined;
  try {
    stream = await openUncompressed(layer);
    const chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const hash = createHash('sha256');
    const next = async (): Promise<IteratorResult<Buffer>> => {
      const r = await chunks.next();
      if (!r.done) hash.update(r.value);
      return r;
    };
    // readTar closes its source when it is done; this one stays open so that the rest can be drained.
    const source: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => ({ next, return: async () => ({ done: true, value: undefined }) }) };
    for await (const record of readTar(source, { allowMissingEnd: true })) yield record;
    while (!(await next()).done);
    const diffID = `sha256:${hash.digest('hex')}`;
    if (diffID !== layer.diffID) throw new UserError(`its uncompressed content hashes to ${diffID}, but the config's diff_id is ${layer.diffID}`);
  } catch (err) {
    if (err instanceof TarFormatError || err instanceof UserError) throw new UserError(`${where}: ${err.message}`);
    throw err;
  } finally {
    stream?.destroy();
  }
}
