import type { EffectContext } from '../../effects/context.js';
import type { ScriptCommand } from './scriptlet.js';

/**
 * Users and groups as RHEL's shadow-utils (4.9, with Red Hat's patches) and systemd-sysusers leave them
 * in /etc/passwd, /etc/group, /etc/shadow and /etc/gshadow, with their `-` backups, the new lines appended:
 *
 * - groupadd, useradd, usermod -a -G, gpasswd -a with their options and exit statuses; ids for accounts
 *   without a fixed one as find_new_uid/find_new_gid choose them from the image's /etc/login.defs
 *   (system: downwards from below the lowest id in use in [SYS_*_MIN, SYS_*_MAX], then from the top;
 *   others: upwards from above the highest in use, then from the bottom); a user private group gets the
 *   uid as its gid when free; /etc/default/useradd for the defaults;
 * - Red Hat's useradd locks new passwords with `!!` (upstream and Debian write `!`); system accounts get
 *   no password ageing fields; the last-change day is the build day (shadow's gettime() honours
 *   SOURCE_DATE_EPOCH the same way);
 * - home folders only for -m (or CREATE_HOME for non-system users), with /etc/skel copied in; the mail
 *   spool file for non-system users (CREATE_MAIL_SPOOL); the user's lastlog record zeroed when
 *   /var/log/lastlog exists (the file grows to cover the uid, as lseek+write makes it);
 * - sysusers.d lines u, g, m, r as systemd-sysusers applies them (`!*` locked passwords); with
 *   --replace=PATH only the given lines are applied (systemd-sysusers reads every sysusers.d file then,
 *   which here their own packages' scriptlets apply);
 * - the empty /etc/.pwd.lock (0600) both leave behind.
 *
 * Checked against Debian's shadow-utils 4.13 and systemd-sysusers 252 (test/rpm-scriptlets.test.ts);
 * where RHEL 9's shadow-utils 4.9 differs, RHEL is followed: `!!`, `-n` as `-N`, lastlog grown to the
 * uid (4.13 only resets records inside the file).
 */

export interface AccountOptions {
  /** The spec's extra lines, appended after the packages' accounts: passwd lines and group lines. */
  users?: string[];
  groups?: string[];
}

type FileName = 'passwd' | 'group' | 'shadow' | 'gshadow';
const FILES: FileName[] = ['passwd', 'group', 'shadow', 'gshadow'];

interface AccountFile {
  lines: string[];
  exists: boolean;
  mode: number;
  uid: number;
  gid: number;
  changed: boolean;
  /** What a tool's backup (`/etc/NAME-`) holds: the file before the last change. */
  backup?: string[];
}

/** Exit statuses of shadow-utils. */
const E = { OK: 0, USAGE: 2, BAD_ARG: 3, ID_IN_USE: 4, NOT_FOUND: 6, NAME_IN_USE: 9 } as const;

/** struct lastlog's size: a 32-bit time on x86_64 (for i386 compatibility) and on 32-bit systems, else 64-bit. */
function lastlogRecordSize(arch: string): number {
  return ['x86_64', 'amd64', 'i386', 'i486', 'i586', 'i686', 'armv7hl', 'armhfp', 'armv7l', 'armhf', 'armel'].includes(arch) ? 292 : 296;
}

/** The accounts database of the image being built, changed command by command. */
export class AccountDatabase {
  readonly notes: string[] = [];
  private readonly files = new Map<FileName, AccountFile>();
  private readonly defs = new Map<string, string>();
  private readonly defaults = new Map<string, string>();
  private readonly homes: { path: string; uid: number; gid: number; mode: number }[] = [];
  /** Whether a tool changed the files (both shadow-utils and systemd-sysusers leave /etc/.pwd.lock). */
  private locked = false;
  private readonly mail: { path: string; uid: number; gid: number; mode: number }[] = [];
  private readonly lastlogUids: number[] = [];
  private readonly subids: { file: 'subuid' | 'subgid'; line: string }[] = [];
  /** The image's sysusers.d files (path in the image → text), read up front so commands apply synchronously. */
  private readonly sysusersFiles = new Map<string, string>();
  /** The lines of /etc/subuid and /etc/subgid when the image has them. */
  private readonly subidFiles = new Map<'subuid' | 'subgid', string[]>();

  private constructor(
    private readonly ctx: EffectContext,
    private readonly day: number,
  ) {}

