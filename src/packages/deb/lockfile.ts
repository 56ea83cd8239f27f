import { z } from 'zod';

/** One .deb as the lockfile pins it: enough to fetch, verify and record it without any index. */
const lockedPackage = z.object({
  name: z.string(),
  version: z.string(),
  architecture: z.string(),
  /** SHA-256 of the .deb, from the signed index at lock time. */
  sha256: z.string().regex(/^[a-f0-9]{64}$/),
  size: z.number().int().nonnegative(),
  /** Mirror base URI and the path below it (the index's Filename). */
  repository: z.string(),
  filename: z.string(),
  /** The archive's overrides, which dpkg records in its status file. */
  priority: z.string().optional(),
  section: z.string().optional(),
});

/** What a Debian lockfile says besides its packages: the release and the suites they came from. */
const lockFields = z.object({
  codename: z.string(),
  repositories: z.array(z.object({ uri: z.string(), suite: z.string(), components: z.array(z.string()) })),
});

export type LockedPackage = z.infer<typeof lockedPackage>;
export type DebLockFields = z.infer<typeof lockFields>;

export const debLockSchema = { package: lockedPackage, fields: lockFields };
