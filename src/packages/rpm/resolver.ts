import { UserError } from '../../errors.js';
import type { PackageReqType } from './comps.js';
import { evrOf, formatDependency, nevra, type RpmDependency, type RpmPackage } from './package.js';
import { ChoicePolicy } from './choice-policy.js';
import { installOrder } from './install-order.js';
import { obsoletersOfLatest, selectRequest } from './request-selection.js';
import { isRich, richCnf, richHolds, richOpenClauses, type RichContext, type RichDependency } from './rich-dependency.js';
import { globToRegExp, type RpmUniverse } from './universe.js';
import { compareEvr } from './version.js';

/*
 * Dependency resolution with rpm's semantics and the choices libsolv makes for dnf. libsolv is a SAT
 * solver; for a fresh install root (nothing installed: no updates, no favouring of installed packages)
 * its decisions reduce to the procedure emulated here, written from libsolv's src/solver.c, src/rules.c,
 * src/policy.c and src/cplxdeps.c, and dnf's and libdnf's request handling:
 *
 * 0. Packages that can never be installed are ruled out first (a requirement nothing installable
 *    provides; an i686 package without its same-version x86_64 twin: libsolv's lock-step "infarch" rule).
 * 1. Unit propagation: a requirement with one possible provider installs it; an installed package forbids
 *    the packages it conflicts with or obsoletes, those conflicting with or obsoleting it, and the other
 *    versions of its name; a package whose requirement has lost every provider is ruled out in turn.
 *    Rich requirements are clauses of their conjunctive normal form.
 * 2. Jobs (requests) in order; one with several candidates is decided by the choice policy
 *    (choice-policy.ts).
 * 3. Open requirements of installed packages are visited in libsolv's rule order (packages by descending
 *    id, ids numbering the packages in dnf's repository order; then by provider list). A first pass
 *    decides only those the policy narrows to one candidate without reordering, postponing the others;
 *    when none is left, the first postponed requirement is decided by the full policy, and from there
 *    every open requirement in rule order.
 * 4. With weak dependencies on, Recommends of installed packages and Supplements that installed packages
 *    satisfy are added (libsolv's resolve_weak), and 2-4 run again until nothing changes.
 * 5. Auto-minimization: a choice whose alternative got installed anyway, or whose alternative is
 *    recommended while the chosen package is not, is redone with that alternative.
 *
 * A dead end (a conflict) makes libsolv learn a clause and back out of a decision; here the latest choice
 * the conflict depends on is blamed and resolution starts over avoiding that package where another
 * candidate exists, and preferring the candidate it had ruled out (see resolveRpm).
 *
 * Checked against dnf 4.14: on CentOS Stream 9 BaseOS every request compared (all 883 names, all 34 groups
 * with three type sets, 1,800 provides and paths, 411 random combinations, weak deps on and off) gives
 * dnf's set; on 150 random conflict-heavy two-repository universes 11,990 of 12,000 requests do (the rest
 * differ where libsolv's conflict learning backs out of another decision than this emulation).
 * Not emulated: rich Conflicts/Obsoletes (ignored), installed systems (updates, erasures).
 */

export interface GroupRequest {
  id: string;
  /** Package types to take; dnf's default: mandatory, default, conditional. */
  types?: PackageReqType[];
}

export interface RpmResolveOptions {
  /** Package names, `name-[epoch:]version[-release][.arch]` forms, provides or file paths, as dnf accepts. */
  install: string[];
  groups?: GroupRequest[];
  /** Names or globs never installed (dnf's --exclude). */
  exclude?: string[];
  /** Follow Recommends and Supplements (install_weak_deps=True). */
  weakDeps?: boolean;
  /** The machine architecture; the universe's (which it was loaded for) when left out. */
  arch?: string;
}

export interface RpmResolution {
  /** The packages, in rpm's install order (see installOrder). */
  packages: RpmPackage[];
  /** Notes as dnf prints them: group members no repository has; weak dependencies that cannot be installed. */
  notes: string[];
  /** Why each package is there, keyed by name (`name.arch` for a second architecture of a name). */
  why: Map<string, string[]>;
}

export const DEFAULT_GROUP_TYPES: PackageReqType[] = ['mandatory', 'default', 'conditional'];

/** What a choice or a trial can be undone to. */
interface Snapshot {
  decision: Int8Array;
  q: number;
  forbidden: Map<number, string>;
  forbiddenBy: Map<number, number>;
  ordered: Rule[];
  choices: number;
  branches: Branch[];
  notes: number;
}

/** A choice among several candidates, and the state before it (libsolv's branch). */
interface Branch {
  state: Snapshot;
  candidates: number[];
  tried: Set<number>;
  parent: number | undefined;
  text: string;
}

interface Job {
  candidates: number[];
  /** A conditional group member: `(name if requires)`, a rule rather than a choice. */
  conditional?: RichDependency | undefined;
  label: string;
}

/** A requirement of an installed package, as a libsolv rule: its owner and the packages that would satisfy it. */
interface Rule {
  /** libsolv's rule sections: 0 packages' requirements, 1 job rules, 2 lock-step rules of inferior architectures. */
  section: 0 | 1 | 2;
  /** The requiring package; undefined for a job's rule (a conditional group member). */
  owner: number | undefined;
  /** The reason a package installed by this rule gets. */
  why: string;
  dep: RpmDependency;
  /** The clause: one of `pos` must be installed, unless one of `neg` is not (a simple requirement: its providers). */
  pos: readonly number[];
  neg: readonly number[];
  /** libsolv's literal list, which orders rules. */
  key: readonly number[];
}


