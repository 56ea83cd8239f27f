import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { SourcedEntry } from '../entries/entry-set.js';
import { layerKey } from '../layer/layer-cache.js';
import type { Compression } from '../oci/media-types.js';
import { readChecked, tryWriteChecked } from '../packages/fetch/checked-record.js';
import type { ContentStore } from '../packages/fetch/store.js';

/*
 * A warm build of unchanged inputs would decode nothing (the unpacked cache) and compress nothing (the
 * layer cache), but would still install: read every cached package record, run the effects, write the
 * package database, canonicalise and hash every entry, only to find the same layer. The build cache
 * maps everything an image's layer is a function of — the locked packages, the request, the spec's paths,
 * SOURCE_DATE_EPOCH, what the ecosystem says its install depends on, and this program's own code — to
 * the layer-cache key of the layer it gave, and what the install said of the image.
 */

/** A fingerprint of the running program: its compiled modules, so that a changed fromscratch never reuses an old result. */
let fingerprint: string | undefined;
function codeFingerprint(): string {
  if (fingerprint) return fingerprint;
  const hash = createHash('sha256');
  const root = dirname(dirname(fileURLToPath(import.meta.url)));
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.name.endsWith('.js')) hash.update(`${path.slice(root.length)}\n`).update(readFileSync(path));
    }
  };
  walk(root);
  fingerprint = hash.digest('hex');
  return fingerprint;
}

export interface BuildInputs {
  ecosystem: string;
  arch: string;
  epoch: number;
  packages: unknown;
  fields: unknown;
  request: unknown;
  /** What the ecosystem's install depends on besides these (signing keys' fingerprints…). */
  installKey: unknown;
  accounts: unknown;
  paths: readonly SourcedEntry[];
  parents: readonly SourcedEntry[];
  compression: Compression;
}

const recordSchema = z.object({
  layerKey: z.string().regex(/^[a-f0-9]{64}$/),
  description: z.string(),
  createdBy: z.string(),
  annotations: z.record(z.string(), z.string()).optional(),
});

export type BuildRecord = z.infer<typeof recordSchema>;

export class BuildCache {
  constructor(private readonly store: ContentStore) {}

  /** The key of a build: the inputs, the spec's entries by their content, and the program's code. */
  static async key(inputs: BuildInputs): Promise<string> {
    const { paths, parents, ...rest } = inputs;
    const entries = await layerKey([...paths, ...parents], { compression: inputs.compression });
    return createHash('sha256').update(JSON.stringify({ format: 1, code: codeFingerprint(), entries, ...rest })).digest('hex');
  }

  private path(key: string): string {
    return join(this.store.root, 'builds', `${key}.json`);
  }

  async get(key: string): Promise<BuildRecord | undefined> {
    const parsed = recordSchema.safeParse(await readChecked(this.path(key)));
    return parsed.success ? parsed.data : undefined;
  }

  async put(key: string, record: BuildRecord): Promise<void> {
    await tryWriteChecked(this.path(key), record);
  }
}
