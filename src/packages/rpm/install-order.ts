import { isRich, richAlternatives, richPackages } from './rich-dependency.js';
import type { RpmPackage } from './package.js';
import type { RpmUniverse } from './universe.js';

/**
 * An install order close to rpm's (lib/order.c): requirements before the packages needing them, with
 * requirement loops broken as rpm does, by dropping ordinary requires before scriptlet (`pre`) ones.
 * Approximation: components of the requires graph (Tarjan) in dependency order; inside a loop,
 * packages ordered by their pre-requires alone, ties by name. rpm's tie-breaks differ in detail.
 */
export function installOrder(packages: RpmPackage[], universe: RpmUniverse): RpmPackage[] {
  const sorted = [...packages].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.arch < b.arch ? -1 : 1));
  const index = new Map(sorted.map((p, i) => [universe.id(p), i]));
  const edges: { to: number; pre: boolean }[][] = sorted.map(() => []);
  sorted.forEach((pkg, i) => {
    for (const dep of pkg.requires) {
      if (dep.name.startsWith('rpmlib(')) continue;
      const providers = isRich(dep.name) ? richPackages(richAlternatives(universe.rich(dep.name)), { providers: (d) => universe.whatProvides(d), installed: () => false }) : universe.whatProvides(dep);
      for (const p of providers) {
        const j = index.get(p);
        if (j !== undefined && j !== i) edges[i]!.push({ to: j, pre: dep.pre === true });
      }
    }
  });
  // Tarjan's strongly connected components; they come out dependencies first.
  const low: number[] = sorted.map(() => -1);
  const num: number[] = sorted.map(() => -1);
  const onStack: boolean[] = sorted.map(() => false);
  const stack: number[] = [];
  const out: RpmPackage[] = [];
  let counter = 0;
  // Iterative (an explicit stack of [node, next edge]) so a deep dependency chain cannot overflow the call stack.
  const visit = (root: number) => {
    const frames: [number, number][] = [[root, 0]];
    num[root] = low[root] = counter++;
    stack.push(root);
    onStack[root] = true;
    while (frames.length > 0) {
      const frame = frames[frames.length - 1]!;
      const [v, k] = frame;
      const edge = edges[v]![k];
      if (edge) {
        frame[1]++;
        const to = edge.to;
        if (num[to] === -1) {
          num[to] = low[to] = counter++;
          stack.push(to);
          onStack[to] = true;
          frames.push([to, 0]);
        } else if (onStack[to]) low[v] = Math.min(low[v]!, num[to]!);
        continue;
      }
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent) low[parent[0]] = Math.min(low[parent[0]]!, low[v]!);
      if (low[v] === num[v]) {
        const component: number[] = [];
        for (let w = -1; w !== v; ) {
          w = stack.pop()!;
          onStack[w] = false;
          component.push(w);
        }
        out.push(...orderLoop(component.sort((x, y) => x - y), edges).map((i) => sorted[i]!));
      }
    }
  };
  for (let v = 0; v < sorted.length; v++) if (num[v] === -1) visit(v);
  return out;
}

/** Orders a requirement loop by its `pre` edges only (Kahn, ties by name); what remains keeps name order. */
function orderLoop(component: number[], edges: { to: number; pre: boolean }[][]): number[] {
  if (component.length === 1) return component;
  const members = new Set(component);
  const waiting = new Map(component.map((v) => [v, new Set(edges[v]!.filter((e) => e.pre && members.has(e.to) && e.to !== v).map((e) => e.to))]));
  const out: number[] = [];
  while (waiting.size > 0) {
    const ready = [...waiting.keys()].filter((v) => [...waiting.get(v)!].every((d) => !waiting.has(d)));
    const next = ready.length ? ready[0]! : [...waiting.keys()][0]!; // a pre-loop: rpm breaks it too
    out.push(next);
    waiting.delete(next);
  }
  return out;
}