/** A dead end, with the packages involved (to find the choice to blame). */
class Conflict extends UserError {
  constructor(
    message: string,
    readonly involved: (number | undefined)[] = [],
    /** For a requirement left without candidates: the candidates it had. */
    readonly candidates: readonly number[] = [],
  ) {
    super(message);
  }
}

/** How many dead ends resolution backs out of before it reports one. */
const MAX_RESTARTS = 200;

export function resolveRpm(universe: RpmUniverse, options: RpmResolveOptions): RpmResolution {
  if (options.arch !== undefined && options.arch !== universe.arch) {
    throw new UserError(`the package universe was loaded for ${universe.arch}, not ${options.arch}`);
  }
  // libsolv backs out of a choice that leads to a conflict (learning a clause against it) and takes the
  // next candidate. Emulated by restarting with the blamed choice's package avoided wherever another
  // candidate exists; the first (failure-free) run is exactly the plain procedure.
  // When no choice is left to blame but a weak dependency is on the conflict's chains, that weak package
  // is given up (libsolv reverts a weak decision last) and the choices are tried afresh.
  const avoid = new Set<number>();
  const shared: SharedState = { rejectedWeak: new Set(), preferred: new Set() };
  let first: Conflict | undefined;
  for (let attempt = 0; ; attempt++) {
    const solver = new Solver(universe, options, avoid, shared);
    try {
      return solver.solve();
    } catch (e) {
      if (!(e instanceof Conflict)) throw e;
      first ??= e;
      if (attempt >= MAX_RESTARTS) throw first;
      const blamed = solver.blame(e, avoid);
      if (blamed !== undefined) {
        avoid.add(blamed);
        // libsolv's learnt clause (first unique implication point) usually names the candidate the blamed
        // choice ruled out directly: that candidate is taken next time.
        for (const c of solver.ruledOutBy(e, blamed)) shared.preferred.add(c);
        continue;
      }
      const weak = solver.blame(e, shared.rejectedWeak, solver.weakInstalled);
      if (weak === undefined) throw first;
      shared.rejectedWeak.add(weak);
      avoid.clear();
    }
  }
}

/** What restarts of one resolution share. */
interface SharedState {
  /** Packages that can never be installed (computed by the first run). */
  uninstallable?: [number, string][];
  /** Weak dependencies given up because they lead to a conflict. */
  rejectedWeak: Set<number>;
  /** Candidates to take where they can be (what earlier conflicts taught). */
  preferred: Set<number>;
}

class Solver {
  private readonly decision: Int8Array;
  private readonly decisionq: number[] = [];
  /** Why a package was installed: the requiring package, and for a forced choice the packages that ruled the other candidates out. */
  private readonly reason = new Map<number, { parent?: number | undefined; text: string; causes?: number[] | undefined }>();
  private readonly forbidden = new Map<number, string>();
  /** The installed package whose decision forbade a package. */
  private readonly forbiddenBy = new Map<number, number>();
  /** Packages installed by a choice among several candidates (libsolv's branch points), in order. */
  private readonly choices: number[] = [];
  private readonly branches: Branch[] = [];
  /** The packages the last resolveWeak round installed as weak dependencies. */
  private weakRound: number[] = [];
  /** Packages ruled out whose consequences are not yet propagated (see cascade). */
  private readonly ruledOut: number[] = [];
  private cascading = false;
  /** Packages ruled out by the cascade rather than directly. */
  private readonly cascaded = new Set<number>();
  /** For a best-architecture package, the inferior ones in lock-step with it and their twins. */
  private readonly lockstepOf = new Map<number, [number, number[]][]>();
  /** Every package installed as a weak dependency, in order. */
  readonly weakInstalled: number[] = [];
  /** For an uninstallable package, the requirement that makes it so. */
  private readonly blockedBy = new Map<number, RpmDependency>();

  private readonly rules = new Map<number, Rule[]>();
  /** All rules of installed packages, in libsolv's rule order. */
  private ordered: Rule[] = [];
  private readonly policy: ChoicePolicy;
  private readonly notes: string[] = [];
  private recommendsSeen = 0;
  private readonly recommended = new Set<number>();
  private readonly suggested = new Set<number>();
  private readonly ctx: RichContext<number>;
  /** Inferior-architecture packages and the same-version best-architecture packages they need (libsolv's infarch rules). */
  private readonly lockstep = new Map<number, number[]>();
  /** Rules of jobs (conditional group members), checked whenever packages are installed. */
  private readonly jobRules: Rule[] = [];

  constructor(
    private readonly u: RpmUniverse,
    private readonly options: RpmResolveOptions,
    avoid: ReadonlySet<number> = new Set(),
    private readonly shared: SharedState = { rejectedWeak: new Set(), preferred: new Set() },
  ) {
    this.decision = new Int8Array(u.packages.length);
    this.ctx = { providers: (dep) => u.whatProvides(dep), installed: (id) => this.decision[id]! > 0 };
    this.policy = new ChoicePolicy(u, {
      recommended: (id) => {
        this.updateRecommends();
        return this.recommended.has(id);
      },
      supplementing: (id) => this.supplementing(id),
      suggested: (id) => {
        this.updateRecommends();
        return this.suggested.has(id);
      },
      enhancing: (id) => this.enhancing(id),
      avoided: (id) => avoid.has(id),
      preferred: (id) => shared.preferred.has(id),
    });
    const excluded = (options.exclude ?? []).map(globToRegExp);
    for (const [id, pkg] of u.packages.entries()) {
      if (excluded.some((re) => re.test(pkg.name))) this.forbid(id, `${pkg.name} is excluded`);
    }
  }

