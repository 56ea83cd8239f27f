import { parseControl } from './control.js';
import { parseRelations } from './relation.js';

/** A package as the image's dpkg database records it. */
export interface InstalledPackage {
  name: string;
  version: string;
  architecture: string;
  /** dpkg's Installed-Size (KiB) in bytes. */
  installedBytes: number;
  /** Why it is there: `essential`, `required` (Priority), `top-level` (nothing depends on it), or the chain from a top-level package. */
  why: string[];
}

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
  const dependedOn = new Set([...deps.values()].flat());
  const why = new Map<string, string[]>();
  const queue: string[] = [];
  const seed = (name: string, reason: string) => {
    if (why.has(name)) return;
    why.set(name, [reason]);
    queue.push(name);
  };
  const names = [...byName.keys()].sort();
  for (const n of names) if (byName.get(n)!.get('Essential') === 'yes') seed(n, 'essential');
  for (const n of names) if (byName.get(n)!.get('Priority') === 'required') seed(n, 'required');
  for (const n of names) if (!dependedOn.has(n)) seed(n, 'top-level');
  // Breadth-first: each package gets the shortest chain from a seed.
  for (let i = 0; i < queue.length; i++) {
    const from = queue[i]!;
    for (const dep of deps.get(from) ?? []) {
      if (why.has(dep)) continue;
      const chain = why.get(from)!;
      why.set(dep, [...(chain.length === 1 && !byName.has(chain[0]!) ? [from] : chain), dep]);
      queue.push(dep);
    }
  }
  return names.map((name) => {
    const p = byName.get(name)!;
    return {
      name,
      version: p.get('Version') ?? '',
      architecture: p.get('Architecture') ?? '',
      installedBytes: Number(p.get('Installed-Size') ?? 0) * 1024,
      // Packages only reachable through a dependency cycle among themselves: say so rather than guess.
      why: why.get(name) ?? ['dependency cycle'],
    };
  });
}

/**
 * Shared-library packages installed in several versions (libssl1.1 and libssl3, libncurses5 and
 * libncurses6): the same name up to its soname number.
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
