import { UserError } from '../../errors.js';
import { RpmFileState } from './file-list.js';
import { RpmTag } from './header.js';

/*
 * Writing rpm header blobs, as rpm's headerExport() (lib/header.c) lays them out, and the header rpm stores in
 * its database for an installed package. A blob (without the 8-byte magic a package file puts before it) is
 *
 *   il (be32) | dl (be32) | il × {tag, type, offset, count} (be32 each) | dl bytes of data
 *
 * Integers are big-endian and aligned to their size within the data; strings are NUL-terminated. header.ts
 * reads blobs for analyze; this module needs each entry's type and raw bytes (to carry signature tags over
 * unchanged), which that reader keeps to itself, hence the small index reader here.
 */

/** rpm's value types (rpm_tagtype_e). */
export const HeaderType = {
  NULL: 0, CHAR: 1, INT8: 2, INT16: 3, INT32: 4, INT64: 5, STRING: 6, BIN: 7, STRING_ARRAY: 8, I18NSTRING: 9,
} as const;
export type HeaderType = (typeof HeaderType)[keyof typeof HeaderType];

/** An entry to write: integers as numbers (INT64 as bigint), BIN as bytes, strings as strings. */
export type HeaderEntry =
  | { tag: number; type: typeof HeaderType.CHAR | typeof HeaderType.INT8 | typeof HeaderType.INT16 | typeof HeaderType.INT32; value: readonly number[] }
  | { tag: number; type: typeof HeaderType.INT64; value: readonly bigint[] }
  | { tag: number; type: typeof HeaderType.STRING; value: string }
  | { tag: number; type: typeof HeaderType.BIN; value: Uint8Array }
  | { tag: number; type: typeof HeaderType.STRING_ARRAY | typeof HeaderType.I18NSTRING; value: readonly string[] };

/** An entry as stored: its value already encoded (big-endian integers, NUL-terminated strings). */
export interface RawHeaderEntry {
  tag: number;
  type: HeaderType;
  count: number;
  data: Uint8Array;
}

/** The signature-header tags (rpm's RPMSIGTAG_*) that differ from the header tag they become. */
const SigTag = { SIZE: 1000, PGP: 1002, MD5: 1004, GPG: 1005, PAYLOADSIZE: 1007, FILESIGNATURES: 274, FILESIGNATURELENGTH: 275 } as const;

const ENTRY_SIZE = 16;
const FIXED_SIZE: readonly number[] = [0, 1, 1, 2, 4, 8, -1, 1, -1, -1];
// rpm's hdrchkTags / hdrchkData limits: more is a corrupt header.
const MAX_ENTRIES = 0xffff;
const MAX_DATA = 256 * 1024 * 1024;
const utf8 = new TextEncoder();

/** The bytes of one entry's value. */
export function encodeEntry(entry: HeaderEntry): RawHeaderEntry {
  const { tag, type } = entry;
  switch (entry.type) {
    case HeaderType.CHAR:
    case HeaderType.INT8:
    case HeaderType.INT16:
    case HeaderType.INT32: {
      const size = FIXED_SIZE[entry.type]!;
      const data = new Uint8Array(size * entry.value.length);
      const view = new DataView(data.buffer);
      entry.value.forEach((v, i) => {
        if (!Number.isInteger(v) || v < 0 || v >= 2 ** (8 * size)) throw new RangeError(`tag ${tag}: ${v} does not fit type ${type}`);
        if (size === 1) view.setUint8(i, v);
        else if (size === 2) view.setUint16(2 * i, v);
        else view.setUint32(4 * i, v);
      });
      return { tag, type, count: entry.value.length, data };
    }
    case HeaderType.INT64: {
      const data = new Uint8Array(8 * entry.value.length);
      const view = new DataView(data.buffer);
      entry.value.forEach((v, i) => view.setBigUint64(8 * i, v));
      return { tag, type, count: entry.value.length, data };
    }
    case HeaderType.BIN:
      return { tag, type, count: entry.value.length, data: entry.value.slice() };
    case HeaderType.STRING:
      return { tag, type, count: 1, data: cString(entry.value) };
    case HeaderType.STRING_ARRAY:
    case HeaderType.I18NSTRING:
      return { tag, type, count: entry.value.length, data: concat(entry.value.map(cString)) };
  }
}

