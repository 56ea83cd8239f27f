import { UserError } from '../../errors.js';
import type { DebPackage } from './package.js';
import { formatRelation, type Relation, type RelationGroup } from './relation.js';
import type { PackageUniverse, Provider } from './universe.js';
import { satisfiesVersion } from './version.js';

/**
 * The package sets debootstrap and mmdebstrap start from: `essential` (Essential: yes), `required`
 * (Priority: required, which includes every essential package), `minbase` (required + apt, plus
 * usr-is-merged on bookworm, exactly as debootstrap's --variant=minbase), `none` (only what is asked).
 */
export const PRESETS = ['essential', 'required', 'minbase', 'none'] as const;
export type Preset = (typeof PRESETS)[number];

export interface ResolveOptions {
  preset: Preset;
  /** The release codename (bookworm, trixie...): debootstrap's presets differ by release. */
  codename?: string;
  /** Packages asked for: `name` or `name=version`. */
  include?: string[];
  /** Packages never installed (as debootstrap's --exclude): their dependencies are not followed either. */
  exclude?: string[];
  /** Follow Recommends too (off by default, as --no-install-recommends). */
  recommends?: boolean;
}

export interface Resolution {
  /** The packages to install, sorted by name. */
  packages: DebPackage[];
  /** Why each package is there: the chain from a request or the preset to it. */
  why: Map<string, string[]>;
  /** Relations left unsatisfied because their only choices were excluded. */
  skipped: string[];
}

/** Releases before the /usr merge was done by debootstrap itself (debootstrap's scripts/debian-common). */
const BEFORE_MERGED_USR = /^(etch|lenny|squeeze|wheezy|jessie|stretch|buster|bullseye)/;

/**
 * From bookworm on debootstrap never follows dependencies on the `usrmerge` migration package (the
 * image is merged from the start); on bookworm it installs the empty `usr-is-merged` marker instead.
 */
function presetExclusions(preset: Preset, codename: string | undefined): string[] {
  if (preset === 'none' || codename === undefined || BEFORE_MERGED_USR.test(codename)) return [];
  return ['usrmerge'];
}

export function presetSeeds(universe: PackageUniverse, preset: Preset, codename?: string): string[] {
  const seeds: string[] = [];
  if (preset === 'none') return seeds;
  for (const name of universe.names()) {
    const pkg = universe.candidate(name)!;
    if (preset === 'essential' ? pkg.essential : pkg.priority === 'required' || pkg.essential) seeds.push(name);
  }
  if (preset === 'minbase') {
    seeds.push('apt');
    if (codename === 'bookworm' && universe.candidate('usr-is-merged')) seeds.push('usr-is-merged');
  }
  return [...new Set(seeds)].sort();
}

const PRIORITY_RANK: Record<string, number> = { required: 0, important: 1, standard: 2, optional: 3, extra: 4 };

function formatGroup(group: RelationGroup): string {
  return group.map(formatRelation).join(' | ');
}

/**
 * Resolves a package set with Debian semantics, deterministically: Pre-Depends and Depends (and
 * Recommends on request) are followed breadth-first from the seeds. A group already satisfied by the set
 * (by name or by a Provides, respecting versions) adds nothing; otherwise the first alternative that can
 * be installed is chosen, as apt does: a real package whose candidate fits, else a provider of the
 * virtual name (the one with the highest Priority, then the first by name). Conflicts and Breaks among
 * the result are errors that show both packages' chains.
 */
