import { ByteReader } from '../stream/byte-reader.js';
import type { EntryHeader } from './entry.js';
import { BLOCK, decodeHeader, decodeName, entryTypeOf, isZeroBlock, padding, TarFormatError, type RawHeader } from './header.js';
import { decodePax, type PaxRecords } from './pax.js';

/** A tar entry as it is read: its header as stored (path not yet normalised) and its content, once. */
export interface TarRecord {
  header: EntryHeader;
  /** The path exactly as the archive stores it, for error messages. */
  rawPath: string;
  /** Zero-based index of the entry in the archive. */
  index: number;
  /** Offset of the content in the (uncompressed) tar stream. */
  dataOffset: number;
  /** The content; if not consumed before the next entry is asked for, it is skipped. */
  body(): AsyncIterable<Buffer>;
}

export { TarFormatError };

function applyPax(raw: RawHeader, pax: PaxRecords, global: PaxRecords): { header: RawHeader; xattrs: Record<string, Buffer> } {
  const header = { ...raw };
  const xattrs: Record<string, Buffer> = {};
  for (const records of [global, pax]) {
    for (const [key, value] of records) {
      // An empty value means "no override" (POSIX): the ustar field stands.
      if (value.length === 0) continue;
      const text = () => decodeName(value, `PAX ${key} of "${header.name}"`);
      switch (key) {
        case 'path': header.name = text(); break;
        case 'linkpath': header.linkname = text(); break;
        case 'size': header.size = Number(text()); break;
        case 'uid': header.uid = Number(text()); break;
        case 'gid': header.gid = Number(text()); break;
        case 'uname': header.uname = text(); break;
        case 'gname': header.gname = text(); break;
        case 'mtime': header.mtime = Math.floor(Number(text())); break;
        default:
          if (key.startsWith('SCHILY.xattr.')) xattrs[key.slice('SCHILY.xattr.'.length)] = value;
          else if (key.startsWith('GNU.sparse.')) throw new TarFormatError(`entry "${header.name}": GNU sparse files are not supported`);
      }
    }
  }
  // Times before 1970 (GNU tar stores them as negative base-256 numbers) become the epoch itself.
  if (Number.isFinite(header.mtime) && header.mtime < 0) header.mtime = 0;
  for (const field of ['size', 'uid', 'gid', 'mtime'] as const) {
    if (!Number.isSafeInteger(header[field]) || header[field] < 0) {
      throw new TarFormatError(`entry "${header.name}": ${field} is not a non-negative integer`);
    }
  }
  return { header, xattrs };
}

export interface ReadTarOptions {
  /**
   * Accept an archive that ends at an entry boundary without the end-of-archive zero blocks. Off by
   * default: a stream cut at a 512-byte boundary would otherwise pass for a shorter, complete archive.
   * Layer blobs, whose digests already vouch for them, may turn it on (some writers omit the marker).
   */
  allowMissingEnd?: boolean;
}

/**
 * Reads a tar stream entry by entry without holding it: ustar, POSIX PAX (with binary xattrs), GNU long
 * names and base-256 numbers, and old v7 headers. Throws TarFormatError on corrupt or truncated input.
 */
