/** A package as an image's package database (dpkg, rpm, apk) records it. */
export interface InstalledPackage {
  name: string;
  /** As the package manager prints it: dpkg's Version, rpm's `[EPOCH:]VERSION-RELEASE`, apk's V. */
  version: string;
  architecture: string;
  /** What the package takes on disk once installed, in bytes, as its database records it. */
  installedBytes: number;
  /**
   * Why it is there: a reason of its own (`essential`, `required`, `top-level`...) or the shortest chain of
   * dependencies from such a package, ending with this one (`['curl', 'libcurl4', 'libssl3']`).
   */
  why: string[];
}

/** The packages no other installed package depends on. */
export function notDependedOn(names: Iterable<string>, deps: ReadonlyMap<string, readonly string[]>): string[] {
  const dependedOn = new Set([...deps.values()].flat());
  return [...names].filter((n) => !dependedOn.has(n));
}

/**
 * Why each package is installed: the seeds carry their own reason, every other package the shortest chain
 * of dependencies from a seed (breadth-first, so seeds listed first win ties). Packages no seed reaches get
 * `[unreached]`.
 *
 * @param names every installed package, in the order the result should list them
 * @param deps each package's installed dependencies (package names, resolved by the caller)
 * @param seeds [package, reason] in order of precedence; a package seeded twice keeps its first reason
 */
export function dependencyChains(
  names: readonly string[],
  deps: ReadonlyMap<string, readonly string[]>,
  seeds: Iterable<readonly [string, string]>,
  unreached: string,
): Map<string, string[]> {
  const why = new Map<string, string[]>();
  const seeded = new Set<string>();
  const queue: string[] = [];
  for (const [name, reason] of seeds) {
    if (why.has(name)) continue;
    why.set(name, [reason]);
    seeded.add(name);
    queue.push(name);
  }
  for (let i = 0; i < queue.length; i++) {
    const from = queue[i]!;
    for (const dep of deps.get(from) ?? []) {
      if (why.has(dep)) continue;
      // A seed's chain starts with the seed itself, not with its reason.
      why.set(dep, [...(seeded.has(from) ? [from] : why.get(from)!), dep]);
      queue.push(dep);
    }
  }
  return new Map(names.map((n) => [n, why.get(n) ?? [unreached]]));
}

/**
 * Shared-library packages installed in several versions (libssl1.1 and libssl3, libncurses5 and
 * libncurses6): the same name up to its soname number. Debian's and Alpine's names follow that
 * pattern; RPM distributions mostly name library packages otherwise (openssl-libs, compat-openssl11).
 */
export function duplicateLibraries(packages: readonly InstalledPackage[]): string[][] {
  const stems = new Map<string, string[]>();
  for (const p of packages) {
    const m = /^(lib.*?[a-z+-])(\d[\d.]*[a-z]?)(t64)?(-\d+)?$/.exec(p.name);
    if (!m || p.name.endsWith('-dev')) continue;
    stems.set(m[1]!, [...(stems.get(m[1]!) ?? []), p.name]);
  }
  return [...stems.values()].filter((names) => names.length > 1).map((names) => names.sort());
}