  static async load(ctx: EffectContext): Promise<AccountDatabase> {
    const db = new AccountDatabase(ctx, Math.floor(ctx.epoch / 86400));
    for (const name of FILES) {
      const e = ctx.entry(`etc/${name}`);
      const text = e?.type === 'file' ? (await ctx.read(`etc/${name}`)).toString('utf8') : '';
      // setup ships shadow and gshadow with mode 0000 (rpm's %attr), passwd and group 0644.
      const mode = e?.mode ?? (name === 'shadow' || name === 'gshadow' ? 0 : 0o644);
      db.files.set(name, { lines: text.split('\n').filter((l) => l !== ''), exists: e !== undefined, mode: mode & 0o7777, uid: e?.uid ?? 0, gid: e?.gid ?? 0, changed: false });
    }
    for (const [file, map] of [['etc/login.defs', db.defs], ['etc/default/useradd', db.defaults]] as const) {
      if (ctx.entry(file)?.type !== 'file') continue;
      for (const line of (await ctx.read(file)).toString('utf8').split('\n')) {
        const m = file.endsWith('login.defs') ? /^\s*([A-Z_0-9]+)\s+(\S+)/.exec(line) : /^\s*([A-Z_0-9]+)=(.*)$/.exec(line);
        if (m && !line.trim().startsWith('#')) map.set(m[1]!, m[2]!.replace(/^"(.*)"$/, '$1'));
      }
    }
    for (const file of ['subuid', 'subgid'] as const) {
      if (ctx.entry(`etc/${file}`)?.type === 'file') db.subidFiles.set(file, (await ctx.read(`etc/${file}`)).toString('utf8').split('\n').filter(Boolean));
    }
    for (const e of ctx.result()) {
      const m = /^(etc|run|usr\/lib)\/sysusers\.d\/[^/]+\.conf$/.exec(e.path);
      if (!m) continue;
      const data = await ctx.readThrough(e.path);
      if (data) db.sysusersFiles.set(e.path, data.toString('utf8'));
    }
    return db;
  }

  // ---- queries -------------------------------------------------------------------------------------

  private file(name: FileName): AccountFile {
    return this.files.get(name)!;
  }
  private rows(name: FileName): string[][] {
    return this.file(name).lines.map((l) => l.split(':'));
  }
  private find(name: FileName, key: string, field = 0): string[] | undefined {
    return this.rows(name).find((r) => r[field] === key);
  }
  user(name: string): string[] | undefined {
    return this.find('passwd', name);
  }
  group(name: string): string[] | undefined {
    return this.find('group', name);
  }
  private groupByIdOrName(g: string): string[] | undefined {
    return /^[0-9]+$/.test(g) ? this.find('group', g, 2) : this.group(g);
  }

  /** getent passwd|group KEY: a numeric key is an id. */
  getent(database: 'passwd' | 'group', key: string): boolean {
    return this.find(database, key, /^[0-9]+$/.test(key) ? 2 : 0) !== undefined;
  }

  private num(key: string, fallback: number): number {
    const v = this.defs.get(key);
    if (v === undefined) return fallback;
    const n = Number(v.startsWith('0') && v.length > 1 && !v.startsWith('0x') ? parseInt(v, 8) : v);
    return Number.isFinite(n) ? n : fallback;
  }
  private bool(key: string): boolean {
    return this.defs.get(key)?.toLowerCase() === 'yes';
  }

  /** find_new_uid / find_new_gid. */
  private allocate(kind: 'UID' | 'GID', system: boolean, preferred?: number): number | undefined {
    const min = system ? this.num(`SYS_${kind}_MIN`, 101) : this.num(`${kind}_MIN`, 1000);
    const max = system ? this.num(`SYS_${kind}_MAX`, this.num(`${kind}_MIN`, 1000) - 1) : this.num(`${kind}_MAX`, 60000);
    const used = new Set(this.rows(kind === 'UID' ? 'passwd' : 'group').map((r) => Number(r[2])));
    if (preferred !== undefined && preferred >= (system ? 1 : min) && preferred <= max && !used.has(preferred)) return preferred;
    const inRange = [...used].filter((id) => id >= min && id <= max);
    const free = (id: number) => !used.has(id);
    if (system) {
      let start = inRange.length ? Math.min(...inRange) - 1 : max;
      if (start < min) start = max;
      for (let id = start; id >= min; id--) if (free(id)) return id;
      if (start !== max) for (let id = max; id >= min; id--) if (free(id)) return id;
    } else {
      let start = inRange.length ? Math.max(...inRange) + 1 : min;
      if (start > max) start = min;
      for (let id = start; id <= max; id++) if (free(id)) return id;
      if (start !== min) for (let id = min; id <= max; id++) if (free(id)) return id;
    }
    return undefined;
  }

