import { UserError } from '../../errors.js';
import type { RpmDependency } from './package.js';
import { parseEvr, type RpmFlags } from './version.js';

/*
 * rpm's boolean ("rich") dependencies: `(A and B)`, `(A or B)`, `(A if B [else C])`, `(A unless B [else C])`,
 * `(A with B)`, `(A without B)`, nested, each operand a parenthesised expression or a simple dependency
 * `name [op evr]`. Hand-written (a few dozen lines): no npm package parses them, and rpm's grammar is small
 * (rpm's docs/manual/boolean_dependencies.md).
 */

export type RichDependency =
  | { op: 'atom'; dep: RpmDependency }
  | { op: 'and' | 'or' | 'with' | 'without'; items: RichDependency[] }
  | { op: 'if' | 'unless'; then: RichDependency; cond: RichDependency; else?: RichDependency | undefined };

const OPERATORS = new Set(['and', 'or', 'if', 'unless', 'with', 'without']);
const COMPARISONS: Record<string, RpmFlags> = { '=': 'EQ', '==': 'EQ', '<': 'LT', '>': 'GT', '<=': 'LE', '=<': 'LE', '>=': 'GE', '=>': 'GE' };

export function isRich(name: string): boolean {
  return name.startsWith('(');
}

/** Parses a rich dependency; a malformed one is a UserError quoting it. */
export function parseRichDependency(text: string): RichDependency {
  let pos = 0;
  const fail = (why: string): never => {
    throw new UserError(`malformed rich dependency "${text}" at offset ${pos}: ${why}`);
  };
  const skipSpace = () => {
    while (pos < text.length && /\s/.test(text[pos]!)) pos++;
  };
  const word = (): string => {
    skipSpace();
    const start = pos;
    let depth = 0;
    while (pos < text.length) {
      const c = text[pos]!;
      if (/\s/.test(c)) break;
      if (c === '(') depth++;
      else if (c === ')') {
        if (depth === 0) break;
        depth--;
      }
      pos++;
    }
    return text.slice(start, pos);
  };
  const operand = (): RichDependency => {
    skipSpace();
    if (text[pos] === '(') return group();
    const name = word();
    if (!name) fail('expected a dependency');
    if (OPERATORS.has(name) || name === 'else') fail(`"${name}" where a dependency belongs`);
    const save = pos;
    const op = word();
    const flags = COMPARISONS[op];
    if (!flags) {
      pos = save;
      return { op: 'atom', dep: { name } };
    }
    const evrText = word();
    if (!evrText) fail(`no version after "${name} ${op}"`);
    const evr = parseEvr(evrText);
    return { op: 'atom', dep: { name, flags, epoch: evr.epoch, version: evr.version, release: evr.release } };
  };
  const group = (): RichDependency => {
    if (depthGuard++ > 1000) fail('nested too deeply');
    pos++; // (
    const first = operand();
    skipSpace();
    if (text[pos] === ')') {
      pos++;
      return first;
    }
    const op = word();
    if (!OPERATORS.has(op)) fail(`unknown operator "${op}"`);
    const second = operand();
    let result: RichDependency;
    if (op === 'if' || op === 'unless') {
      const save = pos;
      const next = word();
      if (next === 'else') result = { op, then: first, cond: second, else: operand() };
      else {
        pos = save;
        result = { op, then: first, cond: second };
      }
    } else if (op === 'and' || op === 'or' || op === 'with' || op === 'without') {
      const items = [first, second];
      for (;;) {
        const save = pos;
        const next = word();
        if (next !== op) {
          pos = save;
          break;
        }
        if (op === 'without') fail('"without" takes two operands');
        items.push(operand());
      }
      result = { op, items };
    } else result = fail(`unknown operator "${op}"`);
    skipSpace();
    if (text[pos] !== ')') fail(pos >= text.length ? 'missing ")"' : `unexpected "${text.slice(pos, pos + 10)}"`);
    pos++;
    return result;
  };
  let depthGuard = 0;
  skipSpace();
  if (text[pos] !== '(') fail('a rich dependency starts with "("');
  const result = group();
  skipSpace();
  if (pos !== text.length) fail('text after the closing ")"');
  return result;
}

/** What evaluation needs to know: which packages provide a simple dependency, and which are installed. */
export interface RichContext<P> {
  providers(dep: RpmDependency): readonly P[];
  installed(pkg: P): boolean;
}

/** Whether a rich dependency holds for the installed packages (rpm's semantics of each operator). */
export function richHolds<P>(rich: RichDependency, ctx: RichContext<P>): boolean {
  switch (rich.op) {
    case 'atom':
      return ctx.providers(rich.dep).some((p) => ctx.installed(p));
    case 'and':
      return rich.items.every((i) => richHolds(i, ctx));
    case 'or':
      return rich.items.some((i) => richHolds(i, ctx));
    case 'if':
      return richHolds(rich.cond, ctx) ? richHolds(rich.then, ctx) : rich.else ? richHolds(rich.else, ctx) : true;
    case 'unless':
      // libsolv (and so dnf) reads `A unless B` as `A and not B`.
      if (!rich.else) return richHolds(rich.then, ctx) && !richHolds(rich.cond, ctx);
      return richHolds(rich.cond, ctx) ? richHolds(rich.else, ctx) : richHolds(rich.then, ctx);
    case 'with':
    case 'without':
      return richPackages(rich, ctx).some((p) => ctx.installed(p));
  }
}

