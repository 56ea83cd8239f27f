import { z } from 'zod';

/** One .rpm as the lockfile pins it: enough to fetch, verify and install it without any metadata. */
const lockedPackage = z.object({
  name: z.string().min(1),
  /** As dnf prints it: [EPOCH:]VERSION-RELEASE. */
  version: z.string().min(1),
  architecture: z.string().min(1),
  /** The package file's checksum from the verified primary.xml, as ALGORITHM:HEX. */
  checksum: z.string().regex(/^(sha1|sha224|sha256|sha384|sha512):[a-f0-9]+$/, 'ALGORITHM:HEX, e.g. sha256:…'),
  size: z.number().int().nonnegative(),
  /** The repository's base URL (one of `repositories[].baseurl`) and the package's href below it. */
  repository: z.string().min(1),
  location: z.string().min(1),
  /** primary.xml's xml:base, when the package lives elsewhere than its repository. */
  base: z.string().optional(),
});

/** What an RPM lockfile says besides its packages: the repositories (and their signing keys) they came from. */
const lockFields = z.object({
  releasever: z.string().optional(),
  repositories: z.array(
    z.object({
      id: z.string().min(1),
      baseurl: z.string().min(1),
      /** SHA-256 of the repomd.xml the resolution read. */
      repomd: z.string().regex(/^[a-f0-9]{64}$/),
      /** Packages must carry a signature by one of the keys at `gpgkey` (gpgcheck=1). */
      gpgcheck: z.boolean(),
      gpgkey: z.array(z.string()),
    }),
  ),
});

export type LockedRpm = z.infer<typeof lockedPackage>;
export type RpmLockFields = z.infer<typeof lockFields>;

export const rpmLockSchema = { package: lockedPackage, fields: lockFields };

/** How errors and progress name a locked package: its file name, `bash-5.1.8-4.el9.x86_64.rpm`. */
export function rpmDisplayName(pkg: Pick<LockedRpm, 'name' | 'version' | 'architecture'>): string {
  return `${pkg.name}-${pkg.version.replace(/^\d+:/, '')}.${pkg.architecture}.rpm`;
}
