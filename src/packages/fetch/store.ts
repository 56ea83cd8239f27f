import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { UserError } from '../../errors.js';
import { registerTemp, releaseTemp, siblingTempPath } from '../../fs/temp.js';

/** `$XDG_CACHE_HOME/fromscratch`, or `~/.cache/fromscratch`; `FROMSCRATCH_CACHE` overrides both. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['FROMSCRATCH_CACHE']) return env['FROMSCRATCH_CACHE'];
  const xdg = env['XDG_CACHE_HOME'];
  return join(xdg && xdg.startsWith('/') ? xdg : join(homedir(), '.cache'), 'fromscratch');
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, but another user's
  }
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), hash);
  return hash.digest('hex');
}

/**
 * A content-addressed file store (like pnpm's): files live under their SHA-256, are written under a
 * temporary name and renamed into place (so builds sharing the store never see half a file), and are
 * hashed again when read, so a corrupted file is dropped and fetched anew instead of used.
 */
export class ContentStore {
  constructor(readonly root: string = defaultCacheDir()) {}

  path(sha256: string): string {
    return join(this.root, 'sha256', sha256.slice(0, 2), sha256);
  }

  /** The path of a verified copy, or undefined when the store has none (a bad copy is removed). */
  async get(sha256: string, size?: number): Promise<string | undefined> {
    const path = this.path(sha256);
    try {
      const st = await stat(path);
      if (size !== undefined && st.size !== size) throw new Error('size');
      if ((await sha256File(path)) !== sha256) throw new Error('hash');
      return path;
    } catch {
      await rm(path, { force: true });
      return undefined;
    }
  }

  private swept = false;

  /**
   * A folder on the store's file system for temporaries that may be renamed into the store. Folders
   * left there by builds that were killed (SIGKILL, out of memory, a CI timeout: no chance to clean up)
   * are removed the first time a process asks: their names carry the host and process id
   * (tempPrefix), and only those of this host whose process is gone are touched.
   */
  async tempParent(): Promise<string> {
    const dir = join(this.root, 'tmp');
    await mkdir(dir, { recursive: true });
    if (!this.swept) {
      this.swept = true;
      const mine = `@${hostname()}-`;
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        const match = /-p(\d+)@(.+)-[^-]+$/.exec(name);
        if (!match || `@${match[2]}-` !== mine || processAlive(Number(match[1]))) continue;
        // Files a --scripts sandbox left may belong to subordinate ids: what cannot be removed stays.
        await rm(join(dir, name), { recursive: true, force: true }).catch(() => {});
      }
    }
    return dir;
  }

  /** A withTempDir prefix for folders under tempParent(): the kind, this process and this host. */
  tempPrefix(kind: string): string {
    return `${kind}-p${process.pid}@${hostname()}`;
  }

  /**
   * Moves `tmp` (on the store's file system, e.g. under tempParent()) into the store as `sha256`: for
   * files this process made itself and hashed while writing them, so hashing them again is wasted work.
   * A copy already there has the same bytes, so replacing it (atomically) is harmless.
   */
  async adopt(tmp: string, sha256: string): Promise<string> {
    const path = this.path(sha256);
    await mkdir(join(this.root, 'sha256', sha256.slice(0, 2)), { recursive: true });
    await rename(tmp, path);
    return path;
  }

  /**
   * Fills the store with `write(tmp)` unless a verified copy is there; the written file must hash to
   * `sha256` (and have `size` bytes) or it is refused and removed.
   */
  async put(sha256: string, write: (tmp: string) => Promise<void>, what: string, size?: number): Promise<string> {
    const existing = await this.get(sha256, size);
    if (existing) return existing;
    const path = this.path(sha256);
    await mkdir(join(this.root, 'sha256', sha256.slice(0, 2)), { recursive: true });
    const tmp = siblingTempPath(path);
    registerTemp(tmp);
    try {
      await write(tmp);
      const st = await stat(tmp);
      if (size !== undefined && st.size !== size) throw new UserError(`${what}: size mismatch: expected ${size} bytes, got ${st.size}`);
      const actual = await sha256File(tmp);
      if (actual !== sha256) throw new UserError(`${what}: SHA256 mismatch: expected ${sha256}, got ${actual}`);
      await rename(tmp, path);
      return path;
    } finally {
      await rm(tmp, { force: true });
      releaseTemp(tmp);
    }
  }
}