  // ---- changes -------------------------------------------------------------------------------------

  /** Runs one tool invocation as a transaction: each file it changed keeps its previous text as backup. */
  private transaction(run: () => number): number {
    const before = new Map(FILES.map((f) => [f, [...this.file(f).lines]]));
    const status = run();
    for (const f of FILES) {
      const file = this.file(f);
      const old = before.get(f)!;
      if (status !== 0) file.lines = old;
      else if (old.join('\n') !== file.lines.join('\n')) {
        file.backup = file.exists ? old : undefined;
        file.changed = true;
        this.locked = true;
      }
    }
    return status;
  }

  private append(name: FileName, line: string): void {
    const file = this.file(name);
    // shadow and gshadow are only written when the image has them.
    if ((name === 'shadow' || name === 'gshadow') && !file.exists && !file.changed) return;
    file.lines.push(line);
  }

  private addMember(group: string, user: string): void {
    for (const [name, field] of [['group', 3], ['gshadow', 3]] as const) {
      const file = this.file(name);
      const i = file.lines.findIndex((l) => l.split(':')[0] === group);
      if (i < 0) continue;
      const f = file.lines[i]!.split(':');
      const members = (f[field] ?? '').split(',').filter(Boolean);
      if (members.includes(user)) continue;
      f[field] = [...members, user].join(',');
      file.lines[i] = f.join(':');
    }
  }

  /** One groupadd/useradd/usermod/gpasswd invocation; returns the tool's exit status. */
  run(tool: 'groupadd' | 'useradd' | 'usermod' | 'gpasswd', args: string[]): number {
    const status = this.transaction(() => {
      switch (tool) {
        case 'groupadd':
          return this.groupadd(args);
        case 'useradd':
          return this.useradd(args);
        case 'usermod':
          return this.usermod(args);
        case 'gpasswd':
          return this.gpasswd(args);
      }
    });
    if (status !== 0) this.notes.push(`${tool} ${args.join(' ')}: exit ${status}`);
    return status;
  }

  private groupadd(args: string[]): number {
    const o = getopt(args, 'fg:hK:op:rR:P:U:', { force: 'f', gid: 'g', help: 'h', key: 'K', 'non-unique': 'o', password: 'p', system: 'r', root: 'R', prefix: 'P', users: 'U' });
    if (!o || o.operands.length !== 1) return E.USAGE;
    const name = o.operands[0]!;
    if (!validName(name)) return E.BAD_ARG;
    if (this.group(name)) return o.has('f') ? E.OK : E.NAME_IN_USE;
    let gid: number | undefined;
    if (o.has('g')) {
      gid = parseId(o.get('g')!);
      if (gid === undefined) return E.BAD_ARG;
      if (this.find('group', String(gid), 2) && !o.has('o')) {
        // -f: a gid in use is not an error; another one is chosen as if -g were not given.
        if (!o.has('f')) return E.ID_IN_USE;
        gid = undefined;
      }
    }
    gid ??= this.allocate('GID', o.has('r'));
    if (gid === undefined) return E.ID_IN_USE;
    const members = o.get('U') ?? '';
    this.append('group', `${name}:${o.get('p') ?? 'x'}:${gid}:${members}`);
    this.append('gshadow', `${name}:${o.get('p') ?? '!'}::${members}`);
    return E.OK;
  }

