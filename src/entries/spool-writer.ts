import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { UserError } from '../errors.js';

/** Gathered into writes of this size: many files are small, and each write costs the main thread. */
const BATCH = 1 << 20;

/**
 * One file that the contents of an archive's files (a tar, a .deb's data.tar, an rpm's cpio payload) are
 * spooled into back to back as the archive streams by, optionally hashed on the way (so the spool can be
 * kept in the content store under its SHA-256), and read back per file by offset.
 */
export class SpoolWriter {
  private readonly out: WriteStream;
  private readonly hash: Hash | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** A write error (a full disk) also rejects a pending 'drain' wait; kept here so it is never unhandled. */
  private failure: Error | undefined;
  /** Bytes appended so far: where the next content starts. */
  size = 0;

  constructor(readonly path: string, options: { hash?: boolean } = {}) {
    this.out = createWriteStream(path);
    this.out.on('error', (err) => (this.failure = err));
    this.hash = options.hash ? createHash('sha256') : undefined;
  }

  async append(chunk: Buffer): Promise<void> {
    this.hash?.update(chunk);
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.size += chunk.length;
    if (this.pendingBytes >= BATCH) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    if (!this.out.write(data)) await once(this.out, 'drain');
  }

  /** Writes what is gathered and closes the file; `what` names the archive if that fails. */
  async finish(what: string): Promise<{ path: string; size: number; sha256?: string }> {
    try {
      await this.flush();
    } catch (err) {
      this.out.destroy();
      throw err;
    }
    this.out.end();
    await once(this.out, 'close');
    if (this.failure) throw new UserError(`cannot spool ${what} to ${this.path}: ${this.failure.message}`);
    return { path: this.path, size: this.size, ...(this.hash ? { sha256: this.hash.digest('hex') } : {}) };
  }

  /** Abandons the file (an archive that failed to read). */
  destroy(): void {
    this.out.destroy();
  }

  /** An `Entry.open` for the `size` bytes spooled from `start`. */
  opener(start: number, size: number): () => Readable {
    const path = this.path;
    const end = start + size - 1;
    return () => createReadStream(path, { start, end, highWaterMark: 1 << 20 });
  }
}