  solve(): RpmResolution {
    const jobs = this.jobs();
    this.addLockstep(jobs);
    if (this.shared.uninstallable) {
      for (const [id, why] of this.shared.uninstallable) this.forbid(id, why);
    } else {
      const before = new Set(this.forbidden.keys());
      this.forbidUninstallable();
      this.shared.uninstallable = [...this.forbidden].filter(([id]) => !before.has(id));
    }
    for (const job of jobs) {
      if (!job.conditional) continue;
      for (const c of richCnf(job.conditional, (d) => this.u.whatProvides(d))) {
        const neg = sortedUnique(c.neg);
        const pos = sortedUnique(c.pos);
        this.jobRules.push({ section: 1, owner: undefined, why: job.label, dep: { name: job.label }, pos, neg, key: [...neg.map((q) => -q - 1), ...pos] });
      }
    }
    this.ordered.push(...this.jobRules);
    this.ordered.sort(ruleOrder);
    this.mainLoop(jobs);
    this.minimize(jobs);
    const installed = this.decisionq.filter((id) => this.decision[id]! > 0);
    const why = new Map<string, string[]>();
    for (const id of installed) {
      const pkg = this.u.pkg(id);
      why.set(why.has(pkg.name) ? `${pkg.name}.${pkg.arch}` : pkg.name, this.chain(id));
    }
    return { packages: installOrder(installed.map((id) => this.u.pkg(id)), this.u), notes: this.notes, why };
  }

  /**
   * libsolv with implicitobsoleteusescolors (as dnf sets it): a package of an inferior architecture (i686
   * on x86_64) can only be installed together with the same version of its name in the best architecture
   * present (or noarch), and not at all if there is none; except for names a request selects explicitly.
   */
  private addLockstep(jobs: Job[]): void {
    const u = this.u;
    const inferior = new Map<number, number[]>();
    for (const name of u.allNames()) {
      const ids = u.byName(name);
      if (ids.length < 2) continue;
      const ranks = ids.map((p) => u.archRank(u.pkg(p).arch)!);
      const best = Math.min(...ranks.filter((r) => r >= 0));
      if (!Number.isFinite(best)) continue;
      ids.forEach((p, k) => {
        if (ranks[k]! < 0 || ranks[k] === best) return;
        const evr = evrOf(u.pkg(p));
        inferior.set(p, ids.filter((q, j) => (ranks[j] === -1 || ranks[j] === best) && compareEvr(evrOf(u.pkg(q)), evr) === 0));
      });
    }
    const free = new Set(jobs.flatMap((j) => j.candidates.filter((p) => inferior.has(p)).map((p) => u.pkg(p).name)));
    for (const [p, twins] of inferior) {
      const pkg = u.pkg(p);
      if (free.has(pkg.name)) continue;
      if (twins.length === 0) this.forbid(p, `an ${pkg.arch} package needs the same version of ${pkg.name} in the best architecture, which is not available`);
      else {
        this.lockstep.set(p, twins);
        for (const t of twins) {
          const list = this.lockstepOf.get(t);
          if (list) list.push([p, twins]);
          else this.lockstepOf.set(t, [[p, twins]]);
        }
      }
    }
  }

  // ---- requests ----

  private jobs(): Job[] {
    const jobs: Job[] = [];
    for (const spec of this.options.install) {
      const found = selectRequest(this.u, spec);
      if (!found) throw this.unknown(spec);
      for (const candidates of found) {
        jobs.push({ candidates, label: `requested ${spec}` });
      }
    }
    for (const g of this.options.groups ?? []) {
      const group = this.u.comps.groups.find((x) => x.id === g.id || x.name === g.id);
      if (!group) {
        const ids = this.u.comps.groups.map((x) => x.id);
        const near = ids.filter((id) => id.includes(g.id) || g.id.includes(id)).slice(0, 5);
        throw new UserError(`no group "${g.id}" in the repositories${near.length ? `; did you mean ${near.join(', ')}?` : ''} (groups: ${ids.length})`);
      }
      const types = new Set(g.types ?? DEFAULT_GROUP_TYPES);
      for (const req of group.packages) {
        if (!types.has(req.type)) continue;
        const ids = this.u.byName(req.name).filter((id) => !req.basearchonly || this.u.pkg(id).arch === this.u.arch);
        if (ids.length === 0) {
          this.notes.push(`No match for group package "${req.name}${req.basearchonly ? `.${this.u.arch}` : ''}"`);
          continue;
        }
        const label = `group ${group.id} (${req.type})`;
        if (req.requires) {
          // dnf asks for `(name if requires)`: installed whenever its condition ends up in the transaction.
          jobs.push({ candidates: [], conditional: this.u.rich(`(${req.name} if ${req.requires})`), label: `${label}: ${req.name} if ${req.requires}` });
          continue;
        }
        // dnf's group_install is strict: a member that cannot be installed fails the transaction.
        jobs.push({ candidates: sortedUnique([...ids, ...obsoletersOfLatest(this.u, ids)]), label });
      }
    }
    return jobs;
  }

