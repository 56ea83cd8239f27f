import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { UserError } from '../../errors.js';
import { registerTemp, releaseTemp } from '../../fs/temp.js';
import type { HashAlgorithm, Integrity, PackageRef } from '../ecosystem.js';
import { readChecked, tryWriteChecked } from './checked-record.js';
import { httpGetToFile, NotFoundError } from './http.js';
import { sha256File, type ContentStore } from './store.js';

export interface FetchOptions {
  store: ContentStore;
  offline?: boolean;
  /** For integrity that covers part of the file: the ecosystem's check of that part (throws when it differs). */
  verifyPart?: (file: string) => Promise<void>;
}

const HEX_LENGTH: Record<HashAlgorithm, number> = { sha1: 40, sha224: 56, sha256: 64, sha384: 96, sha512: 128 };

/** The content store keeps files under their SHA-256; other checksums find them through an alias record. */
const aliasSchema = z.object({ sha256: z.string().regex(/^[a-f0-9]{64}$/), size: z.number().int().nonnegative() });

function aliasPath(store: ContentStore, integrity: Integrity): string {
  return join(store.root, 'integrity', `${integrity.covers}-${integrity.algorithm}`, integrity.hex.slice(0, 2), integrity.hex);
}

function isWholeFileSha256(integrity: Integrity): boolean {
  return integrity.algorithm === 'sha256' && integrity.covers === 'file';
}

/**
 * The SHA-256 under which the store keeps the package, when it is known without downloading: the index's
 * own SHA-256, or the one recorded when a file with the index's other checksum was verified before.
 */
export async function storeKey(ref: PackageRef, store: ContentStore): Promise<string | undefined> {
  if (isWholeFileSha256(ref.integrity)) return ref.integrity.hex;
  const alias = aliasSchema.safeParse(await readChecked(aliasPath(store, ref.integrity)));
  return alias.success && alias.data.size === ref.size ? alias.data.sha256 : undefined;
}

async function hashFile(path: string, algorithm: HashAlgorithm): Promise<string> {
  const hash = createHash(algorithm);
  await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), hash);
  return hash.digest('hex');
}

/**
 * Brings one package file into the content-addressed store, verified by the checksum and size its index
 * gives (retried with backoff on transient errors by the HTTP client); returns the verified local path
 * and its SHA-256. `onBytes` sees downloaded bytes (nothing when the store already had it).
 */
export async function fetchPackage(pkg: PackageRef, options: FetchOptions, onBytes?: (n: number) => void): Promise<{ path: string; sha256: string }> {
  const { integrity } = pkg;
  if (integrity.hex.length !== HEX_LENGTH[integrity.algorithm] || !/^[a-f0-9]+$/.test(integrity.hex)) {
    throw new UserError(`${pkg.name} ${pkg.version}: the index gives no ${integrity.algorithm.toUpperCase()} for it`);
  }
  if (integrity.covers === 'part' && !options.verifyPart) throw new Error(`${pkg.display}: no check for an integrity that covers part of the file`);
  const known = await storeKey(pkg, options.store);
  const cached = known && (await options.store.get(known, pkg.size));
  if (known && cached) return { path: cached, sha256: known };
  if (options.offline) throw new UserError(`${pkg.name} ${pkg.version} (${pkg.url}): not in the cache, and --offline forbids downloading it`);
  const what = `${pkg.name} ${pkg.version} (${pkg.url})`;
  try {
    if (isWholeFileSha256(integrity)) {
      return { path: await options.store.put(integrity.hex, (tmp) => httpGetToFile(pkg.url, tmp, onBytes), what, pkg.size), sha256: integrity.hex };
    }
    // Another checksum: download, verify it, then keep the file under its SHA-256 with an alias record.
    const tmp = join(await options.store.tempParent(), `${options.store.tempPrefix('fetch')}-${createHash('sha256').update(pkg.url).digest('hex').slice(0, 16)}`);
    registerTemp(tmp);
    try {
      await httpGetToFile(pkg.url, tmp, onBytes);
      const { size } = await stat(tmp);
      if (size !== pkg.size) throw new UserError(`${what}: size mismatch: expected ${pkg.size} bytes, got ${size}`);
      if (integrity.covers === 'file') {
        const actual = await hashFile(tmp, integrity.algorithm);
        if (actual !== integrity.hex) throw new UserError(`${what}: ${integrity.algorithm.toUpperCase()} mismatch: expected ${integrity.hex}, got ${actual}`);
      } else {
        await options.verifyPart!(tmp);
      }
      const sha256 = await sha256File(tmp);
      const path = await options.store.adopt(tmp, sha256);
      await tryWriteChecked(aliasPath(options.store, integrity), { sha256, size: pkg.size });
      return { path, sha256 };
    } finally {
      await rm(tmp, { force: true });
      releaseTemp(tmp);
    }
  } catch (err) {
    if (err instanceof NotFoundError) {
      throw new UserError(`${pkg.name} ${pkg.version}: the archive no longer has it (${pkg.url} is gone); resolve again, or refresh the lockfile with fromscratch lock`);
    }
    throw err;
  }
}
