import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { UserError } from '../errors.js';

/** Where a file's bytes are: the index of a layer and the index of the entry in that layer's tar. */
export interface ContentRef {
  layer: number;
  entry: number;
}

interface SpoolFile {
  path: string;
  out: WriteStream;
  size: number;
  failed?: Error;
}

interface Span {
  file: string;
  start: number;
  size: number;
}

/** Several images may spool into one folder. */
let spoolCounter = 0;

const key = (ref: ContentRef) => `${ref.layer}:${ref.entry}`;

/**
 * The bytes of layer entries copied to files in a folder (one file per layer and pass) as the layers
 * stream by, to be read back in any order once they are all through: a compressed layer cannot be read
 * at an offset, and the output wants entries in another order than the layers hold them.
 */
export class ContentSpool {
  private readonly open = new Map<number, SpoolFile>();
  private readonly spans = new Map<string, Span>();

  constructor(private readonly dir: string, private readonly name: string) {}

  has(ref: ContentRef): boolean {
    return this.spans.has(key(ref));
  }

  /** Copies one entry's bytes (all of `body`) to the spool. */
  async add(ref: ContentRef, body: AsyncIterable<Buffer>): Promise<void> {
    let file = this.open.get(ref.layer);
    if (!file) {
      const path = join(this.dir, `image-${spoolCounter++}-layer-${ref.layer}.spool`);
      // Large buffer: the spool takes whole layers, and a drain wait per 16 KiB would cost more than the copy.
      const out = createWriteStream(path, { highWaterMark: 1 << 20 });
      const created: SpoolFile = { path, out, size: 0 };
      out.on('error', (err) => (created.failed = err));
      this.open.set(ref.layer, (file = created));
    }
    const start = file.size;
    for await (const chunk of body) {
      if (file.failed) break;
      file.size += chunk.length;
      if (!file.out.write(chunk)) await once(file.out, 'drain').catch(() => {});
    }
    if (file.failed) throw this.failure(file);
    this.spans.set(key(ref), { file: file.path, start, size: file.size - start });
  }

  /** Ends the files being written; what was added can be read once this is done. */
  async finish(): Promise<void> {
    const files = [...this.open.values()];
    this.open.clear();
    for (const file of files) {
      file.out.end();
      if (!file.out.closed) await once(file.out, 'close').catch(() => {});
    }
    const failed = files.find((f) => f.failed);
    if (failed) throw this.failure(failed);
  }

  private failure(file: SpoolFile): UserError {
    return new UserError(`cannot spool ${this.name} to ${file.path}: ${file.failed!.message}`);
  }

  /** The bytes of an entry added before the last `finish`; undefined when it was never added. */
  opener(ref: ContentRef): (() => Readable) | undefined {
    const span = this.spans.get(key(ref));
    if (!span) return undefined;
    if (span.size === 0) return () => Readable.from([]);
    return () => createReadStream(span.file, { start: span.start, end: span.start + span.size - 1, highWaterMark: 1 << 20 });
  }
}