  private useradd(args: string[]): number {
    const o = getopt(args, 'b:c:d:De:f:g:G:hk:K:lmMnNop:rR:P:s:u:UZ:', {
      'base-dir': 'b', comment: 'c', 'home-dir': 'd', defaults: 'D', expiredate: 'e', inactive: 'f', gid: 'g', groups: 'G', help: 'h', skel: 'k', key: 'K', 'no-log-init': 'l',
      'create-home': 'm', 'no-create-home': 'M', 'no-user-group': 'N', 'non-unique': 'o', password: 'p', system: 'r', root: 'R', prefix: 'P', shell: 's', uid: 'u', 'user-group': 'U', 'selinux-user': 'Z',
    });
    if (!o || o.has('D') || o.operands.length !== 1) return E.USAGE;
    const name = o.operands[0]!;
    if (!validName(name)) return E.BAD_ARG;
    const system = o.has('r');
    const noGroup = o.has('N') || o.has('n');
    if (o.has('U') && (noGroup || o.has('g'))) return E.USAGE;
    const userGroup = o.has('U') || (!o.has('g') && !noGroup && this.bool('USERGROUPS_ENAB'));
    let gid: number | undefined;
    if (o.has('g')) {
      const g = this.groupByIdOrName(o.get('g')!);
      if (!g) return E.NOT_FOUND;
      gid = Number(g[2]);
    } else if (!userGroup) gid = Number(this.defaults.get('GROUP') ?? 100);
    const extra = (o.get('G') ?? '').split(',').filter(Boolean);
    const extraNames: string[] = [];
    for (const g of extra) {
      const row = this.groupByIdOrName(g);
      if (!row) return E.NOT_FOUND;
      extraNames.push(row[0]!);
    }
    if (this.user(name)) return E.NAME_IN_USE;
    if (userGroup && this.group(name)) return E.NAME_IN_USE;
    let uid: number | undefined;
    if (o.has('u')) {
      uid = parseId(o.get('u')!);
      if (uid === undefined) return E.BAD_ARG;
      if (this.find('passwd', String(uid), 2) && !o.has('o')) return E.ID_IN_USE;
    } else {
      uid = this.allocate('UID', system);
      if (uid === undefined) return E.ID_IN_USE;
    }
    if (userGroup) {
      gid = this.allocate('GID', system, uid);
      if (gid === undefined) return E.ID_IN_USE;
    }
    const home = o.get('d') ?? `${o.get('b') ?? this.defaults.get('HOME') ?? '/home'}/${name}`;
    const shell = o.get('s') ?? this.defaults.get('SHELL') ?? '/sbin/nologin';
    const pass = o.get('p') ?? '!!';
    const firstUse = !this.find('passwd', String(uid), 2);
    // Without /etc/shadow the password stays in passwd (is_shadow_pwd).
    const shadowed = this.file('shadow').exists || this.file('shadow').changed;
    this.append('passwd', `${name}:${shadowed ? 'x' : pass}:${uid}:${gid}:${o.get('c') ?? ''}:${home}:${shell}`);
    const ageing = system
      ? ['', '', '', '', '']
      : [this.defs.get('PASS_MIN_DAYS') ?? '', this.defs.get('PASS_MAX_DAYS') ?? '', this.defs.get('PASS_WARN_AGE') ?? '', optionalDays(o.get('f') ?? this.defaults.get('INACTIVE')), expireDays(o.get('e') ?? this.defaults.get('EXPIRE'))];
    this.append('shadow', [name, pass, this.day > 0 ? String(this.day) : '', ...ageing, ''].join(':'));
    if (userGroup) {
      const gshadowed = this.file('gshadow').exists || this.file('gshadow').changed;
      this.append('group', `${name}:${gshadowed ? 'x' : '!'}:${gid}:`);
      this.append('gshadow', `${name}:!::`);
    }
    for (const g of extraNames) this.addMember(g, name);
    if (!o.has('l') && firstUse) this.lastlogUids.push(uid);
    const makeHome = o.has('m') || (!o.has('M') && !system && this.bool('CREATE_HOME'));
    if (makeHome) {
      const umask = this.num('UMASK', 0o022);
      const mode = this.defs.has('HOME_MODE') ? this.num('HOME_MODE', 0o700) : 0o777 & ~umask;
      this.homes.push({ path: home, uid, gid: gid!, mode });
    }
    if (!system && (this.defaults.get('CREATE_MAIL_SPOOL') ?? 'no').toLowerCase() === 'yes') {
      const dir = this.defs.get('MAIL_DIR') ?? '/var/spool/mail';
      const mailGroup = this.group('mail');
      this.mail.push({ path: `${dir}/${name}`, uid, gid: mailGroup ? Number(mailGroup[2]) : gid!, mode: mailGroup ? 0o660 : 0o600 });
    }
    if (!system) this.subordinateIds(name);
    return E.OK;
  }