  private unknown(spec: string): UserError {
    const near = this.u.nearNames(spec);
    const hidden = this.u.hidden.get(spec);
    return new UserError(
      `No match for argument: ${spec}${hidden ? ` (${hidden})` : ''}${near.length ? `; did you mean ${near.join(', ')}?` : ''}`,
    );
  }

  // ---- decisions ----

  private install(id: number, parent: number | undefined, text: string, causes?: number[]): void {
    if (this.decision[id]! > 0) return;
    const pkg = this.u.pkg(id);
    if (this.decision[id]! < 0) {
      throw new Conflict(
        `cannot install ${nevra(pkg)} (${text}): ${this.forbidden.get(id) ?? 'it cannot be installed'}\n  because: ${[...(parent === undefined ? [] : this.chain(parent)), text].join('\n        → ')}`,
        [parent, this.forbiddenBy.get(id)],
      );
    }
    this.decision[id] = 1;
    this.decisionq.push(id);
    this.reason.set(id, { parent, text, causes });
    this.addRules(id);
    const u = this.u;
    const by = nevra(pkg);
    for (const other of u.byName(pkg.name)) {
      if (other !== id && sameColor(pkg.arch, u.pkg(other).arch)) this.forbid(other, `${by} is installed (one version of a name)`, id);
    }
    for (const dep of pkg.conflicts) {
      if (isRich(dep.name)) continue;
      for (const q of u.whatProvides(dep)) if (q !== id) this.forbid(q, `${by} conflicts with ${formatDependency(dep)}`, id);
    }
    for (const dep of pkg.obsoletes) {
      if (isRich(dep.name)) continue;
      for (const q of u.byName(dep.name)) if (q !== id && u.matchesNevr(q, dep)) this.forbid(q, `${by} obsoletes ${formatDependency(dep)}`, id);
    }
    const names = new Set([...pkg.provides.map((d) => d.name), ...pkg.files]);
    for (const name of names) {
      for (const c of this.u.conflictsOn(name)) {
        if (c.pkg !== id && u.whatProvides(c.dep).includes(id)) this.forbid(c.pkg, `it conflicts with ${formatDependency(c.dep)}, which ${by} provides`, id);
      }
    }
    for (const o of this.u.obsoletesOf(pkg.name)) {
      if (o.pkg !== id && u.matchesNevr(id, o.dep)) this.forbid(o.pkg, `it obsoletes ${formatDependency(o.dep)}, which is ${by}`, id);
    }
  }

  private forbid(id: number, why: string, by?: number): void {
    if (this.decision[id]! < 0) return;
    if (this.decision[id]! > 0) {
      throw new Conflict(`${nevra(this.u.pkg(id))} cannot stay: ${why}\n  ${nevra(this.u.pkg(id))} is there because: ${this.chain(id).join('\n        → ')}`, [id, by]);
    }
    this.decision[id] = -1;
    this.forbidden.set(id, why);
    if (by !== undefined) this.forbiddenBy.set(id, by);
    this.ruledOut.push(id);
    if (!this.cascading) this.cascade();
  }

  /** The candidates of a failed requirement that a choice ruled out itself (not through a cascade). */
  ruledOutBy(conflict: Conflict, choice: number): number[] {
    return conflict.candidates.filter((c) => this.forbiddenBy.get(c) === choice && !this.cascaded.has(c));
  }

  /**
   * Unit propagation backwards: a package one of whose requirements has no provider left cannot be
   * installed either (libsolv's watches do this for every rule, decided packages or not), nor can an
   * inferior-architecture package whose twins are all ruled out.
   */
  private cascade(): void {
    this.cascading = true;
    try {
      for (let next = this.ruledOut.pop(); next !== undefined; next = this.ruledOut.pop()) {
        const gone = this.u.pkg(next);
        const by = this.forbiddenBy.get(next);
        for (const name of new Set([...gone.provides.map((d) => d.name), ...gone.files])) {
          for (const { pkg: q, dep } of this.u.requirersOf(name)) {
            if (this.decision[q] !== 0 || q === next) continue;
            const providers = this.u.whatProvides(dep);
            if (providers.includes(q) || !providers.includes(next) || !providers.every((p) => this.decision[p]! < 0)) continue;
            this.cascaded.add(q);
            this.forbid(q, `it requires ${formatDependency(dep)}, and no provider is left`, by);
            this.blockedBy.set(q, dep);
          }
        }
        for (const [inferior, twins] of this.lockstepOf.get(next) ?? []) {
          if (this.decision[inferior] === 0 && twins.every((p) => this.decision[p]! < 0)) {
            this.cascaded.add(inferior);
            this.forbid(inferior, 'its best-architecture twin is ruled out', by);
          }
        }
      }
    } finally {
      this.cascading = false;
    }
  }

  /** Why a package cannot be installed, following requirements nothing installable provides down to the cause. */
  private whyNot(id: number): string[] {
    const lines: string[] = [];
    const seen = new Set<number>();
    for (let cur: number | undefined = id; cur !== undefined && !seen.has(cur) && lines.length < 20; ) {
      seen.add(cur);
      const dep = this.blockedBy.get(cur);
      const name = nevra(this.u.pkg(cur));
      if (!dep) {
        lines.push(`${name}: ${this.forbidden.get(cur) ?? 'not installable'}`);
        break;
      }
      const providers = this.u.whatProvides(dep);
      lines.push(`${name} requires ${formatDependency(dep)}${providers.length === 0 ? ', but nothing provides it' : ''}`);
      cur = providers[0];
    }
    return lines;
  }

