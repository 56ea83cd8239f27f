import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { readChecked, tryWriteChecked } from '../fetch/checked-record.js';
import type { ContentStore } from '../fetch/store.js';
import { asLockfile, type Lockfile } from './lockfile.js';

/** Bump whenever the resolver may choose differently for the same indexes and request. */
const RESOLVER_VERSION = 1;

/** Everything a resolution depends on: the exact indexes (by their verified SHA256s) and the request. */
export interface ResolutionKey {
  arch: string;
  suites: { uri: string; suite: string; components: string[]; indexes: string[] }[];
  request: Record<string, unknown>;
}

/**
 * Resolution is a pure function of the signed indexes' content and the request, so its result — a
 * lockfile — is kept, keyed by both (apt keeps its pkgcache.bin for the same reason). A warm build then
 * checks InRelease (signature and freshness, as always) and skips fetching and parsing the ~60,000
 * package index. A record that is unreadable, damaged (it carries its own checksum) or not a valid
 * lockfile is ignored.
 */
export class ResolutionCache {
  constructor(private readonly store: ContentStore) {}

  private path(key: ResolutionKey): string {
    const id = createHash('sha256').update(JSON.stringify({ resolver: RESOLVER_VERSION, ...key })).digest('hex');
    return join(this.store.root, 'resolutions', `${id}.lock.json`);
  }

  async get(key: ResolutionKey): Promise<{ lock: Lockfile; skipped: string[] } | undefined> {
    const doc = (await readChecked(this.path(key))) as { lock?: unknown; skipped?: unknown } | undefined;
    if (typeof doc !== 'object' || doc === null) return undefined;
    const lock = asLockfile(doc.lock);
    const skipped = Array.isArray(doc.skipped) && doc.skipped.every((s) => typeof s === 'string') ? (doc.skipped as string[]) : undefined;
    return lock && skipped ? { lock, skipped } : undefined;
  }

  async put(key: ResolutionKey, lock: Lockfile, skipped: string[]): Promise<void> {
    await tryWriteChecked(this.path(key), { lock, skipped });
  }
}