  /**
   * /etc/subuid and /etc/subgid ranges for non-system users, when the files exist (ENABLE_SUBIDS): the
   * lowest free range of SUB_*_COUNT ids from SUB_*_MIN, after the file's and this build's ranges.
   */
  private subordinateIds(name: string): void {
    for (const [file, kind] of [['subuid', 'UID'], ['subgid', 'GID']] as const) {
      const existing = this.subidFiles.get(file);
      if (existing === undefined) continue;
      const min = this.num(`SUB_${kind}_MIN`, 100000);
      const count = this.num(`SUB_${kind}_COUNT`, 65536);
      const taken = [...existing, ...this.subids.filter((s) => s.file === file).map((s) => s.line)]
        .map((l) => l.split(':').map(Number))
        .filter((f): f is [number, number, number] => f.length === 3 && Number.isFinite(f[1]) && Number.isFinite(f[2]))
        .sort((a, b) => a[1] - b[1]);
      let start = min;
      for (const [, s, n] of taken) if (start + count > s && start < s + n) start = s + n;
      this.subids.push({ file, line: `${name}:${start}:${count}` });
    }
  }

  private usermod(args: string[]): number {
    const o = getopt(args, 'aG:R:P:', { append: 'a', groups: 'G', root: 'R', prefix: 'P' });
    if (!o || o.operands.length !== 1 || !o.has('G')) {
      this.notes.push(`not reproduced: usermod ${args.join(' ')} (only -a -G is)`);
      return E.OK;
    }
    const user = o.operands[0]!;
    if (!this.user(user)) return E.NOT_FOUND;
    const wanted: string[] = [];
    for (const g of o.get('G')!.split(',').filter(Boolean)) {
      const row = this.groupByIdOrName(g);
      if (!row) return E.NOT_FOUND;
      wanted.push(row[0]!);
    }
    if (!o.has('a')) {
      // Without -a the user leaves every other supplementary group.
      for (const name of ['group', 'gshadow'] as const) {
        const file = this.file(name);
        file.lines = file.lines.map((l) => {
          const f = l.split(':');
          if (wanted.includes(f[0]!)) return l;
          const members = (f[3] ?? '').split(',').filter(Boolean);
          if (!members.includes(user)) return l;
          f[3] = members.filter((m) => m !== user).join(',');
          return f.join(':');
        });
      }
    }
    for (const g of wanted) this.addMember(g, user);
    return E.OK;
  }

  private gpasswd(args: string[]): number {
    const o = getopt(args, 'a:d:Q:', { add: 'a', delete: 'd', root: 'Q' });
    if (!o || !o.has('a') || o.operands.length !== 1) {
      this.notes.push(`not reproduced: gpasswd ${args.join(' ')} (only -a is)`);
      return E.OK;
    }
    const group = o.operands[0]!;
    if (!this.group(group)) return 3;
    if (!this.user(o.get('a')!)) return 3;
    this.addMember(group, o.get('a')!);
    return E.OK;
  }

  /**
   * One command the scriptlet interpreter reached (account tools and systemd-sysusers; others are
   * ignored): meant as the interpreter's `perform`, so later `getent` calls see its result. Returns
   * the exit status the real tool would.
   */
  perform(c: ScriptCommand): number {
    if (c.kind === 'account') return this.run(c.tool, c.args);
    if (c.kind !== 'sysusers') return 0;
    const where = `${c.origin.pkg} ${c.origin.scriptlet}`;
    const files = c.args.filter((a) => !a.startsWith('-') || a === '-');
    if (c.args.some((a) => a.startsWith('-') && a !== '-' && !a.startsWith('--replace='))) this.notes.push(`${where}: systemd-sysusers ${c.args.join(' ')}: options ignored`);
    // --replace=PATH: systemd-sysusers reads every other sysusers.d file too; only the given one is applied
    // here (the others are applied by their own packages' scriptlets).
    if (!files.length) {
      // No argument: every sysusers.d file, /etc over /run over /usr/lib by name, in name order.
      const byName = new Map<string, string>();
      for (const dir of ['usr/lib', 'run', 'etc']) for (const path of this.sysusersFiles.keys()) if (path.startsWith(`${dir}/sysusers.d/`)) byName.set(path.slice(path.lastIndexOf('/') + 1), path);
      let status = 0;
      for (const name of [...byName.keys()].sort()) status ||= this.sysusers(this.sysusersFiles.get(byName.get(name)!)!, byName.get(name)!);
      return status;
    }
    let status = 0;
    for (const f of files) {
      if (f === '-') {
        status ||= this.sysusers(c.stdin ?? '', `${where} (stdin)`);
        continue;
      }
      const path = f.startsWith('/') ? this.ctx.locatePath(f) : ['etc', 'run', 'usr/lib'].map((d) => `${d}/sysusers.d/${f}`).find((p) => this.sysusersFiles.has(p));
      const text = path === undefined ? undefined : this.sysusersFiles.get(path);
      if (text === undefined) {
        this.notes.push(`${where}: systemd-sysusers: ${f} is not a sysusers.d file of the image`);
        status = 1;
        continue;
      }
      status ||= this.sysusers(text, f);
    }
    return status;
  }

