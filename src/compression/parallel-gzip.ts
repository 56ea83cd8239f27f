import { Transform, type TransformCallback } from 'node:stream';
import { constants, crc32, deflateRaw } from 'node:zlib';
import { promisify } from 'node:util';

const deflateRawAsync = promisify(deflateRaw) as (buf: Buffer, options: object) => Promise<Buffer>;

const WINDOW = 32 * 1024;

export interface ParallelGzipOptions {
  level?: number;
  /** Uncompressed bytes per block; fixed, so the output does not depend on how many threads ran. */
  blockSize?: number;
  /** Blocks compressed at once on libuv's thread pool. */
  parallelism?: number;
}

/**
 * gzip compression spread over libuv's thread pool, as pigz does it: the input is cut into fixed-size
 * blocks, each deflated on its own with the previous 32 KiB as its dictionary and ended with a sync
 * flush, so the concatenated blocks form one ordinary deflate stream in a single gzip member. Node's
 * zlib has no such mode and no library does it on Node, hence this module. Output depends only on the
 * input, the level and the block size.
 */
export class ParallelGzip extends Transform {
  private readonly level: number;
  private readonly blockSize: number;
  private readonly parallelism: number;
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private previousTail: Buffer | undefined;
  private readonly inFlight: Promise<Buffer>[] = [];
  private crc = 0;
  private total = 0;
  private headerWritten = false;

  constructor(options: ParallelGzipOptions = {}) {
    super();
    this.level = options.level ?? 6;
    this.blockSize = options.blockSize ?? 262144;
    this.parallelism = options.parallelism ?? 4;
  }

  private header(): Buffer {
    // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL OS=3 (Unix), as zlib writes it: nothing from the host or clock.
    const xfl = this.level === 9 ? 2 : this.level === 1 ? 4 : 0;
    return Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, xfl, 0x03]);
  }

  private startBlock(block: Buffer, last: boolean): void {
    this.crc = crc32(block, this.crc);
    this.total += block.length;
    const options: Record<string, unknown> = {
      level: this.level,
      finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
      // One output buffer for the whole block, sized so it never fills: zlib's default 16 KiB means a
      // main-thread callback and a copy per 16 KiB, and a block whose output is an exact multiple of the
      // buffer gets an extra empty stored block. A buffer that never fills keeps the bytes stable.
      chunkSize: Math.max(64 * 1024, block.length + (block.length >> 3) + 1024),
    };
    if (this.previousTail) options['dictionary'] = this.previousTail;
    const deflated = deflateRawAsync(block, options);
    // Awaited in order by drain(); if an earlier block fails first, this one's failure is not unhandled.
    deflated.catch(() => {});
    this.inFlight.push(deflated);
    // Copy: the tail must outlive the caller's buffer, which may be reused.
    this.previousTail = Buffer.from(block.subarray(Math.max(0, block.length - WINDOW)));
  }

  private async drain(keep: number): Promise<void> {
    while (this.inFlight.length > keep) {
      const out = await this.inFlight.shift()!;
      if (out.length) this.push(out);
    }
  }

  private takeBlock(size: number): Buffer {
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingLength);
    const block = all.subarray(0, size);
    const rest = all.subarray(size);
    this.pending = rest.length ? [rest] : [];
    this.pendingLength = rest.length;
    return block;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (!this.headerWritten) {
      this.push(this.header());
      this.headerWritten = true;
    }
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    const work = async () => {
      // Keep the last full block back: only at the end is it known whether it is the final one.
      while (this.pendingLength > this.blockSize) {
        this.startBlock(this.takeBlock(this.blockSize), false);
        await this.drain(this.parallelism - 1);
      }
    };
    work().then(() => done(), done);
  }

  override _flush(done: TransformCallback): void {
    if (!this.headerWritten) {
      this.push(this.header());
      this.headerWritten = true;
    }
    const work = async () => {
      this.startBlock(this.takeBlock(this.pendingLength), true);
      await this.drain(0);
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.crc >>> 0, 0);
      trailer.writeUInt32LE(this.total % 2 ** 32, 4);
      this.push(trailer);
    };
    work().then(() => done(), done);
  }
}
