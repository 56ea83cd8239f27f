import { UserError } from '../../errors.js';

/*
 * The RPM header structure, as rpm's headerExport() writes it into the package database. Hand-written: the
 * one npm library that reads rpm databases, @snyk/rpm-parser, returns only name, version, arch and size (no
 * requires, provides or file lists, which the why-chains need), keeps its header parser internal, and skips
 * unreadable entries instead of reporting them. A database blob is the header without the 8-byte magic a
 * package file carries:
 *
 *   il (be32: index entries) | dl (be32: data bytes) | il × {tag, type, offset, count} (be32 each) | data
 *
 * The first entry is usually a region tag (HEADERIMMUTABLE) covering the package's signed header; tags rpm
 * adds at install time follow it ("dribbles") and replace region entries of the same tag, so the last entry
 * of a tag wins here as in rpm's headerImport().
 */

/** The tags the package readers use (rpm's lib/rpmtag.h). */
export const RpmTag = {
  NAME: 1000,
  VERSION: 1001,
  RELEASE: 1002,
  EPOCH: 1003,
  SIZE: 1009,
  ARCH: 1022,
  PROVIDENAME: 1047,
  REQUIREFLAGS: 1048,
  REQUIRENAME: 1049,
  DIRINDEXES: 1116,
  BASENAMES: 1117,
  DIRNAMES: 1118,
  LONGSIZE: 5009,
} as const;

/** rpm's value types (rpm_tagtype_e). */
const RpmType = {
  NULL: 0, CHAR: 1, INT8: 2, INT16: 3, INT32: 4, INT64: 5, STRING: 6, BIN: 7, STRING_ARRAY: 8, I18NSTRING: 9,
} as const;
type RpmType = (typeof RpmType)[keyof typeof RpmType];

/** Bytes per element of the fixed-size types; the string types have none. */
const FIXED_SIZE: ReadonlyMap<number, number> = new Map([
  [RpmType.NULL, 0], [RpmType.CHAR, 1], [RpmType.INT8, 1], [RpmType.INT16, 2], [RpmType.INT32, 4], [RpmType.INT64, 8], [RpmType.BIN, 1],
]);

interface Entry {
  type: RpmType;
  /** Byte offset of the value in the blob. */
  start: number;
  count: number;
  /** For string types: the start of each string and its length without the NUL. */
  strings?: [number, number][];
}

const INDEX_ENTRY = 16;
const utf8 = new TextDecoder('utf-8');

/** One parsed header; values are decoded when asked for. */
export class RpmHeader {
  private constructor(
    private readonly blob: Uint8Array,
    private readonly entries: Map<number, Entry>,
    private readonly where: string,
  ) {}

  /** Parses a database blob, checking every entry lies within it, as rpm does before trusting one. */
  static parse(blob: Uint8Array, where: string): RpmHeader {
    const bad = (why: string): never => {
      throw new UserError(`${where}: corrupt rpm header: ${why}`);
    };
    if (blob.length < 8) bad(`${blob.length} bytes, too short for a header`);
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const il = view.getUint32(0);
    const dl = view.getUint32(4);
    const dataStart = 8 + il * INDEX_ENTRY;
    if (il === 0 || dataStart + dl > blob.length) {
      bad(`${il} index entries and ${dl} data bytes do not fit in ${blob.length} bytes`);
    }
    const entries = new Map<number, Entry>();
    for (let i = 0; i < il; i++) {
      const at = 8 + i * INDEX_ENTRY;
      const tag = view.getUint32(at);
      const type = view.getUint32(at + 4) as RpmType;
      const offset = view.getInt32(at + 8);
      const count = view.getUint32(at + 12);
      const what = `entry ${i} (tag ${tag})`;
      if (type > RpmType.I18NSTRING) bad(`${what} has unknown type ${type}`);
      if (offset < 0 || offset >= dl) bad(`${what} starts at ${offset}, outside the ${dl} data bytes`);
      const start = dataStart + offset;
      const end = dataStart + dl;
      const size = FIXED_SIZE.get(type);
      if (size !== undefined) {
        if (size > 1 && offset % size !== 0) bad(`${what} is not aligned`);
        if (start + size * count > end) bad(`${what} (${count} × ${size} bytes) runs past the data`);
        entries.set(tag, { type, start, count });
        continue;
      }
      if (type === RpmType.STRING && count !== 1) bad(`${what} is a string with count ${count}`);
      const strings: [number, number][] = [];
      let p = start;
      for (let s = 0; s < count; s++) {
        const nul = blob.subarray(p, end).indexOf(0);
        if (nul < 0) bad(`${what}: string ${s} runs past the data`);
        strings.push([p, nul]);
        p += nul + 1;
      }
      entries.set(tag, { type, start, count, strings });
    }
    return new RpmHeader(blob, entries, where);
  }

  has(tag: number): boolean {
    return this.entries.has(tag);
  }

  /** A string tag (for an I18N string, its first, untranslated value). */
  string(tag: number): string | undefined {
    const e = this.entries.get(tag);
    if (!e) return undefined;
    if (e.type !== RpmType.STRING && e.type !== RpmType.I18NSTRING) this.wrongType(tag, e, 'a string');
    const [at, length] = e.strings![0]!;
    return utf8.decode(this.blob.subarray(at, at + length));
  }

  /** A string-array tag, or [] when the header has none. */
  strings(tag: number): string[] {
    const e = this.entries.get(tag);
    if (!e) return [];
    if (e.type !== RpmType.STRING_ARRAY && e.type !== RpmType.STRING) this.wrongType(tag, e, 'a string array');
    return e.strings!.map(([at, length]) => utf8.decode(this.blob.subarray(at, at + length)));
  }

  /** An integer tag's values, or [] when the header has none (64-bit values beyond 2^53 lose precision). */
  numbers(tag: number): number[] {
    const e = this.entries.get(tag);
    if (!e) return [];
    const view = new DataView(this.blob.buffer, this.blob.byteOffset, this.blob.byteLength);
    const out: number[] = [];
    for (let i = 0; i < e.count; i++) {
      switch (e.type) {
        case RpmType.CHAR:
        case RpmType.INT8: out.push(view.getUint8(e.start + i)); break;
        case RpmType.INT16: out.push(view.getUint16(e.start + 2 * i)); break;
        case RpmType.INT32: out.push(view.getUint32(e.start + 4 * i)); break;
        case RpmType.INT64: out.push(Number(view.getBigUint64(e.start + 8 * i))); break;
        default: this.wrongType(tag, e, 'an integer');
      }
    }
    return out;
  }

  private wrongType(tag: number, e: Entry, wanted: string): never {
    throw new UserError(`${this.where}: corrupt rpm header: tag ${tag} has type ${e.type}, not ${wanted}`);
  }
}
