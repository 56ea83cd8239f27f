import { UserError } from '../../errors.js';
import type { ByteReader } from '../../stream/byte-reader.js';

/*
 * The RPM header structure, as rpm writes it into package files and its database. Hand-written: the one
 * npm library that reads rpm databases, @snyk/rpm-parser, returns only name, version, arch and size (no
 * requires, provides or file lists, which the why-chains need), keeps its header parser internal, and
 * skips unreadable entries instead of reporting them; no npm package reads package files' headers with
 * their regions, which signature checks and the database writer need byte for byte. A header blob is:
 *
 *   il (be32: index entries) | dl (be32: data bytes) | il × {tag, type, offset, count} (be32 each) | data
 *
 * A package file puts the 8-byte magic (8e ad e8 01 00 00 00 00) before it; a database blob has none.
 * The first entry is usually a region tag (HEADERIMMUTABLE for a package's header, HEADERSIGNATURES for
 * its signature header) whose data is a 16-byte trailer {tag, BIN, -16·ril, 16} closing the region: the
 * signed, immutable part. Tags rpm adds at install time follow the region in a database blob
 * ("dribbles") and replace region entries of the same tag, so the last entry of a tag wins here as in
 * rpm's headerImport().
 */

/** The tags the package readers use (rpm's include/rpm/rpmtag.h). */
export const RpmTag = {
  HEADERIMAGE: 61,
  HEADERSIGNATURES: 62,
  HEADERIMMUTABLE: 63,
  HEADERI18NTABLE: 100,
  SIGSIZE: 257,
  SIGPGP: 259,
  SIGMD5: 261,
  SIGGPG: 262,
  DSAHEADER: 267,
  RSAHEADER: 268,
  SHA1HEADER: 269,
  LONGSIGSIZE: 270,
  LONGARCHIVESIZE: 271,
  SHA256HEADER: 273,
  VERITYSIGNATURES: 276,
  VERITYSIGNATUREALGO: 277,
  NAME: 1000,
  VERSION: 1001,
  RELEASE: 1002,
  EPOCH: 1003,
  SUMMARY: 1004,
  BUILDTIME: 1006,
  INSTALLTIME: 1008,
  SIZE: 1009,
  LICENSE: 1014,
  GROUP: 1016,
  OS: 1021,
  ARCH: 1022,
  PREIN: 1023,
  POSTIN: 1024,
  PREUN: 1025,
  POSTUN: 1026,
  FILESIZES: 1028,
  FILESTATES: 1029,
  FILEMODES: 1030,
  FILERDEVS: 1033,
  FILEMTIMES: 1034,
  FILEDIGESTS: 1035,
  FILELINKTOS: 1036,
  FILEFLAGS: 1037,
  FILEUSERNAME: 1039,
  FILEGROUPNAME: 1040,
  SOURCERPM: 1044,
  ARCHIVESIZE: 1046,
  PROVIDENAME: 1047,
  REQUIREFLAGS: 1048,
  REQUIRENAME: 1049,
  REQUIREVERSION: 1050,
  CONFLICTFLAGS: 1053,
  CONFLICTNAME: 1054,
  CONFLICTVERSION: 1055,
  TRIGGERNAME: 1066,
  PREINPROG: 1085,
  POSTINPROG: 1086,
  OBSOLETENAME: 1090,
  FILEDEVICES: 1095,
  FILEINODES: 1096,
  FILELANGS: 1097,
  PREFIXES: 1098,
  INSTPREFIXES: 1099,
  SOURCEPACKAGE: 1106,
  PROVIDEFLAGS: 1112,
  PROVIDEVERSION: 1113,
  OBSOLETEFLAGS: 1114,
  OBSOLETEVERSION: 1115,
  DIRINDEXES: 1116,
  BASENAMES: 1117,
  DIRNAMES: 1118,
  PAYLOADFORMAT: 1124,
  PAYLOADCOMPRESSOR: 1125,
  PAYLOADFLAGS: 1126,
  INSTALLCOLOR: 1127,
  INSTALLTID: 1128,
  FILECOLORS: 1140,
  POSTTRANS: 1152,
  POSTTRANSPROG: 1154,
  LONGFILESIZES: 5008,
  LONGSIZE: 5009,
  FILEDIGESTALGO: 5011,
  PREINFLAGS: 5020,
  POSTINFLAGS: 5021,
  POSTTRANSFLAGS: 5024,
  RECOMMENDNAME: 5046,
  SUGGESTNAME: 5049,
  SUPPLEMENTNAME: 5052,
  ENHANCENAME: 5055,
  FILETRIGGERNAME: 5069,
  FILETRIGGERINDEX: 5070,
  TRANSFILETRIGGERNAME: 5079,
  TRANSFILETRIGGERINDEX: 5080,
  FILESIGNATURES: 5090,
  FILESIGNATURELENGTH: 5091,
  PAYLOADDIGEST: 5092,
  PAYLOADDIGESTALGO: 5093,
  PAYLOADDIGESTALT: 5097,
} as const;