export function resolve(universe: PackageUniverse, options: ResolveOptions): Resolution {
  const requested = new Set((options.include ?? []).map((spec) => spec.split('=')[0]!));
  const exclude = new Set([...(options.exclude ?? []), ...presetExclusions(options.preset, options.codename).filter((n) => !requested.has(n))]);
  const chosen = new Map<string, DebPackage>();
  const why = new Map<string, string[]>();
  const skipped: string[] = [];
  const queue: DebPackage[] = [];

  const add = (pkg: DebPackage, chain: string[]) => {
    if (chosen.has(pkg.name) || exclude.has(pkg.name)) return;
    chosen.set(pkg.name, pkg);
    why.set(pkg.name, chain);
    queue.push(pkg);
  };

  const request = (spec: string, reason: string) => {
    const [name, version] = spec.split('=', 2) as [string, string | undefined];
    const versions = universe.versions(name);
    if (versions.length === 0) {
      const providers = universe.satisfiers({ name });
      if (providers.length > 0) return add(pickProvider(providers), [reason, `${name} (virtual, provided by ${providers.map((p) => p.pkg.name).join(', ')})`]);
      const near = universe.nearNames(name);
      throw new UserError(`unknown package "${name}"${near.length ? `; did you mean ${near.join(', ')}?` : ''}`);
    }
    const pkg = version === undefined ? versions[0]! : versions.find((v) => v.version === version);
    if (!pkg) throw new UserError(`package "${name}" has no version ${version} (available: ${versions.map((v) => v.version).join(', ')})`);
    add(pkg, [reason]);
  };

  for (const name of presetSeeds(universe, options.preset, options.codename)) if (!exclude.has(name)) request(name, `preset ${options.preset}`);
  for (const spec of options.include ?? []) request(spec, 'requested');

  const satisfiedByChosen = (rel: Relation): boolean => {
    const real = chosen.get(rel.name);
    if (real && (!rel.op || satisfiesVersion(real.version, rel.op, rel.version!))) return true;
    return universe.satisfiers(rel).some((p) => p.virtual && chosen.get(p.pkg.name) === p.pkg);
  };

  const fields = ['Pre-Depends', 'Depends', ...(options.recommends ? (['Recommends'] as const) : [])] as const;
  while (queue.length > 0) {
    const pkg = queue.shift()!;
    for (const field of fields) {
      for (const group of pkg.relation(field)) {
        if (group.some(satisfiedByChosen)) continue;
        const chain = [...why.get(pkg.name)!, `${pkg.name} ${field}: ${formatGroup(group)}`];
        let pick: DebPackage | undefined;
        let excludedOnly = false;
        for (const rel of group) {
          const candidates = universe.satisfiers(rel).filter((p) => !exclude.has(p.pkg.name));
          if (candidates.length === 0) {
            excludedOnly ||= universe.satisfiers(rel).length > 0;
            continue;
          }
          pick = pickProvider(candidates);
          break;
        }
        if (pick) {
          add(pick, chain);
        } else if (field === 'Recommends' || excludedOnly) {
          if (field !== 'Recommends') skipped.push(`${pkg.name} ${field}: ${formatGroup(group)} (excluded)`);
        } else {
          throw new UserError(`cannot install ${pkg.name} ${pkg.version}: ${unsatisfiable(universe, group)}\n  because: ${chain.join('\n        → ')}`);
        }
      }
    }
  }

  checkConflicts(universe, chosen, why);
  const packages = [...chosen.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { packages, why, skipped };
}

function pickProvider(candidates: Provider[]): DebPackage {
  const real = candidates.find((c) => !c.virtual);
  if (real) return real.pkg;
  return [...candidates].sort(
    (a, b) => (PRIORITY_RANK[a.pkg.priority] ?? 5) - (PRIORITY_RANK[b.pkg.priority] ?? 5) || (a.pkg.name < b.pkg.name ? -1 : 1),
  )[0]!.pkg;
}

function unsatisfiable(universe: PackageUniverse, group: RelationGroup): string {
  const reasons = group.map((rel) => {
    const versions = universe.versions(rel.name);
    if (versions.length) return `${formatRelation(rel)} is not satisfiable (available: ${versions.map((v) => v.version).join(', ')})`;
    if (universe.has(rel.name)) return `${formatRelation(rel)} is not satisfiable by any provider`;
    return `${rel.name} is not in the repositories`;
  });
  return reasons.join('; ');
}

function checkConflicts(universe: PackageUniverse, chosen: Map<string, DebPackage>, why: Map<string, string[]>): void {
  for (const pkg of chosen.values()) {
    for (const field of ['Conflicts', 'Breaks'] as const) {
      for (const rel of pkg.relation(field).flat()) {
        const hits: DebPackage[] = [];
        const real = chosen.get(rel.name);
        if (real && real !== pkg && (!rel.op || satisfiesVersion(real.version, rel.op, rel.version!))) hits.push(real);
        // Conflicts with a virtual name hit its providers, except the package itself (policy §7.6.2).
        for (const p of universe.satisfiers(rel)) {
          if (p.virtual && p.pkg !== pkg && chosen.get(p.pkg.name) === p.pkg && !hits.includes(p.pkg)) hits.push(p.pkg);
        }
        for (const other of hits) {
          throw new UserError(
            `${pkg.name} ${pkg.version} ${field.toLowerCase()} with ${other.name} ${other.version} (${field}: ${formatRelation(rel)})\n` +
              `  ${pkg.name} is there because: ${why.get(pkg.name)!.join(' → ')}\n` +
              `  ${other.name} is there because: ${why.get(other.name)!.join(' → ')}`,
          );
        }
      }
    }
  }
}
