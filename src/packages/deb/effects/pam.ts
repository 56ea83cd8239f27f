import type { DebEffectContext } from './deb-context.js';

type Profile = Map<string, string>;

/** A /usr/share/pam-configs profile, read as pam-auth-update reads it (continuation lines trimmed). */
function parseProfile(text: string): Profile {
  const profile: Profile = new Map();
  let field = '';
  for (const raw of text.split('\n')) {
    // "Auth:" alone on its line is a field too (in Perl, pam-auth-update's \s+ matches the newline).
    const m = /^(\S+):(?:\s+(.*?))?\s*$/.exec(raw);
    if (m) {
      field = m[1]!.replace(/-Final$/, '');
      profile.set(field, m[2] ?? '');
      continue;
    }
    const line = raw.trim();
    if (line && field) profile.set(field, `${profile.get(field) ?? ''}\n${line}`.replace(/^[\n\s]+/, ''));
  }
  if (!profile.has('Session-Interactive-Only')) {
    for (const suffix of ['-Type', '', '-Initial']) {
      const v = profile.get(`Session${suffix}`);
      if (v !== undefined) profile.set(`Session-noninteractive${suffix}`, v);
    }
  }
  return profile;
}

const TYPES = ['auth', 'account', 'password', 'session', 'session-noninteractive'] as const;

/** pam-auth-update's line rewrite: `end` in the control becomes the jump count; options re-joined. */
function mergeOneLine(line: string, count: number): string {
  const m = /^((\[[^\]]+\]|\w+)\s+\S+)\s*(.*)/.exec(line);
  if (!m) return `${line}\n`;
  const opts = m[3]!.split(/\s+/).filter((o, i, all) => o !== '' || all.length > 1);
  return `${m[1]!.replace(/end/g, String(count))} ${opts.filter(Boolean).join(' ')}\n`;
}

/**
 * libpam-runtime's `pam-auth-update` on a first install, reproduced: the profiles in
 * /usr/share/pam-configs with `Default: yes`, in pam-auth-update's order (Priority descending, then
 * name descending), written into the /usr/share/pam/common-* templates between their markers, with
 * `success=end` jumps resolved to line counts and the `-Initial` variant for the first module of a
 * block; plus the saved selections in /var/lib/pam.
 */
export async function pamAuthUpdate(ctx: DebEffectContext): Promise<void> {
  if (!ctx.has('libpam-runtime') || !ctx.exists('usr/share/pam/common-auth')) return;
  const profiles = new Map<string, Profile>();
  for (const e of ctx.result()) {
    if (e.type === 'file' && e.path.startsWith('usr/share/pam-configs/')) {
      profiles.set(e.path.slice('usr/share/pam-configs/'.length), parseProfile((await ctx.read(e.path)).toString('utf8')));
    }
  }
  const order = (a: string, b: string) => Number(profiles.get(b)!.get('Priority') ?? 0) - Number(profiles.get(a)!.get('Priority') ?? 0) || (a < b ? 1 : a > b ? -1 : 0);
  const sorted = [...profiles.keys()].sort(order);
  const enabled = sorted.filter((name) => profiles.get(name)!.get('Default') === 'yes');
  const origin = 'libpam-runtime postinst (pam-auth-update)';

  for (const type of TYPES) {
    const ucType = type.charAt(0).toUpperCase() + type.slice(1);
    const pamType = type.replace('-noninteractive', '');
    const linesFor = (name: string, position: number) => {
      const p = profiles.get(name)!;
      return (position === 0 && p.get(`${ucType}-Initial`)) || p.get(ucType) || '';
    };
    const block = (kind: 'Primary' | 'Additional') => {
      const modules = enabled.filter((n) => profiles.get(n)!.get(`${ucType}-Type`) === kind);
      return modules.map((name, position) => ({ name, lines: linesFor(name, position) }));
    };
    const render = (kind: 'Primary' | 'Additional') => {
      const modules = block(kind);
      let count = modules.reduce((n, m) => n + m.lines.split(/\n+/).filter(Boolean).length, 0);
      if (kind === 'Additional') count--;
      let out = '';
      if (kind === 'Primary' && count === 0) out += `${pamType}\t[default=1]\t\t\tpam_permit.so\n`;
      for (const m of modules) {
        for (const line of m.lines.split('\n')) {
          out += `${pamType}\t${mergeOneLine(line, count)}`;
          count--;
        }
      }
      return out;
    };

    const template = (await ctx.read(`usr/share/pam/common-${type}`)).toString('utf8').split(/(?<=\n)/);
    let state = 0;
    let output = '';
    for (const line of template) {
      if (state === 1) {
        if (/^# here's the fallback if no module succeeds/.test(line)) {
          output += line;
          state++;
        }
        continue;
      }
      if (state === 3) {
        if (/^# end of pam-auth-update config/.test(line)) {
          output += line;
          state++;
        }
        continue;
      }
      output += line;
      if (state === 0 && /^# here are the per-package modules \(the "Primary" block\)/.test(line)) {
        output += render('Primary');
        state++;
      } else if (state === 2 && /^# and here are more per-package modules \(the "Additional" block\)/.test(line)) {
        output += render('Additional');
        state++;
      }
    }
    ctx.file(`etc/pam.d/common-${type}`, output, origin);

    let saved = '';
    const primary = block('Primary');
    for (const m of primary) if (m.lines) saved += `Module: ${m.name}\n${m.lines}\n`;
    if (primary.length === 0) saved += 'Module: null\n[default=1]\t\t\tpam_permit.so\n';
    for (const m of block('Additional')) if (m.lines) saved += `Module: ${m.name}\n${m.lines}\n`;
    ctx.file(`var/lib/pam/${type}`, saved, origin);
  }
  ctx.file('var/lib/pam/seen', sorted.map((n) => `${n}\n`).join(''), origin);
  ctx.notes.push(`pam-auth-update: ${enabled.join(', ')}`);
}
