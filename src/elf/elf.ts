/**
 * The few facts about an ELF shared object that ldconfig reads, found the way glibc's
 * elf/readelflib.c finds them: through the program headers (PT_DYNAMIC, PT_INTERP, PT_GNU_PROPERTY,
 * and the PT_LOAD that maps DT_STRTAB), not through the section headers, which may be stripped.
 *
 * Hand-written rather than taken from npm: the ELF parsers there (elfy, elf-tools, elf-cam) read the
 * section tables, are untyped or WASM, and none reads GNU property notes; what ldconfig needs is ~150
 * lines with every offset bounds-checked, so a corrupt or truncated file gives `undefined`, not a throw.
 */

export const EM_386 = 3;
export const EM_ARM = 40;
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;

export const ET_DYN = 3;

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const PT_GNU_PROPERTY = 0x6474e553;
const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_SONAME = 14;
const NT_GNU_PROPERTY_TYPE_0 = 5;
const GNU_PROPERTY_X86_ISA_1_NEEDED = 0xc0008002;

export interface ElfHeader {
  elfClass: 32 | 64;
  littleEndian: boolean;
  type: number;
  machine: number;
  flags: number;
}

export interface ElfDynamicInfo extends ElfHeader {
  interpreter?: string;
  soname?: string;
  needed: string[];
  /** Index of the highest bit of GNU_PROPERTY_X86_ISA_1_NEEDED (glibc's "ISA level"), 0 if none. */
  x86IsaLevel: number;
}

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

export function isElf(data: Buffer): boolean {
  return data.length >= 4 && data.subarray(0, 4).equals(ELF_MAGIC);
}

/** Bounds-checked little/big-endian reads; every read past the end throws Truncated, caught below. */
class Reader {
  constructor(
    readonly data: Buffer,
    readonly le: boolean,
    readonly is64: boolean,
  ) {}
  private check(at: number, n: number): void {
    if (!Number.isSafeInteger(at) || at < 0 || at + n > this.data.length) throw new Truncated();
  }
  u16(at: number): number {
    this.check(at, 2);
    return this.le ? this.data.readUInt16LE(at) : this.data.readUInt16BE(at);
  }
  u32(at: number): number {
    this.check(at, 4);
    return this.le ? this.data.readUInt32LE(at) : this.data.readUInt32BE(at);
  }
  u64(at: number): number {
    this.check(at, 8);
    const v = this.le ? this.data.readBigUInt64LE(at) : this.data.readBigUInt64BE(at);
    // Offsets beyond 2^53 cannot be in a file we hold in memory: treat them as out of range.
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }
  /** An address-sized word (Elf32_Addr/Off or Elf64_Addr/Off). */
  word(at: number): number {
    return this.is64 ? this.u64(at) : this.u32(at);
  }
  /** A NUL-terminated string starting at `at` (it must end inside the file). */
  cstring(at: number): string {
    this.check(at, 1);
    const end = this.data.indexOf(0, at);
    if (end < 0) throw new Truncated();
    return this.data.toString('latin1', at, end);
  }
}

class Truncated extends Error {}

/** The ELF header, or undefined if this is not an ELF file or it is too short. */
export function readElfHeader(data: Buffer): ElfHeader | undefined {
  if (!isElf(data) || data.length < 52) return undefined;
  const cls = data[4];
  const enc = data[5];
  if ((cls !== 1 && cls !== 2) || (enc !== 1 && enc !== 2)) return undefined;
  const r = new Reader(data, enc === 1, cls === 2);
  try {
    return { elfClass: cls === 2 ? 64 : 32, littleEndian: enc === 1, type: r.u16(16), machine: r.u16(18), flags: r.u32(r.is64 ? 48 : 36) };
  } catch (err) {
    if (err instanceof Truncated) return undefined;
    throw err;
  }
}

/**
 * The dynamic facts of a shared object: interpreter, DT_SONAME, DT_NEEDED and the x86 ISA level.
 * Undefined when the file is not ELF, is truncated or corrupt, or has no dynamic segment or no
 * string table (ldconfig skips those too).
 */
export function readElfDynamic(data: Buffer): ElfDynamicInfo | undefined {
  const header = readElfHeader(data);
  if (!header) return undefined;
  const r = new Reader(data, header.littleEndian, header.elfClass === 64);
  try {
    return readDynamic(r, header);
  } catch (err) {
    if (err instanceof Truncated) return undefined;
    throw err;
  }
}

