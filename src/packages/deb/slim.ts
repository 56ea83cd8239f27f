import { symlinkTarget } from '../../entries/path.js';
import { fileEntry } from '../../entries/synthetic.js';
import type { SourcedEntry } from '../../entries/entry-set.js';
import { planSlim, type PlanRecord } from '../../slim/plan.js';
import { classifyPath, dpkgSlimConfig, SLIM_CATEGORY_NAMES } from '../../slim/rules.js';

/**
 * Debian's -slim variant as categories of `fromscratch slim`'s table: debuerreotype's slimify list is
 * docs (with linda and lintian overrides), man pages (with groff), info and locales. One table, so that
 * a slim build leaves out exactly what `fromscratch slim` on the full image would take for these.
 */
export const DEBIAN_SLIM_CATEGORIES: readonly string[] = ['docs', 'man', 'info', 'locales'];

const KEPT: ReadonlySet<string> = new Set(SLIM_CATEGORY_NAMES.filter((name) => !DEBIAN_SLIM_CATEGORIES.includes(name)));

export interface SlimResult {
  entries: SourcedEntry[];
  /** Bytes of file content left out, per category. */
  saved: Map<string, number>;
}

/**
 * Leaves the slim categories out of a merged package set, as slim's plan decides for one layer: the
 * copyright files, locale.alias and the per-package doc links stay, with the names kept hardlinks
 * need; folders left empty go, except the man section folders (/usr/share/man/man1...), which stay
 * so that packages installing man-page alternatives later (openjdk, famously) find them.
 */
export function slimEntries(entries: readonly SourcedEntry[]): SlimResult {
  const records: PlanRecord[] = [];
  const hardlinks: { path: string; linkname: string }[] = [];
  // What a kept symlink points at stays (usr/share/doc/libgcc-s1 -> gcc-12-base), as slim keeps it.
  const protectedPaths = new Set<string>();
  entries.forEach((e, index) => {
    if (e.type === 'hardlink' && e.linkname !== undefined) hardlinks.push({ path: e.path, linkname: e.linkname });
    const c = classifyPath(e.path, e.type);
    if (!c) return;
    records.push({ index, path: e.path, type: e.type, size: e.size });
    if (e.type === 'symlink' && c.exception && e.linkname) {
      try {
        protectedPaths.add(symlinkTarget(e.path, e.linkname));
      } catch {
        // A link out of the root protects nothing in it.
      }
    }
  });
  const plan = planSlim({ layers: [{ records, whiteouts: [] }], hardlinks, keep: KEPT, protectedPaths });
  const dropped = plan.dropped[0]!;
  return { entries: entries.filter((_, index) => !dropped.has(index)), saved: plan.savedBytes };
}

/**
 * /etc/dpkg/dpkg.cfg.d/docker, the name Debian's own -slim images give it: the same categories kept
 * out of packages installed later in the image (and out of those dpkg installs during a scripted build).
 */
export function slimDpkgConfig(mtime: number): SourcedEntry {
  return { ...fileEntry('etc/dpkg/dpkg.cfg.d/docker', dpkgSlimConfig(KEPT)!, { mtime }), origin: 'slim (dpkg path-exclude)' };
}