  // ---- systemd-sysusers ----------------------------------------------------------------------------

  /** Applies sysusers.d lines as systemd-sysusers does: groups first, then users, then memberships. */
  sysusers(text: string, source: string): number {
    const groups: { name: string; id: string; implicit?: boolean }[] = [];
    const users: { name: string; id: string; gecos: string; home: string; shell: string }[] = [];
    const members: { user: string; group: string }[] = [];
    let ranges: [number, number][] = [];
    for (const [n, raw] of text.split('\n').entries()) {
      const line = raw.trim();
      if (!line || line.startsWith('#')) continue;
      const f = sysusersFields(line);
      if (!f || f.length < 2) {
        this.notes.push(`${source}:${n + 1}: not a sysusers.d line: ${line}`);
        continue;
      }
      const [type, name, id = '-', gecos = '-', home = '-', shell = '-'] = f as [string, string, ...string[]];
      if (type === 'g') groups.push({ name, id });
      else if (type === 'u') {
        // u NAME ID[:GID]: an implicit group of the same name unless the gid names another group.
        const [uid, gid] = id.split(':') as [string, string | undefined];
        if (gid === undefined || /^[0-9]+$/.test(gid)) groups.push({ name, id: gid ?? (uid === '-' ? '-' : `=${uid}`), implicit: true });
        users.push({ name, id, gecos: gecos === '-' ? '' : gecos, home: home === '-' ? '/' : home, shell: shell === '-' ? '' : shell });
      } else if (type === 'm') members.push({ user: name, group: id });
      else if (type === 'r') {
        const m = /^([0-9]+)-([0-9]+)$/.exec(id);
        if (name === '-' && m) ranges.push([Number(m[1]), Number(m[2])]);
        else this.notes.push(`${source}:${n + 1}: not reproduced: ${line}`);
      } else this.notes.push(`${source}:${n + 1}: not reproduced: ${line}`);
    }
    if (!ranges.length) ranges = [[1, this.num('SYS_UID_MAX', 999)]];
    // m lines create missing users and groups too.
    for (const m of members) {
      if (!groups.some((g) => g.name === m.group)) groups.push({ name: m.group, id: '-' });
      if (!users.some((u) => u.name === m.user)) {
        users.push({ name: m.user, id: '-', gecos: '', home: '/', shell: '' });
        if (!groups.some((g) => g.name === m.user)) groups.push({ name: m.user, id: '-', implicit: true });
      }
    }
    return this.transaction(() => {
      const pendingUids = new Map(users.filter((u) => /^[0-9]+/.test(u.id)).map((u) => [u.name, Number(u.id.split(':')[0])]));
      const usedGids = () => new Set(this.rows('group').map((r) => Number(r[2])));
      const usedUids = () => new Set(this.rows('passwd').map((r) => Number(r[2])));
      const fixed = new Set([...groups.filter((g) => /^=?[0-9]+$/.test(g.id)).map((g) => Number(g.id.replace('=', ''))), ...pendingUids.values()]);
      // A free id is free as both a uid and a gid, from the top of the ranges down.
      const pick = () => {
        const used = new Set([...usedUids(), ...usedGids(), ...fixed]);
        for (const [lo, hi] of [...ranges].sort((a, b) => b[1] - a[1])) for (let id = hi; id >= lo; id--) if (!used.has(id)) return id;
        return undefined;
      };
      const addGroup = (g: { name: string; id: string }): boolean => {
        if (this.group(g.name)) return true;
        const used = usedGids();
        const want = /^=?[0-9]+$/.test(g.id) ? Number(g.id.replace('=', '')) : undefined;
        let gid: number | undefined;
        if (want !== undefined && !used.has(want)) gid = want;
        else {
          // The uid of the user of the same name, when it is free as a gid.
          const uid = pendingUids.get(g.name) ?? (this.user(g.name) ? Number(this.user(g.name)![2]) : undefined);
          gid = uid !== undefined && !used.has(uid) ? uid : pick();
        }
        if (gid === undefined) return false;
        this.append('group', `${g.name}:x:${gid}:`);
        this.appendShadow('gshadow', `${g.name}:!*::`);
        return true;
      };
      // Declared groups first, then each user after its own group.
      for (const g of groups.filter((x) => !x.implicit)) if (!addGroup(g)) return 1;
      for (const u of users) {
        const own = groups.find((g) => g.implicit && g.name === u.name);
        if (own && !addGroup(own)) return 1;
        if (this.user(u.name)) continue;
        const [uidField, gidField] = u.id.split(':') as [string, string | undefined];
        if (gidField !== undefined && !this.groupByIdOrName(gidField) && !/^[0-9]+$/.test(gidField)) {
          // systemd-sysusers: "Group X not found.", the user is skipped, the run goes on.
          this.notes.push(`${source}: u ${u.name}: group ${gidField} not found; user not created`);
          continue;
        }
        const used = usedUids();
        let uid: number | undefined;
        if (/^[0-9]+$/.test(uidField) && !used.has(Number(uidField))) uid = Number(uidField);
        else {
          const g = this.group(u.name) ? Number(this.group(u.name)![2]) : undefined;
          uid = g !== undefined && !used.has(g) ? g : pick();
        }
        if (uid === undefined) return 1;
        const group = gidField === undefined ? this.group(u.name) : this.groupByIdOrName(gidField);
        const gid = group ? Number(group[2]) : uid;
        const shell = u.shell || (uid === 0 ? '/bin/sh' : '/usr/sbin/nologin');
        this.append('passwd', `${u.name}:x:${uid}:${gid}:${u.gecos}:${u.home}:${shell}`);
        this.appendShadow('shadow', `${u.name}:!*:${this.day}::::::`);
      }
      for (const m of members) this.addMember(m.group, m.user);
      return 0;
    });
  }

