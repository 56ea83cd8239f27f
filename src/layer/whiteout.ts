import type { EntryHeader } from '../tar/entry.js';

/** Whiteouts as the OCI image-spec defines them: a `.wh.` prefixed name deletes its base name below. */
export const WHITEOUT_PREFIX = '.wh.';
/** In a directory, this entry hides everything lower layers had in it (an opaque directory). */
export const OPAQUE_WHITEOUT = '.wh..wh..opq';

function split(path: string): { dir: string; base: string } {
  const i = path.lastIndexOf('/');
  return i === -1 ? { dir: '', base: path } : { dir: path.slice(0, i), base: path.slice(i + 1) };
}

function join(dir: string, base: string): string {
  return dir === '' ? base : `${dir}/${base}`;
}

/** The entry that removes `path` from the layers below. */
export function whiteoutEntry(path: string, mtime: number): EntryHeader {
  const { dir, base } = split(path);
  return { path: join(dir, WHITEOUT_PREFIX + base), type: 'file', mode: 0o644, uid: 0, gid: 0, mtime, size: 0 };
}

/** The entry that makes `dir` opaque. */
export function opaqueEntry(dir: string, mtime: number): EntryHeader {
  return { path: join(dir, OPAQUE_WHITEOUT), type: 'file', mode: 0o644, uid: 0, gid: 0, mtime, size: 0 };
}

export type WhiteoutKind = { kind: 'opaque'; dir: string } | { kind: 'whiteout'; target: string } | undefined;

/** What a layer entry's name means: a plain entry, a whiteout of a path, or an opaque marker. */
export function classifyWhiteout(path: string): WhiteoutKind {
  const { dir, base } = split(path);
  if (base === OPAQUE_WHITEOUT) return { kind: 'opaque', dir };
  if (base.startsWith(WHITEOUT_PREFIX)) return { kind: 'whiteout', target: join(dir, base.slice(WHITEOUT_PREFIX.length)) };
  return undefined;
}