/**
 * A header blob of these entries, as headerExport() writes a header built in memory: the index sorted by tag
 * (entries of one tag keep their order), each value aligned to its type's size, zero-filled gaps.
 */
export function buildHeader(entries: readonly HeaderEntry[]): Uint8Array {
  const raw = entries.map(encodeEntry);
  checkEntries(raw);
  return layout([], new Uint8Array(0), raw);
}

/**
 * The entries of a header blob, each with its raw value bytes, in index order. Checks what rpm's
 * hdrblobVerifyInfo checks before trusting a blob: counts, types, offsets, alignment, values within the data.
 * Bytes after the data (a package file pads its signature header to 8) are ignored.
 */
export function readHeaderEntries(blob: Uint8Array, where: string): RawHeaderEntry[] {
  const bad = (why: string) => new UserError(`${where}: corrupt rpm header: ${why}`);
  if (blob.length < 8) throw bad(`${blob.length} bytes, too short for a header`);
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const il = view.getUint32(0);
  const dl = view.getUint32(4);
  if (il === 0 || il > MAX_ENTRIES || dl > MAX_DATA) throw bad(`${il} index entries and ${dl} data bytes are out of range`);
  const dataStart = 8 + il * ENTRY_SIZE;
  if (dataStart + dl > blob.length) throw bad(`${il} index entries and ${dl} data bytes do not fit in ${blob.length} bytes`);
  const data = blob.subarray(dataStart, dataStart + dl);
  const out: RawHeaderEntry[] = [];
  for (let i = 0; i < il; i++) {
    const at = 8 + i * ENTRY_SIZE;
    const tag = view.getUint32(at);
    const type = view.getUint32(at + 4);
    const offset = view.getInt32(at + 8);
    const count = view.getUint32(at + 12);
    const what = `entry ${i} (tag ${tag})`;
    if (!isHeaderType(type) || type === HeaderType.NULL) throw bad(`${what} has unknown type ${type}`);
    if (offset < 0 || offset >= dl) throw bad(`${what} starts at ${offset}, outside the ${dl} data bytes`);
    if (count === 0 || count > MAX_DATA) throw bad(`${what} has count ${count}`);
    const size = FIXED_SIZE[type]!;
    if (size > 1 && offset % size !== 0) throw bad(`${what} is not aligned`);
    if (type === HeaderType.STRING && count !== 1) throw bad(`${what} is a string with count ${count}`);
    const length = valueLength(type, data, offset, count);
    if (length < 0) throw bad(`${what} (${count} values of type ${type}) runs past the data`);
    out.push({ tag, type, count, data: data.slice(offset, offset + length) });
  }
  return out;
}

/** What rpm adds to a package's header when it installs it. */
export interface InstallTags {
  /** INSTALLTIME: when the package was installed (seconds since the epoch). */
  installTime: number;
  /** INSTALLTID: the transaction's id (rpm uses the transaction's start time). */
  tid: number;
  /** INSTALLCOLOR: the transaction color, rpm's %_transaction_color (3 on 64-bit multilib arches, else 0). */
  color: number;
  /** FILESTATES, one per file (FileState); all NORMAL when absent. */
  fileStates?: readonly number[];
}

/**
 * The header rpm stores in its database for a package it installed, as psm.c's dbAdd() hands it to
 * headerExport(): the package's immutable header region byte for byte, then the tags rpm added, sorted by tag
 * after the region's entries, their values after the region's data:
 *   - the signature header's tags, translated and checked as rpm ≥ 4.17's headerMergeLegacySigs (lib/package.c)
 *     does (SIGSIZE, SIGMD5, SHA1HEADER, SHA256HEADER, RSAHEADER, …; ARCHIVESIZE when only the signature
 *     header has the payload size). rpm 4.16 (RHEL 9) merges by a looser rule (every tag of the signature
 *     range it has no copy of) that gives the same tags for the signature headers rpmbuild and rpmsign write;
 *   - SOURCERPM "(none)" when the header has neither SOURCERPM nor SOURCEPACKAGE (applyRetrofits);
 *   - INSTPREFIXES = PREFIXES for a relocatable package installed without relocations (relocation.c);
 *   - FILESTATES (when the package has files), INSTALLTID, INSTALLTIME, INSTALLCOLOR (psm.c).
 *
 * @param header the package's header blob (what follows the signature header in the .rpm, without magic)
 * @param signature the package's signature header blob (without magic; trailing padding is ignored)
 * @param where names the package in messages
 */
