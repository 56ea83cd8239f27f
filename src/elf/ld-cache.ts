/**
 * /etc/ld.so.cache in the "new" format glibc ≥ 2.32 writes by default (`glibc-ld.so.cache1.1`, no old
 * `ld.so-1.7.0` table in front), laid out byte for byte as glibc's elf/cache.c save_cache does it:
 * header, entries in ldconfig's order, the tail-merged string table, then the extension directory
 * (generator string, and glibc-hwcaps names when there are any). See sysdeps/generic/dl-cache.h.
 */

export const FLAG_ELF = 0x0001;
export const FLAG_ELF_LIBC5 = 0x0002;
export const FLAG_ELF_LIBC6 = 0x0003;
export const FLAG_X8664_LIB64 = 0x0300;
export const FLAG_X8664_LIBX32 = 0x0800;
export const FLAG_ARM_LIBHF = 0x0900;
export const FLAG_AARCH64_LIB64 = 0x0a00;
export const FLAG_ARM_LIBSF = 0x0b00;
export const FLAG_LIBC4 = 0x0000;

const MAGIC = 'glibc-ld.so.cache1.1';
const HEADER_SIZE = 48;
const ENTRY_SIZE = 24;
const EXTENSION_MAGIC = 0xeaa42174; // (uint32_t) -358342284
const TAG_GENERATOR = 0;
const TAG_GLIBC_HWCAPS = 1;
const HWCAP_EXTENSION = 1n << 62n;

export interface CacheEntry {
  soname: string;
  /** Directory as configured (not canonicalised) + '/' + the file name the cache points at. */
  path: string;
  flags: number;
  isaLevel: number;
  /** Legacy hwcap bits of the directory (always 0 here: no legacy hwcap subdirectories are read). */
  hwcap: bigint;
  /** The glibc-hwcaps subdirectory name for libraries found in one. */
  hwcaps?: string;
}

const bytes = (s: string) => Buffer.from(s, 'latin1');

/**
 * glibc's _dl_cache_libcmp: runs of digits compare as numbers, other bytes as C `char` (signed on
 * x86, unsigned on ARM). The int arithmetic wraps like C's on absurdly long digit runs.
 */
export function libcmp(a: string, b: string, signedChar = true): number {
  const p = bytes(a);
  const q = bytes(b);
  const at = (buf: Buffer, i: number) => {
    const c = i < buf.length ? buf[i]! : 0;
    return signedChar && c > 127 ? c - 256 : c;
  };
  const digit = (c: number) => c >= 0x30 && c <= 0x39;
  let i = 0;
  let j = 0;
  while (at(p, i) !== 0) {
    const c1 = at(p, i);
    const c2 = at(q, j);
    if (digit(c1)) {
      if (!digit(c2)) return 1;
      let v1 = 0;
      let v2 = 0;
      while (digit(at(p, i))) v1 = (Math.imul(v1, 10) + at(p, i++) - 0x30) | 0;
      while (digit(at(q, j))) v2 = (Math.imul(v2, 10) + at(q, j++) - 0x30) | 0;
      if (v1 !== v2) return (v1 - v2) | 0;
    } else if (digit(c2)) {
      return -1;
    } else if (c1 !== c2) {
      return c1 - c2;
    } else {
      i++;
      j++;
    }
  }
  return at(p, i) - at(q, j);
}

const popcount = (v: bigint) => [...v.toString(2)].filter((c) => c === '1').length;
const strcmp = (a: string, b: string) => Buffer.compare(bytes(a), bytes(b));

/** cache.c's compare(): descending by name, then flags, hwcaps entries first, most specific hwcap first. */
function compare(e1: CacheEntry, e2: CacheEntry, signedChar: boolean): number {
  const res = libcmp(e2.soname, e1.soname, signedChar);
  if (res !== 0) return res;
  if (e1.flags !== e2.flags) return e1.flags < e2.flags ? 1 : -1;
  if (e1.hwcaps !== undefined && e2.hwcaps === undefined) return -1;
  if (e1.hwcaps === undefined && e2.hwcaps !== undefined) return 1;
  if (e1.hwcaps !== undefined && e2.hwcaps !== undefined) {
    const r = strcmp(e1.hwcaps, e2.hwcaps);
    if (r !== 0) return r;
  }
  const b1 = popcount(e1.hwcap);
  const b2 = popcount(e2.hwcap);
  if (b1 !== b2) return b2 > b1 ? 1 : -1;
  if (e1.hwcap !== e2.hwcap) return e2.hwcap > e1.hwcap ? 1 : -1;
  return 0;
}

/**
 * The string table: every string once, ordered by stringtable.c's finalize_compare (reversed strings
 * in reverse order, longer first) so a string that is the tail of the one before it shares its bytes.
 */
