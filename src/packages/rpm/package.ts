import { formatEvr, type Evr, type RpmFlags } from './version.js';

/** One dependency entry of primary.xml (`<rpm:entry name flags epoch ver rel pre>`). */
export interface RpmDependency {
  /** A name, a file path, or a rich dependency in parentheses. */
  name: string;
  flags?: RpmFlags | undefined;
  epoch?: number | undefined;
  version?: string | undefined;
  release?: string | undefined;
  /** A requirement of an install scriptlet (Requires(pre) and the like): installed first. */
  pre?: boolean | undefined;
}

/** The repository a package came from, with dnf's choice settings. */
export interface RpmRepository {
  id: string;
  /** dnf's priority: a lower number wins for a package name (default 99). */
  priority: number;
  /** dnf's cost: among equal versions the cheaper repository's copy is taken (default 1000). */
  cost: number;
  /** The base URL packages' hrefs are relative to. */
  baseUrl?: string | undefined;
}

export interface RpmChecksum {
  algorithm: string;
  hex: string;
}

export interface RpmPackage {
  name: string;
  epoch: number;
  version: string;
  release: string;
  arch: string;
  summary: string;
  location: { href: string; base?: string | undefined };
  checksum: RpmChecksum;
  size: { package: number; installed: number; archive: number };
  headerRange: { start: number; end: number };
  sourcerpm: string;
  license: string;
  group: string;
  buildtime: number;
  provides: RpmDependency[];
  requires: RpmDependency[];
  conflicts: RpmDependency[];
  obsoletes: RpmDependency[];
  recommends: RpmDependency[];
  suggests: RpmDependency[];
  supplements: RpmDependency[];
  enhances: RpmDependency[];
  /** The files primary.xml lists (/etc, bin folders), plus those filelists.xml added for file requires. */
  files: string[];
  repository: RpmRepository;
}

/** The relation kinds a package carries, in primary.xml's element names without `rpm:`. */
export const RELATION_KINDS = ['provides', 'requires', 'conflicts', 'obsoletes', 'recommends', 'suggests', 'supplements', 'enhances'] as const;
export type RelationKind = (typeof RELATION_KINDS)[number];

export function evrOf(pkg: RpmPackage): Evr {
  return { epoch: pkg.epoch, version: pkg.version, release: pkg.release };
}

/** `name-[epoch:]version-release.arch`, as dnf prints a package. */
export function nevra(pkg: RpmPackage): string {
  return `${pkg.name}-${formatEvr(evrOf(pkg))}.${pkg.arch}`;
}

/** `name-epoch:version-release.arch` with the epoch always written (dnf's str of a transaction item). */
export function fullNevra(pkg: RpmPackage): string {
  return `${pkg.name}-${pkg.epoch}:${pkg.version}-${pkg.release}.${pkg.arch}`;
}

/** A dependency as rpm prints it: `name >= 1:2-3`. */
export function formatDependency(dep: RpmDependency): string {
  if (!dep.flags || dep.version === undefined) return dep.name;
  const op = { EQ: '=', LT: '<', GT: '>', LE: '<=', GE: '>=' }[dep.flags];
  return `${dep.name} ${op} ${formatEvr({ epoch: dep.epoch, version: dep.version, release: dep.release })}`;
}

/**
 * Shares equal strings (names, versions, dependency names repeat across thousands of packages) so a large
 * primary costs one copy of each; also keeps parsed strings from pinning the parser's chunk buffers.
 */
export class StringPool {
  private readonly strings = new Map<string, string>();

  intern(s: string): string {
    const known = this.strings.get(s);
    if (known !== undefined) return known;
    // Flatten: a sliced string may keep its whole parent chunk alive.
    const own = s.length > 0 ? (' ' + s).slice(1) : s;
    this.strings.set(own, own);
    return own;
  }
}
