import { UserError } from '../../errors.js';
import type { Platform } from '../../oci/platform.js';

/**
 * Debian's architecture names and the OCI platforms (GOARCH names, with the variant for ARM) their
 * images are published under, as Debian's official images map them.
 */
const PLATFORMS: Record<string, Omit<Platform, 'os'>> = {
  amd64: { architecture: 'amd64' },
  arm64: { architecture: 'arm64', variant: 'v8' },
  armhf: { architecture: 'arm', variant: 'v7' },
  armel: { architecture: 'arm', variant: 'v5' },
  i386: { architecture: '386' },
  ppc64el: { architecture: 'ppc64le' },
  s390x: { architecture: 's390x' },
  riscv64: { architecture: 'riscv64' },
  mips64el: { architecture: 'mips64le' },
  loong64: { architecture: 'loong64' },
};

export function debianPlatform(arch: string): Platform {
  const p = PLATFORMS[arch];
  if (!p) throw new UserError(`unknown Debian architecture "${arch}" (known: ${Object.keys(PLATFORMS).join(', ')})`);
  return { os: 'linux', ...p };
}

/** The Debian architecture of an OCI platform (e.g. the host's), the inverse of debianPlatform. */
export function debianArch(platform: Platform): string {
  const found = Object.entries(PLATFORMS).find(([, p]) => p.architecture === platform.architecture && (p.variant === undefined || platform.variant === undefined || p.variant === platform.variant));
  if (!found) throw new UserError(`no Debian architecture for the platform ${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}; give one with --arch`);
  return found[0];
}
