import { UserError } from '../../errors.js';
import { httpGetToFile } from '../fetch/http.js';
import type { ContentStore } from '../fetch/store.js';
import type { LockedPackage } from './lockfile.js';
import { NotFoundError } from '../fetch/http.js';

export interface FetchOptions {
  store: ContentStore;
  offline?: boolean;
}

type Fetchable = Pick<LockedPackage, 'name' | 'version' | 'sha256' | 'size' | 'repository' | 'filename'>;

/**
 * Brings one package's .deb into the content-addressed store, verified by the SHA256 and size its index
 * gives (retried with backoff on transient errors by the HTTP client); returns the verified local path.
 * `onBytes` sees downloaded bytes (nothing when the store already had it).
 */
export async function fetchPackage(pkg: Fetchable, options: FetchOptions, onBytes?: (n: number) => void): Promise<string> {
  if (!/^[a-f0-9]{64}$/.test(pkg.sha256)) throw new UserError(`${pkg.name} ${pkg.version}: the index gives no SHA256 for it`);
  const url = `${pkg.repository}/${pkg.filename}`;
  const cached = await options.store.get(pkg.sha256, pkg.size);
  if (cached) return cached;
  if (options.offline) throw new UserError(`${pkg.name} ${pkg.version} (${url}): not in the cache, and --offline forbids downloading it`);
  try {
    return await options.store.put(pkg.sha256, (tmp) => httpGetToFile(url, tmp, onBytes), `${pkg.name} ${pkg.version} (${url})`, pkg.size);
  } catch (err) {
    if (err instanceof NotFoundError) {
      throw new UserError(`${pkg.name} ${pkg.version}: the archive no longer has it (${url} is gone); resolve again, or refresh the lockfile with fromscratch lock`);
    }
    throw err;
  }
}