export function installedHeader(header: Uint8Array, signature: Uint8Array, install: InstallTags, where: string): Uint8Array {
  const entries = readHeaderEntries(header, where);
  const region = immutableRegion(header, entries, where);
  const tags = new Set(entries.map((e) => e.tag));
  const added: RawHeaderEntry[] = mergedSignatureTags(tags, readHeaderEntries(signature, `${where}: signature header`), where);
  if (!tags.has(RpmTag.SOURCERPM) && !tags.has(RpmTag.SOURCEPACKAGE)) added.push(encodeEntry({ tag: RpmTag.SOURCERPM, type: HeaderType.STRING, value: '(none)' }));
  const prefixes = entries.find((e) => e.tag === RpmTag.PREFIXES);
  if (prefixes && !tags.has(RpmTag.INSTPREFIXES)) added.push({ ...prefixes, tag: RpmTag.INSTPREFIXES });

  const files = entries.find((e) => e.tag === RpmTag.BASENAMES)?.count ?? 0;
  const states = install.fileStates ?? new Array<number>(files).fill(RpmFileState.NORMAL);
  if (states.length !== files) throw new UserError(`${where}: ${states.length} file states for ${files} files`);
  if (files > 0) added.push(encodeEntry({ tag: RpmTag.FILESTATES, type: HeaderType.CHAR, value: states.map((s) => s & 0xff) }));
  added.push(encodeEntry({ tag: RpmTag.INSTALLTID, type: HeaderType.INT32, value: [install.tid] }));
  added.push(encodeEntry({ tag: RpmTag.INSTALLTIME, type: HeaderType.INT32, value: [install.installTime] }));
  added.push(encodeEntry({ tag: RpmTag.INSTALLCOLOR, type: HeaderType.INT32, value: [install.color] }));

  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const il = view.getUint32(0);
  return layout([header.subarray(8, 8 + il * ENTRY_SIZE)], region, added);
}

/**
 * The package header's data, after checking the header is one immutable region covering every entry (what
 * rpmbuild writes): its first entry is HEADERIMMUTABLE, whose 16-byte trailer ends the data and counts all
 * entries. A header with entries outside the region was changed after it was built: refused.
 */
function immutableRegion(header: Uint8Array, entries: readonly RawHeaderEntry[], where: string): Uint8Array {
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const il = view.getUint32(0);
  const dl = view.getUint32(4);
  const first = entries[0]!;
  const trailerAt = view.getInt32(8 + 8);
  const bad = (why: string) => new UserError(`${where}: not an immutable package header: ${why}`);
  if (first.tag !== RpmTag.HEADERIMMUTABLE || first.type !== HeaderType.BIN || first.count !== ENTRY_SIZE) throw bad('its first entry is not the HEADERIMMUTABLE region');
  if (trailerAt !== dl - ENTRY_SIZE) throw bad('the region trailer does not end the data');
  const trailer = new DataView(first.data.buffer, first.data.byteOffset, first.data.byteLength);
  if (trailer.getUint32(0) !== RpmTag.HEADERIMMUTABLE || trailer.getInt32(8) !== -il * ENTRY_SIZE) throw bad(`the region does not cover its ${il} entries`);
  const dataStart = 8 + il * ENTRY_SIZE;
  return header.subarray(dataStart, dataStart + dl);
}

