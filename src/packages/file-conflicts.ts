import type { SourcedEntry } from '../entries/entry-set.js';

/** One package's files as the image will hold them. */
export interface PackageFiles<P> {
  pkg: P;
  entries: SourcedEntry[];
}

/**
 * What to do when a later package ships a path an earlier one already shipped and the two are not the
 * same folder or the same symlink: 'replace' (the later one wins), 'keep' (the earlier one stays), or
 * throw a UserError naming both (each ecosystem has its own rule: dpkg's Replaces, rpm's identical files).
 */
export type ConflictRule<P> = (path: string, earlier: { entry: SourcedEntry; pkg: P }, later: { entry: SourcedEntry; pkg: P }) => 'replace' | 'keep';

/**
 * Merges the packages' entries the way unpacking them one after another would: folders shared by
 * packages are kept once (the first wins, as package managers keep an existing folder), the same symlink
 * shipped twice is kept once, and any other path shipped twice is settled by the ecosystem's rule.
 */
export function mergePackageEntries<P>(unpacked: readonly PackageFiles<P>[], conflict: ConflictRule<P>): SourcedEntry[] {
  const byPath = new Map<string, { entry: SourcedEntry; pkg: P }>();
  for (const { pkg, entries } of unpacked) {
    for (const entry of entries) {
      const existing = byPath.get(entry.path);
      if (!existing) {
        byPath.set(entry.path, { entry, pkg });
        continue;
      }
      if (existing.entry.type === 'directory' && entry.type === 'directory') continue;
      if (existing.entry.type === 'symlink' && entry.type === 'symlink' && existing.entry.linkname === entry.linkname) continue;
      if (conflict(entry.path, existing, { entry, pkg }) === 'replace') byPath.set(entry.path, { entry, pkg });
    }
  }
  return [...byPath.values()].map((v) => v.entry);
}
