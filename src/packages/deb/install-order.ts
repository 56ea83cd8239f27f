import type { Paragraph } from './control.js';
import { parseRelations, type RelationGroup } from './relation.js';

/** The order dpkg installs a package set in when the maintainer scripts run. */
export interface InstallOrder {
  /**
   * The Essential: yes packages and what they depend on: unpacked beforehand and then installed with
   * one `dpkg --install --force-depends` (their scripts may assume one another, as debootstrap and
   * mmdebstrap do it).
   */
  essential: string[];
  /**
   * The other packages, dependencies first, in groups for one `dpkg --install` each: a new group
   * starts whenever a package pre-depends on one of the current group, which must be configured first.
   */
  batches: string[][];
}

/** Orders a resolved package set (names unique) for installation; the input order breaks ties. */
export function installOrder(packages: { name: string; control: Paragraph }[]): InstallOrder {
  const byName = new Map(packages.map((p) => [p.name, p]));
  const providers = new Map<string, string[]>();
  for (const p of packages) {
    for (const [r] of parseRelations(p.control.get('Provides'), `${p.name} Provides`)) {
      if (r) providers.set(r.name, [...(providers.get(r.name) ?? []), p.name]);
    }
  }
  // The first alternative the set satisfies, as the resolver chose it.
  const satisfier = (group: RelationGroup): string | undefined => {
    for (const r of group) {
      if (byName.has(r.name)) return r.name;
      const provided = providers.get(r.name);
      if (provided?.length) return provided[0];
    }
    return undefined;
  };
  const targets = (name: string, field: 'Depends' | 'Pre-Depends'): string[] =>
    parseRelations(byName.get(name)!.control.get(field), `${name} ${field}`)
      .map(satisfier)
      .filter((n): n is string => n !== undefined && n !== name);
  const dependencies = (name: string) => [...targets(name, 'Pre-Depends'), ...targets(name, 'Depends')];

  const essential = new Set<string>();
  const pending = packages.filter((p) => p.control.get('Essential') === 'yes').map((p) => p.name);
  while (pending.length) {
    const name = pending.pop()!;
    if (essential.has(name)) continue;
    essential.add(name);
    pending.push(...dependencies(name));
  }

  // Depth-first, dependencies before dependents; a cycle is cut where it closes (dpkg copes with those).
  const ordered: string[] = [];
  const seen = new Set<string>(essential);
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    for (const dep of dependencies(name)) visit(dep);
    ordered.push(name);
  };
  for (const p of packages) visit(p.name);

  const batches: string[][] = [];
  let current: string[] = [];
  for (const name of ordered) {
    if (targets(name, 'Pre-Depends').some((dep) => current.includes(dep))) {
      batches.push(current);
      current = [];
    }
    current.push(name);
  }
  if (current.length) batches.push(current);
  return { essential: packages.map((p) => p.name).filter((n) => essential.has(n)), batches };
}