  /**
   * Forbids every package that cannot be installed whatever happens, as libsolv's first propagation does
   * before any decision: a simple requirement nothing provides, then transitively a requirement all of
   * whose providers are such packages (or excluded, or an inferior architecture without its twin).
   */
  private forbidUninstallable(): void {
    const u = this.u;
    const bad = (id: number) => this.decision[id]! < 0;
    const requirements = (id: number): RpmDependency[] => u.pkg(id).requires.filter((d) => !d.name.startsWith('rpmlib(') && !isRich(d.name));
    for (let changed = true; changed; ) {
      changed = false;
      for (let id = 0; id < u.packages.length; id++) {
        if (bad(id)) continue;
        const blocked = requirements(id).find((d) => {
          const providers = u.whatProvides(d);
          return !providers.includes(id) && providers.every(bad);
        });
        const twins = this.lockstep.get(id);
        if (blocked) {
          this.forbid(id, u.whatProvides(blocked).length === 0 ? `nothing provides ${formatDependency(blocked)}` : `no installable package provides ${formatDependency(blocked)}`);
          this.blockedBy.set(id, blocked);
        }
        else if (twins && twins.every(bad)) this.forbid(id, 'its best-architecture twin cannot be installed');
        else continue;
        changed = true;
      }
    }
  }

  /**
   * The choice to back out of after a conflict: the latest choice on the why-chains of the packages
   * involved (libsolv's conflict analysis blames decisions the conflict depends on), else the latest one.
   */
  blame(conflict: Conflict, avoided: ReadonlySet<number>, among: readonly number[] = this.choices): number | undefined {
    // The implication graph, roughly: requiring packages, and what ruled out a forced choice's alternatives.
    const onChains = new Set<number>();
    const todo = conflict.involved.filter((id): id is number => id !== undefined);
    while (todo.length > 0) {
      const cur = todo.pop()!;
      if (onChains.has(cur)) continue;
      onChains.add(cur);
      const r = this.reason.get(cur);
      if (r?.parent !== undefined) todo.push(r.parent);
      if (r?.causes) todo.push(...r.causes);
    }
    const open = among.filter((c) => !avoided.has(c));
    for (let k = open.length - 1; k >= 0; k--) if (onChains.has(open[k]!)) return open[k];
    return open[open.length - 1];
  }

  private chain(id: number): string[] {
    const out: string[] = [];
    const seen = new Set<number>();
    for (let cur: number | undefined = id; cur !== undefined && !seen.has(cur); ) {
      seen.add(cur);
      const r = this.reason.get(cur);
      if (!r) break;
      out.unshift(r.parent === undefined ? r.text : `${this.u.pkg(r.parent).name} ${r.text}`);
      cur = r.parent;
    }
    return out;
  }

  private addRules(id: number): void {
    const list: Rule[] = [];
    const pkg = this.u.pkg(id);
    for (const dep of pkg.requires) {
      if (dep.name.startsWith('rpmlib(')) continue; // rpm's own features, satisfied by rpm itself
      if (isRich(dep.name)) {
        const rich = this.u.tryRich(dep.name);
        if (!rich) throw new UserError(`package ${nevra(pkg)} (repository ${pkg.repository.id}) has a malformed requirement "${dep.name}"`);
        for (const c of richCnf(rich, (d) => this.u.whatProvides(d))) {
          if (c.pos.includes(id)) continue;
          const neg = sortedUnique(c.neg.filter((q) => q !== id));
          const pos = sortedUnique(c.pos);
          list.push({ section: 0, owner: id, why: `requires ${dep.name}`, dep, pos, neg, key: [...neg.map((q) => -q - 1), ...pos] });
        }
        continue;
      }
      const providers = this.u.whatProvides(dep);
      if (providers.includes(id)) continue; // self-fulfilling
      list.push({ section: 0, owner: id, why: `requires ${formatDependency(dep)}`, dep, pos: providers, neg: [], key: providers });
    }
    const twins = this.lockstep.get(id);
    if (twins) {
      const dep: RpmDependency = { name: `${pkg.name} of the best architecture`, flags: 'EQ', epoch: pkg.epoch, version: pkg.version, release: pkg.release };
      list.push({ section: 2, owner: id, why: `requires ${formatDependency(dep)}`, dep, pos: twins, neg: [], key: twins });
    }
    this.rules.set(id, list);
    this.ordered.push(...list);
    this.ordered.sort(ruleOrder);
  }

  /**
   * A rule's state: undefined when it holds (a positive literal installed, or a package it must not have
   * is forbidden); otherwise its undecided positive and negative literals.
   */
  private state(rule: Rule): { pos: number[]; neg: number[] } | undefined {
    const pos: number[] = [];
    const neg: number[] = [];
    for (const p of rule.pos) {
      const d = this.decision[p]!;
      if (d > 0) return undefined;
      if (d === 0) pos.push(p);
    }
    for (const q of rule.neg) {
      const d = this.decision[q]!;
      if (d < 0) return undefined;
      if (d === 0) neg.push(q);
    }
    return { pos, neg };
  }

