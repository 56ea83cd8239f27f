import type { Readable } from 'node:stream';
import { UserError } from '../../errors.js';
import { mergeComps, parseComps, type Comps } from './comps.js';
import { inPrimaryFileList, parseFilelists } from './filelists.js';
import { StringPool, evrOf, type RpmDependency, type RpmPackage, type RpmRepository } from './package.js';
import { parsePrimary } from './primary.js';
import { isRich, parseRichDependency, richAtoms, type RichDependency } from './rich-dependency.js';
import { rangesIntersect } from './version.js';
import { editDistance } from '../edit-distance.js';

/**
 * The architectures a machine installs, best first, as libsolv's pool_setarch lists them for rpm. Each is
 * its own "color": a candidate list is pruned to the best architecture present plus noarch, which makes
 * x86_64 win over i686 unless only i686 provides something (dnf's multilib_policy=best).
 */
const ARCH_POLICY: Record<string, string[]> = {
  x86_64: ['x86_64', 'i686', 'i586', 'i486', 'i386'],
  i686: ['i686', 'i586', 'i486', 'i386'],
  aarch64: ['aarch64'],
  ppc64le: ['ppc64le'],
  s390x: ['s390x'],
  riscv64: ['riscv64'],
  armv7hl: ['armv7hl', 'armv6hl', 'armv5tel'],
};

/** One repository's metadata, decompressed, as the repository reader hands it over. */
export interface RepositoryInput {
  repository: RpmRepository;
  primary: Readable;
  /** Names the primary in errors (its href). */
  primaryFile: string;
  /**
   * filelists.xml: a stream, or a function opening it, called only when some file requirement needs it
   * (so a caller can skip fetching it altogether).
   */
  filelists?: Readable | (() => Readable | Promise<Readable>) | undefined;
  filelistsFile?: string | undefined;
  comps?: Readable | undefined;
  compsFile?: string | undefined;
  /** The repository's excludepkgs: globs on names (or NEVRs) whose packages this repository does not offer. */
  exclude?: string[] | undefined;
  /** The repository's includepkgs: when given, only matching packages of this repository exist. */
  include?: string[] | undefined;
}

export interface UniverseOptions {
  /** The machine architecture (x86_64, aarch64...). */
  arch: string;
  /** dnf's excludepkgs: globs on names (or name-version forms); matching packages do not exist. */
  exclude?: string[];
  /** File paths that will be requested, so filelists keeps them too. */
  paths?: string[];
}

/** A dependency entry with its package (a provide, a conflict, an obsolete), indexed by name. */
export interface DependencyOf {
  pkg: number;
  dep: RpmDependency;
}
type ProvideEntry = DependencyOf;

/** Turns a dnf glob into a RegExp (`*`, `?`, `[...]`). */
export function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end > i) {
        out += `[${glob.slice(i + 1, end).replace(/\\/g, '\\\\')}]`;
        i = end;
      } else out += '\\[';
    } else out += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

