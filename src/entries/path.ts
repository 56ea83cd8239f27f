/** Why a path cannot be an entry of an image layer. */
export class UnsafePathError extends Error {
  override readonly name = 'UnsafePathError';
}

/**
 * Normalises a path as a tar stores it to the entry form ("usr/bin/sh"): './' prefixes, repeated and
 * trailing slashes and '.' components dropped, '..' resolved. Returns '' for the root itself. Throws for
 * absolute paths and for paths whose '..' climbs above the root.
 */
export function normalizeEntryPath(raw: string): string {
  if (raw.includes('\0')) throw new UnsafePathError(`path "${raw.replace(/\0/g, '\\0')}" contains a NUL byte`);
  if (raw.startsWith('/')) throw new UnsafePathError(`path "${raw}" is absolute; layer entries must be relative to the root`);
  const parts: string[] = [];
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) throw new UnsafePathError(`path "${raw}" leaves the root through ".."`);
      parts.pop();
      continue;
    }
    parts.push(part);
  }
  return parts.join('/');
}

/** Resolves a hardlink target, relative to the root, to entry form; throws if it leaves the root. */
export function normalizeLinkTarget(raw: string): string {
  // Tars made with absolute names keep absolute hardlink targets: they still mean "from the root".
  return normalizeEntryPath(raw.replace(/^\/+/, ''));
}

/**
 * The name a symlink at `path` with target `linkname` points at, in entry form: an absolute target from
 * the root, a relative one from the link's folder. Throws UnsafePathError when it leaves the root.
 */
export function symlinkTarget(path: string, linkname: string): string {
  const parent = parentPath(path);
  return normalizeEntryPath(linkname.startsWith('/') ? linkname.slice(1) : parent ? `${parent}/${linkname}` : linkname);
}

export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i === -1 ? '' : path.slice(0, i);
}

/**
 * The canonical entry order: depth-first with siblings in byte order (as `tar --sort=name`). A parent
 * always comes before its children, whatever order a file system or archive listed them in.
 */
export function compareEntryPaths(a: string, b: string): number {
  // UTF-16 code units compared as UTF-8 bytes would be, without encoding either string (sorting a large
  // image compares each path about twenty times): code units order as code points, and so as UTF-8,
  // once surrogates (U+D800-DFFF, which encode U+10000 and up) are moved above U+E000-FFFF.
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // '/' ends a component: it sorts before every other character so "a/b" comes before "a-c".
    if (x === 0x2f) return -1;
    if (y === 0x2f) return 1;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** Sorts (a copy) in the canonical order. */
export function sortByEntryPath<T extends { path: string }>(items: readonly T[]): T[] {
  return [...items].sort((x, y) => compareEntryPaths(x.path, y.path));
}
