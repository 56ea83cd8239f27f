import { EM_386, EM_X86_64, ET_DYN, isElf, readElfDynamic, readElfHeader, type ElfDynamicInfo } from '../../elf/elf.js';
import {
  FLAG_AARCH64_LIB64, FLAG_ARM_LIBHF, FLAG_ARM_LIBSF, FLAG_ELF, FLAG_ELF_LIBC5, FLAG_ELF_LIBC6, FLAG_LIBC4, FLAG_X8664_LIB64, FLAG_X8664_LIBX32,
  LdCache, libcmp,
} from '../../elf/ld-cache.js';
import type { Entry } from '../../tar/entry.js';
import type { EffectContext } from './context.js';
import { ImageTree } from './image-tree.js';

/**
 * What the target's ldconfig knows about its architecture (glibc 2.36 sysdeps/unix/sysv/linux/<arch>/
 * ldconfig.h, dl-cache.h and readelflib.c): the Debian multiarch folder it adds, the interpreters and
 * libraries that mark a libc6 object, and the flags it stores per ELF kind.
 */
interface LdconfigArch {
  triplet: string;
  /** The class ldconfig itself is built for: sizeof(ElfW(Ehdr)) is its minimum file size. */
  nativeClass: 32 | 64;
  signedChar: boolean;
  interpreters: Record<string, number>;
  libraries: Record<string, number>;
  /** The flag the arch's process_elf_file gives, from the generic one; undefined: "unknown machine". */
  flag(elf: ElfDynamicInfo, generic: number): number | undefined;
}

const LIBC6_LIBS = { 'libc.so.6': FLAG_ELF_LIBC6, 'libm.so.6': FLAG_ELF_LIBC6 };

/** sysdeps/unix/sysv/linux/x86/readelflib.c (built for x86-64 or i386). */
const x86Flag = (elf: ElfDynamicInfo, generic: number): number | undefined => {
  if (elf.machine === EM_X86_64) return (elf.elfClass === 64 ? FLAG_X8664_LIB64 : FLAG_X8664_LIBX32) | FLAG_ELF_LIBC6;
  if (elf.machine === EM_386 && elf.elfClass === 32) return generic;
  return undefined;
};

/** sysdeps/unix/sysv/linux/arm/readelflib.c (also AArch64's): no machine check, EABI5 float ABI flags. */
const armFlag = (elf: ElfDynamicInfo, generic: number): number => {
  if (elf.elfClass === 64) return FLAG_AARCH64_LIB64 | FLAG_ELF_LIBC6;
  if ((elf.flags & 0xff000000) >>> 0 !== 0x05000000) return generic;
  if (elf.flags & 0x400) return FLAG_ARM_LIBHF | FLAG_ELF_LIBC6;
  if (elf.flags & 0x200) return FLAG_ARM_LIBSF | FLAG_ELF_LIBC6;
  return FLAG_ELF_LIBC6;
};

const ARM_INTERPRETERS = { '/lib/ld-linux.so.3': FLAG_ELF_LIBC6, '/lib/ld-linux-armhf.so.3': FLAG_ELF_LIBC6 };

const ARCHES: Record<string, LdconfigArch> = {
  amd64: {
    triplet: 'x86_64-linux-gnu', nativeClass: 64, signedChar: true, libraries: LIBC6_LIBS, flag: x86Flag,
    interpreters: Object.fromEntries(['/lib/ld-linux-x86-64.so.2', '/lib/ld-linux.so.2', '/libx32/ld-linux-x32.so.2', '/lib64/ld-linux-x86-64.so.2'].map((i) => [i, FLAG_ELF_LIBC6])),
  },
  i386: {
    triplet: 'i386-linux-gnu', nativeClass: 32, signedChar: true, flag: x86Flag,
    interpreters: { '/lib/ld-linux.so.2': FLAG_ELF_LIBC6, '/lib/ld-linux.so.1': FLAG_ELF_LIBC5 },
    libraries: { ...LIBC6_LIBS, 'libc.so.5': FLAG_ELF_LIBC5, 'libm.so.5': FLAG_ELF_LIBC5 },
  },
  arm64: {
    triplet: 'aarch64-linux-gnu', nativeClass: 64, signedChar: false, libraries: LIBC6_LIBS, flag: armFlag,
    interpreters: {
      ...Object.fromEntries(['aarch64', 'aarch64_be', 'aarch64_ilp32', 'aarch64_be_ilp32'].map((a) => [`/lib/ld-linux-${a}.so.1`, FLAG_ELF_LIBC6])),
      ...ARM_INTERPRETERS,
    },
  },
  armhf: { triplet: 'arm-linux-gnueabihf', nativeClass: 32, signedChar: false, libraries: LIBC6_LIBS, flag: armFlag, interpreters: ARM_INTERPRETERS },
  armel: { triplet: 'arm-linux-gnueabi', nativeClass: 32, signedChar: false, libraries: LIBC6_LIBS, flag: armFlag, interpreters: ARM_INTERPRETERS },
};

