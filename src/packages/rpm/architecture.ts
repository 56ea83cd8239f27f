import type { Platform } from '../../oci/platform.js';
import { architectureNames } from '../architectures.js';

/** RPM's base architecture names ($basearch) and the platforms RPM-based images are published under. */
const RPM = architectureNames('RPM', {
  x86_64: { architecture: 'amd64' },
  aarch64: { architecture: 'arm64', variant: 'v8' },
  ppc64le: { architecture: 'ppc64le' },
  s390x: { architecture: 's390x' },
  i686: { architecture: '386' },
  armv7hl: { architecture: 'arm', variant: 'v7' },
  riscv64: { architecture: 'riscv64' },
  loongarch64: { architecture: 'loong64' },
});

export function rpmPlatform(arch: string): Platform {
  return RPM.platform(arch);
}

/** The RPM base architecture of an OCI platform (e.g. the host's), the inverse of rpmPlatform. */
export function rpmArch(platform: Platform): string {
  return RPM.nameOf(platform);
}
