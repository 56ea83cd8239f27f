/**
 * Pulls exact byte counts out of a chunked async source, for block-structured formats (tar, ar) that are
 * parsed while streaming and never held whole.
 */
export class ByteReader {
  private readonly iterator: AsyncIterator<Buffer | Uint8Array | string>;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  /** Bytes consumed so far: the stream offset of the next byte read. */
  position = 0;

  constructor(source: AsyncIterable<Buffer | Uint8Array | string>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<boolean> {
    while (this.buffered < n && !this.ended) {
      const next = await this.iterator.next();
      if (next.done) {
        this.ended = true;
        break;
      }
      const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
      if (chunk.length === 0) continue;
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    return this.buffered >= n;
  }

  /** Exactly n bytes, or fewer only if the source ended first. */
  async read(n: number): Promise<Buffer> {
    await this.fill(n);
    const take = Math.min(n, this.buffered);
    let out: Buffer;
    const first = this.chunks[0];
    if (first && first.length >= take) {
      out = first.subarray(0, take);
      if (first.length === take) this.chunks.shift();
      else this.chunks[0] = first.subarray(take);
    } else {
      const all = Buffer.concat(this.chunks, this.buffered);
      out = all.subarray(0, take);
      this.chunks = take < all.length ? [all.subarray(take)] : [];
    }
    this.buffered -= take;
    this.position += take;
    return out;
  }

  /** Up to max bytes of what is there now (reading one more chunk if nothing is), empty at the end. */
  async readSome(max: number): Promise<Buffer> {
    if (this.buffered === 0) await this.fill(1);
    const first = this.chunks[0];
    if (!first) return Buffer.alloc(0);
    const take = Math.min(max, first.length);
    const out = first.subarray(0, take);
    if (take === first.length) this.chunks.shift();
    else this.chunks[0] = first.subarray(take);
    this.buffered -= take;
    this.position += take;
    return out;
  }

  /** Skips n bytes; returns how many could be skipped before the end. */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      const got = await this.readSome(left);
      if (got.length === 0) break;
      left -= got.length;
    }
    return n - left;
  }

  /** Lets the underlying source clean up when a reader stops early. */
  async close(): Promise<void> {
    await this.iterator.return?.();
  }
}