const FLAG_ANY = -1;
const LIB_TYPES: Record<string, number> = { libc4: FLAG_LIBC4, libc5: FLAG_ELF_LIBC5, libc6: FLAG_ELF_LIBC6, glibc2: FLAG_ELF_LIBC6 };

interface SearchDir {
  /** As configured (trailing slashes removed): what the cache's paths start with. */
  path: string;
  /** Where it is in the image, symlinks followed: the identity ldconfig compares (by inode). */
  real: string;
  flag: number;
  hwcaps?: string;
}

interface Library {
  name: string;
  soname: string;
  flag: number;
  isLink: boolean;
  isaLevel: number;
}

/** elf/dl-is_dso.h. */
const isDso = (name: string) => ((name.startsWith('lib') || name.startsWith('ld-')) && name.includes('.so')) || name.startsWith('ld.so.') || name.startsWith('ld64.so.');

/** The glibc whose ldconfig the cache stands for, as its distribution built it. */
export interface LibcBuild {
  /**
   * ldconfig's version line, which it writes into the cache: `ldconfig PKGVERSION RELEASE release version
   * VERSION` (Debian: `ldconfig (Debian GLIBC 2.36-9+deb12u4) stable release version 2.36`).
   */
  generator: string;
  /** The machine ldconfig runs for, by Debian's architecture name (amd64, arm64, i386, armhf, armel). */
  machine: string;
  /**
   * The folders glibc was built to search after /etc/ld.so.conf's: Debian's multiarch folders then /lib and
   * /usr/lib (the default), or an RPM distribution's $slibdir and $libdir (/lib64 and /usr/lib64).
   */
  systemDirs?: string[];
}

/** Debian's glibc: its version line and the image's architecture. */
export function debianLibc(version: string, arch: string): LibcBuild {
  const upstream = version.replace(/^\d+:/, '').replace(/-[^-]*$/, '');
  return { generator: `ldconfig (Debian GLIBC ${version}) stable release version ${upstream}`, machine: arch };
}

/**
 * libc-bin's trigger runs `ldconfig`: it reads /etc/ld.so.conf (and what it includes), adds the system
 * folders, reads each library's ELF header and writes /etc/ld.so.cache. Done here from the entries so
 * it works for any architecture on any host; the port of glibc 2.36's elf/ldconfig.c, readlib.c and
 * readelflib.c is in this file, the file format in elf/ld-cache.ts.
 *
 * Not reproduced: legacy hwcap subfolders (tls/, haswell/, ...: none in Debian 12 packages), removing
 * stale `*.so.*` symlinks, and /var/cache/ldconfig/aux-cache (inode and ctime keyed, not reproducible).
 */
export async function ldSoCache(ctx: EffectContext, libc: LibcBuild, layout: Entry[] = []): Promise<void> {
  const arch = ARCHES[libc.machine];
  if (!arch) {
    ctx.notes.push(`ldconfig: no rules for architecture ${ctx.arch}, /etc/ld.so.cache not written (the dynamic linker searches the system folders without it)`);
    return;
  }
  const cache = new LdCache({ littleEndian: true, signedChar: arch.signedChar, generator: libc.generator });
  const tree = new ImageTree([...ctx.result(), ...layout.filter((e) => !ctx.entry(e.path))]);
  const dirs = await searchDirs(tree, cache, libc.systemDirs ?? [`/lib/${arch.triplet}`, `/usr/lib/${arch.triplet}`, '/lib', '/usr/lib']);
  const skipped: string[] = [];
  for (const dir of dirs) await searchDir(ctx, tree, cache, arch, dir, skipped);
  ctx.file('etc/ld.so.cache', cache.serialize(), 'ldconfig (libc trigger)');
  ctx.notes.push(`ldconfig: ${cache.size} libraries in /etc/ld.so.cache` + (skipped.length ? `; skipped (not a usable shared object): ${skipped.slice(0, 10).join(', ')}${skipped.length > 10 ? ` and ${skipped.length - 10} more` : ''}` : ''));
}

