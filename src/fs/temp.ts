import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, rename, writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

/**
 * Paths that must vanish if the process dies half-way (temporary outputs, spools). The CLI removes what
 * is still registered when it is interrupted, so no half-written destination is ever left behind.
 */
const pending = new Set<string>();

export function registerTemp(path: string): void {
  pending.add(path);
}

export function releaseTemp(path: string): void {
  pending.delete(path);
}

export function removeAllTempsSync(): void {
  for (const path of pending) {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch {
      // best effort while exiting
    }
  }
  pending.clear();
}

/** A hidden sibling name for `dest`, on the same file system so the final rename is atomic. */
export function siblingTempPath(dest: string): string {
  return join(dirname(dest), `.${basename(dest)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/**
 * Creates `dest` (a file or a folder) by letting `write` fill a temporary sibling, then renaming it into
 * place; on failure or interruption the temporary is removed and `dest` is untouched.
 */
export async function writeAtomically(dest: string, write: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = siblingTempPath(dest);
  registerTemp(tmp);
  try {
    await write(tmp);
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  } finally {
    releaseTemp(tmp);
  }
}

/** Writes a file under a temporary name and renames it into place. */
export async function writeFileAtomic(dest: string, data: Uint8Array | string): Promise<void> {
  await writeAtomically(dest, (tmp) => writeFile(tmp, data));
}

/**
 * Runs `fn` with a fresh private directory under `parent` (default: the system temp dir, $TMPDIR),
 * removed afterwards.
 */
export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>, parent: string = tmpdir()): Promise<T> {
  const dir = await mkdtemp(join(parent, `fromscratch-${prefix}-`));
  registerTemp(dir);
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
    releaseTemp(dir);
  }
}
