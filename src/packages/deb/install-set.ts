import type { SourcedEntry } from '../../entries/entry-set.js';
import { normalizeEntryPath, normalizeLinkTarget } from '../../entries/path.js';
import { UserError } from '../../errors.js';
import { parseControlFile, type UnpackedPackage } from './dpkg-database.js';
import type { LockedPackage } from './lockfile.js';
import { mergedPath } from './merged-usr.js';
import { parseRelations } from './relation.js';
import { debDisplayName } from './unpack.js';
import type { UnpackedDeb } from './unpacked-cache.js';

/** One package's files as the image will hold them, and whose files it may take over. */
export interface PackageFiles {
  pkg: LockedPackage;
  replaces: Set<string>;
  entries: SourcedEntry[];
}

/**
 * The unpacked packages as an install: each package's entries moved onto the merged-/usr layout (what
 * dpkg would see through the /bin → usr/bin links), and what dpkg records of it (the paths as packaged,
 * md5s, control files, the archive's priority and section).
 */
export function installSet(packages: readonly LockedPackage[], debs: readonly UnpackedDeb[], usrDirs: readonly string[]): { unpacked: PackageFiles[]; installed: UnpackedPackage[] } {
  const unpacked: PackageFiles[] = [];
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
      const hash = deb.md5.get(entry.path);
      if (hash) md5.set(`/${packaged}`, hash);
      const moved: SourcedEntry = { ...entry, path: mergedPath(packaged, usrDirs, entry.type === 'directory' ? 'directory' : 'other'), origin: `${where}: ${entry.origin}` };
      if (entry.type === 'hardlink') moved.linkname = mergedPath(normalizeLinkTarget(entry.linkname ?? ''), usrDirs);
      entries.push(moved);
    }
    const control = parseControlFile(deb.control.get('control')!, where);
    const replaces = new Set(parseRelations(control.get('Replaces'), `${where} Replaces`).flat().map((r) => r.name));
    unpacked.push({ pkg, replaces, entries });
    const overrides: { priority?: string; section?: string } = {};
    if (pkg.priority) overrides.priority = pkg.priority;
    if (pkg.section) overrides.section = pkg.section;
    installed.push({ control, controlFiles: deb.control, files, md5, overrides });
  }
  return { unpacked, installed };
}

/**
 * Merges the packages' entries the way unpacking them one after another would: directories shared by
 * packages are kept once (first wins, as dpkg keeps an existing directory), a file shipped twice is an
 * error unless the later package declares Replaces on the earlier one.
 */
export function mergePackageEntries(unpacked: readonly PackageFiles[]): SourcedEntry[] {
  const byPath = new Map<string, { entry: SourcedEntry; pkg: LockedPackage }>();
  for (const { pkg, replaces: replaced, entries } of unpacked) {
    for (const entry of entries) {
      const existing = byPath.get(entry.path);
      if (!existing) {
        byPath.set(entry.path, { entry, pkg });
        continue;
      }
      if (existing.entry.type === 'directory' && entry.type === 'directory') continue;
      if (existing.entry.type === 'symlink' && entry.type === 'symlink' && existing.entry.linkname === entry.linkname) continue;
      const replaces = replaced.has(existing.pkg.name);
      if (!replaces) throw new UserError(`/${entry.path} is shipped by both ${existing.pkg.name} and ${pkg.name}, and ${pkg.name} does not declare Replaces: ${existing.pkg.name}`);
      byPath.set(entry.path, { entry, pkg });
    }
  }
  return [...byPath.values()].map((v) => v.entry);
}