/** rpm ≥ 4.17's xlateTags (lib/package.c): signature tag → header tag, its required count (0: any), quirk. */
const SIGNATURE_TAGS: readonly { sig: number; tag: number; type: HeaderType; count: number; quirk: boolean }[] = [
  { sig: SigTag.SIZE, tag: RpmTag.SIGSIZE, type: HeaderType.INT32, count: 1, quirk: false },
  { sig: SigTag.PGP, tag: RpmTag.SIGPGP, type: HeaderType.BIN, count: 0, quirk: false },
  { sig: SigTag.MD5, tag: RpmTag.SIGMD5, type: HeaderType.BIN, count: 16, quirk: false },
  { sig: SigTag.GPG, tag: RpmTag.SIGGPG, type: HeaderType.BIN, count: 0, quirk: false },
  { sig: SigTag.PAYLOADSIZE, tag: RpmTag.ARCHIVESIZE, type: HeaderType.INT32, count: 1, quirk: true },
  { sig: SigTag.FILESIGNATURES, tag: RpmTag.FILESIGNATURES, type: HeaderType.STRING_ARRAY, count: 0, quirk: true },
  { sig: SigTag.FILESIGNATURELENGTH, tag: RpmTag.FILESIGNATURELENGTH, type: HeaderType.INT32, count: 1, quirk: true },
  { sig: RpmTag.VERITYSIGNATURES, tag: RpmTag.VERITYSIGNATURES, type: HeaderType.STRING_ARRAY, count: 0, quirk: false },
  { sig: RpmTag.VERITYSIGNATUREALGO, tag: RpmTag.VERITYSIGNATUREALGO, type: HeaderType.INT32, count: 1, quirk: false },
  { sig: RpmTag.SHA1HEADER, tag: RpmTag.SHA1HEADER, type: HeaderType.STRING, count: 1, quirk: false },
  { sig: RpmTag.SHA256HEADER, tag: RpmTag.SHA256HEADER, type: HeaderType.STRING, count: 1, quirk: false },
  { sig: RpmTag.DSAHEADER, tag: RpmTag.DSAHEADER, type: HeaderType.BIN, count: 0, quirk: false },
  { sig: RpmTag.RSAHEADER, tag: RpmTag.RSAHEADER, type: HeaderType.BIN, count: 0, quirk: false },
  { sig: RpmTag.LONGSIGSIZE, tag: RpmTag.LONGSIGSIZE, type: HeaderType.INT64, count: 1, quirk: false },
  { sig: RpmTag.LONGARCHIVESIZE, tag: RpmTag.LONGARCHIVESIZE, type: HeaderType.INT64, count: 1, quirk: false },
];

function mergedSignatureTags(headerTags: ReadonlySet<number>, signature: readonly RawHeaderEntry[], where: string): RawHeaderEntry[] {
  const sig = new Map<number, RawHeaderEntry>();
  for (const e of signature) if (!sig.has(e.tag)) sig.set(e.tag, e);
  // A tag in both headers makes rpm refuse the package; the quirk tags may be in either one.
  for (const x of SIGNATURE_TAGS) {
    if (headerTags.has(x.tag) && (!x.quirk || sig.has(x.sig))) {
      throw new UserError(`${where}: invalid signature tag ${x.tag}: the package header has it too`);
    }
  }
  const out: RawHeaderEntry[] = [];
  for (const x of SIGNATURE_TAGS) {
    const e = sig.get(x.sig);
    if (!e) continue;
    // rpm stops merging at the first tag of an unexpected type or count, keeping those before it.
    if (e.type !== x.type || e.count < 1 || e.count > 16 * 1024 * 1024 || (x.count && e.count !== x.count)) break;
    out.push({ ...e, tag: x.tag });
  }
  return out;
}

/**
 * A blob of `regionIndex` (entries kept as they are, their values in `regionData`) followed by `added`,
 * sorted by tag, each value aligned after the data before it, as doExport() places entries added to a header.
 */
