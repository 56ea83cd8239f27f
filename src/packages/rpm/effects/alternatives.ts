import { posix } from 'node:path';
import type { EffectContext } from '../../effects/context.js';
import type { ScriptCommand } from './scriptlet.js';

/**
 * RHEL's `alternatives` (chkconfig's alternatives.c, not Debian's update-alternatives), declaratively.
 * Calls are replayed in install order on an in-memory copy of its state, with its rules:
 * - `--install LINK NAME PATH PRIORITY [--slave|--follower LINK NAME PATH]… [--initscript S] [--family F]`
 *   appends the choice (or replaces the one with the same PATH); the best is the first choice with the
 *   highest priority (a later one must be strictly higher: ties keep the earlier); in auto mode the links
 *   follow the best: LINK → /etc/alternatives/NAME → PATH, each follower of the best likewise, and the
 *   followers it lacks removed;
 * - from the second choice on, followers are the union of all choices' (matched by name), sorted by link
 *   path; the first choice alone keeps its command-line order;
 * - a LINK that is a real file in the image is left alone (alternatives reports it and goes on);
 * - the state file /var/lib/alternatives/NAME: mode, leader link, follower name/link pairs, an empty line,
 *   then per choice its path, `[@FAMILY@]PRIORITY[ INITSCRIPT]`, one line per follower (its path, or empty);
 * - `--set NAME PATH` (manual mode) and `--auto NAME`; `--initscript`: the best's systemd unit is to be
 *   preset and the others' disabled (returned to the caller).
 */

interface LinkSet {
  title: string;
  facility: string;
  target?: string;
}

interface Choice {
  leader: LinkSet;
  followers: LinkSet[];
  priority: number;
  family?: string;
  initscript?: string;
}

interface AlternativeSet {
  mode: 'auto' | 'manual';
  choices: Choice[];
  /** Where /etc/alternatives/NAME points (what readConfig compares with the best). */
  current?: string;
  /** Set by --set: the choice to link in manual mode. */
  manualTarget?: string;
}

export interface AlternativesResult {
  /** The alternative names configured. */
  names: string[];
  /** systemd units of the best choices' --initscript, to preset; and of the other choices', to disable. */
  preset: string[];
  disable: string[];
}

const ADMIN_DIR = 'var/lib/alternatives';
const ALT_DIR = '/etc/alternatives';