  private missing(rule: Rule): Conflict {
    const dep = formatDependency(rule.dep);
    if (rule.owner === undefined) return new Conflict(`cannot satisfy the ${rule.why}`);
    const owner = this.u.pkg(rule.owner);
    const chain = this.chain(rule.owner).join('\n        → ');
    if (rule.pos.length === 0 && rule.neg.length === 0) {
      return new Conflict(`nothing provides ${dep} needed by ${nevra(owner)}\n  because: ${chain}`, [rule.owner]);
    }
    const involved = [rule.owner, ...rule.pos.map((p) => this.forbiddenBy.get(p)), ...rule.neg];
    const blocked = [
      ...rule.pos.map((p) => `${nevra(this.u.pkg(p))}: ${this.forbidden.get(p) ?? 'not installable'}`),
      ...rule.neg.map((q) => `${nevra(this.u.pkg(q))} must not be installed, but is: ${this.chain(q).join(' → ')}`),
    ];
    return new Conflict(`${nevra(owner)} requires ${dep}, which cannot be met:\n    ${blocked.join('\n    ')}\n  because: ${chain}`, involved, rule.pos);
  }

  /** Unit propagation to a fixpoint: a rule with one undecided literal left decides it. */
  private propagate(): void {
    for (let changed = true; changed; ) {
      changed = false;
      for (let i = -1; i < this.decisionq.length; i++) {
        const id = this.decisionq[i];
        if (id !== undefined && this.decision[id]! <= 0) continue;
        for (const rule of id === undefined ? this.jobRules : this.rules.get(id) ?? []) {
          const st = this.state(rule);
          if (!st) continue;
          const left = st.pos.length + st.neg.length;
          if (left === 0) throw this.missing(rule);
          if (left > 1) continue;
          if (st.pos.length === 1) {
            const ruledOut = rule.pos.length > 1 ? rule.pos.flatMap((q) => this.forbiddenBy.get(q) ?? []) : undefined;
            this.install(st.pos[0]!, rule.owner, rule.why, ruledOut);
          }
          else this.forbid(st.neg[0]!, `${rule.owner === undefined ? 'the' : nevra(this.u.pkg(rule.owner))} ${rule.why}`);
          changed = true;
        }
      }
    }
  }

  private runJobs(jobs: Job[]): void {
    const viable = (job: Job) => job.candidates.filter((p) => this.decision[p] === 0);
    const done = (job: Job) => job.candidates.some((p) => this.decision[p]! > 0);
    // Single-candidate jobs are libsolv's assertions: all decided before anything is propagated.
    for (const job of jobs) {
      if (job.conditional || job.candidates.length !== 1 || done(job) || viable(job).length === 0) continue;
      this.install(job.candidates[0]!, undefined, job.label);
    }
    this.propagate();
    for (const unit of [true, false]) {
      for (const job of jobs) {
        if (job.conditional || done(job)) continue;
        let cands = viable(job);
        if (unit !== (job.candidates.length === 1)) continue;
        if (cands.length === 0) {
          const reasons = job.candidates.map((p) => this.whyNot(p).join('\n      → '));
          throw new Conflict(`cannot install the ${job.label}:\n    ${reasons.join('\n    ')}`, job.candidates.map((p) => this.forbiddenBy.get(p)));
        }
        if (cands.length > 1) {
          cands = this.policy.filter(cands, 'choose');
          if (cands.length === 1) this.choices.push(cands[0]!); // decided by policy: blamable too
        }
        if (cands.length > 1) this.choose(cands, undefined, job.label);
        else this.install(cands[0]!, undefined, job.label);
        this.propagate();
      }
    }
  }

  /** Runs a step that may fail (a weak dependency): a conflict is undone and noted. */
  private attempt(step: () => void, note: string): boolean {
    const saved = this.snapshot();
    try {
      step();
      return true;
    } catch (e) {
      if (!(e instanceof Conflict)) throw e;
      this.restore(saved);
      this.notes.push(`${note}: ${e.message.split('\n')[0]}`);
      return false;
    }
  }

  /** Jobs, then requirements, then weak dependencies until nothing changes (libsolv's main loop). */
  private mainLoop(jobs: Job[]): void {
    this.runJobs(jobs);
    this.decideRequirements();
    while (this.options.weakDeps) {
      const before = this.snapshot();
      if (!this.resolveWeak()) break;
      const added = this.weakRound.filter((id) => this.decision[id]! > 0);
      try {
        this.runJobs(jobs);
        this.decideRequirements();
      } catch (e) {
        // A weak package whose requirements lead to a dead end is dropped, as libsolv backs out of it.
        if (!(e instanceof Conflict) || added.length === 0) throw e;
        // Only when the conflict hangs on a weak package rather than on a later choice.
        const culprit = this.blame(e, new Set(), [...added, ...this.choices.slice(before.choices)]);
        if (culprit === undefined || !added.includes(culprit)) throw e;
        this.restore(before);
        this.forbid(culprit, 'a weak dependency that cannot be installed');
        this.notes.push(`skipped weak dependency ${nevra(this.u.pkg(culprit))}: ${e.message.split('\n')[0]}`);
        this.runJobs(jobs);
        this.decideRequirements();
      }
    }
  }

  private snapshot(): Snapshot {
    return {
      decision: this.decision.slice(), q: this.decisionq.length, forbidden: new Map(this.forbidden), forbiddenBy: new Map(this.forbiddenBy),
      ordered: this.ordered.slice(), choices: this.choices.length, branches: this.branches.slice(), notes: this.notes.length,
    };
  }

