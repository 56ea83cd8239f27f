import { join } from 'node:path';
import { openDecompressed } from '../compression/decompress.js';
import type { ArchiveCompression } from '../compression/detect.js';
import { UserError } from '../errors.js';
import { readTar, TarFormatError } from '../tar/reader.js';
import type { SourcedEntry } from './entry-set.js';
import { SpoolWriter } from './spool-writer.js';

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
  const offsets: number[] = [];
  const { compression, stream } = await openDecompressed(input, name);
  const spool = new SpoolWriter(join(spoolDir, `content-${spoolCounter++}.spool`), { hash: Boolean(options.hashSpool) });
  const entries: SourcedEntry[] = [];
  try {
    for await (const record of readTar(stream)) {
      const origin = `entry ${record.index + 1} "${record.rawPath}" of ${name}`;
      const entry: SourcedEntry = { ...record.header, origin };
      if (record.header.type === 'file' && record.header.size > 0) {
        const start = spool.size;
        for await (const chunk of record.body()) {
          onContent?.(record.header.path, chunk);
          await spool.append(chunk);
        }
        entry.open = spool.opener(start, record.header.size);
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
  const written = await spool.finish(name);
  return { entries, compression, spool: { ...written, offsets } };
}
