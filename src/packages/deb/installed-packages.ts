import { parseControl } from './control.js';
import { parseRelations } from './relation.js';
import { dependencyChains, notDependedOn, type InstalledPackage } from '../installed.js';

// Kept here for the callers that import them from the dpkg reader.
export { duplicateLibraries, type InstalledPackage } from '../installed.js';

/**
 * The installed packages of a dpkg status file, each with its size and the reason it is installed: the
 * shortest chain of Depends/Pre-Depends (alternatives and Provides resolved among the installed ones)
 * from a package nothing else depends on, or from the Essential/required base that debootstrap installs.
 */
export function installedPackages(status: string, where: string): InstalledPackage[] {
  const paragraphs = parseControl(status, { source: where }).filter((p) => /\binstalled$/.test(p.get('Status') ?? '') && p.get('Package'));
  const byName = new Map(paragraphs.map((p) => [p.get('Package')!, p]));
  const providers = new Map<string, string[]>();
  for (const p of paragraphs) {
    for (const [r] of parseRelations(p.get('Provides'), `${where}: ${p.get('Package')} Provides`)) {
      if (r) providers.set(r.name, [...(providers.get(r.name) ?? []), p.get('Package')!]);
    }
  }
  // Each package's installed dependencies: per group the first alternative present (or providing it).
  const deps = new Map<string, string[]>();
  for (const p of paragraphs) {
    const name = p.get('Package')!;
    const groups = [...parseRelations(p.get('Pre-Depends'), `${where}: ${name}`), ...parseRelations(p.get('Depends'), `${where}: ${name}`)];
    const out: string[] = [];
    for (const group of groups) {
      const found = group.map((r) => (byName.has(r.name) ? r.name : providers.get(r.name)?.[0])).find((n) => n !== undefined);
      if (found && found !== name) out.push(found);
    }
    deps.set(name, [...new Set(out)]);
  }
  const names = [...byName.keys()].sort();
  const seeds = [
    ...names.filter((n) => byName.get(n)!.get('Essential') === 'yes').map((n) => [n, 'essential'] as const),
    ...names.filter((n) => byName.get(n)!.get('Priority') === 'required').map((n) => [n, 'required'] as const),
    ...notDependedOn(names, deps).map((n) => [n, 'top-level'] as const),
  ];
  // Packages only reachable through a dependency cycle among themselves: say so rather than guess.
  const why = dependencyChains(names, deps, seeds, 'dependency cycle');
  return names.map((name) => {
    const p = byName.get(name)!;
    return {
      name,
      version: p.get('Version') ?? '',
      architecture: p.get('Architecture') ?? '',
      installedBytes: Number(p.get('Installed-Size') ?? 0) * 1024,
      why: why.get(name)!,
    };
  });
}
