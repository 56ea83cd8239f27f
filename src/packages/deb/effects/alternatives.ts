import { maintainerScript, type DebEffectContext } from './deb-context.js';

interface Alternative {
  link: string;
  name: string;
  path: string;
  priority: number;
  slaves: { link: string; name: string; path: string }[];
  pkg: string;
}

/**
 * Reads the `update-alternatives --install LINK NAME PATH PRIORITY [--slave LINK NAME PATH]...` calls
 * of the packages' postinst scripts (with line continuations). The calls in Debian's scripts are
 * literal, so they are read rather than run.
 */
export function parseAlternatives(pkg: string, script: string): Alternative[] {
  const out: Alternative[] = [];
  const joined = script.replace(/\\\n\s*/g, ' ');
  for (const m of joined.matchAll(/update-alternatives\s+--install\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+)((?:\s+--slave\s+\S+\s+\S+\s+\S+)*)/g)) {
    const slaves = [...(m[5] ?? '').matchAll(/--slave\s+(\S+)\s+(\S+)\s+(\S+)/g)].map((s) => ({ link: s[1]!, name: s[2]!, path: s[3]! }));
    if ([m[1], m[2], m[3], ...slaves.flatMap((s) => [s.link, s.path])].some((x) => x!.includes('$'))) continue;
    out.push({ link: m[1]!, name: m[2]!, path: m[3]!, priority: Number(m[4]), slaves, pkg });
  }
  return out;
}

const strip = (p: string) => p.replace(/^\/+/, '');

/**
 * update-alternatives, declaratively: for each alternative name the highest-priority choice wins (auto
 * mode); LINK -> /etc/alternatives/NAME -> PATH, the same for slaves whose target exists, and the state
 * file /var/lib/dpkg/alternatives/NAME in update-alternatives' format.
 */
export function alternatives(ctx: DebEffectContext): void {
  const byName = new Map<string, Alternative[]>();
  for (const pkg of [...ctx.packages.keys()].sort()) {
    for (const alt of parseAlternatives(pkg, maintainerScript(ctx, pkg, 'postinst'))) {
      if (!ctx.exists(strip(alt.path))) continue;
      byName.set(alt.name, [...(byName.get(alt.name) ?? []), alt]);
    }
  }
  const origin = 'update-alternatives';
  for (const [name, choices] of [...byName].sort(([a], [b]) => (a < b ? -1 : 1))) {
    choices.sort((a, b) => b.priority - a.priority || (a.path < b.path ? -1 : 1));
    const best = choices[0]!;
    ctx.symlink(`etc/alternatives/${name}`, best.path, origin);
    ctx.symlink(ctx.locatePath(best.link), `/etc/alternatives/${name}`, origin);
    for (const slave of best.slaves) {
      if (!ctx.exists(strip(slave.path))) continue;
      ctx.symlink(`etc/alternatives/${slave.name}`, slave.path, origin);
      ctx.symlink(ctx.locatePath(slave.link), `/etc/alternatives/${slave.name}`, origin);
    }
    // State file: mode, master link, slave name/link pairs, blank line; per choice its path, priority
    // and one line per slave (its path, or empty when that choice has no such slave); blank line.
    const slaveNames = [...new Set(choices.flatMap((c) => c.slaves.map((s) => s.name)))];
    const slaveLinks = new Map(choices.flatMap((c) => c.slaves.map((s) => [s.name, s.link] as const)));
    const lines = ['auto', best.link];
    for (const s of slaveNames) lines.push(s, slaveLinks.get(s)!);
    lines.push('');
    for (const c of choices) {
      lines.push(c.path, String(c.priority));
      for (const s of slaveNames) lines.push(c.slaves.find((x) => x.name === s)?.path ?? '');
    }
    lines.push('');
    ctx.file(`var/lib/dpkg/alternatives/${name}`, `${lines.join('\n')}\n`, origin);
  }
  if (byName.size) ctx.notes.push(`alternatives: ${[...byName.keys()].sort().join(', ')}`);
}
