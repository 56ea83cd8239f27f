import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import { readChecked, tryWriteChecked } from './fetch/checked-record.js';
import type { ContentStore } from './fetch/store.js';
import type { EcosystemId, Resolution } from './ecosystem.js';
import { parseLockfile, type LockSchema } from './lockfile.js';

/** Bump whenever a resolver may choose differently for the same indexes and request. */
const RESOLVER_VERSION = 2;

const notesSchema = z.array(z.string());

/**
 * Resolution is a pure function of the signed indexes' content and the request, so its result — a
 * lockfile — is kept, keyed by both (apt keeps its pkgcache.bin for the same reason). A warm build then
 * verifies the index signatures (and freshness, as always) and skips fetching and parsing the package
 * indexes. A record that is unreadable, damaged (it carries its own checksum) or not a valid lockfile of
 * the ecosystem is ignored.
 */
export class ResolutionCache<Locked extends { name: string }, LockFields> {
  constructor(
    private readonly store: ContentStore,
    private readonly ecosystem: EcosystemId,
    private readonly schema: LockSchema<Locked, LockFields>,
  ) {}

  private path(arch: string, key: unknown): string {
    const id = createHash('sha256').update(JSON.stringify({ resolver: RESOLVER_VERSION, ecosystem: this.ecosystem, arch, key })).digest('hex');
    return join(this.store.root, 'resolutions', `${id}.lock.json`);
  }

  async get(arch: string, key: unknown): Promise<Resolution<Locked, LockFields> | undefined> {
    const doc = await readChecked(this.path(arch, key));
    if (typeof doc !== 'object' || doc === null || !('lock' in doc) || !('notes' in doc)) return undefined;
    const lock = parseLockfile(doc.lock, this.ecosystem, this.schema);
    const notes = notesSchema.safeParse(doc.notes);
    if (typeof lock === 'string' || !notes.success || lock.arch !== arch) return undefined;
    return { packages: lock.packages, fields: lock.fields, notes: notes.data };
  }

  async put(arch: string, key: unknown, resolution: Resolution<Locked, LockFields>): Promise<void> {
    const lock = { lockfileVersion: 1, ecosystem: this.ecosystem, arch, ...resolution.fields, packages: resolution.packages };
    await tryWriteChecked(this.path(arch, key), { lock, notes: resolution.notes });
  }
}