/** The packages that alone satisfy an expression made of atoms, `or`, `with` and `without`. */
export function richPackages<P>(rich: RichDependency, ctx: RichContext<P>): P[] {
  switch (rich.op) {
    case 'atom':
      return [...ctx.providers(rich.dep)];
    case 'or':
      return [...new Set(rich.items.flatMap((i) => richPackages(i, ctx)))];
    case 'with': {
      const [first, ...rest] = rich.items.map((i) => new Set(richPackages(i, ctx)));
      return first ? [...first].filter((p) => rest.every((r) => r.has(p))) : [];
    }
    case 'without': {
      const [a, b] = rich.items.map((i) => richPackages(i, ctx));
      const excluded = new Set(b ?? []);
      return (a ?? []).filter((p) => !excluded.has(p));
    }
    default:
      return [];
  }
}

/** A clause over packages: satisfied when one of `pos` is installed or one of `neg` is not. */
export interface RichClause<P> {
  pos: P[];
  neg: P[];
}

const MAX_CLAUSES = 4096;

/**
 * A rich dependency in conjunctive normal form over packages, as libsolv's cplxdeps.c normalises it:
 * `A if B` is `A or not B`; `A if B else C` is `(A or not B) and (C or B)`; `A unless B` is `A and not B`;
 * `A unless B else C` is `(A and not B) or (C and B)`; `with`/`without` name the packages that alone
 * satisfy both operands / the first but not the second. A UserError when the form grows too large.
 */
export function richCnf<P>(rich: RichDependency, providers: (dep: RpmDependency) => readonly P[], negated = false): RichClause<P>[] {
  const cnf = (r: RichDependency, neg: boolean): RichClause<P>[] => {
    switch (r.op) {
      case 'atom':
      case 'with':
      case 'without': {
        const set = richPackages(r, { providers, installed: () => false });
        return neg ? set.map((p) => ({ pos: [], neg: [p] })) : [{ pos: set, neg: [] }];
      }
      case 'and':
        return neg ? or(r.items.map((i) => cnf(i, true))) : r.items.flatMap((i) => cnf(i, false));
      case 'or':
        return neg ? r.items.flatMap((i) => cnf(i, true)) : or(r.items.map((i) => cnf(i, false)));
      case 'if': {
        const [a, b] = [r.then, r.cond];
        if (!r.else) return neg ? [...cnf(a, true), ...cnf(b, false)] : or([cnf(a, false), cnf(b, true)]);
        const c = r.else;
        return neg
          ? or([[...cnf(a, true), ...cnf(b, false)], [...cnf(c, true), ...cnf(b, true)]])
          : [...or([cnf(a, false), cnf(b, true)]), ...or([cnf(c, false), cnf(b, false)])];
      }
      case 'unless': {
        const [a, b] = [r.then, r.cond];
        if (!r.else) return neg ? or([cnf(a, true), cnf(b, false)]) : [...cnf(a, false), ...cnf(b, true)];
        const c = r.else;
        return neg
          ? [...or([cnf(a, true), cnf(b, false)]), ...or([cnf(c, true), cnf(b, true)])]
          : or([[...cnf(a, false), ...cnf(b, true)], [...cnf(c, false), ...cnf(b, false)]]);
      }
    }
  };
  // The disjunction of CNFs: every combination of one clause from each, tautologies dropped.
  const or = (forms: RichClause<P>[][]): RichClause<P>[] => {
    let acc: RichClause<P>[] = [{ pos: [], neg: [] }];
    for (const form of forms) {
      const next: RichClause<P>[] = [];
      for (const x of acc) {
        for (const y of form) {
          const pos = [...new Set([...x.pos, ...y.pos])];
          const neg = [...new Set([...x.neg, ...y.neg])];
          if (pos.some((p) => neg.includes(p))) continue;
          next.push({ pos, neg });
          if (next.length > MAX_CLAUSES) throw new UserError('a rich dependency is too complex to resolve');
        }
      }
      acc = next;
    }
    return acc;
  };
  return cnf(rich, negated);
}

/** The positive alternatives of the clauses not yet satisfied by installed packages (for weak dependencies). */
export function richOpenClauses<P>(rich: RichDependency, ctx: RichContext<P>): P[][] {
  if (richHolds(rich, ctx)) return [];
  return richCnf(rich, (d) => ctx.providers(d))
    .filter((c) => !c.pos.some((p) => ctx.installed(p)) && c.neg.every((p) => ctx.installed(p)))
    .map((c) => c.pos);
}

/** The simple dependencies a rich one mentions (to index file paths and names). */
export function richAtoms(rich: RichDependency): RpmDependency[] {
  switch (rich.op) {
    case 'atom':
      return [rich.dep];
    case 'if':
    case 'unless':
      return [...richAtoms(rich.then), ...richAtoms(rich.cond), ...(rich.else ? richAtoms(rich.else) : [])];
    default:
      return rich.items.flatMap(richAtoms);
  }
}

/** The packages-to-be alternatives of a rich dependency: its operands joined by `or` (for requests and ordering). */
export function richAlternatives(rich: RichDependency): RichDependency {
  switch (rich.op) {
    case 'atom':
      return rich;
    case 'and':
    case 'or':
      return { op: 'or', items: rich.items.map(richAlternatives) };
    case 'if':
    case 'unless':
      return { op: 'or', items: [richAlternatives(rich.then), ...(rich.else ? [richAlternatives(rich.else)] : [])] };
    default:
      return rich;
  }
}
