import type { Readable } from 'node:stream';

export type EntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/**
 * One filesystem object as a layer holds it. Ownership is numeric and lives here, never on a disk, so
 * root-owned files, devices and setuid bits can be described by an unprivileged user.
 */
export interface EntryHeader {
  /** Relative, normalised, '/'-separated, without leading './' or trailing '/'. */
  path: string;
  type: EntryType;
  /** Permission bits with setuid, setgid and sticky (mask 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Content length; 0 for everything but files. */
  size: number;
  /** Symlink target, or for hardlinks the path of the entry linked to. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes (security.capability, user.*...) with their raw byte values. */
  xattrs?: Record<string, Buffer>;
  /** Owner names as an archive read carried them; the writer never emits them (numeric only). */
  uname?: string;
  gname?: string;
}

/** An entry and a way to read its content on demand (files only), so entries can be listed before read. */
export interface Entry extends EntryHeader {
  open?: () => Readable;
  /**
   * Names the content without reading it: entries with the same contentId have the same bytes (e.g. a
   * stored blob's digest and an offset). Lets caches key on content; never written to the tar.
   */
  contentId?: string;
}

export const TYPE_FLAG: Record<EntryType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  directory: '5',
  fifo: '6',
};
