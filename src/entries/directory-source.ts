import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { lstat, readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import type { Entry, EntryType } from '../tar/entry.js';
import type { SourcedEntry } from './entry-set.js';

/** Linux's dev_t split (glibc's gnu_dev_major / gnu_dev_minor). */
function devMajor(rdev: number): number {
  return Number(((BigInt(rdev) >> 8n) & 0xfffn) | ((BigInt(rdev) >> 32n) & ~0xfffn));
}
function devMinor(rdev: number): number {
  return Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & ~0xffn));
}

const SMALL_FILE = 262144;

/**
 * The content of a file, read when the layer is written. Small files are read in one operation (one
 * thread-pool job instead of open, reads and close). A function of its own so that the closure keeps
 * only the path and size alive, not the scan's Stats objects.
 */
function fileOpener(path: string, size: number): () => Readable {
  if (size > SMALL_FILE) return () => createReadStream(path, { highWaterMark: SMALL_FILE });
  return () =>
    Readable.from(
      (async function* () {
        yield await readFile(path);
      })(),
      { objectMode: false },
    );
}

export interface DirectoryScan {
  entries: SourcedEntry[];
  /** Sockets cannot live in a layer (tar skips them too); their paths are reported. */
  skipped: string[];
}

/**
 * Lists a folder as layer entries: numeric owners, modes, mtimes, symlink targets, devices and FIFOs as
 * lstat reports them, hardlinks found by inode. Content is read later, when the layer is written.
 * (Node has no xattr API, so extended attributes of files on disk are not read; tar input keeps them.)
 */
export async function scanDirectory(root: string): Promise<DirectoryScan> {
  let rootStat;
  try {
    rootStat = await stat(root);
  } catch (err) {
    throw new UserError(`source directory "${root}" cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!rootStat.isDirectory()) throw new UserError(`source "${root}" is not a directory`);

  const entries: SourcedEntry[] = [];
  const skipped: string[] = [];
  const inodes = new Map<string, string>();

  async function visit(relative: string): Promise<void> {
    const dirPath = relative === '' ? root : join(root, relative);
    let raw: Buffer[];
    try {
      raw = await readdir(dirPath, { encoding: 'buffer' });
    } catch (err) {
      throw new UserError(`cannot list "${dirPath}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const names = raw.map((bytes) => {
      const name = bytes.toString('utf8');
      // Entry paths are UTF-8 strings; a lossy decoding would point at a file that does not exist.
      if (!Buffer.from(name, 'utf8').equals(bytes)) {
        throw new UserError(`"${join(dirPath, name)}": the file name is not valid UTF-8 (bytes: ${bytes.toString('hex')}); rename it`);
      }
      return name;
    });
    names.sort();
    for (const name of names) {
      const path = relative === '' ? name : `${relative}/${name}`;
      const full = join(root, path);
      const st = await lstat(full);
      let type: EntryType;
      if (st.isFile()) type = 'file';
      else if (st.isDirectory()) type = 'directory';
      else if (st.isSymbolicLink()) type = 'symlink';
      else if (st.isCharacterDevice()) type = 'char';
      else if (st.isBlockDevice()) type = 'block';
      else if (st.isFIFO()) type = 'fifo';
      else {
        skipped.push(path);
        continue;
      }
      const entry: Entry = {
        path,
        type,
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        mtime: Math.floor(st.mtimeMs / 1000),
        size: 0,
      };
      const origin = `"${full}"`;
      if (type !== 'directory' && st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = inodes.get(key);
        if (first !== undefined) {
          entries.push({ ...entry, type: 'hardlink', linkname: first, origin });
          continue;
        }
        inodes.set(key, path);
      }
      if (type === 'file') {
        entry.size = st.size;
        entry.open = fileOpener(full, st.size);
      } else if (type === 'symlink') {
        entry.linkname = await readlink(full);
      } else if (type === 'char' || type === 'block') {
        entry.devmajor = devMajor(st.rdev);
        entry.devminor = devMinor(st.rdev);
      }
      entries.push({ ...entry, origin });
      if (type === 'directory') await visit(path);
    }
  }

  await visit('');
  return { entries, skipped };
}
