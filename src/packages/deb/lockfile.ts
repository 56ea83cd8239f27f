import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { UserError } from '../../errors.js';
import { writeFileAtomic } from '../../fs/temp.js';

/** One package as the lockfile pins it: enough to fetch, verify and record it without any index. */
export interface LockedPackage {
  name: string;
  version: string;
  architecture: string;
  /** SHA-256 of the .deb, from the signed index at lock time. */
  sha256: string;
  size: number;
  /** Mirror base URI and the path below it (the index's Filename). */
  repository: string;
  filename: string;
  /** The archive's overrides, which dpkg records in its status file. */
  priority?: string;
  section?: string;
}

const lockSchema = z.object({
  lockfileVersion: z.literal(1),
  arch: z.string(),
  codename: z.string(),
  repositories: z.array(z.object({ uri: z.string(), suite: z.string(), components: z.array(z.string()) })),
  packages: z.array(
    z.object({
      name: z.string(),
      version: z.string(),
      architecture: z.string(),
      sha256: z.string().regex(/^[a-f0-9]{64}$/),
      size: z.number().int().nonnegative(),
      repository: z.string(),
      filename: z.string(),
      priority: z.string().optional(),
      section: z.string().optional(),
    }),
  ),
});

export type Lockfile = z.infer<typeof lockSchema>;

export async function readLockfile(path: string): Promise<Lockfile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UserError(`lockfile "${path}" cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (make one with fromscratch lock)`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new UserError(`lockfile "${path}": not valid JSON (${(err as Error).message})`);
  }
  const parsed = lockSchema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UserError(`lockfile "${path}": ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  }
  return parsed.data;
}

/** A parsed document if it is a valid lockfile, else undefined (for caches, where invalid means absent). */
export function asLockfile(doc: unknown): Lockfile | undefined {
  const parsed = lockSchema.safeParse(doc);
  return parsed.success ? parsed.data : undefined;
}

/** Writes a lockfile: packages sorted by name, stable key order, so it diffs well in review. */
export async function writeLockfile(path: string, lock: Lockfile): Promise<void> {
  const sorted: Lockfile = { ...lock, packages: [...lock.packages].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) };
  await writeFileAtomic(path, `${JSON.stringify(sorted, null, 2)}\n`);
}
