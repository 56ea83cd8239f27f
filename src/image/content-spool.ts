import { close, createWriteStream, openSync, read, type WriteStream } from 'node:fs';
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

const CHUNK = 1 << 20;

/**
 * The bytes of one span, read with positional reads from a descriptor the spool shares: tens of thousands
 * of small files are read back, and a ReadStream each would open and close the spool file every time.
 */
class SpanReader extends Readable {
  private position: number;
  private left: number;

  constructor(private readonly fd: () => number, span: Span) {
    super({ highWaterMark: CHUNK });
    this.position = span.start;
    this.left = span.size;
  }

  override _read(): void {
    if (this.left === 0) {
      this.push(null);
      return;
    }
    const want = Math.min(this.left, CHUNK);
    let fd: number;
    try {
      fd = this.fd();
    } catch (err) {
      this.destroy(err as Error);
      return;
    }
    read(fd, Buffer.allocUnsafe(want), 0, want, this.position, (err, got, buffer) => {
      if (err) return this.destroy(err);
      if (got === 0) return this.destroy(new Error(`spool file ended ${this.left} bytes early`));
      this.position += got;
      this.left -= got;
      this.push(got === want ? buffer : buffer.subarray(0, got));
    });
  }
}

/** Several images may spool into one folder. */
let spoolCounter = 0;


/**
 * The bytes of layer entries copied to files in a folder (one file per layer and pass) as the layers
 * stream by, to be read back in any order once they are all through: a compressed layer cannot be read
 * at an offset, and the output wants entries in another order than the layers hold them.
 */
export class ContentSpool {
  private readonly open = new Map<number, SpoolFile>();
  /** Per layer, per entry index: numbers as keys, where a string per entry would cost more than its span. */
  private readonly spans = new Map<number, Map<number, Span>>();
  /** Descriptors of finished spool files, opened when first read, closed by `close`. */
  private readonly fds = new Map<string, number>();

  constructor(private readonly dir: string, private readonly name: string) {}

  has(ref: ContentRef): boolean {
    return this.spans.get(ref.layer)?.has(ref.entry) ?? false;
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
    let layer = this.spans.get(ref.layer);
    if (!layer) this.spans.set(ref.layer, (layer = new Map()));
    layer.set(ref.entry, { file: file.path, start, size: file.size - start });
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
    const span = this.spans.get(ref.layer)?.get(ref.entry);
    if (!span) return undefined;
    if (span.size === 0) return () => Readable.from([]);
    return () => new SpanReader(() => this.descriptor(span.file), span);
  }

  private descriptor(file: string): number {
    let fd = this.fds.get(file);
    if (fd === undefined) {
      fd = openSync(file, 'r');
      this.fds.set(file, fd);
      spoolDescriptors.register(this, fd, this);
    }
    return fd;
  }

  /** Closes the spool files opened for reading (a later read opens them again). */
  close(): void {
    for (const fd of this.fds.values()) close(fd, () => {});
    this.fds.clear();
    spoolDescriptors.unregister(this);
  }
}

/** Closes what a spool that nobody closed left open, once it is collected. */
const spoolDescriptors = new FinalizationRegistry<number>((fd) => close(fd, () => {}));