  private restore(saved: Snapshot): void {
    this.decision.set(saved.decision);
    for (const id of this.decisionq.splice(saved.q)) {
      if (this.decision[id] === 0) this.rules.delete(id);
    }
    const restoreMap = <V>(target: Map<number, V>, from: Map<number, V>) => {
      target.clear();
      for (const [k, v] of from) target.set(k, v);
    };
    restoreMap(this.forbidden, saved.forbidden);
    restoreMap(this.forbiddenBy, saved.forbiddenBy);
    this.ordered = saved.ordered.slice();
    this.choices.length = saved.choices;
    this.branches.splice(0, this.branches.length, ...saved.branches);
    this.notes.length = saved.notes;
    this.ruledOut.length = 0;
    this.recommendsSeen = 0;
    this.recommended.clear();
    this.suggested.clear();
  }

  /** Installs the first of several candidates, remembering the others (libsolv's createbranch). */
  private choose(candidates: number[], parent: number | undefined, text: string): void {
    this.choices.push(candidates[0]!);
    this.branches.push({ state: this.snapshot(), candidates, tried: new Set([candidates[0]!]), parent, text });
    this.install(candidates[0]!, parent, text);
  }

  /**
   * libsolv's auto-minimization, run once everything is decided: back in the earliest choice where an
   * alternative got installed later anyway, or where an alternative is recommended (or supplementing)
   * while the chosen one is not, take that alternative instead and solve on from there.
   */
  private minimize(jobs: Job[]): void {
    for (let guard = 0; guard < 1000; guard++) {
      this.updateRecommends();
      const liked = (p: number) => this.recommended.has(p) || this.supplementing(p);
      let pick: { branch: Branch; index: number; alternative: number } | undefined;
      for (let k = this.branches.length - 1; k >= 0; k--) {
        const branch = this.branches[k]!;
        let laterInstalled: number | undefined;
        let likedAlternative: number | undefined;
        for (const p of branch.candidates) {
          if (branch.tried.has(p)) continue;
          if (this.decision[p]! > 0 && this.decisionq.indexOf(p) > branch.state.q) {
            laterInstalled = p;
            likedAlternative = undefined;
            break;
          }
          if (likedAlternative === undefined && liked(p)) likedAlternative = p;
        }
        if (laterInstalled !== undefined) pick = { branch, index: k, alternative: laterInstalled };
        else if (likedAlternative !== undefined) {
          const current = this.decisionq[branch.state.q];
          if (current !== undefined && branch.tried.has(current) && !liked(current)) pick = { branch, index: k, alternative: likedAlternative };
        }
      }
      if (!pick) return;
      const { branch, alternative } = pick;
      branch.tried.add(alternative);
      const final = this.snapshot();
      try {
        this.restore(branch.state);
        this.branches.push(branch);
        this.choices.push(alternative);
        this.install(alternative, branch.parent, branch.text);
        this.propagate();
        this.mainLoop(jobs);
      } catch (e) {
        if (!(e instanceof Conflict)) throw e;
        this.restore(final);
      }
    }
  }

  /** libsolv's resolve_dependencies for a fresh root (see the file comment). */
  private decideRequirements(): void {
    this.propagate();
    let postponed: Rule | undefined;
    let greedy = false;
    let i = 0;
    let n = 0;
    for (;;) {
      const rules = this.ordered;
      if (n >= rules.length) {
        if (greedy || !postponed) break;
        i = rules.indexOf(postponed);
        greedy = true;
        n = 0;
      }
      if (i >= rules.length) i = 0;
      const rule = rules[i]!;
      i++;
      n++;
      const st = this.state(rule);
      if (!st || st.neg.length > 0) continue;
      let cands = st.pos;
      if (cands.length === 0) throw this.missing(rule);
      if (!greedy && cands.length > 1) {
        cands = this.policy.filter(cands, 'noreorder');
        if (cands.length > 1) {
          postponed ??= rule;
          continue;
        }
      } else if (cands.length > 1) cands = this.policy.filter(cands, 'choose');
      if (cands.length > 1) this.choose(cands, rule.owner, rule.why);
      else {
        if (rule.pos.length > 1) this.choices.push(cands[0]!); // decided by policy: blamable too
        this.install(cands[0]!, rule.owner, rule.why);
      }
      this.propagate();
      i = this.ordered.indexOf(rule) + 1;
      n = 0;
    }
  }

