import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { SourcedEntry } from '../entries/entry-set.js';
import { withTempDir } from '../fs/temp.js';
import type { EntryHeader } from '../tar/entry.js';
import type { DecodedPackage, EcosystemId, UnpackedPackage } from './ecosystem.js';
import { readChecked, tryWriteChecked } from './fetch/checked-record.js';
import type { ContentStore } from './fetch/store.js';

/** Bump when the record layout changes: old records are then ignored. */
const RECORD_VERSION = 2;

/** An entry as JSON: its header, xattr values in base64, and where its content starts in the blob. */
type EntryRecord = Omit<EntryHeader, 'xattrs'> & { origin: string; offset?: number; xattrs?: Record<string, string> };

interface UnpackedRecord {
  version: number;
  /** The ecosystem's decoder version: a decoder that changes what it produces makes its old records stale. */
  decoder: string;
  key: string;
  content: { sha256: string; size: number };
  meta: Record<string, string>;
  digests: Record<string, string>;
  entries: EntryRecord[];
}

function isRecord(value: unknown, key: string, decoder: string): value is UnpackedRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Partial<UnpackedRecord>;
  return r.version === RECORD_VERSION && r.decoder === decoder && r.key === key && typeof r.content?.sha256 === 'string'
    && Array.isArray(r.entries) && typeof r.meta === 'object' && typeof r.digests === 'object';
}

/** Entries that read their content from `blob` (the stored spool) at their offsets. */
function fromBlob<E extends SourcedEntry>(entry: E, blob: string, blobSha256: string, offset: number | undefined): E {
  if (offset === undefined || offset < 0 || entry.size === 0) return entry;
  const end = offset + entry.size - 1;
  return { ...entry, open: () => createReadStream(blob, { start: offset, end, highWaterMark: 1 << 20 }), contentId: `sha256:${blobSha256}@${offset}` };
}

/**
 * Decoding a package (xz for most of Debian, zstd for Fedora) is most of a warm build's work, so the
 * result is kept next to the package file in the content store: the file contents back to back as one
 * blob (under its SHA-256, verified on read like every stored file) and a record of the entries, metadata
 * members and digests (keyed by the package's store key, written atomically, with a checksum of its own).
 * A record that is unreadable, damaged, of another version or decoder, or whose blob fails verification
 * is ignored and the package is decoded again.
 */
export class UnpackedCache {
  constructor(
    private readonly store: ContentStore,
    private readonly ecosystem: EcosystemId,
    decoderVersion: number,
  ) {
    this.decoder = `${ecosystem}/${decoderVersion}`;
  }

  private readonly decoder: string;

  private recordPath(key: string): string {
    return join(this.store.root, 'unpacked', this.ecosystem, key.slice(0, 2), `${key}.json`);
  }

  /** `key`: the package file's SHA-256 in the store. */
  async get(key: string): Promise<UnpackedPackage | undefined> {
    const record = await readChecked(this.recordPath(key));
    if (!isRecord(record, key, this.decoder)) return undefined;
    const blob = record.content.size === 0 ? '' : await this.store.get(record.content.sha256, record.content.size);
    if (blob === undefined) return undefined;
    return {
      meta: new Map(Object.entries(record.meta).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
      digests: new Map(Object.entries(record.digests)),
      entries: record.entries.map((r) => {
        const { offset, xattrs, ...header } = r;
        const entry: SourcedEntry = { ...header };
        if (xattrs) entry.xattrs = Object.fromEntries(Object.entries(xattrs).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
        return fromBlob(entry, blob, record.content.sha256, offset);
      }),
    };
  }

  /** Decodes the verified package file with `decode` (spooling into a folder of the store) and keeps the result. */
  async put(key: string, decode: (spoolDir: string) => Promise<DecodedPackage>): Promise<UnpackedPackage> {
    return withTempDir(
      this.store.tempPrefix('unpack'),
      async (dir) => {
        const decoded = await decode(dir);
        const { spool } = decoded;
        const blob = spool.size === 0 ? '' : await this.store.adopt(spool.path, spool.sha256);
        const record: UnpackedRecord = {
          version: RECORD_VERSION,
          decoder: this.decoder,
          key,
          content: { sha256: spool.sha256, size: spool.size },
          meta: Object.fromEntries([...decoded.meta].map(([k, v]) => [k, v.toString('base64')])),
          digests: Object.fromEntries(decoded.digests),
          entries: decoded.entries.map((e, i) => {
            const { open: _open, contentId: _id, xattrs, ...header } = e;
            const r: EntryRecord = { ...header };
            if (spool.offsets[i]! >= 0) r.offset = spool.offsets[i]!;
            if (xattrs) r.xattrs = Object.fromEntries(Object.entries(xattrs).map(([k, v]) => [k, v.toString('base64')]));
            return r;
          }),
        };
        await tryWriteChecked(this.recordPath(key), record);
        // Entries now read from the stored blob: the spool file was moved there.
        const entries = decoded.entries.map((e, i) => fromBlob(e, blob, spool.sha256, spool.offsets[i]));
        return { meta: decoded.meta, digests: decoded.digests, entries };
      },
      await this.store.tempParent(),
    );
  }
}