/** The folders in ldconfig's order: /etc/ld.so.conf with its includes, then the build's system folders. */
async function searchDirs(tree: ImageTree, cache: LdCache, systemDirs: readonly string[]): Promise<SearchDir[]> {
  const dirs: SearchDir[] = [];
  const add = (line: string) => {
    let path = line;
    let flag = FLAG_ANY;
    const eq = path.indexOf('=');
    if (eq >= 0) {
      flag = LIB_TYPES[path.slice(eq + 1)] ?? FLAG_ANY;
      path = path.slice(0, eq);
    }
    path = path.replace(/\s+$/, '').replace(/\/+$/, '');
    if (path === '') return;
    const real = tree.resolve(path);
    if (real === undefined) return;
    const known = dirs.find((d) => d.real === real);
    if (known) {
      known.flag = flag; // "Use the newer information."
      return;
    }
    const dir: SearchDir = { path, real, flag };
    dirs.push(dir);
    const hwcapsDir = `${real}/glibc-hwcaps`;
    if (!tree.isDirectory(hwcapsDir)) return;
    const hwcapsReal = tree.resolve(hwcapsDir)!;
    for (const name of tree.list(hwcapsReal)) {
      const e = tree.lstat(`${hwcapsReal}/${name}`)!;
      if (name.startsWith('.') || e.type === 'file' || e.type === 'hardlink' || name.includes(':')) continue;
      const sub = tree.resolve(`${hwcapsReal}/${name}`);
      if (sub === undefined || !tree.isDirectory(sub)) continue;
      cache.hwcapsSubdirectory(name);
      if (!dirs.some((d) => d.real === sub)) dirs.push({ path: `${path}/glibc-hwcaps/${name}`, real: sub, flag, hwcaps: name });
    }
  };
  const parse = async (file: string, depth: number): Promise<void> => {
    const e = tree.stat(file);
    const text = e && depth <= 20 ? (await tree.content(e))?.toString('latin1') : undefined;
    if (text === undefined) return;
    for (const raw of text.split('\n')) {
      const line = raw.replace(/#.*/s, '').replace(/^\s+/, '');
      if (line === '') continue;
      if (/^include[ \t]/.test(line)) {
        for (let pattern of line.slice(8).split(/[ \t]/)) {
          if (pattern === '') continue;
          if (!pattern.startsWith('/') && file.includes('/')) pattern = `${file.slice(0, file.lastIndexOf('/'))}/${pattern}`;
          for (const f of tree.glob(pattern)) await parse(f, depth + 1);
        }
      } else if (!/^hwcap[ \t]/i.test(line)) {
        add(line);
      }
    }
  };
  await parse('/etc/ld.so.conf', 0);
  for (const d of systemDirs) add(d);
  return dirs;
}

/** search_dir: the libraries of one folder, one per SONAME, added to the cache (and SONAME links made). */
async function searchDir(ctx: EffectContext, tree: ImageTree, cache: LdCache, arch: LdconfigArch, dir: SearchDir, skipped: string[]): Promise<void> {
  if (!tree.isDirectory(dir.real)) return;
  let libs: Library[] = [];
  for (const name of tree.list(dir.real)) {
    if (!isDso(name) || name.endsWith('.#prelink#') || /\.#prelink#\.[^/]{6}$/.test(name)) continue;
    const full = dir.real === '' ? name : `${dir.real}/${name}`;
    const entry = tree.lstat(full)!;
    let isLink = entry.type === 'symlink';
    const target = isLink ? tree.stat(full) : entry;
    if (!target || !['file', 'hardlink'].includes(target.type)) continue; // stale links, folders, devices
    const data = await tree.content(target);
    if (!data) continue;
    const read = processFile(data, name, arch);
    if (!read) {
      if (!quietSkip(data, name)) skipped.push(`/${full}`);
      continue;
    }
    let soname = read.soname ?? implicitSoname(name, read.flag);
    // A link counts as one only if it is named after the SONAME (or is the linker's `.so` link).
    if (isLink && name !== soname && !(name.endsWith('.so') && soname.startsWith(name))) isLink = false;
    if (isLink) soname = name;
    let flag = read.flag;
    if (flag === FLAG_ELF && (dir.flag === FLAG_ELF_LIBC5 || dir.flag === FLAG_ELF_LIBC6)) flag = dir.flag;
    const known = libs.find((l) => l.soname === soname);
    if (!known) {
      libs = [{ name, soname, flag, isLink, isaLevel: read.isaLevel }, ...libs];
      continue;
    }
    // Prefer a file to a link, then the "newer" name.
    if ((!isLink && known.isLink) || (isLink === known.isLink && libcmp(known.name, name, arch.signedChar) < 0)) {
      if (known.flag === FLAG_ELF && (flag === FLAG_ELF_LIBC5 || flag === FLAG_ELF_LIBC6)) known.flag = flag;
      else if ((known.flag === FLAG_ELF_LIBC5 || known.flag === FLAG_ELF_LIBC6) && flag === FLAG_ELF) known.flag = flag;
      Object.assign(known, { name, isLink, isaLevel: read.isaLevel });
    }
  }
  for (const lib of libs) {
    if (dir.hwcaps === undefined && !lib.isLink) sonameLink(ctx, tree, arch, dir.real, lib);
    const file = dir.hwcaps === undefined ? lib.soname : lib.name;
    cache.add({ soname: lib.soname, path: `${dir.path}/${file}`, flags: lib.flag, isaLevel: lib.isaLevel, hwcap: 0n, ...(dir.hwcaps !== undefined ? { hwcaps: dir.hwcaps } : {}) });
  }
}

/**
 * create_links: SONAME -> file when the SONAME is missing or a link to something else; a real file
 * under the SONAME is left alone. Debian's ldconfig makes no link for the dynamic linker itself.
 */
function sonameLink(ctx: EffectContext, tree: ImageTree, arch: LdconfigArch, dir: string, lib: Library): void {
  if (lib.soname === lib.name || Object.keys(arch.interpreters).some((i) => i.endsWith(`/${lib.soname}`))) return;
  const at = (n: string) => (dir === '' ? n : `${dir}/${n}`);
  const current = tree.resolve(at(lib.soname));
  if (current !== undefined && current === tree.resolve(at(lib.name))) return;
  const existing = tree.lstat(at(lib.soname));
  if (existing && existing.type !== 'symlink') return;
  ctx.symlink(at(lib.soname), lib.name, 'ldconfig (libc trigger)');
}

/** Files ldconfig skips without a warning: linker scripts (libc.so), GDB scripts, ELF files that are not shared objects. */
const quietSkip = (data: Buffer, name: string) => {
  if (isElf(data)) {
    const type = readElfHeader(data)?.type;
    return type !== undefined && type !== ET_DYN;
  }
  const head = data.subarray(0, 512);
  return head.includes('GROUP') || head.includes('GNU ld script') || (name.length > 7 && name.endsWith('-gdb.py'));
};

/** readlib.c process_file + the arch's process_elf_file: flag, SONAME and ISA level, or undefined to skip. */
function processFile(data: Buffer, name: string, arch: LdconfigArch): { flag: number; soname?: string; isaLevel: number } | undefined {
  if (data.length < (arch.nativeClass === 64 ? 64 : 52)) return undefined;
  const magic = data.readUInt16LE(0); // N_MAGIC of an a.out header: ZMAGIC or QMAGIC.
  if (magic === 0o413 || magic === 0o314) {
    return { flag: FLAG_LIBC4, soname: implicitSoname(name, FLAG_LIBC4), isaLevel: 0 };
  }
  const header = readElfHeader(data);
  if (!header || header.type !== ET_DYN) return undefined;
  const elf = readElfDynamic(data);
  if (!elf) return undefined;
  let generic = FLAG_ELF;
  if (elf.interpreter !== undefined && arch.interpreters[elf.interpreter] !== undefined) generic = arch.interpreters[elf.interpreter]!;
  if (generic === FLAG_ELF) {
    const known = elf.needed.find((n) => arch.libraries[n] !== undefined);
    if (known) generic = arch.libraries[known]!;
  }
  const flag = arch.flag(elf, generic);
  if (flag === undefined) return undefined;
  // Only x86's read_gnu_property reads the ISA level; elsewhere it stays 0.
  const isaLevel = arch.flag === x86Flag ? elf.x86IsaLevel : 0;
  return { flag, ...(elf.soname !== undefined ? { soname: elf.soname } : {}), isaLevel };
}

/** implicit_soname: the file name, cut after the major version for a.out (libc4) libraries. */
function implicitSoname(name: string, flag: number): string {
  if ((flag & 0xff) !== FLAG_LIBC4) return name;
  const major = name.indexOf('.so.');
  if (major < 0) return name;
  const dot = name.indexOf('.', major + 4);
  return dot < 0 ? name : name.slice(0, dot);
}
