import { UserError } from '../../errors.js';
import type { PackageRef } from '../ecosystem.js';
import { findVerified, knownSha256, putChecked, putVerified } from './checksum.js';
import { NotFoundError } from './http.js';
import { urlToFile } from './url.js';
import { sha256File, type ContentStore } from './store.js';

export interface FetchOptions {
  store: ContentStore;
  offline?: boolean;
  /** For integrity that covers part of the file: the ecosystem's check of that part (throws when it differs). */
  verifyPart?: (file: string) => Promise<void>;
}

/**
 * The SHA-256 under which the store keeps the package, when it is known without downloading: the index's
 * own SHA-256, or the one recorded when a file with the index's other checksum was verified before.
 */
export function storeKey(ref: PackageRef, store: ContentStore): Promise<string | undefined> {
  return knownSha256(store, ref.integrity, ref.size);
}

/**
 * Brings one package file into the content-addressed store, verified by the checksum and size its index
 * gives (retried with backoff on transient errors by the HTTP client); returns the verified local path
 * and its SHA-256. `onBytes` sees downloaded bytes (nothing when the store already had it).
 */
export async function fetchPackage(pkg: PackageRef, options: FetchOptions, onBytes?: (n: number) => void): Promise<{ path: string; sha256: string }> {
  const { integrity } = pkg;
  if (!/^[a-f0-9]+$/.test(integrity.value)) throw new UserError(`${pkg.name} ${pkg.version}: the index gives no ${integrity.algorithm.toUpperCase()} for it`);
  const known = await storeKey(pkg, options.store);
  const cached = known === undefined ? undefined : await findVerified(options.store, integrity, pkg.size);
  if (known !== undefined && cached) return { path: cached, sha256: known };
  if (options.offline) throw new UserError(`${pkg.name} ${pkg.version} (${pkg.url}): not in the cache, and --offline forbids downloading it`);
  const what = `${pkg.name} ${pkg.version} (${pkg.url})`;
  const download = (tmp: string) => urlToFile(pkg.url, tmp, onBytes);
  try {
    if (integrity.covers === 'file') {
      const path = await putVerified(options.store, integrity, download, what, pkg.size);
      return { path, sha256: (await storeKey(pkg, options.store)) ?? (await sha256File(path)) };
    }
    const verifyPart = options.verifyPart;
    if (!verifyPart) throw new Error(`${pkg.display}: no check for an integrity that covers part of the file`);
    return await putChecked(options.store, integrity, download, what, pkg.size, async (tmp) => {
      await verifyPart(tmp);
      return sha256File(tmp);
    });
  } catch (err) {
    if (err instanceof NotFoundError) {
      throw new UserError(`${pkg.name} ${pkg.version}: the archive no longer has it (${pkg.url} is gone); resolve again, or refresh the lockfile with fromscratch lock`);
    }
    throw err;
  }
}
