import type { SourcedEntry } from './entry-set.js';
import { normalizeEntryPath } from './path.js';

/**
 * Lays entries over a system, as a later Dockerfile step would: an entry of `over` replaces what `base`
 * has at the same path (a folder's other contents stay, as with COPY into an existing folder). `fill`
 * entries (the parent folders a copy needs) are added only where neither has anything, once each.
 * What `over` writes below a file or through a symlink of `base` is left for the canonical set to refuse.
 */
export function layOver(base: readonly SourcedEntry[], over: readonly SourcedEntry[], fill: readonly SourcedEntry[] = []): SourcedEntry[] {
  const replaced = new Set(over.map((e) => normalizeEntryPath(e.path)));
  const kept = base.filter((e) => !replaced.has(normalizeEntryPath(e.path)));
  const taken = new Set([...replaced, ...kept.map((e) => normalizeEntryPath(e.path))]);
  const filled: SourcedEntry[] = [];
  for (const e of fill) {
    const path = normalizeEntryPath(e.path);
    if (taken.has(path)) continue;
    taken.add(path);
    filled.push(e);
  }
  return [...kept, ...over, ...filled];
}