export async function* readTar(source: AsyncIterable<Buffer | Uint8Array | string>, options: ReadTarOptions = {}): AsyncGenerator<TarRecord> {
  const reader = new ByteReader(source);
  let globalPax: PaxRecords = new Map();
  let index = 0;
  try {
    for (;;) {
      let pax: PaxRecords = new Map();
      let longName: string | undefined;
      let longLink: string | undefined;
      let raw: RawHeader;
      // Meta entries (PAX, GNU long names) describe the entry after them.
      for (;;) {
        const offset = reader.position;
        const block = await reader.read(BLOCK);
        if (block.length === 0 && index === 0 && offset === 0) throw new TarFormatError('empty input: not a tar archive');
        if (block.length === 0) {
          const afterMeta = pax.size > 0 || longName !== undefined || longLink !== undefined;
          if (options.allowMissingEnd && !afterMeta) return;
          throw new TarFormatError(`truncated archive: it ends at byte ${offset}, after ${index} entries, without the end-of-archive marker`);
        }
        if (block.length < BLOCK) throw new TarFormatError(`truncated archive: header at byte ${offset} is cut short`);
        if (isZeroBlock(block)) return;
        try {
          raw = decodeHeader(block);
        } catch (err) {
          throw new TarFormatError(`corrupt header at byte ${offset} (after ${index} entries): ${(err as Error).message}`);
        }
        const isMeta = raw.typeflag === 'x' || raw.typeflag === 'g' || raw.typeflag === 'L' || raw.typeflag === 'K';
        if (!isMeta) break;
        if (raw.size > 64 * 1024 * 1024) throw new TarFormatError(`header at byte ${offset}: extended header of ${raw.size} bytes is too large`);
        const data = await reader.read(raw.size);
        if (data.length < raw.size || (await reader.skip(padding(raw.size))) < padding(raw.size)) {
          throw new TarFormatError(`truncated archive: extended header at byte ${offset} is cut short`);
        }
        const where = `extended header at byte ${offset}`;
        if (raw.typeflag === 'x') pax = decodePax(data, where);
        else if (raw.typeflag === 'g') globalPax = decodePax(data, where);
        else if (raw.typeflag === 'L') longName = decodeName(data, 'GNU long name').replace(/\0+$/, '');
        else longLink = decodeName(data, 'GNU long link name').replace(/\0+$/, '');
      }
      if (longName !== undefined) raw.name = longName;
      if (longLink !== undefined) raw.linkname = longLink;
      const { header: h, xattrs } = applyPax(raw, pax, globalPax);

      let type = entryTypeOf(h.typeflag);
      // v7 archives mark directories only by a trailing slash.
      if (type === 'file' && h.name.endsWith('/')) type = 'directory';
      if (type === undefined) {
        if (h.typeflag === 'V') { await reader.skip(h.size + padding(h.size)); continue; }
        throw new TarFormatError(`entry "${h.name}": unsupported tar entry type '${h.typeflag}'`);
      }
      const size = type === 'file' ? h.size : 0;
      // Some writers put a size on hardlinks and the like: skip such data.
      const extra = type === 'file' ? 0 : h.size;

      const header: EntryHeader = {
        path: h.name,
        type,
        mode: h.mode & 0o7777,
        uid: h.uid,
        gid: h.gid,
        mtime: h.mtime,
        size,
      };
      if (type === 'symlink' || type === 'hardlink') header.linkname = h.linkname;
      if (type === 'char' || type === 'block') {
        header.devmajor = h.devmajor;
        header.devminor = h.devminor;
      }
      if (Object.keys(xattrs).length) header.xattrs = xattrs;
      if (h.uname) header.uname = h.uname;
      if (h.gname) header.gname = h.gname;

      const dataOffset = reader.position;
      let remaining = size;
      const name = h.name;
      const record: TarRecord = {
        header,
        rawPath: h.name,
        index,
        dataOffset,
        async *body() {
          while (remaining > 0) {
            const chunk = await reader.readSome(Math.min(remaining, 1 << 20));
            if (chunk.length === 0) throw new TarFormatError(`truncated archive: content of "${name}" is cut short`);
            remaining -= chunk.length;
            yield chunk;
          }
        },
      };
      yield record;
      if (remaining > 0 && (await reader.skip(remaining)) < remaining) {
        throw new TarFormatError(`truncated archive: content of "${name}" is cut short`);
      }
      remaining = 0;
      const pad = padding(size) + extra + padding(extra);
      if ((await reader.skip(pad)) < pad) throw new TarFormatError(`truncated archive after "${name}"`);
      index++;
    }
  } finally {
    await reader.close();
  }
}
