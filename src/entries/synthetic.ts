import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Entry } from '../tar/entry.js';

/** Owner, mode and time of an entry the build makes itself (not read from a package or a disk). */
export interface SyntheticOptions {
  mtime: number;
  mode?: number;
  uid?: number;
  gid?: number;
}

/** A regular file whose content is in memory. */
export function fileEntry(path: string, content: string | Buffer, o: SyntheticOptions): Entry {
  const data = typeof content === 'string' ? Buffer.from(content) : content;
  return {
    path, type: 'file', mode: o.mode ?? 0o644, uid: o.uid ?? 0, gid: o.gid ?? 0, mtime: o.mtime, size: data.length,
    open: () => Readable.from([data]),
    contentId: `sha256:${createHash('sha256').update(data).digest('hex')}`,
  };
}

export function dirEntry(path: string, o: SyntheticOptions): Entry {
  return { path, type: 'directory', mode: o.mode ?? 0o755, uid: o.uid ?? 0, gid: o.gid ?? 0, mtime: o.mtime, size: 0 };
}

export function symlinkEntry(path: string, target: string, o: SyntheticOptions): Entry {
  return { path, type: 'symlink', mode: 0o777, uid: o.uid ?? 0, gid: o.gid ?? 0, mtime: o.mtime, size: 0, linkname: target };
}
