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

export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i === -1 ? '' : path.slice(0, i);
}

/**
 * The canonical entry order: depth-first with siblings in byte order (as `tar --sort=name`). A parent
 * always comes before its children, whatever order a file system or archive listed them in.
 */
export function compareEntryPaths(a: string, b: string): number {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  const n = Math.min(ab.length, bb.length);
  for (let i = 0; i < n; i++) {
    const x = ab[i]!;
    const y = bb[i]!;
    if (x === y) continue;
    // '/' ends a component: it sorts before every other byte so "a/b" comes before "a-c".
    if (x === 0x2f) return -1;
    if (y === 0x2f) return 1;
    return x - y;
  }
  return ab.length - bb.length;
}

/** Sorts in the canonical order; keys are computed once ('/' → NUL keeps component order bytewise). */
export function sortByEntryPath<T extends { path: string }>(items: T[]): T[] {
  const keyed = items.map((item) => ({ item, key: Buffer.from(item.path.replaceAll('/', '\0'), 'utf8') }));
  keyed.sort((a, b) => Buffer.compare(a.key, b.key));
  return keyed.map((k) => k.item);
}
