import { duplicateLibraries, installedPackages } from '../packages/deb/installed-packages.js';
import type { InstalledPackage } from '../packages/deb/installed-packages.js';

/** The package manager whose database an image holds. */
export type PackageManager = 'dpkg';

const DPKG_STATUS = 'var/lib/dpkg/status';
const DPKG_LIST = /^var\/lib\/dpkg\/info\/([^/]+?)\.list$/;

/**
 * Whether a file of a layer belongs to a package database (small files: read whole while the layer
 * streams by, since the layer is read once).
 */
export function isDatabaseFile(path: string): boolean {
  return path === DPKG_STATUS || DPKG_LIST.test(path);
}

export interface PackageDatabase {
  manager: PackageManager;
  packages: InstalledPackage[];
  duplicateLibraries: string[][];
  /** Path (relative, as the database names it) → owning package. */
  owners: Map<string, string>;
}

/**
 * Reads the package database the final filesystem shows. `file(path)` gives the content of a database
 * file as the final view has it (undefined when the view has no such file); `paths` lists them all.
 */
export function readPackageDatabase(paths: readonly string[], file: (path: string) => Buffer | undefined, where: string): PackageDatabase | undefined {
  const status = file(DPKG_STATUS);
  if (status === undefined) return undefined;
  const packages = installedPackages(status.toString('utf8'), `${where}: /${DPKG_STATUS}`);
  const owners = new Map<string, string>();
  for (const path of paths) {
    const m = DPKG_LIST.exec(path);
    if (!m) continue;
    // info/NAME.list or, for Multi-Arch: same packages, info/NAME:ARCH.list.
    const pkg = m[1]!.replace(/:[^:]+$/, '');
    for (const line of file(path)?.toString('utf8').split('\n') ?? []) {
      const owned = line.replace(/^\/+/, '');
      if (owned && owned !== '.') owners.set(owned, pkg);
    }
  }
  return { manager: 'dpkg', packages, duplicateLibraries: duplicateLibraries(packages), owners };
}