/** The tags of a package's signature header (rpm's RPMSIGTAG_*; the 2xx ones are RPMTAG_* of the same value). */
export const RpmSigTag = {
  DSAHEADER: 267,
  RSAHEADER: 268,
  SHA1HEADER: 269,
  LONGSIZE: 270,
  LONGARCHIVESIZE: 271,
  SHA256HEADER: 273,
  /** Header + payload bytes (32-bit). */
  SIZE: 1000,
  /** Legacy RSA signature over header + payload. */
  PGP: 1002,
  /** Legacy MD5 over header + payload. */
  MD5: 1004,
  /** Legacy DSA signature over header + payload. */
  GPG: 1005,
  /** Uncompressed payload bytes. */
  PAYLOADSIZE: 1007,
  RESERVEDSPACE: 1008,
} as const;

/** rpm's value types (rpm_tagtype_e). */
export const RpmType = {
  NULL: 0, CHAR: 1, INT8: 2, INT16: 3, INT32: 4, INT64: 5, STRING: 6, BIN: 7, STRING_ARRAY: 8, I18NSTRING: 9,
} as const;
export type RpmType = (typeof RpmType)[keyof typeof RpmType];

/** Bytes per element of the fixed-size types; the string types have none. */
const FIXED_SIZE: ReadonlyMap<number, number> = new Map([
  [RpmType.NULL, 0], [RpmType.CHAR, 1], [RpmType.INT8, 1], [RpmType.INT16, 2], [RpmType.INT32, 4], [RpmType.INT64, 8], [RpmType.BIN, 1],
]);

/** What starts a header in a package file (rpm's rpm_header_magic). */
export const HEADER_MAGIC = Buffer.from([0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0]);

// rpm's limits (lib/header.cc hdrblobVerifyLengths, header_internal.hh): a signature header has at most 32
// tags and 64 MiB of data, a header 65535 tags and 256 MiB.
const LIMITS = {
  signature: { tags: 32, data: 64 * 1024 * 1024 },
  header: { tags: 0xffff, data: 0x0fffffff },
} as const;

interface Entry {
  type: RpmType;
  /** Byte offset of the value in the blob. */
  start: number;
  count: number;
  /** For string types: the start of each string and its length without the NUL. */
  strings?: [number, number][];
}

/** The immutable region a header opens with: its tag and how many index entries and data bytes it covers. */
export interface HeaderRegion {
  tag: number;
  il: number;
  dl: number;
}

const INDEX_ENTRY = 16;
const REGION_TRAILER = 16;
const utf8 = new TextDecoder('utf-8');

export interface ParseOptions {
  /**
   * The region tag the header must open with (package files: HEADERIMMUTABLE for the header,
   * HEADERSIGNATURES for the signature header), checked as rpm's hdrblobVerifyRegion does; with
   * `exact`, the region must cover the whole header, as rpm requires of package files.
   */
  region?: { tag: number; exact: boolean; optional?: boolean };
  /** Check entries as rpm's hdrblobVerifyInfo does: known types, counts, no overlapping data. */
  strict?: boolean;
}

/** One parsed header; values are decoded when asked for. */
export class RpmHeader {
  private constructor(
    /** The header blob: il, dl, index and data, without the magic. */
    readonly blob: Uint8Array,
    private readonly entries: Map<number, Entry>,
    private readonly where: string,
    /** The region the header opens with, when it has one. */
    readonly region: HeaderRegion | undefined,
  ) {}