export const isGlob = (s: string): boolean => /[*?[]/.test(s);

/**
 * Every installable package of the configured repositories, with the indexes resolution needs: by name,
 * by provided name and by file path. A package's id is its index in `packages` (the order repositories and
 * their primary.xml list them, as libsolv numbers solvables).
 */
export class RpmUniverse {
  readonly packages: RpmPackage[] = [];
  readonly arch: string;
  /** Architectures best first; noarch is not listed. */
  readonly archOrder: readonly string[];
  comps: Comps = { groups: [], environments: [], categories: [] };
  private readonly ids = new Map<RpmPackage, number>();
  private readonly names = new Map<string, number[]>();
  private readonly provides = new Map<string, ProvideEntry[]>();
  private readonly filePaths = new Map<string, number[]>();
  private readonly cache = new Map<string, number[]>();
  private readonly richCache = new Map<string, RichDependency>();
  private conflictIndex: Map<string, DependencyOf[]> | undefined;
  private requireIndex: Map<string, DependencyOf[]> | undefined;
  private obsoleteIndex: Map<string, DependencyOf[]> | undefined;
  /** Names dropped by excludepkgs, kept for messages. */
  readonly hidden = new Map<string, string>();

  constructor(arch: string) {
    const order = ARCH_POLICY[arch];
    if (!order) throw new UserError(`unsupported architecture "${arch}" (known: ${Object.keys(ARCH_POLICY).join(', ')})`);
    this.arch = arch;
    this.archOrder = order;
  }

  /**
   * Reads several repositories' primary (then filelists for the file requirements primary cannot answer,
   * then comps). The streams are consumed in dnf's repository order (see below).
   */
  static async load(unordered: RepositoryInput[], options: UniverseOptions): Promise<RpmUniverse> {
    const universe = new RpmUniverse(options.arch);
    // dnf loads repositories sorted by (priority, cost), stably: that order numbers the packages, and the
    // numbering orders libsolv's rules, which decides between otherwise equal choices.
    const inputs = [...unordered].sort((a, b) => a.repository.priority - b.repository.priority || a.repository.cost - b.repository.cost);
    const strings = new StringPool();
    const all: RpmPackage[] = [];
    for (const input of inputs) {
      const parsed = await parsePrimary(input.primary, { file: input.primaryFile, repository: input.repository, strings });
      const exclude = (input.exclude ?? []).map(globToRegExp);
      const include = input.include?.length ? input.include.map(globToRegExp) : undefined;
      for (const pkg of parsed) {
        const nevra = `${pkg.name}-${pkg.version}-${pkg.release}.${pkg.arch}`;
        const matches = (re: RegExp) => re.test(pkg.name) || re.test(nevra);
        if (exclude.some(matches) || (include && !include.some(matches))) {
          universe.hidden.set(pkg.name, `excluded by repository ${input.repository.id} (${include && !include.some(matches) ? 'includepkgs' : 'excludepkgs'})`);
          continue;
        }
        all.push(pkg);
      }
    }
    universe.add(all, options.exclude ?? []);
    const wanted = universe.wantedPaths(options.paths ?? []);
    for (const input of inputs) {
      if (!input.filelists) continue;
      if (wanted.size === 0) {
        if (typeof input.filelists !== 'function') input.filelists.destroy();
        continue;
      }
      const stream = typeof input.filelists === 'function' ? await input.filelists() : input.filelists;
      const found = await parseFilelists(stream, { file: input.filelistsFile ?? 'filelists.xml', wanted, strings });
      universe.addFiles(input.repository, found);
    }
    const comps: Comps[] = [];
    for (const input of inputs) if (input.comps) comps.push(await parseComps(input.comps, input.compsFile ?? 'comps.xml'));
    universe.comps = mergeComps(comps);
    return universe;
  }

  /** The architecture rank of a package: 0 best; noarch -1; undefined when this machine cannot install it. */
  archRank(arch: string): number | undefined {
    if (arch === 'noarch') return -1;
    const i = this.archOrder.indexOf(arch);
    return i < 0 ? undefined : i;
  }

  /**
   * Adds packages: drops other architectures, source packages and excludepkgs matches. Repository
   * priorities do not remove anything here: as in dnf, they act when choosing among candidates (libsolv's
   * prune_to_highest_prio), so a lower-priority package still serves when the better one cannot.
   */
  add(packages: RpmPackage[], exclude: string[]): void {
    const patterns = exclude.map(globToRegExp);
    for (const pkg of packages) {
      if (this.archRank(pkg.arch) === undefined) continue;
      const nevra = `${pkg.name}-${pkg.version}-${pkg.release}.${pkg.arch}`;
      if (patterns.some((re) => re.test(pkg.name) || re.test(nevra))) {
        this.hidden.set(pkg.name, 'excluded (excludepkgs)');
        continue;
      }
      const id = this.packages.length;
      this.packages.push(pkg);
      this.ids.set(pkg, id);
      push(this.names, pkg.name, id);
      for (const dep of pkg.provides) push(this.provides, dep.name, { pkg: id, dep });
      for (const f of pkg.files) push(this.filePaths, f, id);
    }
    this.cache.clear();
    this.conflictIndex = this.obsoleteIndex = this.requireIndex = undefined;
  }

  private addFiles(repository: RpmRepository, found: Map<string, string[]>): void {
    for (const [id, pkg] of this.packages.entries()) {
      if (pkg.repository !== repository) continue;
      const files = found.get(pkg.checksum.hex);
      if (!files) continue;
      for (const f of files) {
        if (pkg.files.includes(f)) continue;
        pkg.files.push(f);
        push(this.filePaths, f, id);
      }
    }
    this.cache.clear();
  }

  /** File paths some relation names that primary's lists cannot answer, plus requested ones. */
  private wantedPaths(extra: string[]): Set<string> {
    const wanted = new Set<string>();
    const note = (dep: RpmDependency) => {
      if (dep.name.startsWith('/') && !inPrimaryFileList(dep.name)) wanted.add(dep.name);
    };
    for (const pkg of this.packages) {
      for (const list of [pkg.requires, pkg.conflicts, pkg.obsoletes, pkg.recommends, pkg.supplements, pkg.suggests, pkg.enhances]) {
        for (const dep of list) {
          if (isRich(dep.name)) {
            const rich = this.tryRich(dep.name);
            if (rich) richAtoms(rich).forEach(note);
          } else note(dep);
        }
      }
    }
    for (const p of extra) if (p.startsWith('/') && !inPrimaryFileList(p)) wanted.add(p);
    return wanted;
  }

  id(pkg: RpmPackage): number {
    const id = this.ids.get(pkg);
    if (id === undefined) throw new Error(`package ${pkg.name} is not in this universe`);
    return id;
  }

  pkg(id: number): RpmPackage {
    return this.packages[id]!;
  }

  /** Package ids with this exact name. */
  byName(name: string): readonly number[] {
    return this.names.get(name) ?? [];
  }

  /** Every provided name (for glob requests). */
  provideNames(): string[] {
    return [...this.provides.keys()];
  }

  allNames(): IterableIterator<string> {
    return this.names.keys();
  }

  /** Whether anything provides this name at all (a package, a provide, a file). */
  known(name: string): boolean {
    return this.names.has(name) || this.provides.has(name) || this.filePaths.has(name);
  }

  /** A rich dependency parsed once, or undefined when malformed. */
  tryRich(text: string): RichDependency | undefined {
    let rich = this.richCache.get(text);
    if (!rich) {
      try {
        rich = parseRichDependency(text);
      } catch {
        return undefined;
      }
      this.richCache.set(text, rich);
    }
    return rich;
  }

  rich(text: string): RichDependency {
    const rich = this.tryRich(text);
    if (!rich) parseRichDependency(text); // throws the UserError
    return rich!;
  }

  /**
   * The ids of the packages satisfying a simple dependency, ascending: provides of the name whose range
   * meets the requirement's (an unversioned provide meets any, as in rpm), and for a path the packages
   * holding that file.
   */
  whatProvides(dep: RpmDependency): readonly number[] {
    const key = dep.flags ? `${dep.name}\0${dep.flags}\0${dep.epoch ?? ''}\0${dep.version ?? ''}\0${dep.release ?? ''}` : dep.name;
    const cached = this.cache.get(key);
    if (cached) return cached;
    const out = new Set<number>();
    for (const entry of this.provides.get(dep.name) ?? []) {
      if (!dep.flags || dep.version === undefined || !entry.dep.flags || entry.dep.version === undefined) out.add(entry.pkg);
      else if (rangesIntersect(entry.dep.flags, { epoch: entry.dep.epoch, version: entry.dep.version, release: entry.dep.release }, dep.flags, { epoch: dep.epoch, version: dep.version, release: dep.release })) out.add(entry.pkg);
    }
    if (dep.name.startsWith('/') && !dep.flags) for (const id of this.filePaths.get(dep.name) ?? []) out.add(id);
    const result = [...out].sort((a, b) => a - b);
    this.cache.set(key, result);
    return result;
  }

  /** The packages requiring a name (simple Requires only), built on first use. */
  requirersOf(name: string): readonly DependencyOf[] {
    this.requireIndex ??= this.index('requires');
    return this.requireIndex.get(name) ?? [];
  }

  /** The packages conflicting with a name (simple Conflicts only), built on first use. */
  conflictsOn(name: string): readonly DependencyOf[] {
    this.conflictIndex ??= this.index('conflicts');
    return this.conflictIndex.get(name) ?? [];
  }

  /** The packages obsoleting a name (simple Obsoletes only), built on first use. */
  obsoletesOf(name: string): readonly DependencyOf[] {
    this.obsoleteIndex ??= this.index('obsoletes');
    return this.obsoleteIndex.get(name) ?? [];
  }

  private index(kind: 'conflicts' | 'obsoletes' | 'requires'): Map<string, DependencyOf[]> {
    const map = new Map<string, DependencyOf[]>();
    for (const [id, pkg] of this.packages.entries()) {
      for (const dep of pkg[kind]) if (!isRich(dep.name) && !(kind === 'requires' && dep.name.startsWith('rpmlib('))) push(map, dep.name, { pkg: id, dep });
    }
    return map;
  }

  /** Whether a package's own name and EVR match a dependency (how obsoletes select packages in rpm). */
  matchesNevr(id: number, dep: RpmDependency): boolean {
    const pkg = this.pkg(id);
    if (pkg.name !== dep.name) return false;
    if (!dep.flags || dep.version === undefined) return true;
    return rangesIntersect('EQ', evrOf(pkg), dep.flags, { epoch: dep.epoch, version: dep.version, release: dep.release });
  }

  /** Names close to a misspelt one, best first (for "did you mean"). */
  nearNames(name: string, limit = 5): string[] {
    const scored: [number, string][] = [];
    const lower = name.toLowerCase();
    for (const n of this.names.keys()) {
      const d = editDistance(lower, n.toLowerCase(), 3);
      const related = n.toLowerCase().includes(lower) || lower.includes(n.toLowerCase());
      if (d <= Math.max(2, Math.floor(name.length / 4))) scored.push([d, n]);
      else if (related && Math.abs(n.length - name.length) <= 8) scored.push([3 + Math.abs(n.length - name.length), n]);
    }
    return scored.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1)).slice(0, limit).map(([, n]) => n);
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
