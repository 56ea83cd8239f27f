import { evrOf } from './package.js';
import { isRich } from './rich-dependency.js';
import type { RpmUniverse } from './universe.js';
import { compareEvr, compareEvrMatchingRelease, formatEvr, type Evr } from './version.js';

/**
 * libsolv's policy_filter_unwanted modes: `choose` prunes and orders (a decision), `noreorder` only prunes
 * (to see whether a requirement has one obvious candidate), `recommend` skips the recommended-preference,
 * `supplement` only orders.
 */
export type PolicyMode = 'choose' | 'noreorder' | 'recommend' | 'supplement';

/** What the policy asks of the solver's current state. */
export interface PolicyContext {
  /** Recommended by an installed package. */
  recommended(id: number): boolean;
  /** Its Supplements hold for the installed packages. */
  supplementing(id: number): boolean;
  /** Suggested by an installed package. */
  suggested(id: number): boolean;
  /** Its Enhances hold for the installed packages. */
  enhancing(id: number): boolean;
  /** A choice that led to a dead end before (see resolveRpm). */
  avoided(id: number): boolean;
  /** A candidate an earlier dead end showed is needed (see resolveRpm). */
  preferred(id: number): boolean;
}

/**
 * The choice among candidates, written from libsolv's src/policy.c: keep the best repository priority;
 * the best architecture (noarch always kept, so x86_64 beats i686: dnf's multilib_policy=best); per name
 * the highest version (the cheapest repository on equal versions); drop candidates another obsoletes;
 * prefer packages an installed package recommends or whose Supplements hold; then order: by name
 * (strcmp), packages with newer versions in the repositories back (dislike_old_versions), packages
 * providing a lower version of a capability another candidate provides back (sort_by_common_dep),
 * suggested or enhancing packages first. The first wins.
 */
export class ChoicePolicy {
  constructor(
    private readonly u: RpmUniverse,
    private readonly ctx: PolicyContext,
  ) {}

  filter(input: number[], mode: PolicyMode): number[] {
    const u = this.u;
    let list = [...input];
    if (mode === 'choose' || mode === 'noreorder') {
      // Choices that led to a conflict in an earlier run (see resolveRpm).
      const fresh = list.filter((p) => !this.ctx.avoided(p));
      if (fresh.length > 0) list = fresh;
      const preferred = list.filter((p) => this.ctx.preferred(p));
      if (preferred.length > 0) list = preferred;
    }
    if (mode === 'supplement') return this.reorder(list, false);
    if (list.length > 1) {
      const best = Math.min(...list.map((p) => u.pkg(p).repository.priority));
      list = list.filter((p) => u.pkg(p).repository.priority === best);
    }
    if (list.length > 1) {
      const ranks = list.map((p) => u.archRank(u.pkg(p).arch) ?? Infinity).filter((r) => r >= 0);
      if (ranks.length) {
        const best = Math.min(...ranks);
        list = list.filter((p) => {
          const r = u.archRank(u.pkg(p).arch);
          return r === -1 || r === best;
        });
      }
    }
    if (list.length > 1) list = this.bestVersions(list);
    if (list.length > 1 && (mode === 'choose' || mode === 'noreorder')) {
      const rec = list.filter((p) => this.ctx.recommended(p) || this.ctx.supplementing(p));
      if (rec.length) list = rec;
      if (list.length > 1 && mode === 'choose') list = this.reorder(list, true);
    }
    return list;
  }

  /** prune_to_best_version: by name (strcmp), the highest EVR per name (cheapest repository first), then obsoletes. */
  bestVersions(list: number[]): number[] {
    const u = this.u;
    const sorted = [...list].sort((a, b) => {
      const pa = u.pkg(a);
      const pb = u.pkg(b);
      if (pa.name !== pb.name) return pa.name < pb.name ? -1 : 1;
      return pa.repository.cost - pb.repository.cost || a - b;
    });
    const out: number[] = [];
    for (const p of sorted) {
      const last = out[out.length - 1];
      if (last !== undefined && u.pkg(last).name === u.pkg(p).name) {
        if (compareEvr(evrOf(u.pkg(last)), evrOf(u.pkg(p))) < 0) out[out.length - 1] = p;
      } else out.push(p);
    }
    if (out.length < 2) return out;
    const obsoletes = (a: number, b: number) => {
      const pa = u.pkg(a);
      return pa.name !== u.pkg(b).name && pa.obsoletes.some((o) => !isRich(o.name) && u.matchesNevr(b, o));
    };
    const kept = out.filter((b) => !out.some((a) => a !== b && obsoletes(a, b) && !obsoletes(b, a)));
    return kept.length ? kept : out;
  }

  /** The reordering steps: dislike_old_versions, sort_by_common_dep, prefer_suggested. */
  private reorder(list: number[], suggested: boolean): number[] {
    const u = this.u;
    const old = (p: number) => {
      const pkg = u.pkg(p);
      return u.byName(pkg.name).some((q) => {
        const other = u.pkg(q);
        if (q === p || other.arch !== pkg.arch) return false;
        if (other.repository.priority !== pkg.repository.priority) return other.repository.priority < pkg.repository.priority;
        return compareEvr(evrOf(other), evrOf(pkg)) > 0;
      });
    };
    list = [...list.filter((p) => !old(p)), ...list.filter(old)];
    list = this.sortByCommonDep(list);
    if (suggested) {
      const good = (p: number) => this.ctx.suggested(p) || this.ctx.enhancing(p);
      list = [...list.filter(good), ...list.filter((p) => !good(p))];
    }
    return list;
  }

  /**
   * sort_by_common_dep: candidates providing a capability with a version (=, <=, <) are compared per
   * capability; one providing a lower version than another candidate moves back, by how many steps lower.
   */
  private sortByCommonDep(list: number[]): number[] {
    const entries: { at: number; name: string; evr: Evr; lt: boolean }[] = [];
    list.forEach((p, at) => {
      for (const dep of this.u.pkg(p).provides) {
        if (dep.version === undefined || (dep.flags !== 'EQ' && dep.flags !== 'LE' && dep.flags !== 'LT')) continue;
        const evr = { epoch: dep.epoch, version: dep.version, release: dep.release };
        if (dep.flags === 'EQ') {
          const text = formatEvr({ ...evr, epoch: evr.epoch || undefined });
          if (text.length >= 4 && /^[0-9a-f]+$/.test(text)) continue; // libsolv ignores hash-like versions
        }
        entries.push({ at, name: dep.name, evr, lt: dep.flags === 'LT' });
      }
    });
    if (entries.length < 2) return list;
    const cmp = (a: (typeof entries)[number], b: (typeof entries)[number]): number => {
      if (a.name !== b.name) return a.name < b.name ? -1 : 1;
      const r = compareEvrMatchingRelease(b.evr, a.evr);
      if (r !== 0) return r;
      if (a.lt !== b.lt) return a.lt ? 1 : -1;
      return 0;
    };
    entries.sort((a, b) => cmp(a, b) || a.at - b.at);
    const badness = list.map(() => 0);
    let bad = 0;
    let any = false;
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      const prev = entries[k - 1];
      if (prev && prev.name === e.name) {
        if (prev.at !== e.at && cmp(prev, e) === -1) {
          bad++;
          any = true;
        }
      } else bad = 0;
      badness[e.at]! += bad;
    }
    if (!any) return list;
    return list.map((p, at) => ({ p, at })).sort((a, b) => badness[a.at]! - badness[b.at]! || a.at - b.at).map((x) => x.p);
  }
}
