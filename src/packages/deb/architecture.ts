import type { Platform } from '../../oci/platform.js';
import { architectureNames } from '../architectures.js';

/** Debian's architecture names and the platforms Debian's official images are published under. */
const DEBIAN = architectureNames('Debian', {
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
});

export function debianPlatform(arch: string): Platform {
  return DEBIAN.platform(arch);
}

/** The Debian architecture of an OCI platform (e.g. the host's), the inverse of debianPlatform. */
export function debianArch(platform: Platform): string {
  return DEBIAN.nameOf(platform);
}
