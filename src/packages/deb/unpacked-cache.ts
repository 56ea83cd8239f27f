import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { SourcedEntry } from '../../entries/entry-set.js';
import { withTempDir } from '../../fs/temp.js';
import { readChecked, tryWriteChecked } from '../fetch/checked-record.js';
import type { EntryHeader } from '../../tar/entry.js';
import type { ContentStore } from '../fetch/store.js';
import { readDeb } from './deb-file.js';

/** A package as the build uses it: control members, data entries (content readable) and file md5s. */
export interface UnpackedDeb {
  control: Map<string, Buffer>;
  entries: SourcedEntry[];
  md5: Map<string, string>;
}

/** Bump when the record layout or what readDeb produces changes: old records are then ignored. */
const RECORD_VERSION = 1;

/** An entry as JSON: its header, xattr values in base64, and where its content starts in the blob. */
type EntryRecord = Omit<EntryHeader, 'xattrs'> & { origin: string; offset?: number; xattrs?: Record<string, string> };

interface UnpackedRecord {
  version: number;
  deb: string;
  content: { sha256: string; size: number };
  control: Record<string, string>;
  md5: Record<string, string>;
  entries: EntryRecord[];
}

function isRecord(value: unknown, deb: string): value is UnpackedRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Partial<UnpackedRecord>;
  return r.version === RECORD_VERSION && r.deb === deb && typeof r.content?.sha256 === 'string' && Array.isArray(r.entries) && typeof r.control === 'object' && typeof r.md5 === 'object';
}

/**
 * Decoding a package's data.tar (xz for most of Debian) is most of a warm build's work, so the result is
 * kept next to the .deb in the content store: the file contents back to back as one blob (under its
 * SHA-256, verified on read like every stored file) and a record of the entries, control members and
 * md5s (keyed by the .deb's SHA-256, written atomically, with a checksum of its own). A record that is
 * unreadable, damaged, of another version, or whose blob fails verification is ignored and the package
 * is decoded again.
 */
export class UnpackedCache {
  constructor(private readonly store: ContentStore) {}

  private recordPath(debSha256: string): string {
    return join(this.store.root, 'unpacked', debSha256.slice(0, 2), `${debSha256}.json`);
  }

  async get(debSha256: string): Promise<UnpackedDeb | undefined> {
    const record = await readChecked(this.recordPath(debSha256));
    if (!isRecord(record, debSha256)) return undefined;
    const blob = record.content.size === 0 ? '' : await this.store.get(record.content.sha256, record.content.size);
    if (blob === undefined) return undefined;
    return {
      control: new Map(Object.entries(record.control).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
      md5: new Map(Object.entries(record.md5)),
      entries: record.entries.map((r) => {
        const { offset, xattrs, ...header } = r;
        const entry: SourcedEntry = { ...header };
        if (xattrs) entry.xattrs = Object.fromEntries(Object.entries(xattrs).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
        if (offset !== undefined && r.size > 0) {
          const start = offset;
          const end = offset + r.size - 1;
          entry.open = () => createReadStream(blob, { start, end, highWaterMark: 1 << 20 });
          entry.contentId = `sha256:${record.content.sha256}@${start}`;
        }
        return entry;
      }),
    };
  }

  /** Decodes the verified .deb at `debPath` and keeps the result; `where` names the package in errors. */
  async put(debSha256: string, debPath: string, where: string): Promise<UnpackedDeb> {
    return withTempDir(
      this.store.tempPrefix('unpack'),
      async (dir) => {
        const deb = await readDeb(debPath, where, dir);
        const { spool } = deb;
        const blob = spool.size === 0 ? '' : await this.store.adopt(spool.path, spool.sha256!);
        const record: UnpackedRecord = {
          version: RECORD_VERSION,
          deb: debSha256,
          content: { sha256: spool.sha256!, size: spool.size },
          control: Object.fromEntries([...deb.control].map(([k, v]) => [k, v.toString('base64')])),
          md5: Object.fromEntries(deb.md5),
          entries: deb.entries.map((e, i) => {
            const { open: _open, xattrs, ...header } = e;
            const r: EntryRecord = { ...header };
            if (spool.offsets[i]! >= 0) r.offset = spool.offsets[i]!;
            if (xattrs) r.xattrs = Object.fromEntries(Object.entries(xattrs).map(([k, v]) => [k, v.toString('base64')]));
            return r;
          }),
        };
        await tryWriteChecked(this.recordPath(debSha256), record);
        // Entries now read from the stored blob: the spool file was moved there.
        const entries = deb.entries.map((e, i) => {
          const offset = spool.offsets[i]!;
          if (offset < 0) return e;
          const end = offset + e.size - 1;
          return { ...e, open: () => createReadStream(blob, { start: offset, end, highWaterMark: 1 << 20 }), contentId: `sha256:${spool.sha256!}@${offset}` };
        });
        return { control: deb.control, md5: deb.md5, entries };
      },
      await this.store.tempParent(),
    );
  }
}
