import { APK_INSTALLED_PATH, APK_WORLD_PATH, readApkDatabase } from '../packages/apk/installed-database.js';
import { installedPackages } from '../packages/deb/installed-packages.js';
import { duplicateLibraries, type InstalledPackage } from '../packages/installed.js';
import { findRpmDatabase, readRpmDatabase, rpmDatabaseNotRead, rpmWalPath, RPM_SQLITE_FILES } from '../packages/rpm/rpm-database.js';

/** The package manager whose database an image holds. */
export type PackageManager = 'dpkg' | 'rpm' | 'apk';

const DPKG_STATUS = 'var/lib/dpkg/status';
const DPKG_LIST = /^var\/lib\/dpkg\/info\/([^/]+?)\.list$/;
const OTHER_FILES = new Set([...RPM_SQLITE_FILES, APK_INSTALLED_PATH, APK_WORLD_PATH]);

/**
 * Whether a file of a layer belongs to a package database (small files: read whole while the layer
 * streams by, since the layer is read once).
 */
export function isDatabaseFile(path: string): boolean {
  return path === DPKG_STATUS || DPKG_LIST.test(path) || OTHER_FILES.has(path);
}

export interface PackageDatabase {
  manager: PackageManager;
  packages: InstalledPackage[];
  duplicateLibraries: string[][];
  /** Path (relative, as the database names it) → owning package. */
  owners: Map<string, string>;
}

/** What the image's package database says, or why it could not be read (an rpm Berkeley DB). */
export type DatabaseReading = { database: PackageDatabase; note?: undefined } | { database?: undefined; note: string } | { database?: undefined; note?: undefined };

function dpkgOwners(paths: readonly string[], file: (path: string) => Buffer | undefined): Map<string, string> {
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
  return owners;
}

/**
 * Reads the package database the final filesystem shows: dpkg's status and file lists, rpm's sqlite
 * database (with its write-ahead log), or apk's installed database and world. `file(path)` gives a
 * database file's content as the final view has it; `paths` lists the ones it has; `exists` says
 * whether the view has a file (rpm's older backends, which are noted, not read).
 */
export async function readPackageDatabase(paths: readonly string[], file: (path: string) => Buffer | undefined, exists: (path: string) => boolean, where: string): Promise<DatabaseReading> {
  const found = (manager: PackageManager, packages: InstalledPackage[], owners: Map<string, string>): DatabaseReading => ({
    database: { manager, packages, duplicateLibraries: duplicateLibraries(packages), owners },
  });
  const status = file(DPKG_STATUS);
  if (status !== undefined) {
    return found('dpkg', installedPackages(status.toString('utf8'), `${where}: /${DPKG_STATUS}`), dpkgOwners(paths, file));
  }
  const rpm = findRpmDatabase(exists);
  if (rpm?.backend === 'sqlite') {
    const bytes = file(rpm.path);
    if (bytes === undefined) return { note: `rpm database /${rpm.path} not read: it is a hardlink to a file by another name` };
    const { packages, owners } = await readRpmDatabase(bytes, `${where}: /${rpm.path}`, file(rpmWalPath(rpm.path)));
    return found('rpm', packages, owners);
  }
  if (rpm) return { note: rpmDatabaseNotRead(rpm) };
  const apk = file(APK_INSTALLED_PATH);
  if (apk !== undefined) {
    const { packages, owners } = readApkDatabase(apk.toString('utf8'), file(APK_WORLD_PATH)?.toString('utf8'), `${where}: /${APK_INSTALLED_PATH}`);
    return found('apk', packages, owners);
  }
  return {};
}