function layout(regionIndex: readonly Uint8Array[], regionData: Uint8Array, added: readonly RawHeaderEntry[]): Uint8Array {
  const sorted = added.map((e, i) => ({ e, i })).sort((a, b) => a.e.tag - b.e.tag || a.i - b.i).map((x) => x.e);
  const regionEntries = regionIndex.reduce((n, b) => n + b.length / ENTRY_SIZE, 0);
  let dl = regionData.length;
  const offsets: number[] = [];
  for (const e of sorted) {
    dl += alignment(e.type, dl);
    offsets.push(dl);
    dl += e.data.length;
  }
  const il = regionEntries + sorted.length;
  if (il > MAX_ENTRIES || dl > MAX_DATA) throw new UserError(`rpm header too large: ${il} entries, ${dl} data bytes`);
  const out = new Uint8Array(8 + il * ENTRY_SIZE + dl);
  const view = new DataView(out.buffer);
  view.setUint32(0, il);
  view.setUint32(4, dl);
  let at = 8;
  for (const b of regionIndex) {
    out.set(b, at);
    at += b.length;
  }
  sorted.forEach((e, i) => {
    view.setUint32(at, e.tag);
    view.setUint32(at + 4, e.type);
    view.setUint32(at + 8, offsets[i]!);
    view.setUint32(at + 12, e.count);
    at += ENTRY_SIZE;
  });
  out.set(regionData, at);
  sorted.forEach((e, i) => out.set(e.data, at + offsets[i]!));
  return out;
}

/** Padding before a value of this type at data offset `at` (rpm's alignDiff). */
function alignment(type: HeaderType, at: number): number {
  const size = FIXED_SIZE[type]!;
  return size > 1 && at % size !== 0 ? size - (at % size) : 0;
}

/** The byte length of `count` values of `type` at `offset`, or -1 when they run past the data. */
function valueLength(type: HeaderType, data: Uint8Array, offset: number, count: number): number {
  const size = FIXED_SIZE[type]!;
  if (size >= 0) return offset + size * count <= data.length ? size * count : -1;
  let p = offset;
  for (let s = 0; s < count; s++) {
    const nul = data.indexOf(0, p);
    if (nul < 0) return -1;
    p = nul + 1;
  }
  return p - offset;
}

function checkEntries(entries: readonly RawHeaderEntry[]): void {
  for (const e of entries) {
    if (e.count === 0) throw new RangeError(`tag ${e.tag}: an entry needs at least one value`);
  }
}

function isHeaderType(type: number): type is HeaderType {
  return Number.isInteger(type) && type >= HeaderType.NULL && type <= HeaderType.I18NSTRING;
}

function cString(s: string): Uint8Array {
  const bytes = utf8.encode(s);
  if (bytes.includes(0)) throw new RangeError(`a header string cannot hold NUL: ${JSON.stringify(s)}`);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Decoded values of raw entries, for the database indexes. */
export class HeaderValues {
  private readonly byTag = new Map<number, RawHeaderEntry>();
  constructor(entries: readonly RawHeaderEntry[]) {
    // rpm's lookups find the first entry of a tag in the sorted index: the region's, before added ones.
    for (const e of entries) if (!this.byTag.has(e.tag)) this.byTag.set(e.tag, e);
  }
  get(tag: number): RawHeaderEntry | undefined {
    return this.byTag.get(tag);
  }
  strings(tag: number): string[] {
    const e = this.byTag.get(tag);
    if (!e || (e.type !== HeaderType.STRING && e.type !== HeaderType.STRING_ARRAY && e.type !== HeaderType.I18NSTRING)) return [];
    const out: string[] = [];
    let p = 0;
    const decoder = new TextDecoder('utf-8');
    for (let i = 0; i < e.count; i++) {
      const nul = e.data.indexOf(0, p);
      out.push(decoder.decode(e.data.subarray(p, nul)));
      p = nul + 1;
    }
    return out;
  }
  numbers(tag: number): number[] {
    const e = this.byTag.get(tag);
    if (!e) return [];
    const size = FIXED_SIZE[e.type]!;
    if (size < 1 || size > 4 || e.type === HeaderType.BIN) return [];
    const view = new DataView(e.data.buffer, e.data.byteOffset, e.data.byteLength);
    return Array.from({ length: e.count }, (_, i) => (size === 1 ? view.getUint8(i) : size === 2 ? view.getUint16(2 * i) : view.getUint32(4 * i)));
  }
}