function stringTable(strings: Set<string>): { table: Buffer; offsets: Map<string, number> } {
  const list = [...strings].map((s) => ({ s, b: bytes(s) }));
  if (list.length === 0) return { table: Buffer.alloc(0), offsets: new Map() };
  list.sort((l, r) => {
    const n = Math.min(l.b.length, r.b.length);
    for (let i = 1; i <= n; i++) {
      const lc = l.b[l.b.length - i]!;
      const rc = r.b[r.b.length - i]!;
      if (lc !== rc) return rc - lc;
    }
    return r.b.length - l.b.length;
  });
  const offsets = new Map<string, number>();
  let prev = list[0]!;
  let prevOffset = 0;
  offsets.set(prev.s, 0);
  for (const cur of list.slice(1)) {
    let offset: number;
    if (prev.b.length >= cur.b.length && prev.b.subarray(prev.b.length - cur.b.length).equals(cur.b)) {
      offset = prevOffset + prev.b.length - cur.b.length;
    } else {
      offset = prevOffset + prev.b.length + 1;
    }
    offsets.set(cur.s, offset);
    prev = cur;
    prevOffset = offset;
  }
  const table = Buffer.alloc(prevOffset + prev.b.length + 1);
  for (const { s, b } of list) b.copy(table, offsets.get(s)!);
  return { table, offsets };
}

export interface CacheOptions {
  littleEndian: boolean;
  /** e.g. `ldconfig (Debian GLIBC 2.36-9+deb12u14) stable release version 2.36`. */
  generator: string;
  /** C `char` signedness of the target (x86: signed; ARM: unsigned), for the name order. */
  signedChar: boolean;
}

/** Collects entries in ldconfig's order and writes the cache file. */
export class LdCache {
  private readonly entries: CacheEntry[] = [];
  private readonly strings = new Set<string>();
  private readonly hwcapsNames = new Set<string>();
  private readonly usedHwcaps = new Set<string>();

  constructor(private readonly options: CacheOptions) {}

  /** A glibc-hwcaps subdirectory seen while collecting directories (its name enters the string table even if unused). */
  hwcapsSubdirectory(name: string): void {
    this.hwcapsNames.add(name);
    this.strings.add(name);
  }

  /**
   * add_to_cache: inserted before the first entry that compares greater, as cache.c does with its
   * list (equal entries keep the order they were found in, i.e. directory order).
   */
  add(entry: CacheEntry): void {
    this.strings.add(entry.path);
    this.strings.add(entry.soname);
    if (entry.hwcaps !== undefined) {
      this.hwcapsSubdirectory(entry.hwcaps);
      this.usedHwcaps.add(entry.hwcaps);
    }
    const i = this.entries.findIndex((e) => compare(e, entry, this.options.signedChar) > 0);
    if (i < 0) this.entries.push(entry);
    else this.entries.splice(i, 0, entry);
  }

  get size(): number {
    return this.entries.length;
  }

  serialize(): Buffer {
    const { littleEndian: le, generator } = this.options;
    const { table, offsets } = stringTable(this.strings);
    const hwcaps = [...this.usedHwcaps].sort(strcmp);
    const hwcapsIndex = new Map(hwcaps.map((name, i) => [name, i]));
    const n = this.entries.length;
    const strOffset = HEADER_SIZE + n * ENTRY_SIZE;
    const extensionOffset = Math.ceil((strOffset + table.length) / 4) * 4;
    const sections = hwcaps.length ? 2 : 1;
    const extensionHeader = 8 + sections * 16;
    const hwcapsOffset = extensionOffset + extensionHeader;
    const generatorBytes = bytes(generator);
    const generatorOffset = hwcapsOffset + hwcaps.length * 4;
    const out = Buffer.alloc(generatorOffset + generatorBytes.length);
    const u32 = (v: number, at: number) => (le ? out.writeUInt32LE(v >>> 0, at) : out.writeUInt32BE(v >>> 0, at));
    const i32 = (v: number, at: number) => (le ? out.writeInt32LE(v, at) : out.writeInt32BE(v, at));
    const u64 = (v: bigint, at: number) => (le ? out.writeBigUInt64LE(v, at) : out.writeBigUInt64BE(v, at));

    out.write(MAGIC, 0, 'latin1');
    u32(n, 20);
    u32(table.length, 24);
    out[28] = le ? 2 : 3; // cache_file_new_flags_endian_little / _big
    u32(extensionOffset, 32);
    this.entries.forEach((e, i) => {
      const at = HEADER_SIZE + i * ENTRY_SIZE;
      i32(e.flags, at);
      u32(strOffset + offsets.get(e.soname)!, at + 4);
      u32(strOffset + offsets.get(e.path)!, at + 8);
      // at + 12: osversion_unused, zero.
      const hwcap = e.hwcaps === undefined ? e.hwcap : HWCAP_EXTENSION | (BigInt(e.isaLevel) << 32n) | BigInt(hwcapsIndex.get(e.hwcaps)!);
      u64(hwcap, at + 16);
    });
    table.copy(out, strOffset);
    u32(EXTENSION_MAGIC, extensionOffset);
    u32(sections, extensionOffset + 4);
    const section = (k: number, tag: number, offset: number, size: number) => {
      const at = extensionOffset + 8 + k * 16;
      u32(tag, at);
      u32(0, at + 4);
      u32(offset, at + 8);
      u32(size, at + 12);
    };
    section(0, TAG_GENERATOR, generatorOffset, generatorBytes.length);
    if (hwcaps.length) section(1, TAG_GLIBC_HWCAPS, hwcapsOffset, hwcaps.length * 4);
    hwcaps.forEach((name, i) => u32(strOffset + offsets.get(name)!, hwcapsOffset + i * 4));
    generatorBytes.copy(out, generatorOffset);
    return out;
  }
}
