import { UserError } from '../../errors.js';
import { httpGetToFile } from '../fetch/http.js';
import type { ContentStore } from '../fetch/store.js';
import type { LockedPackage } from './lockfile.js';
import { NotFoundError } from '../fetch/http.js';

export interface FetchProgress {
  /** Bytes downloaded so far (not counting what the cache already had). */
  downloaded: number;
  total: number;
  done: number;
  count: number;
}

export interface FetchOptions {
  store: ContentStore;
  offline?: boolean;
  /** Downloads at once (default 6). */
  concurrency?: number;
  onProgress?: (p: FetchProgress) => void;
}

type Fetchable = Pick<LockedPackage, 'name' | 'version' | 'sha256' | 'size' | 'repository' | 'filename'>;

/**
 * Brings one package's .deb into the content-addressed store, verified by the SHA256 and size its index
 * gives (retried with backoff on transient errors by the HTTP client); returns the verified local path.
 * `onBytes` sees downloaded bytes (nothing when the store already had it).
 */
export async function fetchPackage(pkg: Fetchable, options: Pick<FetchOptions, 'store' | 'offline'>, onBytes?: (n: number) => void): Promise<string> {
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

/** fetchPackage for every package, several at a time; returns the verified local paths by package name. */
export async function fetchPackages(packages: readonly Fetchable[], options: FetchOptions): Promise<Map<string, string>> {
  const paths = new Map<string, string>();
  const progress: FetchProgress = { downloaded: 0, total: packages.reduce((n, p) => n + p.size, 0), done: 0, count: packages.length };
  const queue = [...packages];
  let failed = false;
  const worker = async () => {
    for (let pkg = queue.shift(); pkg && !failed; pkg = queue.shift()) {
      const path = await fetchPackage(pkg, options, (n) => {
        progress.downloaded += n;
        options.onProgress?.(progress);
      });
      paths.set(pkg.name, path);
      progress.done++;
      options.onProgress?.(progress);
    }
  };
  const guarded = () => worker().catch((err: unknown) => {
    failed = true; // the other workers take nothing new
    throw err;
  });
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 6, packages.length) }, guarded));
  return paths;
}