  /** systemd-sysusers creates shadow and gshadow when they are missing. */
  private appendShadow(name: 'shadow' | 'gshadow', line: string): void {
    this.file(name).lines.push(line);
  }

  // ---- output --------------------------------------------------------------------------------------

  /** Writes the changed files, their backups, home folders, mail spools, lastlog and subordinate ids. */
  async write(options: AccountOptions = {}): Promise<void> {
    const ctx = this.ctx;
    if (options.users?.length) this.file('passwd').lines.push(...options.users), (this.file('passwd').changed = true);
    if (options.groups?.length) this.file('group').lines.push(...options.groups), (this.file('group').changed = true);
    for (const name of FILES) {
      const f = this.file(name);
      if (!f.changed) continue;
      const origin = 'rpm scriptlets (accounts)';
      ctx.file(`etc/${name}`, f.lines.length ? `${f.lines.join('\n')}\n` : '', origin, f.mode, f.uid, f.gid);
      if (f.backup) ctx.file(`etc/${name}-`, f.backup.length ? `${f.backup.join('\n')}\n` : '', origin, f.mode, f.uid, f.gid);
    }
    if (this.locked && !ctx.exists('etc/.pwd.lock')) ctx.file('etc/.pwd.lock', '', 'lckpwdf', 0o600);
    for (const h of this.homes) {
      const at = h.path.replace(/^\/+/, '');
      if (ctx.exists(at)) continue;
      ctx.dir(at, 'useradd -m', h.mode, h.uid, h.gid);
      for (const e of ctx.result().filter((x) => x.path.startsWith('etc/skel/'))) {
        const rel = e.path.slice('etc/skel/'.length);
        if (!rel) continue;
        if (e.type === 'directory') ctx.dir(`${at}/${rel}`, 'useradd -m (skel)', e.mode, h.uid, h.gid);
        else if (e.type === 'symlink') ctx.symlink(`${at}/${rel}`, e.linkname ?? '', 'useradd -m (skel)');
        else if (e.type === 'file') ctx.file(`${at}/${rel}`, await ctx.read(e.path), 'useradd -m (skel)', e.mode, h.uid, h.gid);
      }
    }
    for (const m of this.mail) if (!ctx.exists(m.path)) ctx.file(m.path.replace(/^\/+/, ''), '', 'useradd (mail spool)', m.mode, m.uid, m.gid);
    const lastlog = ctx.entry('var/log/lastlog');
    if (this.lastlogUids.length && lastlog?.type === 'file') {
      const size = lastlogRecordSize(ctx.arch);
      const max = this.num('LASTLOG_UID_MAX', 0xffffffff);
      const old = await ctx.read('var/log/lastlog');
      const end = Math.max(old.length, ...this.lastlogUids.filter((u) => u <= max).map((u) => (u + 1) * size));
      const data = Buffer.alloc(end);
      old.copy(data);
      for (const u of this.lastlogUids) if (u <= max) data.fill(0, u * size, (u + 1) * size);
      ctx.file('var/log/lastlog', data, 'useradd (lastlog)', lastlog.mode & 0o7777, lastlog.uid, lastlog.gid);
    }
    for (const file of ['subuid', 'subgid'] as const) {
      const lines = this.subids.filter((s) => s.file === file).map((s) => s.line);
      if (!lines.length) continue;
      const e = ctx.entry(`etc/${file}`)!;
      const old = (await ctx.read(`etc/${file}`)).toString('utf8');
      ctx.file(`etc/${file}`, `${old}${lines.join('\n')}\n`, 'useradd (subordinate ids)', e.mode & 0o7777, e.uid, e.gid);
    }
    ctx.notes.push(...this.notes);
  }
}

