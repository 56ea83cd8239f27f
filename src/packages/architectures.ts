import { UserError } from '../errors.js';
import type { Platform } from '../oci/platform.js';

/** An ecosystem's architecture names and the OCI platforms (GOARCH names, with ARM's variant) their images use. */
export interface ArchitectureNames {
  /** The OCI platform of an architecture name; a UserError for a name the ecosystem does not know. */
  platform(arch: string): Platform;
  /** The architecture name of an OCI platform (e.g. the host's). */
  nameOf(platform: Platform): string;
}

export function architectureNames(ecosystem: string, table: Record<string, Omit<Platform, 'os'>>): ArchitectureNames {
  return {
    platform(arch) {
      const p = table[arch];
      if (!p) throw new UserError(`unknown ${ecosystem} architecture "${arch}" (known: ${Object.keys(table).join(', ')})`);
      return { os: 'linux', ...p };
    },
    nameOf(platform) {
      const found = Object.entries(table).find(([, p]) => p.architecture === platform.architecture && (p.variant === undefined || platform.variant === undefined || p.variant === platform.variant));
      if (!found) throw new UserError(`no ${ecosystem} architecture for the platform ${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}; give one with --arch`);
      return found[0];
    },
  };
}