  /** Parses a blob, checking every entry lies within it, as rpm does before trusting one. */
  static parse(blob: Uint8Array, where: string, options: ParseOptions = {}): RpmHeader {
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
    const region = options.region ? parseRegion(view, il, dl, options.region, bad) : undefined;
    const entries = new Map<number, Entry>();
    let previousEnd = 0;
    for (let i = 0; i < il; i++) {
      const at = 8 + i * INDEX_ENTRY;
      const tag = view.getUint32(at);
      const type = view.getUint32(at + 4) as RpmType;
      const offset = view.getInt32(at + 8);
      const count = view.getUint32(at + 12);
      const what = `entry ${i} (tag ${tag})`;
      if (type > RpmType.I18NSTRING) bad(`${what} has unknown type ${type}`);
      if (offset < 0 || offset >= dl) bad(`${what} starts at ${offset}, outside the ${dl} data bytes`);
      if (region && i === 0) {
        // The region entry's value is its trailer, checked by parseRegion.
        continue;
      }
      if (options.strict) {
        if (tag < RpmTag.HEADERI18NTABLE) bad(`${what} has a reserved tag number`);
        if (type === RpmType.NULL || count < 1 || count > dl) bad(`${what} has type ${type} and count ${count}`);
        if (type !== RpmType.BIN && count > 0xffff) bad(`${what} has ${count} elements, more than rpm allows`);
        if (offset < previousEnd) bad(`${what} overlaps the data of the entry before it`);
      }
      const start = dataStart + offset;
      const end = dataStart + dl;
      const size = FIXED_SIZE.get(type);
      let entry: Entry;
      if (size !== undefined) {
        if (size > 1 && offset % size !== 0) bad(`${what} is not aligned`);
        if (start + size * count > end) bad(`${what} (${count} × ${size} bytes) runs past the data`);
        entry = { type, start, count };
        previousEnd = offset + size * count;
      } else {
        if (type === RpmType.STRING && count !== 1) bad(`${what} is a string with count ${count}`);
        const strings: [number, number][] = [];
        let p = start;
        for (let s = 0; s < count; s++) {
          const nul = blob.subarray(p, end).indexOf(0);
          if (nul < 0) bad(`${what}: string ${s} runs past the data`);
          strings.push([p, nul]);
          p += nul + 1;
        }
        entry = { type, start, count, strings };
        previousEnd = p - dataStart;
      }
      if (region && options.strict && previousEnd > region.dl - REGION_TRAILER && offset < region.dl) {
        bad(`${what} overlaps the region trailer`);
      }
      entries.set(tag, entry);
    }
    return new RpmHeader(blob, entries, where, region);
  }

  /** The tags present, in index order of first appearance. */
  tags(): number[] {
    return [...this.entries.keys()];
  }

  has(tag: number): boolean {
    return this.entries.has(tag);
  }

