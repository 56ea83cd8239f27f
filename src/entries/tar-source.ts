import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { openDecompressed } from '../compression/decompress.js';
import type { ArchiveCompression } from '../compression/detect.js';
import { UserError } from '../errors.js';
import { readTar, TarFormatError } from '../tar/reader.js';
import type { SourcedEntry } from './entry-set.js';

export interface TarScan {
  entries: SourcedEntry[];
  compression: ArchiveCompression;
  /** The spool file: all file contents back to back, `offsets[i]` where entry i's content starts (-1: none). */
  spool: { path: string; size: number; offsets: number[]; sha256?: string };
}

export interface ScanOptions {
  /** Sees each file's content as it is spooled (e.g. to hash it), with the path as the archive has it. */
  onContent?: (path: string, chunk: Buffer) => void;
  /** Hash the spool file while writing it (to keep it in a content-addressed store). */
  hashSpool?: boolean;
}

/** Several archives may spool into one folder (one per package of a build). */
let spoolCounter = 0;

async function write(out: WriteStream, chunk: Buffer): Promise<void> {
  if (!out.write(chunk)) await once(out, 'drain');
}

/**
 * Reads a tar archive (plain, gzip, xz or zstd; a file or standard input) into entries. Headers stay in
 * memory; file contents are spooled to `spoolDir`, so the archive is read once and the entries can then
 * be reordered into the canonical order and written straight from the spool.
 */
export async function scanTarArchive(
  input: AsyncIterable<Buffer>,
  name: string,
  spoolDir: string,
  options: ScanOptions = {},
): Promise<TarScan> {
  const { onContent } = options;
  const spoolHash = options.hashSpool ? createHash('sha256') : undefined;
  const offsets: number[] = [];
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async () => {
    if (pendingBytes === 0) return;
    const data = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    await write(spool, data);
  };
  const { compression, stream } = await openDecompressed(input, name);
  const spoolPath = join(spoolDir, `content-${spoolCounter++}.spool`);
  const spool = createWriteStream(spoolPath);
  // A write error (a full disk) also rejects the pending 'drain' wait; this keeps it from going unhandled.
  let spoolError: Error | undefined;
  spool.on('error', (err) => (spoolError = err));
  const entries: SourcedEntry[] = [];
  let offset = 0;
  try {
    for await (const record of readTar(stream)) {
      const origin = `entry ${record.index + 1} "${record.rawPath}" of ${name}`;
      const entry: SourcedEntry = { ...record.header, origin };
      if (record.header.type === 'file' && record.header.size > 0) {
        const start = offset;
        const end = offset + record.header.size - 1;
        for await (const chunk of record.body()) {
          onContent?.(record.header.path, chunk);
          spoolHash?.update(chunk);
          // Many files are small: gather them into large writes (each write costs the main thread).
          pending.push(chunk);
          pendingBytes += chunk.length;
          if (pendingBytes >= 1 << 20) await flush();
        }
        offset += record.header.size;
        entry.open = () => createReadStream(spoolPath, { start, end, highWaterMark: 1 << 20 });
        offsets.push(start);
      } else {
        offsets.push(-1);
      }
      entries.push(entry);
    }
  } catch (err) {
    spool.destroy();
    if (err instanceof TarFormatError) throw new UserError(`${name}: ${err.message}`);
    throw err;
  }
  try {
    await flush();
  } catch (err) {
    spool.destroy();
    throw err;
  }
  spool.end();
  await once(spool, 'close');
  if (spoolError) throw new UserError(`cannot spool ${name} to ${spoolPath}: ${spoolError.message}`);
  return { entries, compression, spool: { path: spoolPath, size: offset, offsets, ...(spoolHash ? { sha256: spoolHash.digest('hex') } : {}) } };
}