interface Segment {
  type: number;
  offset: number;
  vaddr: number;
  filesz: number;
  align: number;
}

function segments(r: Reader): Segment[] {
  const phoff = r.word(r.is64 ? 32 : 28);
  const phentsize = r.u16(r.is64 ? 54 : 42);
  const phnum = r.u16(r.is64 ? 56 : 44);
  const out: Segment[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (r.is64) {
      out.push({ type: r.u32(at), offset: r.u64(at + 8), vaddr: r.u64(at + 16), filesz: r.u64(at + 32), align: r.u64(at + 48) });
    } else {
      out.push({ type: r.u32(at), offset: r.u32(at + 4), vaddr: r.u32(at + 8), filesz: r.u32(at + 16), align: r.u32(at + 28) });
    }
  }
  return out;
}

function readDynamic(r: Reader, header: ElfHeader): ElfDynamicInfo | undefined {
  const phdrs = segments(r);
  const info: ElfDynamicInfo = { ...header, needed: [], x86IsaLevel: 0 };
  let dynamic: Segment | undefined;
  for (const s of phdrs) {
    if (s.type === PT_DYNAMIC) dynamic = s;
    else if (s.type === PT_INTERP) info.interpreter = r.cstring(s.offset);
    else if (s.type === PT_GNU_PROPERTY && s.align === (r.is64 ? 8 : 4)) {
      info.x86IsaLevel = isaLevel(r, s) ?? info.x86IsaLevel;
    }
  }
  if (!dynamic || dynamic.filesz === 0) return undefined;
  const dynSize = r.is64 ? 16 : 8;
  const tags: [number, number][] = [];
  for (let at = dynamic.offset; ; at += dynSize) {
    const tag = r.word(at);
    if (tag === DT_NULL) break;
    tags.push([tag, r.word(at + (r.is64 ? 8 : 4))]);
  }
  const strtab = tags.find(([t]) => t === DT_STRTAB)?.[1];
  if (strtab === undefined) return undefined;
  // DT_STRTAB is an address: the PT_LOAD segment containing it gives its file offset.
  const load = phdrs.find((s) => s.type === PT_LOAD && strtab >= s.vaddr && strtab - s.vaddr < s.filesz);
  const strings = strtab - (load ? load.vaddr - load.offset : 0);
  for (const [tag, value] of tags) {
    if (tag === DT_NEEDED) info.needed.push(r.cstring(strings + value));
    else if (tag === DT_SONAME) info.soname = r.cstring(strings + value);
  }
  return info;
}

/**
 * GNU_PROPERTY_X86_ISA_1_NEEDED from the first NT_GNU_PROPERTY_TYPE_0 note, as glibc's x86
 * read_gnu_property takes it: properties must be in ascending type order; the level is the index of
 * the highest bit set. Undefined when the note has none (or is malformed).
 */
function isaLevel(r: Reader, s: Segment): number | undefined {
  const align = s.align;
  const alignUp = (n: number) => Math.ceil(n / align) * align;
  let note = 0;
  while (note + 12 < s.filesz) {
    const at = s.offset + note;
    const namesz = r.u32(at);
    const descsz = r.u32(at + 4);
    const type = r.u32(at + 8);
    if (namesz === 4 && type === NT_GNU_PROPERTY_TYPE_0 && r.data.toString('latin1', at + 12, at + 16) === 'GNU\0') {
      if (descsz < 8 || descsz % align !== 0) return undefined;
      let ptr = at + 16;
      const end = ptr + descsz;
      let last = 0;
      do {
        const ptype = r.u32(ptr);
        const datasz = r.u32(ptr + 4);
        if (ptype < last) return undefined;
        ptr += 8;
        if (ptr + datasz > end) return undefined;
        last = ptype;
        if (ptype > GNU_PROPERTY_X86_ISA_1_NEEDED) return undefined;
        if (ptype === GNU_PROPERTY_X86_ISA_1_NEEDED) {
          if (datasz !== 4) return undefined;
          const needed = r.u32(ptr);
          return needed === 0 ? undefined : 31 - Math.clz32(needed);
        }
        ptr += alignUp(datasz);
      } while (end - ptr >= 8);
      return undefined;
    }
    note = alignUp(alignUp(12 + namesz) + descsz) + note;
  }
  return undefined;
}