  /** The region's bytes as rpm's header digests and signatures cover them: magic, il/dl of the region, its index entries and data. */
  regionImage(): Buffer {
    const blob = Buffer.from(this.blob.buffer, this.blob.byteOffset, this.blob.byteLength);
    const view = new DataView(this.blob.buffer, this.blob.byteOffset, this.blob.byteLength);
    const il = view.getUint32(0);
    const r = this.region ?? { il, dl: view.getUint32(4) };
    const ildl = Buffer.alloc(8);
    ildl.writeUInt32BE(r.il, 0);
    ildl.writeUInt32BE(r.dl, 4);
    const dataStart = 8 + il * INDEX_ENTRY;
    return Buffer.concat([HEADER_MAGIC, ildl, blob.subarray(8, 8 + r.il * INDEX_ENTRY), blob.subarray(dataStart, dataStart + r.dl)]);
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
    if (e.type !== RpmType.STRING_ARRAY && e.type !== RpmType.STRING && e.type !== RpmType.I18NSTRING) this.wrongType(tag, e, 'a string array');
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

  /** A binary tag's bytes (a copy), or undefined when the header has none. */
  binary(tag: number): Buffer | undefined {
    const e = this.entries.get(tag);
    if (!e) return undefined;
    if (e.type !== RpmType.BIN) this.wrongType(tag, e, 'binary');
    return Buffer.from(this.blob.subarray(e.start, e.start + e.count));
  }

  /** The type a tag has in this header. */
  typeOf(tag: number): RpmType | undefined {
    return this.entries.get(tag)?.type;
  }

  private wrongType(tag: number, e: Entry, wanted: string): never {
    throw new UserError(`${this.where}: corrupt rpm header: tag ${tag} has type ${e.type}, not ${wanted}`);
  }
}

/** Checks the region entry and its trailer as rpm's hdrblobVerifyRegion does. */
function parseRegion(view: DataView, il: number, dl: number, want: NonNullable<ParseOptions['region']>, bad: (why: string) => never): HeaderRegion | undefined {
  const tag = view.getUint32(8);
  const type = view.getUint32(12);
  const offset = view.getInt32(16);
  const count = view.getUint32(20);
  if (tag !== want.tag) {
    if (want.optional) return undefined;
    bad(`no region tag ${want.tag} (the first entry has tag ${tag})`);
  }
  if (type !== RpmType.BIN || count !== REGION_TRAILER) bad(`region tag ${tag} has type ${type} and count ${count}`);
  if (offset < 0 || offset + REGION_TRAILER > dl) bad(`region tag ${tag}: its trailer at ${offset} is outside the ${dl} data bytes`);
  const trailerAt = 8 + il * INDEX_ENTRY + offset;
  let trailerTag = view.getUint32(trailerAt);
  const trailerType = view.getUint32(trailerAt + 4);
  const trailerOffset = -view.getInt32(trailerAt + 8);
  const trailerCount = view.getUint32(trailerAt + 12);
  // Some old packages close the signature region with HEADERIMAGE; rpm accepts that.
  if (want.tag === RpmTag.HEADERSIGNATURES && trailerTag === RpmTag.HEADERIMAGE) trailerTag = RpmTag.HEADERSIGNATURES;
  if (trailerTag !== want.tag || trailerType !== RpmType.BIN || trailerCount !== REGION_TRAILER) {
    bad(`region trailer has tag ${trailerTag}, type ${trailerType}, count ${trailerCount}`);
  }
  const rdl = offset + REGION_TRAILER;
  const ril = trailerOffset / INDEX_ENTRY;
  if (trailerOffset % INDEX_ENTRY !== 0 || ril < 0 || ril > il || rdl > dl) bad(`region of ${ril} entries and ${rdl} bytes does not fit in ${il} entries and ${dl} bytes`);
  if (want.exact && (ril !== il || rdl !== dl)) bad(`the region covers ${ril} of ${il} entries and ${rdl} of ${dl} bytes, not the whole header`);
  return { tag, il: ril, dl: rdl };
}

/** A header as read from a package file: parsed, its blob, and where it lay in the file. */
export interface PackageHeader {
  header: RpmHeader;
  /** il, dl, index and data, without the magic: what rpm stores in its database. */
  blob: Buffer;
  /** File offset of the magic, and the length of magic + blob (+ padding for a signature header). */
  offset: number;
  length: number;
}

/**
 * Reads the signature header or the header of a package file from `reader` (at the magic), checking the
 * magic, rpm's size limits, the region (exact, as rpm's hdrblobRead requires of package files) and every
 * entry; a signature header is followed by padding to a multiple of 8 bytes, which is skipped.
 */
export async function readPackageHeader(reader: ByteReader, kind: 'signature' | 'header', where: string): Promise<PackageHeader> {
  const what = kind === 'signature' ? 'signature header' : 'header';
  const bad = (why: string): never => {
    throw new UserError(`${where}: corrupt rpm ${what}: ${why}`);
  };
  const offset = reader.position;
  const intro = await reader.read(16);
  if (intro.length < 16) bad(`truncated at byte ${offset + intro.length}`);
  if (!intro.subarray(0, 8).equals(HEADER_MAGIC)) bad(`bad magic at byte ${offset}`);
  const il = intro.readUInt32BE(8);
  const dl = intro.readUInt32BE(12);
  const limits = LIMITS[kind];
  if (il < 1 || il > limits.tags) bad(`${il} index entries (at most ${limits.tags})`);
  if (dl > limits.data) bad(`${dl} data bytes (at most ${limits.data})`);
  const rest = await reader.read(il * INDEX_ENTRY + dl);
  if (rest.length < il * INDEX_ENTRY + dl) bad(`truncated: ${il} index entries and ${dl} data bytes announced, the file ends first`);
  const blob = Buffer.concat([intro.subarray(8), rest]);
  let length = 8 + blob.length;
  if (kind === 'signature') {
    const pad = (8 - (blob.length % 8)) % 8;
    if ((await reader.skip(pad)) !== pad) bad('truncated in its padding');
    length += pad;
  }
  const regionTag = kind === 'signature' ? RpmTag.HEADERSIGNATURES : RpmTag.HEADERIMMUTABLE;
  const header = RpmHeader.parse(blob, `${where}: ${what}`, { region: { tag: regionTag, exact: true, optional: kind === 'signature' }, strict: true });
  return { header, blob, offset, length };
}