  /** libsolv's resolve_weak: adds recommended and supplementing packages; true when it added any. */
  private resolveWeak(): boolean {
    const u = this.u;
    const dq: number[] = [];
    const dqs: number[] = [];
    const installedNames = new Map<string, string>();
    for (const id of this.decisionq) if (this.decision[id]! > 0) installedNames.set(u.pkg(id).name, u.pkg(id).arch);
    for (let id = 0; id < u.packages.length; id++) {
      const d = this.decision[id]!;
      if (d < 0) continue;
      const pkg = u.pkg(id);
      if (d > 0) {
        for (const rec of pkg.recommends) {
          const cands = this.weakCandidates(rec);
          if (cands) for (const p of cands) if (!dq.includes(p)) dq.push(p);
        }
      } else if (pkg.supplements.length > 0 && this.supplementing(id)) {
        const other = installedNames.get(pkg.name);
        if (other === undefined || other === pkg.arch) dqs.push(id);
      }
    }
    for (const p of dqs) if (!dq.includes(p)) dq.push(p);
    // Weak dependencies an earlier run gave up (see resolveRpm) are not offered again.
    for (const list of [dq, dqs]) list.splice(0, list.length, ...list.filter((p) => !this.shared.rejectedWeak.has(p)));
    if (dq.length === 0) return false;
    const before = this.decisionq.length;
    this.weakRound = [];
    const weak = (id: number, parent: number | undefined, text: string) =>
      this.attempt(() => {
        this.weakRound.push(id);
        this.weakInstalled.push(id);
        this.install(id, parent, text);
        this.propagate();
      }, `skipped weak dependency ${nevra(u.pkg(id))}`);
    if (dq.length === 1) {
      const id = dq[0]!;
      if (!weak(id, ...this.weakReason(id))) this.forbid(id, 'a weak dependency that cannot be installed');
      return true;
    }
    const best = new Set(this.policy.filter(dq, 'recommend'));
    const supplements = this.policy.filter(dqs.filter((p) => best.has(p)), 'supplement');
    for (const id of supplements) {
      if (this.decision[id] !== 0) continue;
      if (!weak(id, ...this.weakReason(id))) this.forbid(id, 'a weak dependency that cannot be installed');
    }
    const decided = this.decisionq.slice(0, before);
    for (const owner of decided) {
      if (this.decision[owner]! <= 0) continue;
      for (const rec of u.pkg(owner).recommends) {
        const cands = this.weakCandidates(rec)?.filter((p) => best.has(p));
        if (!cands || cands.length === 0) continue;
        const ordered = cands.length > 1 ? this.policy.filter(cands, 'choose') : cands;
        const pick = ordered[0]!;
        const text = `recommends ${formatDependency(rec)}`;
        const ok = this.attempt(() => {
          this.weakRound.push(pick);
          this.weakInstalled.push(pick);
          if (ordered.length > 1) this.choose(ordered, owner, text);
          else this.install(pick, owner, text);
          this.propagate();
        }, `skipped weak dependency ${nevra(u.pkg(pick))}`);
        if (!ok) this.forbid(pick, 'a weak dependency that cannot be installed');
      }
    }
    return true;
  }

  /** Undecided providers of a recommendation that no installed package satisfies yet; undefined when satisfied. */
  private weakCandidates(rec: RpmDependency): number[] | undefined {
    if (isRich(rec.name)) {
      const rich = this.u.tryRich(rec.name);
      if (!rich) return undefined;
      const clauses = richOpenClauses(rich, this.ctx);
      return clauses.length ? clauses.flat().filter((p) => this.decision[p] === 0) : undefined;
    }
    const out: number[] = [];
    for (const p of this.u.whatProvides(rec)) {
      if (this.decision[p]! > 0) return undefined;
      if (this.decision[p] === 0) out.push(p);
    }
    return out;
  }

  private weakReason(id: number): [number | undefined, string] {
    for (const owner of this.decisionq) {
      if (this.decision[owner]! <= 0) continue;
      const rec = this.u.pkg(owner).recommends.find((r) => this.weakCandidates(r)?.includes(id));
      if (rec) return [owner, `recommends ${formatDependency(rec)}`];
    }
    const pkg = this.u.pkg(id);
    const sup = pkg.supplements.find((s) => this.holds(s));
    return [undefined, `supplements ${sup ? formatDependency(sup) : '(installed packages)'} (weak dependency)`];
  }

  private holds(dep: RpmDependency): boolean {
    if (isRich(dep.name)) {
      const rich = this.u.tryRich(dep.name);
      return rich ? richHolds(rich, this.ctx) : false;
    }
    return this.u.whatProvides(dep).some((p) => this.decision[p]! > 0);
  }

  private supplementing(id: number): boolean {
    return this.u.pkg(id).supplements.some((d) => this.holds(d));
  }

  private enhancing(id: number): boolean {
    return this.u.pkg(id).enhances.some((d) => this.holds(d));
  }

  private updateRecommends(): void {
    for (; this.recommendsSeen < this.decisionq.length; this.recommendsSeen++) {
      const id = this.decisionq[this.recommendsSeen]!;
      if (this.decision[id]! <= 0) continue;
      const pkg = this.u.pkg(id);
      const mark = (deps: RpmDependency[], into: Set<number>) => {
        for (const dep of deps) {
          if (isRich(dep.name)) {
            const rich = this.u.tryRich(dep.name);
            if (rich) for (const c of richOpenClauses(rich, this.ctx)) c.forEach((p) => into.add(p));
          } else this.u.whatProvides(dep).forEach((p) => into.add(p));
        }
      };
      mark(pkg.recommends, this.recommended);
      mark(pkg.suggests, this.suggested);
    }
  }

}

/** libsolv's implicit obsoletes with colors: two arches of a name may coexist only if both are real, different arches. */
function sameColor(a: string, b: string): boolean {
  return a === b || a === 'noarch' || b === 'noarch';
}

/** Rules by libsolv's order after unification: owner id descending, then provider lists ascending. */
function ruleOrder(a: Rule, b: Rule): number {
  if (a.section !== b.section) return a.section - b.section;
  if (a.owner !== b.owner) return (b.owner ?? -1) - (a.owner ?? -1);
  const n = Math.min(a.key.length, b.key.length);
  for (let k = 0; k < n; k++) if (a.key[k] !== b.key[k]) return a.key[k]! - b.key[k]!;
  return a.key.length - b.key.length;
}

function sortedUnique(ids: number[]): number[] {
  return [...new Set(ids)].sort((a, b) => a - b);
}

