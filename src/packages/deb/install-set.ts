import type { SourcedEntry } from '../../entries/entry-set.js';
import { normalizeEntryPath, normalizeLinkTarget } from '../../entries/path.js';
import { UserError } from '../../errors.js';
import type { UnpackedPackage as Unpacked } from '../ecosystem.js';
import { mergePackageEntries as mergeFiles, type PackageFiles } from '../file-conflicts.js';
import { parseControlFile, type UnpackedPackage } from './dpkg-database.js';
import type { LockedPackage } from './lockfile.js';
import { mergedPath } from './merged-usr.js';
import { parseRelations } from './relation.js';

/** A .deb as errors and progress name it. */
export function debDisplayName(pkg: Pick<LockedPackage, 'name' | 'version' | 'architecture'>): string {
  return `${pkg.name}_${pkg.version}_${pkg.architecture}.deb`;
}

/** A package and whose files it may take over (its Replaces). */
export interface DebPackage {
  locked: LockedPackage;
  replaces: Set<string>;
}

/**
 * The unpacked packages as an install: each package's entries moved onto the merged-/usr layout (what
 * dpkg would see through the /bin → usr/bin links), and what dpkg records of it (the paths as packaged,
 * md5s, control files, the archive's priority and section).
 */
export function installSet(packages: readonly LockedPackage[], debs: readonly Unpacked[], usrDirs: readonly string[]): { unpacked: PackageFiles<DebPackage>[]; installed: UnpackedPackage[] } {
  const unpacked: PackageFiles<DebPackage>[] = [];
  const installed: UnpackedPackage[] = [];
  for (const [index, pkg] of packages.entries()) {
    const where = debDisplayName(pkg);
    const deb = debs[index]!;
    const files: string[] = ['/.'];
    const md5 = new Map<string, string>();
    const entries: SourcedEntry[] = [];
    for (const entry of deb.entries) {
      const packaged = normalizeEntryPath(entry.path);
      if (packaged === '') continue;
      files.push(`/${packaged}`);
      const hash = deb.digests.get(entry.path);
      if (hash) md5.set(`/${packaged}`, hash);
      const moved: SourcedEntry = { ...entry, path: mergedPath(packaged, usrDirs, entry.type === 'directory' ? 'directory' : 'other'), origin: `${where}: ${entry.origin}` };
      if (entry.type === 'hardlink') moved.linkname = mergedPath(normalizeLinkTarget(entry.linkname ?? ''), usrDirs);
      entries.push(moved);
    }
    const control = parseControlFile(deb.meta.get('control')!, where);
    const replaces = new Set(parseRelations(control.get('Replaces'), `${where} Replaces`).flat().map((r) => r.name));
    unpacked.push({ pkg: { locked: pkg, replaces }, entries });
    const overrides: { priority?: string; section?: string } = {};
    if (pkg.priority) overrides.priority = pkg.priority;
    if (pkg.section) overrides.section = pkg.section;
    installed.push({ control, controlFiles: deb.meta, files, md5, overrides });
  }
  return { unpacked, installed };
}

/**
 * Merges the packages' entries as dpkg unpacking them one after another would: a file shipped twice is
 * an error unless the later package declares Replaces on the earlier one.
 */
export function mergePackageEntries(unpacked: readonly PackageFiles<DebPackage>[]): SourcedEntry[] {
  return mergeFiles(unpacked, (path, earlier, later) => {
    if (!later.pkg.replaces.has(earlier.pkg.locked.name)) {
      throw new UserError(`/${path} is shipped by both ${earlier.pkg.locked.name} and ${later.pkg.locked.name}, and ${later.pkg.locked.name} does not declare Replaces: ${earlier.pkg.locked.name}`);
    }
    return 'replace';
  });
}