/**
 * Applies the account commands of the packages' scriptlets (groupadd, useradd, usermod, gpasswd,
 * systemd-sysusers), in order, then the spec's extra lines, and writes the files. Returns the database
 * (its notes are also added to the context's).
 */
export async function applyAccountCommands(ctx: EffectContext, commands: ScriptCommand[], options: AccountOptions = {}): Promise<AccountDatabase> {
  const db = await AccountDatabase.load(ctx);
  for (const c of commands) db.perform(c);
  await db.write(options);
  return db;
}

// ---- helpers ---------------------------------------------------------------------------------------

function validName(name: string): boolean {
  // Red Hat's shadow is lenient (goodname patch); what the files cannot hold is refused.
  return name !== '' && !/[:\n,\s]/.test(name) && !name.startsWith('-') && name.length <= 32;
}

function parseId(v: string): number | undefined {
  return /^[0-9]+$/.test(v) && Number(v) < 0xffffffff ? Number(v) : undefined;
}

function optionalDays(v: string | undefined): string {
  return v === undefined || v === '' || Number(v) < 0 ? '' : String(Number(v));
}

function expireDays(v: string | undefined): string {
  if (!v) return '';
  const t = Date.parse(`${v}T00:00:00Z`);
  return Number.isFinite(t) ? String(Math.floor(t / 86400000)) : '';
}

/** sysusers.d fields: whitespace-separated, double or single quotes group words (as systemd's extract_first_word). */
function sysusersFields(line: string): string[] | undefined {
  const out: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s"']+))/y;
  let at = 0;
  while (at < line.length && line.slice(at).trim()) {
    re.lastIndex = at;
    const m = re.exec(line);
    if (!m) return undefined;
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? m[3]!));
    at = re.lastIndex;
  }
  return out;
}

interface Parsed {
  operands: string[];
  has(opt: string): boolean;
  get(opt: string): string | undefined;
}

/** getopt_long as shadow-utils calls it (permuting: options may follow operands); undefined on an unknown option. */
function getopt(args: string[], short: string, long: Record<string, string>): Parsed | undefined {
  const withArg = new Set([...short.matchAll(/([A-Za-z])(?=:)/g)].map((m) => m[1]!));
  const opts = new Map<string, string>();
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      operands.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const [key, value] = a.slice(2).split(/=(.*)/s) as [string, string | undefined];
      const matches = Object.keys(long).filter((k) => k === key || k.startsWith(key));
      const full = matches.includes(key) ? key : matches.length === 1 ? matches[0]! : undefined;
      if (!full) return undefined;
      const opt = long[full]!;
      if (withArg.has(opt)) {
        const v = value ?? args[++i];
        if (v === undefined) return undefined;
        opts.set(opt, v);
      } else opts.set(opt, '');
    } else if (a.startsWith('-') && a.length > 1) {
      for (let k = 1; k < a.length; k++) {
        const opt = a[k]!;
        if (!short.includes(opt) || opt === ':') return undefined;
        if (withArg.has(opt)) {
          const v = k + 1 < a.length ? a.slice(k + 1) : args[++i];
          if (v === undefined) return undefined;
          opts.set(opt, v);
          break;
        }
        opts.set(opt, '');
      }
    } else operands.push(a);
  }
  return { operands, has: (o) => opts.has(o), get: (o) => opts.get(o) };
}
