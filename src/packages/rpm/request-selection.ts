import { evrOf, type RpmDependency } from './package.js';
import { isRich, richAlternatives, richPackages } from './rich-dependency.js';
import { globToRegExp, isGlob, type RpmUniverse } from './universe.js';
import { compareEvr, parseEvr, type RpmFlags } from './version.js';

/*
 * What packages a request on dnf's command line names (dnf's Subject and _get_best_selectors, in
 * libdnf's python/hawkey and dnf/base.py), as candidate sets of install jobs.
 */

/**
 * The packages a request names, as dnf's Subject finds them: the first of the forms NEVRA, NA, NAME,
 * NEVR, NEV that matches, else provides, else files. Returns the candidate sets of its install jobs: one
 * set, or with a glob one per matching name (dnf's _get_best_selectors). A bare name also offers the
 * packages obsoleting its latest versions.
 */
export function selectRequest(u: RpmUniverse, spec: string): number[][] | undefined {
  const names = (pattern: string): number[] => {
    if (!isGlob(pattern)) return [...u.byName(pattern)];
    const re = globToRegExp(pattern);
    return [...u.allNames()].filter((n) => re.test(n)).flatMap((n) => [...u.byName(n)]);
  };
  const archOk = (a: string) => a === 'noarch' || u.archOrder.includes(a) || isGlob(a);
  const archMatch = (a: string, want: string) => (isGlob(want) ? globToRegExp(want).test(a) : a === want);
  const withEvr = (name: string, evrText: string, arch?: string) => {
    const want = parseEvr(evrText);
    const v = isGlob(want.version) ? globToRegExp(want.version) : undefined;
    const r = want.release !== undefined && isGlob(want.release) ? globToRegExp(want.release) : undefined;
    return names(name).filter((id) => {
      const p = u.pkg(id);
      if (arch !== undefined && !archMatch(p.arch, arch)) return false;
      if (want.epoch !== undefined && want.epoch !== p.epoch) return false;
      if (v ? !v.test(p.version) : p.version !== want.version) return false;
      return want.release === undefined || (r ? r.test(p.release) : p.release === want.release);
    });
  };
  const dot = spec.lastIndexOf('.');
  const arch = dot > 0 ? spec.slice(dot + 1) : undefined;
  const forms: { justName: boolean; find: () => number[] }[] = [];
  if (arch !== undefined && archOk(arch)) {
    const nevr = spec.slice(0, dot);
    forms.push({ justName: false, find: () => splitNevr(nevr).flatMap(([n, evr]) => withEvr(n, evr, arch)) });
    forms.push({ justName: false, find: () => names(nevr).filter((id) => archMatch(u.pkg(id).arch, arch)) });
  }
  forms.push({ justName: true, find: () => names(spec) });
  forms.push({ justName: false, find: () => splitNevr(spec).flatMap(([n, evr]) => withEvr(n, evr)) });
  for (const form of forms) {
    const ids = [...new Set(form.find())].sort((a, b) => a - b);
    if (ids.length === 0) continue;
    const obsoleters = (set: number[]) => (form.justName ? obsoletersOfLatest(u, set) : []);
    if (isGlob(spec) && !spec.startsWith('/') && !spec.startsWith('*/')) {
      const byName = new Map<string, number[]>();
      for (const id of ids) push(byName, u.pkg(id).name, id);
      return [...byName.values()].map((set) => sortedUnique([...set, ...obsoleters(set)]));
    }
    return [sortedUnique([...ids, ...obsoleters(ids)])];
  }
  if (isRich(spec)) {
    // A boolean dependency as a request: its packages as one job (libsolv takes it as a complex provides job).
    const rich = u.tryRich(spec);
    const ids = rich ? sortedUnique(richPackages(richAlternatives(rich), { providers: (d) => u.whatProvides(d), installed: () => false })) : [];
    return ids.length ? [ids] : undefined;
  }
  const m = /^(\S+)\s*(<=|>=|=|<|>)\s*(\S+)$/.exec(spec);
  const dep: RpmDependency = m ? { name: m[1]!, flags: OPS[m[2]!]!, ...parseEvr(m[3]!) } : { name: spec };
  let provided: number[];
  if (isGlob(dep.name) && !m) {
    const re = globToRegExp(dep.name);
    provided = sortedUnique(u.provideNames().filter((n) => re.test(n)).flatMap((n) => [...u.whatProvides({ name: n })]));
    if (provided.length === 0 || spec.startsWith('/') || spec.startsWith('*/')) return provided.length ? [provided] : undefined;
    const byName = new Map<string, number[]>();
    for (const id of provided) push(byName, u.pkg(id).name, id);
    return [...byName.values()];
  }
  provided = [...u.whatProvides(dep)];
  return provided.length > 0 ? [provided] : undefined;
}

/** Packages obsoleting the latest version (per architecture) of the given ones, as dnf offers them for a name. */
export function obsoletersOfLatest(u: RpmUniverse, ids: readonly number[]): number[] {
  const latest = new Map<string, number>();
  for (const id of ids) {
    const key = u.pkg(id).arch;
    const known = latest.get(key);
    if (known === undefined || compareEvr(evrOf(u.pkg(known)), evrOf(u.pkg(id))) < 0) latest.set(key, id);
  }
  const out: number[] = [];
  for (const id of latest.values()) {
    for (const o of u.obsoletesOf(u.pkg(id).name)) if (u.matchesNevr(id, o.dep)) out.push(o.pkg);
  }
  return out;
}

const OPS: Record<string, RpmFlags> = { '=': 'EQ', '<': 'LT', '>': 'GT', '<=': 'LE', '>=': 'GE' };

/** The (name, evr) readings of `name-[epoch:]version[-release]`: NEVR first, then NEV. */
function splitNevr(text: string): [string, string][] {
  const out: [string, string][] = [];
  const last = text.lastIndexOf('-');
  if (last > 0) {
    const before = text.lastIndexOf('-', last - 1);
    if (before > 0) out.push([text.slice(0, before), text.slice(before + 1)]);
    out.push([text.slice(0, last), text.slice(last + 1)]);
  }
  return out;
}

function sortedUnique(ids: number[]): number[] {
  return [...new Set(ids)].sort((a, b) => a - b);
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
