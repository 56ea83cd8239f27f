import type { DebPackage } from './package.js';
import { parseRelations, type Relation } from './relation.js';
import { compareVersions, satisfiesVersion } from './version.js';
import type { Repository } from './repository.js';
import { editDistance } from '../edit-distance.js';

/** A package that satisfies a relation, directly or through a (possibly versioned) Provides. */
export interface Provider {
  pkg: DebPackage;
  /** The version the relation sees: the package's own, or the one its Provides gives (if any). */
  version?: string;
  virtual: boolean;
}

/**
 * Every package the image's repositories offer for one architecture (and `all`), with apt's candidate
 * rule: the highest version of a name wins, whichever suite it is in (all suites have the same pin).
 */
export class PackageUniverse {
  private readonly byName = new Map<string, DebPackage[]>();
  private readonly provided = new Map<string, { pkg: DebPackage; version?: string }[]>();

  constructor(repositories: Repository[], readonly arch: string) {
    for (const repo of repositories) {
      for (const pkg of repo.packages) {
        if (pkg.architecture !== arch && pkg.architecture !== 'all') continue;
        const list = this.byName.get(pkg.name);
        if (list) list.push(pkg);
        else this.byName.set(pkg.name, [pkg]);
      }
    }
    for (const list of this.byName.values()) list.sort((a, b) => compareVersions(b.version, a.version));
  }

  /** Provides are indexed on first use: reading them parses every package's paragraph. */
  private providesIndex(): Map<string, { pkg: DebPackage; version?: string }[]> {
    if (this.provided.size === 0) {
      for (const list of this.byName.values()) {
        const pkg = list[0]!; // only candidates provide
        const field = pkg.quickField('Provides');
        if (!field) continue;
        for (const p of parseRelations(field, `${pkg.name} Provides`).flat()) {
          const entry = p.op === '=' && p.version ? { pkg, version: p.version } : { pkg };
          const providers = this.provided.get(p.name);
          if (providers) providers.push(entry);
          else this.provided.set(p.name, [entry]);
        }
      }
    }
    return this.provided;
  }

  /** The version apt would install for a name. */
  candidate(name: string): DebPackage | undefined {
    return this.byName.get(name)?.[0];
  }

  /** All versions of a name, newest first. */
  versions(name: string): DebPackage[] {
    return this.byName.get(name) ?? [];
  }

  has(name: string): boolean {
    return this.byName.has(name) || this.providesIndex().has(name);
  }

  names(): IterableIterator<string> {
    return this.byName.keys();
  }

  /** Candidates that satisfy a relation: the real package if its candidate fits, then providers. */
  satisfiers(rel: Relation): Provider[] {
    const out: Provider[] = [];
    const real = this.candidate(rel.name);
    if (real && (!rel.op || satisfiesVersion(real.version, rel.op, rel.version!))) out.push({ pkg: real, version: real.version, virtual: false });
    for (const p of this.providesIndex().get(rel.name) ?? []) {
      // A versioned relation is only satisfied by a versioned Provides (policy §7.5).
      if (rel.op && (p.version === undefined || !satisfiesVersion(p.version, rel.op, rel.version!))) continue;
      out.push(p.version === undefined ? { pkg: p.pkg, virtual: true } : { pkg: p.pkg, version: p.version, virtual: true });
    }
    return out;
  }

  /** Package names close to `name`, for "did you mean" in errors. */
  nearNames(name: string, max = 5): string[] {
    const scored: [number, string][] = [];
    for (const candidate of this.byName.keys()) {
      if (Math.abs(candidate.length - name.length) > 3) continue;
      const d = editDistance(name, candidate, 3);
      if (d <= 3) scored.push([d, candidate]);
    }
    return scored.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1)).slice(0, max).map((s) => s[1]);
  }
}