/** chkconfig's normalize_path: no repeated or trailing slashes. */
function normalize(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

export class Alternatives {
  readonly notes: string[] = [];
  private readonly sets = new Map<string, AlternativeSet>();
  /** Symbolic links in the order they were made (undefined: removed). */
  private readonly links = new Map<string, string | undefined>();

  constructor(private readonly ctx: EffectContext) {}

  /** One `alternatives ARGS` call; returns its exit status (2 for a usage error, as alternatives). */
  run(args: string[], where = 'alternatives'): number {
    const cmd = parseArgs(args);
    if (typeof cmd === 'string') {
      this.notes.push(`${where}: alternatives ${args.join(' ')}: ${cmd}`);
      return 2;
    }
    if (cmd.mode === 'install') return this.install(cmd.choice, where);
    const set = this.sets.get(cmd.name);
    if (!set) {
      this.notes.push(`${where}: alternatives ${args.join(' ')}: no alternative ${cmd.name}`);
      return 2;
    }
    this.read(set);
    if (cmd.mode === 'auto') {
      set.mode = 'auto';
      set.manualTarget = undefined;
    } else {
      if (!set.choices.some((c) => c.leader.target === cmd.path)) {
        this.notes.push(`${where}: alternatives --set ${cmd.name} ${cmd.path}: not a choice`);
        return 2;
      }
      set.mode = 'manual';
      set.manualTarget = cmd.path;
    }
    this.writeState(set, true);
    return 0;
  }

  /** readConfig's best: the first choice with the highest priority. */
  private best(set: AlternativeSet): number {
    let best = 0;
    set.choices.forEach((c, i) => {
      if (c.priority > set.choices[best]!.priority) best = i;
    });
    return best;
  }

  /** readConfig's check: a link that is not the best's in auto mode turns the set manual. */
  private read(set: AlternativeSet): void {
    const at = set.choices.findIndex((c) => c.leader.target === set.current);
    if (at < 0) set.mode = 'manual';
    else if (at !== this.best(set) && set.mode === 'auto') set.mode = 'manual';
    if (set.mode === 'manual' && at >= 0) set.manualTarget ??= set.current;
  }

  private install(choice: Choice, where: string): number {
    const name = choice.leader.title;
    const set = this.sets.get(name);
    if (!set) {
      const fresh: AlternativeSet = { mode: 'auto', choices: [choice] };
      this.sets.set(name, fresh);
      this.writeState(fresh, false);
      return 0;
    }
    this.read(set);
    if (normalize(choice.leader.facility) !== set.choices[0]!.leader.facility) {
      this.notes.push(`${where}: alternatives --install: the primary link for ${name} must be ${set.choices[0]!.leader.facility}`);
      return 2;
    }
    let best = this.best(set);
    const template: LinkSet[] = set.choices[0]!.followers.map((f) => ({ title: f.title, facility: f.facility }));
    for (const f of choice.followers) if (!template.some((t) => t.facility === f.facility)) template.push({ title: f.title, facility: f.facility });
    const existing = set.choices.findIndex((c) => c.leader.target === choice.leader.target);
    let force = false;
    const choices = [...set.choices];
    if (existing >= 0) {
      choices[existing] = choice;
      force = true;
      // Followers no choice provides any more are dropped (and their links removed).
      for (let i = template.length - 1; i >= 0; i--) {
        const t = template[i]!;
        if (!choices.some((c) => c.followers.some((f) => f.title === t.title && f.target))) {
          this.remove(t);
          template.splice(i, 1);
        }
      }
    } else {
      choices.push(choice);
      if (choice.priority > choices[best]!.priority) best = choices.length - 1;
    }
    template.sort((a, b) => (a.facility < b.facility ? -1 : a.facility > b.facility ? 1 : 0));
    const matched: Choice[] = [];
    for (const c of choices) {
      const followers: LinkSet[] = [];
      for (const t of template) {
        const f = c.followers.find((x) => x.title === t.title);
        if (f && f.facility !== t.facility) {
          this.notes.push(`${where}: alternatives --install: link ${f.facility} incorrect for follower ${f.title} (${t.facility} ${t.title})`);
          return 2;
        }
        followers.push(f ? { ...f } : { title: t.title, facility: t.facility });
      }
      matched.push({ ...c, followers });
    }
    set.choices = matched;
    this.writeState(set, force, best);
    return 0;
  }

  /** writeState: the links of the current choice (the best in auto mode). */
  private writeState(set: AlternativeSet, force: boolean, best = this.best(set)): void {
    if (set.mode !== 'auto' && !force) return;
    const choice = set.mode === 'auto' ? set.choices[best]! : (set.choices.find((c) => c.leader.target === set.manualTarget) ?? set.choices[0]!);
    this.make(choice.leader);
    set.current = choice.leader.target;
    for (const f of choice.followers) {
      if (f.target) this.make(f);
      else this.remove(f);
    }
  }

  private make(l: LinkSet): void {
    const facility = this.ctx.locatePath(l.facility);
    const packaged = this.ctx.entry(facility);
    if (packaged && packaged.type !== 'symlink' && !this.links.has(facility)) {
      this.notes.push(`alternatives: ${l.facility} exists and it is not a symlink; left alone`);
    } else this.links.set(facility, `${ALT_DIR}/${l.title}`);
    this.links.set(this.ctx.locatePath(`${ALT_DIR}/${l.title}`), l.target);
  }

  private remove(l: LinkSet): void {
    for (const p of [`${ALT_DIR}/${l.title}`, l.facility]) {
      const at = this.ctx.locatePath(p);
      if (this.links.get(at) !== undefined) this.links.set(at, undefined);
      else if (this.ctx.entry(at)?.type === 'symlink') this.notes.push(`alternatives: ${p} (packaged) would be removed; kept`);
    }
  }

  /** Writes the links and the state files; returns what the caller must do with --initscript units. */
  write(): AlternativesResult {
    const origin = 'alternatives';
    for (const [path, target] of this.links) if (target !== undefined) this.ctx.symlink(path, target, origin);
    const result: AlternativesResult = { names: [...this.sets.keys()].sort(), preset: [], disable: [] };
    for (const [name, set] of [...this.sets].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const lines = [set.mode, set.choices[0]!.leader.facility];
      for (const f of set.choices[0]!.followers) lines.push(f.title, f.facility);
      lines.push('');
      for (const c of set.choices) {
        lines.push(c.leader.target!, `${c.family ? `@${c.family}@` : ''}${c.priority}${c.initscript ? ` ${c.initscript}` : ''}`);
        for (const f of c.followers) lines.push(f.target ?? '');
      }
      this.ctx.file(`${ADMIN_DIR}/${name}`, `${lines.join('\n')}\n`, origin);
      const current = set.choices.find((c) => c.leader.target === set.current);
      const isUnit = (s: string) => ['usr/lib/systemd/system', 'etc/systemd/system'].some((d) => this.ctx.exists(this.ctx.locatePath(`${d}/${s}.service`)));
      for (const c of set.choices) {
        if (!c.initscript) continue;
        if (!isUnit(c.initscript)) this.notes.push(`not reproduced: alternatives ${name}: chkconfig ${c === current ? '--add' : '--del'} ${c.initscript} (SysV service)`);
        else (c === current ? result.preset : result.disable).push(`${c.initscript}.service`);
      }
    }
    if (result.names.length) this.ctx.dir(ADMIN_DIR, origin);
    this.ctx.notes.push(...this.notes);
    if (result.names.length) this.ctx.notes.push(`alternatives: ${result.names.join(', ')}`);
    return result;
  }
}

type Parsed = { mode: 'install'; choice: Choice } | { mode: 'set'; name: string; path: string } | { mode: 'auto'; name: string };

/** alternatives' command line, with its checks (names not starting with '/', paths starting with it). */
function parseArgs(args: string[]): Parsed | string {
  let mode: Parsed['mode'] | undefined;
  let leader: LinkSet | undefined;
  let priority: number | undefined;
  const followers: LinkSet[] = [];
  let family: string | undefined;
  let initscript: string | undefined;
  let name: string | undefined;
  let path: string | undefined;
  const linkSet = (i: number): LinkSet | undefined => {
    const [facility, title, target] = [args[i], args[i + 1], args[i + 2]];
    if (!facility?.startsWith('/') || !title || title.startsWith('/') || !target?.startsWith('/')) return undefined;
    return { facility: normalize(facility), title, target: normalize(target) };
  };
  for (let i = 0; i < args.length; ) {
    const a = args[i]!;
    if (a === '--install') {
      if (mode) return 'usage';
      mode = 'install';
      leader = linkSet(i + 1);
      const p = args[i + 4];
      if (!leader || p === undefined || !/^-?(0x[0-9a-f]+|[0-9]+)$/i.test(p)) return 'usage: --install LINK NAME PATH PRIORITY';
      priority = Number(p);
      i += 5;
    } else if (a === '--slave' || a === '--follower') {
      const f = linkSet(i + 1);
      if (!f || (mode && mode !== 'install')) return `usage: ${a} LINK NAME PATH`;
      followers.push(f);
      i += 4;
    } else if (a === '--initscript' || a === '--family') {
      const v = args[i + 1];
      if (v === undefined) return `usage: ${a} VALUE`;
      if (a === '--family' && v.includes('@')) return "--family can't contain the symbol '@'";
      if (a === '--family') family = v;
      else initscript = v;
      i += 2;
    } else if (a === '--set' || a === '--auto') {
      if (mode) return 'usage';
      mode = a === '--set' ? 'set' : 'auto';
      name = args[i + 1];
      if (!name || name.startsWith('/')) return `usage: ${a} NAME`;
      if (a === '--set') {
        path = args[i + 2];
        if (!path?.startsWith('/')) return 'usage: --set NAME PATH';
        path = normalize(path);
        i += 3;
      } else i += 2;
    } else if (a === '--verbose' || a === '--keep-missing' || a === '--keep-foreign') i += 1;
    else return `${a}: not reproduced`;
  }
  if (mode === 'install') {
    const choice: Choice = { leader: leader!, followers, priority: priority! };
    if (family) choice.family = family;
    if (initscript) choice.initscript = initscript;
    return { mode, choice };
  }
  if (mode === 'set') return { mode, name: name!, path: path! };
  if (mode === 'auto') return { mode, name: name! };
  return 'no mode given';
}

/** Replays the alternatives calls of the scriptlets (in install order) and writes the result. */
export function applyAlternativesCommands(ctx: EffectContext, commands: ScriptCommand[]): AlternativesResult {
  const alts = new Alternatives(ctx);
  for (const c of commands) if (c.kind === 'alternatives') alts.run(c.args, `${c.origin.pkg} ${c.origin.scriptlet}`);
  return alts.write();
}
