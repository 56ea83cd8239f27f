import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { EffectContext } from '../src/packages/effects/context.js';
import { dirEntry, fileEntry, symlinkEntry } from '../src/entries/synthetic.js';
import type { SourcedEntry } from '../src/entries/entry-set.js';
import { imageFileTest, interpretScriptlet, type ScriptCommand, type ScriptHost, type Scriptlet } from '../src/packages/rpm/effects/scriptlet.js';
import { AccountDatabase, applyAccountCommands } from '../src/packages/rpm/effects/accounts.js';
import { Alternatives, applyAlternativesCommands } from '../src/packages/rpm/effects/alternatives.js';
import { EPOCH, must, run, tempDir } from './helpers.js';

const epoch = Number(EPOCH);
const DAY = Math.floor(epoch / 86400);

// What CentOS Stream 9's setup and shadow-utils ship (abridged passwd/group; login.defs' active lines).
const SETUP: Record<string, { text: string; mode: number }> = {
  'etc/passwd': { mode: 0o644, text: 'root:x:0:0:root:/root:/bin/bash\nbin:x:1:1:bin:/bin:/sbin/nologin\ndaemon:x:2:2:daemon:/sbin:/sbin/nologin\nadm:x:3:4:adm:/var/adm:/sbin/nologin\nmail:x:8:12:mail:/var/spool/mail:/sbin/nologin\noperator:x:11:0:operator:/root:/sbin/nologin\nnobody:x:65534:65534:Kernel Overflow User:/:/sbin/nologin\n' },
  'etc/group': { mode: 0o644, text: 'root:x:0:\nbin:x:1:\ndaemon:x:2:\nsys:x:3:\nadm:x:4:\ntty:x:5:\ndisk:x:6:\nwheel:x:10:\ncdrom:x:11:\nmail:x:12:\ndialout:x:18:\ntape:x:33:\nutmp:x:22:\nusers:x:100:\nnobody:x:65534:\n' },
  'etc/shadow': { mode: 0, text: 'root:*::0:99999:7:::\nbin:*:18700:0:99999:7:::\ndaemon:*:18700:0:99999:7:::\nadm:*:18700:0:99999:7:::\nmail:*:18700:0:99999:7:::\noperator:*:18700:0:99999:7:::\nnobody:*:18700:0:99999:7:::\n' },
  'etc/gshadow': { mode: 0, text: 'root:::\nbin:::\ndaemon:::\nsys:::\nadm:::\ntty:::\ndisk:::\nwheel:::\ncdrom:::\nmail:::\ndialout:::\ntape:::\nutmp:::\nusers:::\nnobody:::\n' },
  'etc/login.defs': { mode: 0o644, text: 'MAIL_DIR\t/var/spool/mail\nUMASK\t\t022\nHOME_MODE\t0700\nPASS_MAX_DAYS\t99999\nPASS_MIN_DAYS\t0\nPASS_WARN_AGE\t7\nUID_MIN                  1000\nUID_MAX                 60000\nSYS_UID_MIN               201\nSYS_UID_MAX               999\nGID_MIN                  1000\nGID_MAX                 60000\nSYS_GID_MIN               201\nSYS_GID_MAX               999\nCREATE_HOME\tyes\nUSERGROUPS_ENAB yes\nENCRYPT_METHOD SHA512\n' },
  'etc/default/useradd': { mode: 0o600, text: 'GROUP=100\nHOME=/home\nINACTIVE=-1\nEXPIRE=\nSHELL=/bin/bash\nSKEL=/etc/skel\nCREATE_MAIL_SPOOL=yes\n' },
  'etc/skel/.bashrc': { mode: 0o644, text: '# .bashrc\n' },
};

function imageContext(files: Record<string, { text: string; mode: number }>, extra: SourcedEntry[] = []): EffectContext {
  const entries: SourcedEntry[] = [];
  const dirs = new Set<string>();
  for (const [path, f] of Object.entries(files)) {
    for (let d = dirname(path); d !== '.'; d = dirname(d)) dirs.add(d);
    entries.push({ ...fileEntry(path, f.text, { mtime: epoch, mode: f.mode }), origin: 'test' });
  }
  for (const d of dirs) entries.push({ ...dirEntry(d, { mtime: epoch }), origin: 'test' });
  return new EffectContext([...entries, ...extra], new Map(), epoch, 'x86_64');
}

function writeRoot(files: Record<string, { text: string; mode: number }>): string {
  const root = tempDir('fs-rpm-accounts');
  for (const [path, f] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), f.text);
    chmodSync(join(root, path), f.mode);
  }
  mkdirSync(join(root, 'home'), { recursive: true });
  mkdirSync(join(root, 'var/spool/mail'), { recursive: true });
  return root;
}

/** An entry of the image after the effects (what they added replaces what was packaged). */
function final(ctx: EffectContext, path: string): SourcedEntry | undefined {
  return ctx.result().find((e) => e.path === path);
}

async function text(ctx: EffectContext, path: string): Promise<string | undefined> {
  const e = final(ctx, path);
  if (!e?.open) return e ? '' : undefined;
  const chunks: Buffer[] = [];
  for await (const c of e.open()) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const bin = (paths: string[]): SourcedEntry[] => paths.map((p) => ({ ...fileEntry(p, '', { mtime: epoch, mode: 0o755 }), origin: 'test' }));

const noImage: ScriptHost = { getent: () => false, fileTest: () => false };

function sh(pkg: string, name: string, body: string): Scriptlet {
  return { pkg, name, interpreter: ['/bin/sh'], body };
}

/** Interprets scriptlets against the accounts database, applying each command as it is reached. */
function interpretAll(ctx: EffectContext, db: AccountDatabase, scripts: Scriptlet[]): { commands: ScriptCommand[]; notes: string[] } {
  const commands: ScriptCommand[] = [];
  const notes: string[] = [];
  const host: ScriptHost = { getent: (d, k) => db.getent(d, k), fileTest: imageFileTest(ctx), perform: (c) => db.perform(c) };
  for (const s of scripts) {
    const r = interpretScriptlet(s, host);
    commands.push(...r.commands);
    notes.push(...r.notes);
  }
  return { commands, notes };
}

// Real-world %pre scriptlets (as rpm stores them: macros expanded).
const POLKIT = sh('polkit', '%pre', `getent group polkitd >/dev/null || groupadd -r polkitd
getent passwd polkitd >/dev/null || useradd -r -g polkitd -d / -s /sbin/nologin -c "User for polkitd" polkitd
exit 0
`);
const TPM2_TSS = sh('tpm2-tss', '%pre', `getent group tss >/dev/null || groupadd -g 59 -r tss
getent passwd tss >/dev/null || \\
useradd -r -u 59 -g tss -d /dev/null -s /sbin/nologin \\
 -c "Account used for TPM access" tss
exit 0
`);
const CHRONY = sh('chrony', '%pre', `getent group chrony > /dev/null || /usr/sbin/groupadd -r chrony
getent passwd chrony > /dev/null || /usr/sbin/useradd -r -g chrony \\
       -d /var/lib/chrony -s /sbin/nologin chrony
:
`);
const UNBOUND = sh('unbound-libs', '%pre', `getent group unbound >/dev/null || groupadd -r unbound
getent passwd unbound >/dev/null || \\
useradd -r -g unbound -d /etc/unbound -s /sbin/nologin \\
-c "Unbound DNS resolver" unbound
`);
const OPENSSH = sh('openssh-server', '%pre', `getent group sshd >/dev/null || groupadd -g 74 -r sshd || :
getent passwd sshd >/dev/null || \\
  useradd -c "Privilege-separated SSH" -u 74 -g sshd \\
  -s /sbin/nologin -r -d /usr/share/empty.sshd sshd 2> /dev/null || :
`);
// CentOS 7's dbus: no getent, the tools' failures silenced.
const DBUS_EL7 = sh('dbus', '%pre', `# Add the "dbus" user and group
/usr/sbin/groupadd -r -g 81 dbus 2>/dev/null || :
/usr/sbin/useradd -c 'System message bus' -u 81 -g 81 \\
    -s /sbin/nologin -r -d '/' dbus 2> /dev/null || :
`);
// CentOS 8's systemd: &> redirections, groups with and without ids.
const SYSTEMD_EL8 = sh('systemd', '%pre', `getent group cdrom &>/dev/null || groupadd -r -g 11 cdrom &>/dev/null || :
getent group utmp &>/dev/null || groupadd -r -g 22 utmp &>/dev/null || :
getent group input &>/dev/null || groupadd -r input &>/dev/null || :
getent group kvm &>/dev/null || groupadd -r -g 36 kvm &>/dev/null || :
getent group render &>/dev/null || groupadd -r render &>/dev/null || :
getent group systemd-journal &>/dev/null || groupadd -r -g 190 systemd-journal 2>&1 || :

getent group systemd-coredump &>/dev/null || groupadd -r systemd-coredump 2>&1 || :
getent passwd systemd-coredump &>/dev/null || useradd -r -l -g systemd-coredump -d / -s /sbin/nologin -c "systemd Core Dumper" systemd-coredump &>/dev/null || :

getent group systemd-resolve &>/dev/null || groupadd -r -g 193 systemd-resolve 2>&1 || :
getent passwd systemd-resolve &>/dev/null || useradd -r -u 193 -l -g systemd-resolve -d / -s /sbin/nologin -c "systemd Resolver" systemd-resolve &>/dev/null || :
`);
// Fedora's %sysusers_create_compat output (systemd's sysusers.generate-pre.sh) for dbus' sysusers.d file.
const DBUS_COMPAT = sh('dbus-common', '%pre', `# generated from dbus.sysusers
getent group 'dbus' >/dev/null || groupadd -f -g '81' -r 'dbus' || :
if ! getent passwd 'dbus' >/dev/null; then
    if ! getent passwd '81' >/dev/null; then
        useradd -r -u '81' -g 'dbus' -d '/' -s '/sbin/nologin' -c 'System Message Bus' 'dbus' || :
    else
        useradd -r -g 'dbus' -d '/' -s '/sbin/nologin' -c 'System Message Bus' 'dbus' || :
    fi
fi

`);
const GROUP_MEMBER_COMPAT = sh('qemu-guest-agent', '%pre', `getent group 'kvm' >/dev/null || groupadd -r 'kvm' || :
getent group 'render' >/dev/null || groupadd -r 'render' || :
if getent group 'kvm' >/dev/null; then
    usermod -a -G 'kvm' 'tss' || :
fi
`);
// A non-system user with a home, mail spool and supplementary group.
const LOGIN_USER = sh('example-login', '%post', `if [ $1 -eq 1 ]; then
  getent passwd builder >/dev/null || useradd -c "Build user" -G wheel builder
  gpasswd -a builder users >/dev/null
fi
`);

describe('rpm scriptlets: accounts against the real shadow-utils', () => {
  const tools = ['useradd', 'groupadd', 'usermod', 'gpasswd'].every((t) => run('sh', ['-c', `command -v ${t}`]).status === 0);
  const root = process.getuid?.() === 0;

  it('gives the same passwd, group, shadow and gshadow (and backups) as useradd/groupadd --root on a CentOS-like root', { skip: tools && root ? false : 'needs shadow-utils (passwd) and root for --root' }, async () => {
    const scripts = [POLKIT, TPM2_TSS, CHRONY, UNBOUND, OPENSSH, DBUS_EL7, SYSTEMD_EL8, DBUS_COMPAT, GROUP_MEMBER_COMPAT, LOGIN_USER];
    const ctx = imageContext(SETUP);
    const db = await AccountDatabase.load(ctx);
    const { commands, notes } = interpretAll(ctx, db, scripts);
    await db.write();
    assert.deepEqual(notes.filter((n) => n.startsWith('not reproduced')), []);
    // The oracle: the same commands, in order, by the real tools on a root with the same files.
    const dir = writeRoot(SETUP);
    const statuses: number[] = [];
    for (const c of commands) {
      assert.equal(c.kind, 'account');
      if (c.kind !== 'account') continue;
      statuses.push(run(c.tool, ['--root', dir, ...c.args], { env: { ...process.env, SOURCE_DATE_EPOCH: EPOCH } }).status);
    }
    // Only dbus EL7's second useradd fails (the group and user exist already) — silenced by `|| :`.
    assert.equal(statuses.filter((s) => s !== 0).length, 0, `statuses ${statuses}`);
    // Debian's useradd locks with "!", Red Hat's with "!!" (shadow-4.x-redhat.patch): follow RHEL.
    const rhel = (name: string, t: string) => (name.startsWith('shadow') ? t.replace(/^([^:]+):!:/gm, '$1:!!:') : t);
    for (const name of ['passwd', 'group', 'shadow', 'gshadow', 'passwd-', 'group-', 'shadow-', 'gshadow-', '.pwd.lock']) {
      const real = rhel(name, readFileSync(join(dir, 'etc', name), 'utf8'));
      assert.equal(await text(ctx, `etc/${name}`), real, `etc/${name}`);
      assert.equal(final(ctx, `etc/${name}`)!.mode & 0o7777, statSync(join(dir, 'etc', name)).mode & 0o7777, `mode of etc/${name}`);
    }
    const shadow = (await text(ctx, 'etc/shadow'))!;
    assert.match(shadow, new RegExp(`^polkitd:!!:${DAY}::::::$`, 'm'));
    assert.match(shadow, new RegExp(`^builder:!!:${DAY}:0:99999:7:::$`, 'm'));
    // Ids as useradd/groupadd chose them: fixed ones kept, system ones from 999 down.
    const passwd = (await text(ctx, 'etc/passwd'))!;
    assert.match(passwd, /^polkitd:x:999:999:User for polkitd:\/:\/sbin\/nologin$/m);
    assert.match(passwd, /^tss:x:59:59:/m);
    assert.match(passwd, /^builder:x:1000:1000:Build user:\/home\/builder:\/bin\/bash$/m);
    // The home (mode HOME_MODE, skel copied) and mail spool of the login user, as useradd made them.
    const home = ctx.entry('home/builder')!;
    const realHome = statSync(join(dir, 'home/builder'));
    assert.deepEqual([home.type, home.mode & 0o7777, home.uid, home.gid], ['directory', realHome.mode & 0o7777, realHome.uid, realHome.gid]);
    assert.equal(await text(ctx, 'home/builder/.bashrc'), readFileSync(join(dir, 'home/builder/.bashrc'), 'utf8'));
    const mail = ctx.entry('var/spool/mail/builder')!;
    const realMail = statSync(join(dir, 'var/spool/mail/builder'));
    assert.deepEqual([mail.mode & 0o7777, mail.uid, mail.gid], [realMail.mode & 0o7777, realMail.uid, realMail.gid]);
    // System users get no home folder unless -m.
    assert.equal(ctx.exists('var/lib/chrony'), existsSync(join(dir, 'var/lib/chrony')));
  });

  it('fails and succeeds as the real tools do (exit statuses)', { skip: tools && root ? false : 'needs shadow-utils (passwd) and root for --root' }, async () => {
    const cases: [string, string[]][] = [
      ['groupadd', ['-r', 'wheel']],
      ['groupadd', ['-f', '-r', 'wheel']],
      ['groupadd', ['-g', '10', 'again']],
      ['groupadd', ['-f', '-g', '10', '-r', 'again']],
      ['useradd', ['-r', 'root']],
      ['useradd', ['-r', '-u', '0', 'zero']],
      ['useradd', ['-r', '-g', 'nosuchgroup', 'x1']],
      ['useradd', ['-r', '-G', 'nosuch', 'x2']],
      ['useradd', ['-r', 'mail']],
      ['useradd', ['-r', '-N', '-M', 'x3']],
      ['useradd', ['-rMN', '-gusers', 'x4']],
      ['useradd', ['--system', '--uid=300', '--gid', 'users', '--comment', 'c', 'x5']],
      ['usermod', ['-a', '-G', 'nosuch', 'root']],
      ['usermod', ['-a', '-G', 'wheel,tty', 'x5']],
      ['gpasswd', ['-a', 'x5', 'cdrom']],
    ];
    const ctx = imageContext(SETUP);
    const db = await AccountDatabase.load(ctx);
    const dir = writeRoot(SETUP);
    for (const [tool, args] of cases) {
      const real = run(tool, ['--root', dir, ...args], { env: { ...process.env, SOURCE_DATE_EPOCH: EPOCH } }).status;
      assert.equal(db.run(tool as 'useradd', args), real, `${tool} ${args.join(' ')}`);
    }
    await db.write();
    for (const name of ['passwd', 'group', 'gshadow']) assert.equal(await text(ctx, `etc/${name}`), readFileSync(join(dir, 'etc', name), 'utf8'), name);
  });

  it('subordinate ids for non-system users: the same ranges as useradd (RHEL 4.9 appends; Debian 4.13 may insert)', { skip: tools && root ? false : 'needs shadow-utils (passwd) and root for --root' }, async () => {
    const files = { ...SETUP, 'etc/subuid': { text: 'old:100000:65536\nzed:300000:65536\n', mode: 0o644 }, 'etc/subgid': { text: '', mode: 0o644 } };
    const ctx = imageContext(files);
    const db = await AccountDatabase.load(ctx);
    const dir = writeRoot(files);
    for (const args of [['bob'], ['carol'], ['-r', 'sysx']]) {
      must('useradd', ['--root', dir, ...args], { env: { ...process.env, SOURCE_DATE_EPOCH: EPOCH } });
      assert.equal(db.run('useradd', args), 0);
    }
    await db.write();
    for (const name of ['subuid', 'subgid']) {
      const sorted = (t: string) => t.split('\n').filter(Boolean).sort();
      assert.deepEqual(sorted((await text(ctx, `etc/${name}`))!), sorted(readFileSync(join(dir, 'etc', name), 'utf8')), name);
    }
    assert.equal(await text(ctx, 'etc/subuid'), 'old:100000:65536\nzed:300000:65536\nbob:165536:65536\ncarol:231072:65536\n');
  });

  it('keeps passwords in passwd and group when the image has no shadow files, as useradd/groupadd do', { skip: tools && root ? false : 'needs shadow-utils (passwd) and root for --root' }, async () => {
    const files = { 'etc/passwd': SETUP['etc/passwd']!, 'etc/group': SETUP['etc/group']!, 'etc/login.defs': SETUP['etc/login.defs']!, 'etc/default/useradd': SETUP['etc/default/useradd']! };
    const ctx = imageContext(files);
    const db = await AccountDatabase.load(ctx);
    const dir = writeRoot(files);
    for (const [tool, args] of [['useradd', ['-r', '-M', 'nos']], ['groupadd', ['-p', 'secret', 'gp']]] as const) {
      must(tool, ['--root', dir, ...args], { env: { ...process.env, SOURCE_DATE_EPOCH: EPOCH } });
      assert.equal(db.run(tool, [...args]), 0);
    }
    await db.write();
    // Red Hat's "!!" where Debian's useradd writes "!".
    assert.equal(await text(ctx, 'etc/passwd'), readFileSync(join(dir, 'etc/passwd'), 'utf8').replace(/^nos:!:/m, 'nos:!!:'));
    assert.equal(await text(ctx, 'etc/group'), readFileSync(join(dir, 'etc/group'), 'utf8'));
    assert.equal(final(ctx, 'etc/shadow'), undefined);
    assert.equal(final(ctx, 'etc/gshadow'), undefined);
  });

  it('allocates system ids as find_new_uid/find_new_gid: below the lowest in use, then from the top', { skip: tools && root ? false : 'needs shadow-utils (passwd) and root for --root' }, async () => {
    const files = { ...SETUP };
    files['etc/passwd'] = { mode: 0o644, text: `${SETUP['etc/passwd']!.text}a:x:999:999::/:/sbin/nologin\nb:x:500:500::/:/sbin/nologin\nc:x:201:201::/:/sbin/nologin\n` };
    files['etc/group'] = { mode: 0o644, text: `${SETUP['etc/group']!.text}a:x:999:\nb:x:500:\nc:x:998:\nd:x:202:\n` };
    const ctx = imageContext(files);
    const db = await AccountDatabase.load(ctx);
    const dir = writeRoot(files);
    const cmds: [string, string[]][] = [['useradd', ['-r', 'n1']], ['useradd', ['-r', 'n2']], ['groupadd', ['-r', 'g1']], ['groupadd', ['g2']], ['useradd', ['n3']]];
    for (const [tool, args] of cmds) {
      must(tool, ['--root', dir, ...args], { env: { ...process.env, SOURCE_DATE_EPOCH: EPOCH } });
      assert.equal(db.run(tool as 'useradd', args), 0);
    }
    await db.write();
    for (const name of ['passwd', 'group']) assert.equal(await text(ctx, `etc/${name}`), readFileSync(join(dir, 'etc', name), 'utf8'), name);
  });

  it('applies sysusers.d lines as systemd-sysusers --root does', { skip: run('sh', ['-c', 'command -v systemd-sysusers']).status === 0 && root ? false : 'needs systemd-sysusers and root' }, async () => {
    const conf = `# sysusers.d
u dbus 81 "System Message Bus" - -
g systemd-journal 190
u systemd-coredump - "systemd Core Dumper"
u systemd-oom - "systemd Userspace OOM Killer" / -
g render -
m dbus render
u chrony - "chrony system user" /var/lib/chrony
g wheel 10
u tss 59:tss "Account used for TPM access" /dev/null
`;
    const ctx = imageContext({ ...SETUP, 'usr/lib/sysusers.d/test.conf': { text: conf, mode: 0o644 } });
    const db = await AccountDatabase.load(ctx);
    const host: ScriptHost = { getent: (d, k) => db.getent(d, k), fileTest: () => false };
    const r = interpretScriptlet(sh('test', '%pre', 'systemd-sysusers /usr/lib/sysusers.d/test.conf >/dev/null 2>&1 || :'), host);
    assert.deepEqual(r.commands.map((c) => c.kind), ['sysusers']);
    for (const c of r.commands) assert.equal(db.perform(c), 0);
    await db.write();
    const dir = writeRoot(SETUP);
    writeFileSync(join(dir, 'test.conf'), conf);
    must('systemd-sysusers', ['--root', dir, join(dir, 'test.conf')], { env: { ...process.env, SOURCE_DATE_EPOCH: EPOCH } });
    for (const name of ['passwd', 'group', 'shadow', 'gshadow', 'passwd-', 'group-', 'shadow-', 'gshadow-']) {
      assert.equal(await text(ctx, `etc/${name}`), readFileSync(join(dir, 'etc', name), 'utf8'), `etc/${name}`);
    }
  });

  it('reads %sysusers_create_package stdin here-documents', async () => {
    const ctx = imageContext(SETUP);
    const s = sh('foo', '%pre', `/usr/bin/systemd-sysusers --replace=/usr/lib/sysusers.d/foo.conf - <<SYSTEMD_INLINE_EOF >/dev/null 2>&1 || :
g foo -
u foo - "Foo daemon" /var/lib/foo
SYSTEMD_INLINE_EOF
`);
    const r = interpretScriptlet(s, noImage);
    assert.deepEqual(r.notes, []);
    assert.equal(r.commands.length, 1);
    const c = r.commands[0]!;
    assert.equal(c.kind, 'sysusers');
    if (c.kind !== 'sysusers') return;
    assert.deepEqual(c.args, ['--replace=/usr/lib/sysusers.d/foo.conf', '-']);
    assert.equal(c.stdin, 'g foo -\nu foo - "Foo daemon" /var/lib/foo\n');
    await applyAccountCommands(ctx, r.commands);
    assert.match((await text(ctx, 'etc/passwd'))!, /^foo:x:999:999:Foo daemon:\/var\/lib\/foo:\/usr\/sbin\/nologin$/m);
    assert.match((await text(ctx, 'etc/shadow'))!, new RegExp(`^foo:!\\*:${DAY}::::::$`, 'm'));
  });

  it('finds sysusers.d files by name, or takes them all without arguments (%sysusers_create)', async () => {
    const ctx = imageContext({ ...SETUP, 'usr/lib/sysusers.d/b.conf': { text: 'g bgroup -\n', mode: 0o644 }, 'usr/lib/sysusers.d/a.conf': { text: 'u auser 420 "A"\n', mode: 0o644 }, 'etc/sysusers.d/a.conf': { text: 'u auser 421 "A from /etc"\n', mode: 0o644 } });
    const db = await AccountDatabase.load(ctx);
    const host: ScriptHost = { getent: (d, k) => db.getent(d, k), fileTest: imageFileTest(ctx), perform: (c) => db.perform(c) };
    const named = interpretScriptlet(sh('b', '%pre', '/usr/bin/systemd-sysusers b.conf >/dev/null 2>&1 || :\nsystemd-sysusers missing.conf || :\n'), host);
    assert.equal(named.commands.length, 2);
    assert.ok(db.getent('group', 'bgroup'));
    assert.deepEqual(db.notes, ['b %pre: systemd-sysusers: missing.conf is not a sysusers.d file of the image']);
    interpretScriptlet(sh('all', '%post', 'systemd-sysusers\n'), host);
    await db.write();
    assert.match((await text(ctx, 'etc/passwd'))!, /^auser:x:421:421:A from \/etc:\/:\/usr\/sbin\/nologin$/m);
    assert.match((await text(ctx, 'etc/group'))!, /^bgroup:x:999:\n/m);
  });

  it('answers test(1) from the image, through symbolic links', () => {
    const ctx = imageContext({}, [
      { ...fileEntry('usr/lib/systemd/systemd-update-helper', '#!/bin/sh\n', { mtime: epoch, mode: 0o755 }), origin: 'test' },
      { ...fileEntry('etc/plain', '', { mtime: epoch, mode: 0o644 }), origin: 'test' },
      { ...symlinkEntry('usr/sbin/helper', '../lib/systemd/systemd-update-helper', { mtime: epoch }), origin: 'test' },
      { ...symlinkEntry('usr/sbin/dangling', '/nowhere', { mtime: epoch }), origin: 'test' },
      { ...dirEntry('var/lib', { mtime: epoch }), origin: 'test' },
    ]);
    const t = imageFileTest(ctx);
    assert.deepEqual(
      [t('-x', '/usr/lib/systemd/systemd-update-helper'), t('-x', '/usr/sbin/helper'), t('-f', '/usr/sbin/helper'), t('-L', '/usr/sbin/helper'), t('-x', '/etc/plain'), t('-s', '/etc/plain'), t('-e', '/usr/sbin/dangling'), t('-h', '/usr/sbin/dangling'), t('-d', '/var/lib'), t('-e', '/nope')],
      [true, true, true, true, false, false, false, true, true, false],
    );
  });

  it('survives malformed account files, options and sysusers.d lines (statuses and notes, never a crash)', async () => {
    for (let i = 0; i < 200; i++) {
      const junk = randomBytes(120).toString('latin1');
      const ctx = imageContext({
        'etc/passwd': { text: i % 2 ? junk : 'root:x:0:0::/:/bin/sh\nbad\n::::\n', mode: 0o644 },
        'etc/group': { text: 'root:x:0:\nwheel:x:10:\n', mode: 0o644 },
        'etc/login.defs': { text: i % 3 ? junk : 'SYS_UID_MIN 900\nSYS_UID_MAX 100\n', mode: 0o644 },
      });
      const db = await AccountDatabase.load(ctx);
      const words = ['-r', '-g', '-u', '-G', '-f', '-o', '-m', '-M', '-N', '-U', '-a', '--system', '--gid=5', '--bogus', 'root', 'wheel', 'x', '999', '', '-rM', '-g22', ':', 'a,b'];
      for (let k = 0; k < 8; k++) {
        const args = Array.from({ length: (i + k) % 7 }, (_, j) => words[(i * 7 + k * 3 + j * 5) % words.length]!);
        assert.equal(typeof db.run((['useradd', 'groupadd', 'usermod', 'gpasswd'] as const)[k % 4]!, args), 'number');
      }
      db.sysusers(junk, 'junk.conf');
      db.sysusers('u x 5:nope\nm a b\nr - 10-20\nu y -\nu q "unterminated\nz what\n', 'odd.conf');
      await db.write();
    }
    const ctx = imageContext(SETUP);
    const db = await AccountDatabase.load(ctx);
    assert.equal(db.run('useradd', ['--bogus', 'x']), 2);
    assert.equal(db.run('groupadd', ['bad:name']), 3);
    assert.equal(db.sysusers('u q "unterminated\nz what\n', 'odd.conf'), 0);
    assert.deepEqual(db.notes, ['useradd --bogus x: exit 2', 'groupadd bad:name: exit 3', 'odd.conf:1: not a sysusers.d line: u q "unterminated', 'odd.conf:2: not reproduced: z what']);
  });

  it('zeroes the new uid\'s lastlog record as shadow 4.9 does (the file grows to cover it; 4.13 no longer grows it)', async () => {
    const ctx = imageContext({ ...SETUP, 'var/log/lastlog': { text: 'x', mode: 0o644 } });
    await applyAccountCommands(ctx, interpretScriptlet(POLKIT, noImage).commands);
    const lastlog = final(ctx, 'var/log/lastlog')!;
    assert.equal(lastlog.size, 1000 * 292);
    const data = Buffer.from((await text(ctx, 'var/log/lastlog'))!, 'latin1');
    assert.equal(data[0], 'x'.charCodeAt(0));
    assert.ok(data.subarray(1).every((b) => b === 0));
    // Without the file, nothing is made (setup lists it as %ghost: rpm does not create it).
    const none = imageContext(SETUP);
    await applyAccountCommands(none, interpretScriptlet(POLKIT, noImage).commands);
    assert.equal(final(none, 'var/log/lastlog'), undefined);
  });

  it("appends the spec's extra users and groups", async () => {
    const ctx = imageContext(SETUP);
    await applyAccountCommands(ctx, [], { users: ['app:x:1001:1001::/app:/sbin/nologin'], groups: ['app:x:1001:'] });
    assert.ok((await text(ctx, 'etc/passwd'))!.endsWith('nobody:x:65534:65534:Kernel Overflow User:/:/sbin/nologin\napp:x:1001:1001::/app:/sbin/nologin\n'));
    assert.ok((await text(ctx, 'etc/group'))!.endsWith('app:x:1001:\n'));
  });
});

describe('rpm scriptlets: the interpreter', () => {
  const accounts = (cs: ScriptCommand[]) => cs.map((c) => (c.kind === 'account' ? [c.tool, ...c.args].join(' ') : c.kind));

  it('extracts the commands of real-world %pre scriptlets, exactly', () => {
    const db = new Set<string>();
    const host: ScriptHost = { getent: (d, k) => db.has(`${d}:${k}`), fileTest: () => false };
    assert.deepEqual(accounts(interpretScriptlet(TPM2_TSS, host).commands), ['groupadd -g 59 -r tss', 'useradd -r -u 59 -g tss -d /dev/null -s /sbin/nologin -c Account used for TPM access tss']);
    const tpm = interpretScriptlet(TPM2_TSS, host).commands[1]!;
    assert.ok(tpm.kind === 'account' && tpm.args[tpm.args.length - 2] === 'Account used for TPM access' && tpm.origin.line === 2);
    assert.deepEqual(accounts(interpretScriptlet(DBUS_COMPAT, host).commands), ['groupadd -f -g 81 -r dbus', 'useradd -r -u 81 -g dbus -d / -s /sbin/nologin -c System Message Bus dbus']);
    // getent passwd 81 answers: the else branch.
    db.add('passwd:81');
    assert.deepEqual(accounts(interpretScriptlet(DBUS_COMPAT, host).commands), ['groupadd -f -g 81 -r dbus', 'useradd -r -g dbus -d / -s /sbin/nologin -c System Message Bus dbus']);
    db.add('group:dbus');
    db.add('passwd:dbus');
    assert.deepEqual(accounts(interpretScriptlet(DBUS_COMPAT, host).commands), []);
    const el8 = interpretScriptlet(SYSTEMD_EL8, host);
    assert.deepEqual(el8.notes, []);
    assert.equal(el8.commands.length, 10);
    assert.deepEqual(accounts(el8.commands).slice(0, 3), ['groupadd -r -g 11 cdrom', 'groupadd -r -g 22 utmp', 'groupadd -r input']);
    assert.equal(interpretScriptlet(POLKIT, host).status, 0);
  });

  it('follows $1, test, if/elif/else, ! and exit', () => {
    const files = new Set(['/usr/lib/systemd/systemd-update-helper']);
    const host: ScriptHost = { getent: () => false, fileTest: (op, p) => files.has(p) };
    // %systemd_post as systemd ≥ 249 expands it.
    const post = sh('chronyd', '%post', `
if [ $1 -eq 1 ] && [ -x "/usr/lib/systemd/systemd-update-helper" ]; then
    # Initial installation
    /usr/lib/systemd/systemd-update-helper install-system-units chronyd.service chrony-wait.service || :
fi
`);
    assert.deepEqual(interpretScriptlet(post, host).commands.map((c) => c.kind === 'systemd-preset' && [c.scope, ...c.units]), [['system', 'chronyd.service', 'chrony-wait.service']]);
    assert.deepEqual(interpretScriptlet(post, host, { installCount: 2 }).commands, []);
    // RHEL 8's %systemd_post.
    const el8 = interpretScriptlet(sh('sshd', '%post', 'if [ $1 -eq 1 ] ; then \n        # Initial installation \n        systemctl --no-reload preset sshd.service sshd-keygen.target &>/dev/null || : \nfi \n'), host);
    assert.deepEqual(el8.commands.map((c) => c.kind === 'systemd-preset' && c.units), [['sshd.service', 'sshd-keygen.target']]);
    const flow = interpretScriptlet(sh('x', '%post', `X=/usr/bin/ld
if test -e /nope; then groupadd a
elif ! [ "$1" = 1 ]; then groupadd b
else
  { groupadd c; } >/dev/null
fi
[ -n "$X" ] && alternatives --install "$X" ld /usr/bin/ld.bfd 50
exit 0
groupadd never
`), host);
    assert.deepEqual(flow.commands.map((c) => ('args' in c ? c.args.join(' ') : c.kind)), ['c', '--install /usr/bin/ld ld /usr/bin/ld.bfd 50']);
    assert.equal(flow.status, 0);
  });

  it('knows the other common effects: ldconfig (-p and command), update-ca-trust, alternatives, sysusers', () => {
    const ld = interpretScriptlet({ pkg: 'zlib', name: '%post', interpreter: ['/sbin/ldconfig'], body: '' }, noImage);
    assert.deepEqual(ld.commands.map((c) => c.kind), ['ldconfig']);
    const strict = interpretScriptlet({ pkg: 'x', name: '%pre', interpreter: ['/bin/sh', '-e'], body: 'getent group none\ngroupadd never\n' }, noImage);
    assert.deepEqual([strict.commands.length, strict.status], [0, 2]);
    const ca = interpretScriptlet(sh('ca-certificates', '%posttrans', '/usr/bin/update-ca-trust extract\n'), noImage);
    assert.deepEqual(ca.commands.map((c) => c.kind), ['update-ca-trust']);
    const binutils = interpretScriptlet(sh('binutils', '%post', `/usr/sbin/alternatives --install /usr/bin/ld ld \\
  /usr/bin/ld.bfd 50
# Do not run "alternatives --auto ld" here.
/sbin/ldconfig
exit 0
`), noImage);
    assert.deepEqual(binutils.commands.map((c) => c.kind), ['alternatives', 'ldconfig']);
    assert.deepEqual(binutils.notes, []);
  });

  it('reports what it does not reproduce, with package and scriptlet', () => {
    const r = interpretScriptlet(sh('foo', '%post', `mkdir -p /var/lib/foo
echo "x" > /etc/foo.conf
for f in a b; do touch /tmp/$f; done
while true; do groupadd x; done
f() { groupadd y; }
UNKNOWN=$(id -u foo)
useradd -u $UNKNOWN bar
ls | grep foo
useradd -u "$(id -u foo)" baz
echo $((1 + 2)) $(date)
`), noImage);
    assert.deepEqual(r.notes, [
      'not reproduced: foo %post: mkdir -p /var/lib/foo',
      'not reproduced: foo %post: echo x >/etc/foo.conf',
      'not reproduced: foo %post: touch /tmp/a',
      'not reproduced: foo %post: touch /tmp/b',
      'not reproduced: foo %post: while true; do groupadd x; done',
      'not reproduced: foo %post: f() { … }',
      "not reproduced: foo %post: 'UNKNOWN=$(id -u foo)'",
      'not reproduced: foo %post: useradd -u $UNKNOWN bar',
      'not reproduced: foo %post: ls | grep foo',
      "not reproduced: foo %post: useradd -u '$(id -u foo)' baz",
    ]);
    assert.deepEqual(r.commands, []);
    assert.deepEqual(interpretScriptlet({ pkg: 'glibc', name: '%post', interpreter: ['<lua>'], body: 'posix.exec("/sbin/ldconfig")' }, noImage).notes, ['not reproduced: glibc %post: <lua> scriptlet']);
  });

  it('gives a clear note for malformed scripts, runs what precedes the error, never throws', () => {
    const q = interpretScriptlet(sh('bad', '%pre', "groupadd a\nuseradd 'unterminated\n"), noImage);
    assert.deepEqual(q.notes, ["bad %pre: shell syntax error at line 2: unterminated ' quote; the rest is not reproduced", 'bad %pre: the script would exit 2 (rpm would not install the package)']);
    assert.deepEqual(accounts(q.commands), ['groupadd a']);
    assert.equal(q.status, 2);
    const f = interpretScriptlet(sh('bad', '%pre', 'groupadd a\nif getent group a; then\n  groupadd b\n'), noImage);
    assert.deepEqual(accounts(f.commands), ['groupadd a']);
    assert.match(f.notes[0]!, /^bad %pre: shell syntax error at line \d+: expected 'elif' or 'else' or 'fi' before the end of the script; the rest is not reproduced$/);
    assert.match(interpretScriptlet(sh('bad', '%pre', 'fi\n'), noImage).notes[0]!, /unexpected 'fi'/);
    assert.match(interpretScriptlet(sh('bad', '%pre', 'cat <<EOF\nno end\n'), noImage).notes[0]!, /here-document delimited by EOF is not closed/);
    assert.match(interpretScriptlet(sh('bad', '%pre', 'exit 1\n'), noImage).notes[0]!, /would exit 1/);
    // Random and mangled input: a result, never an exception.
    const corpus = [POLKIT, TPM2_TSS, SYSTEMD_EL8, DBUS_COMPAT].map((s) => s.body);
    for (let i = 0; i < 400; i++) {
      const base = corpus[i % corpus.length]!;
      const body = i % 3 === 0 ? randomBytes(64).toString('latin1') : i % 3 === 1 ? base.slice(0, (i * 7) % base.length) : [...base].map((c, k) => (k % 17 === i % 17 ? String.fromCharCode((c.charCodeAt(0) + i) % 128) : c)).join('');
      const r = interpretScriptlet(sh('fuzz', '%pre', body), noImage);
      assert.ok(Array.isArray(r.commands) && typeof r.status === 'number');
    }
  });
});

describe('rpm scriptlets: chkconfig alternatives', () => {
  it('links the best choice and writes the state file in chkconfig format (priorities, followers, a tie)', async () => {
    const ctx = imageContext({}, bin(['usr/bin/ld.bfd', 'usr/bin/ld.gold', 'usr/bin/ld.lld']));
    const alts = new Alternatives(ctx);
    assert.equal(alts.run(['--install', '/usr/bin/ld', 'ld', '/usr/bin/ld.bfd', '50']), 0);
    assert.equal(alts.run(['--install', '/usr/bin/ld', 'ld', '/usr/bin/ld.gold', '30']), 0);
    // A tie with the best: the earlier stays best (alternatives needs a strictly higher priority).
    assert.equal(alts.run(['--install', '/usr/bin/ld', 'ld', '/usr/bin/ld.lld', '50']), 0);
    const r = alts.write();
    assert.deepEqual(r.names, ['ld']);
    assert.equal(ctx.entry('usr/bin/ld')!.linkname, '/etc/alternatives/ld');
    assert.equal(ctx.entry('etc/alternatives/ld')!.linkname, '/usr/bin/ld.bfd');
    assert.equal(await text(ctx, 'var/lib/alternatives/ld'), 'auto\n/usr/bin/ld\n\n/usr/bin/ld.bfd\n50\n/usr/bin/ld.gold\n30\n/usr/bin/ld.lld\n50\n');
  });

  it('merges followers (sorted by link from the second choice on), with families and initscripts', async () => {
    const ctx = imageContext({}, [
      ...bin(['usr/bin/python3', 'usr/bin/python3.11', 'usr/share/man/man1/python3.1.gz', 'usr/lib/systemd/system/postfix.service']),
    ]);
    const commands: ScriptCommand[] = [
      {
        kind: 'alternatives', origin: { pkg: 'python3', scriptlet: '%post', line: 1, argv: [] },
        args: ['--install', '/usr/bin/unversioned-python', 'python', '/usr/bin/python3', '300', '--slave', '/usr/bin/python', 'unversioned-python', '/usr/bin/python3', '--slave', '/usr/share/man/man1/python.1.gz', 'unversioned-python-man', '/usr/share/man/man1/python3.1.gz'],
      },
    ];
    const one = imageContext({}, bin(['usr/bin/python3']));
    applyAlternativesCommands(one, commands);
    // First choice alone: followers in command-line order.
    assert.equal(await text(one, 'var/lib/alternatives/python'), 'auto\n/usr/bin/unversioned-python\nunversioned-python\n/usr/bin/python\nunversioned-python-man\n/usr/share/man/man1/python.1.gz\n\n/usr/bin/python3\n300\n/usr/bin/python3\n/usr/share/man/man1/python3.1.gz\n');
    assert.equal(one.entry('usr/bin/python')!.linkname, '/etc/alternatives/unversioned-python');
    assert.equal(one.entry('etc/alternatives/unversioned-python-man')!.linkname, '/usr/share/man/man1/python3.1.gz');
    commands.push({ kind: 'alternatives', origin: { pkg: 'python3.11', scriptlet: '%post', line: 1, argv: [] }, args: ['--install', '/usr/bin/unversioned-python', 'python', '/usr/bin/python3.11', '400', '--family', 'py', '--slave', '/usr/bin/python', 'unversioned-python', '/usr/bin/python3.11'] });
    commands.push({ kind: 'alternatives', origin: { pkg: 'postfix', scriptlet: '%post', line: 1, argv: [] }, args: ['--install', '/usr/sbin/sendmail', 'mta', '/usr/sbin/sendmail.postfix', '60', '--initscript', 'postfix'] });
    const r = applyAlternativesCommands(ctx, commands);
    assert.deepEqual(r, { names: ['mta', 'python'], preset: ['postfix.service'], disable: [] });
    assert.equal(await text(ctx, 'var/lib/alternatives/python'), 'auto\n/usr/bin/unversioned-python\nunversioned-python\n/usr/bin/python\nunversioned-python-man\n/usr/share/man/man1/python.1.gz\n\n/usr/bin/python3\n300\n/usr/bin/python3\n/usr/share/man/man1/python3.1.gz\n/usr/bin/python3.11\n@py@400\n/usr/bin/python3.11\n\n');
    assert.equal(ctx.entry('etc/alternatives/unversioned-python')!.linkname, '/usr/bin/python3.11');
    // The best lacks the man page follower: its link is not made.
    assert.equal(ctx.entry('etc/alternatives/unversioned-python-man'), undefined);
    assert.equal(ctx.entry('usr/share/man/man1/python.1.gz'), undefined);
    assert.equal(await text(ctx, 'var/lib/alternatives/mta'), 'auto\n/usr/sbin/sendmail\n\n/usr/sbin/sendmail.postfix\n60 postfix\n');
  });

  it('refuses what alternatives refuses; --set makes it manual; a packaged file is not replaced', async () => {
    const ctx = imageContext({}, [...bin(['usr/bin/a1', 'usr/bin/a2', 'usr/bin/real']), { ...symlinkEntry('usr/bin/old', 'x', { mtime: epoch }), origin: 'test' }]);
    const alts = new Alternatives(ctx);
    assert.equal(alts.run(['--install', 'relative', 'a', '/usr/bin/a1', '10']), 2);
    assert.equal(alts.run(['--install', '/usr/bin/a', 'a', '/usr/bin/a1', 'ten']), 2);
    assert.equal(alts.run(['--install', '/usr/bin/a', 'a', '/usr/bin/a1', '10']), 0);
    assert.equal(alts.run(['--install', '/usr/bin/b', 'a', '/usr/bin/a2', '20']), 2);
    assert.equal(alts.run(['--install', '/usr/bin/a', 'a', '/usr/bin/a2', '20']), 0);
    assert.equal(alts.run(['--set', 'a', '/usr/bin/a1']), 0);
    assert.equal(alts.run(['--install', '/usr/bin/real', 'r', '/usr/bin/a1', '1']), 0);
    alts.write();
    assert.equal(await text(ctx, 'var/lib/alternatives/a'), 'manual\n/usr/bin/a\n\n/usr/bin/a1\n10\n/usr/bin/a2\n20\n');
    assert.equal(ctx.entry('etc/alternatives/a')!.linkname, '/usr/bin/a1');
    assert.equal(ctx.entry('usr/bin/real')!.type, 'file');
    assert.ok(alts.notes.some((n) => n.includes('/usr/bin/real exists and it is not a symlink')));
  });
});

describe('rpm scriptlets: the interpreter against a real shell (busybox sh in a chroot, commands stubbed)', () => {
  const busybox = ['/usr/bin/busybox', '/bin/busybox'].find((p) => existsSync(p));
  const skip = busybox && process.getuid?.() === 0 ? false : 'needs busybox-static and root (chroot)';
  const STUBS = ['useradd', 'groupadd', 'usermod', 'gpasswd', 'alternatives', 'update-alternatives', 'systemctl', 'ldconfig', 'update-ca-trust', 'systemd-sysusers'];

  /** A chroot where the effectful commands only log their arguments, and getent answers from /db. */
  function shellRoot(known: string[], files: string[]): string {
    const dir = tempDir('fs-rpm-sh');
    for (const d of ['usr/bin', 'usr/sbin', 'usr/lib/systemd', 'dev']) mkdirSync(join(dir, d), { recursive: true });
    must('cp', [busybox!, join(dir, 'usr/bin/busybox')]);
    for (const applet of ['sh', 'cat', 'basename', 'grep', 'printf']) must('ln', ['-s', 'busybox', join(dir, 'usr/bin', applet)]);
    must('ln', ['-s', 'usr/bin', join(dir, 'bin')]);
    must('ln', ['-s', 'usr/sbin', join(dir, 'sbin')]);
    writeFileSync(join(dir, 'dev/null'), '');
    const stub = `#!/bin/sh\n{ printf '%s' "$(basename "$0")"; for a in "$@"; do printf ' [%s]' "$a"; done; echo; } >> /log\ncase " $* " in *" - "*) printf 'stdin:'; cat; echo ':stdin';; esac >> /log\nexit 0\n`;
    for (const name of STUBS) for (const d of ['usr/bin', 'usr/sbin']) writeFileSync(join(dir, d, name), stub, { mode: 0o755 });
    for (const f of files) writeFileSync(join(dir, f), stub, { mode: 0o755 });
    writeFileSync(join(dir, 'usr/bin/getent'), '#!/bin/sh\ngrep -qx "$1:$2" /db && exit 0\nexit 2\n', { mode: 0o755 });
    writeFileSync(join(dir, 'db'), known.map((k) => `${k}\n`).join(''));
    writeFileSync(join(dir, 'log'), '');
    return dir;
  }

  const cases: { name: string; script: Scriptlet; known?: string[]; files?: string[]; count?: number }[] = [
    { name: 'polkit', script: POLKIT },
    { name: 'polkit, accounts there', script: POLKIT, known: ['group:polkitd', 'passwd:polkitd'] },
    { name: 'tpm2-tss', script: TPM2_TSS },
    { name: 'chrony', script: CHRONY, known: ['group:chrony'] },
    { name: 'unbound', script: UNBOUND },
    { name: 'openssh', script: OPENSSH },
    { name: 'dbus el7', script: DBUS_EL7 },
    { name: 'systemd el8', script: SYSTEMD_EL8, known: ['group:cdrom', 'group:render', 'passwd:systemd-coredump'] },
    { name: 'sysusers compat', script: DBUS_COMPAT },
    { name: 'sysusers compat, uid taken', script: DBUS_COMPAT, known: ['passwd:81'] },
    { name: 'sysusers compat, m line', script: GROUP_MEMBER_COMPAT, known: ['group:kvm'] },
    { name: 'login user', script: LOGIN_USER },
    { name: 'login user, upgrade', script: LOGIN_USER, count: 2 },
    {
      name: 'older sysusers compat (RHEL 8/9)',
      script: sh('rpcbind', '%pre', `getent group 'rpc' >/dev/null || groupadd -f -g '32' -r 'rpc'
if ! getent passwd 'rpc' >/dev/null ; then
    if ! getent passwd '32' >/dev/null ; then
        useradd -r -u '32' -g 'rpc' -d '/var/lib/rpcbind' -s /sbin/nologin -c 'Rpcbind Daemon' 'rpc'
    else
        useradd -r -g 'rpc' -d '/var/lib/rpcbind' -s /sbin/nologin -c 'Rpcbind Daemon' 'rpc'
    fi
fi

`),
      known: ['passwd:32'],
    },
    {
      name: '%systemd_post (systemd ≥ 249)',
      script: sh('chrony', '%post', `\nif [ $1 -eq 1 ] && [ -x "/usr/lib/systemd/systemd-update-helper" ]; then \n    # Initial installation \n    /usr/lib/systemd/systemd-update-helper install-system-units chronyd.service || : \nfi \n`),
      files: ['usr/lib/systemd/systemd-update-helper'],
    },
    { name: '%systemd_post without the helper', script: sh('chrony', '%post', `if [ $1 -eq 1 ] && [ -x "/usr/lib/systemd/systemd-update-helper" ]; then\n    /usr/lib/systemd/systemd-update-helper install-system-units chronyd.service || :\nfi\n`) },
    { name: '%systemd_post (RHEL 7)', script: sh('sshd', '%post', 'if [ $1 -eq 1 ] ; then \n        # Initial installation \n        systemctl preset sshd.service >/dev/null 2>&1 || : \nfi \n') },
    { name: 'binutils', script: sh('binutils', '%post', `/usr/sbin/alternatives --install /usr/bin/ld ld \\\n  /usr/bin/ld.bfd 50\n# Do not run "alternatives --auto ld" here.\n/sbin/ldconfig\nexit 0\n`) },
    {
      name: 'python3 (RHEL 8)',
      script: sh('python36', '%post', `alternatives --install /usr/bin/unversioned-python \\
                       python \\
                       /usr/libexec/no-python \\
                       404 \\
             --slave   /usr/share/man/man1/python.1.gz \\
                       unversioned-python-man \\
                       /usr/share/man/man1/unversioned-python.1.gz
`),
    },
    { name: 'ca-certificates', script: sh('ca-certificates', '%posttrans', '# update-ca-trust\n/usr/bin/update-ca-trust extract\n') },
    {
      name: '%sysusers_create_package',
      script: sh('foo', '%pre', `/usr/bin/systemd-sysusers --replace=/usr/lib/sysusers.d/foo.conf - <<SYSTEMD_INLINE_EOF >/dev/null 2>&1 || :\ng foo -\nu foo - "Foo daemon" /var/lib/foo\nSYSTEMD_INLINE_EOF\n`),
    },
    { name: 'an unterminated quote after a complete command', script: sh('bad', '%pre', "groupadd a\nuseradd 'unterminated\ngroupadd b\n") },
    { name: 'an if never closed', script: sh('bad', '%pre', 'groupadd a\nif true; then\n  groupadd b\n') },
    { name: 'set -e stops at a failing command, not in conditions', script: sh('x', '%pre', 'set -e\nif ! getent group g; then groupadd g; fi\ngetent group g || groupadd g2\n! getent group g\ngetent passwd nobody\ngroupadd not-reached\n') },
    { name: 'set -e then set +e', script: sh('x', '%pre', 'set -e\nset +e\ngetent passwd nobody\ngroupadd reached\n') },
    { name: 'a subshell exit ends the subshell only', script: sh('x', '%pre', '( groupadd a; exit 3; groupadd b )\ngroupadd c\n( X=1 )\n[ -z "$X" ] && groupadd d\n') },
    { name: 'csh-style and descriptor redirections', script: sh('x', '%post', 'groupadd a >& /dev/null\ngroupadd b 2>&1 >/dev/null\necho note >&2\n') },
    { name: '%systemd_user_post (RHEL 8)', script: sh('pipewire', '%post', 'systemctl --no-reload preset --global pipewire.socket >/dev/null 2>&1 || :\n') },
    {
      name: 'test with -a, -o, numbers',
      script: sh('x', '%post', 'if [ "$1" -ge 1 -a "$1" -lt 2 ]; then groupadd one; fi\nif test "$1" = 2 -o -n ""; then groupadd two; fi\n[ ! -e /none ] && groupadd three\n'),
    },
    {
      name: 'case with globs, alternatives and an empty item',
      script: sh('x', '%post', `case "$1" in
  0) groupadd zero ;;
  [2-9]|1[0-9]) groupadd many ;;
  1)
    groupadd one
    ;;
  *) groupadd other ;;
esac
case "x$1" in (x1) ;; *) groupadd never ;; esac
case "$1" in "*") groupadd literal ;; ?) groupadd any ;; esac
`),
    },
    { name: 'case on an upgrade', script: sh('x', '%post', 'case $1 in\n1) groupadd install;;\n2) groupadd upgrade;;\nesac\n'), count: 2 },
    {
      name: 'for loops',
      script: sh('qemu', '%pre', `for g in kvm qemu "disk group"; do
  getent group $g >/dev/null || groupadd -r $g
done
for a; do groupadd "arg$a"; done
for x in; do groupadd none; done
echo "$g"
`),
      known: ['group:kvm'],
    },
    {
      name: 'field splitting of unquoted variables',
      script: sh('x', '%pre', `OPTS="-r  -M"; EMPTY=
useradd $OPTS -c "$EMPTY" $EMPTY u1
useradd \${OPTS} pre$OPTS"post" u2
G='a b'; usermod -a -G "$G" $G
[ -z $UNSET ] && groupadd unset-is-empty
[ -n "$UNSET" ] || groupadd quoted-unset-is-empty
`),
    },
    {
      name: 'quoting, variables, nesting, exit',
      script: sh('x', '%pre', `NAME="my group"; G=grp
if getent group "$G" > /dev/null 2>&1; then
  :
elif [ "$1" = 1 -a -n "$NAME" ] || false; then
  if ! getent passwd nobody; then groupadd -c "$NAME"' and '"more" "$G"; fi
else
  groupadd never
fi
{ usermod -a -G "$G" root; } 2>/dev/null && gpasswd -a root wheel || useradd not-reached
test -e /nonexistent || exit 3
groupadd not-reached
`),
    },
  ];

  for (const c of cases) {
    it(c.name, { skip }, () => {
      const known = new Set(c.known ?? []);
      const files = new Set((c.files ?? []).map((f) => `/${f}`));
      const r = interpretScriptlet(c.script, { getent: (d, k) => known.has(`${d}:${k}`), fileTest: (_op, p) => files.has(p) }, { installCount: c.count ?? 1 });
      assert.deepEqual(r.notes.filter((n) => n.startsWith('not reproduced')), []);
      assert.equal(r.notes.some((n) => n.includes('syntax error')), c.name.includes('unterminated') || c.name.includes('never closed'));
      const dir = shellRoot(c.known ?? [], c.files ?? []);
      writeFileSync(join(dir, 'script'), c.script.body);
      const real = run('chroot', [dir, '/bin/sh', '/script', String(c.count ?? 1)], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
      const ours = r.commands
        .map((cmd) => {
          const [name, ...args] = cmd.origin.argv;
          const line = `${name!.replace(/.*\//, '')}${args.map((a) => ` [${a}]`).join('')}\n`;
          return cmd.kind === 'sysusers' && cmd.stdin !== undefined ? `${line}stdin:${cmd.stdin}:stdin\n` : line;
        })
        .join('');
      assert.equal(ours, readFileSync(join(dir, 'log'), 'utf8'));
      assert.equal(r.status, real.status, `exit status (stderr: ${real.stderr})`);
    });
  }
});

describe('rpm scriptlets: alternatives against chkconfig’s own alternatives (optional oracle)', () => {
  // There is no chkconfig on Debian: point CHKCONFIG_ALTERNATIVES at a static build of chkconfig's
  // alternatives.c (gcc -static -D_GNU_SOURCE -DVERSION='"1"') to compare; it runs in a chroot.
  const oracle = process.env.CHKCONFIG_ALTERNATIVES;
  const skip = oracle && existsSync(oracle) && process.getuid?.() === 0 ? false : 'set CHKCONFIG_ALTERNATIVES to a static chkconfig alternatives binary (and run as root)';
  const files = ['usr/bin/a1', 'usr/bin/a2', 'usr/bin/a3', 'usr/bin/real', 'usr/share/m1'];
  const scenarios: Record<string, string[][]> = {
    'followers sorted from the second choice': [['--install', '/usr/bin/a', 'a', '/usr/bin/a1', '10', '--slave', '/usr/share/z', 'zz', '/usr/share/m1', '--slave', '/usr/bin/b', 'bb', '/usr/bin/a1'], ['--install', '/usr/bin/a', 'a', '/usr/bin/a2', '5', '--slave', '/usr/bin/c', 'cc', '/usr/bin/a2']],
    'reinstall with another priority': [['--install', '/usr/bin/a', 'a', '/usr/bin/a1', '10'], ['--install', '/usr/bin/a', 'a', '/usr/bin/a2', '20'], ['--install', '/usr/bin/a', 'a', '/usr/bin/a2', '5'], ['--install', '/usr/bin/a', 'a', '/usr/bin/a3', '7']],
    'reinstall dropping a follower': [['--install', '/usr/bin/a', 'a', '/usr/bin/a1', '10', '--slave', '/usr/bin/b', 'bb', '/usr/bin/a1'], ['--install', '/usr/bin/a', 'a', '/usr/bin/a1', '10']],
    '--set then a better choice': [['--install', '/usr/bin/a', 'a', '/usr/bin/a1', '10'], ['--install', '/usr/bin/a', 'a', '/usr/bin/a2', '20'], ['--set', 'a', '/usr/bin/a1'], ['--install', '/usr/bin/a', 'a', '/usr/bin/a3', '30']],
    '--set then --auto': [['--install', '/usr/bin/a', 'a', '/usr/bin/a1', '10'], ['--install', '/usr/bin/a', 'a', '/usr/bin/a2', '20'], ['--set', 'a', '/usr/bin/a1'], ['--auto', 'a']],
    'follower link mismatch': [['--install', '/usr/bin/a', 'a', '/usr/bin/a1', '10', '--slave', '/usr/bin/b', 'bb', '/usr/bin/a1'], ['--install', '/usr/bin/a', 'a', '/usr/bin/a2', '20', '--slave', '/usr/bin/other', 'bb', '/usr/bin/a2']],
    'a real file at the link': [['--install', '/usr/bin/real', 'r', '/usr/bin/a1', '10']],
    'the best lacks a follower': [['--install', '/usr/bin/a', 'a', '/usr/bin/a1', '10', '--slave', '/usr/bin/b', 'bb', '/usr/bin/a1'], ['--install', '/usr/bin/a', 'a', '/usr/bin/a2', '20']],
  };
  const walk = (dir: string, base = dir, out: Record<string, string> = {}): Record<string, string> => {
    for (const n of readdirSync(dir)) {
      const p = join(dir, n);
      const st = lstatSync(p);
      const rel = p.slice(base.length + 1);
      if (st.isSymbolicLink()) out[rel] = `-> ${readlinkSync(p)}`;
      else if (st.isDirectory()) walk(p, base, out);
      else if (rel.startsWith('var/lib/alternatives/')) out[rel] = readFileSync(p, 'utf8');
    }
    return out;
  };
  for (const [name, calls] of Object.entries(scenarios)) {
    it(name, { skip }, async () => {
      const root = tempDir('fs-rpm-alt');
      for (const d of ['etc/alternatives', 'var/lib/alternatives', 'usr/bin', 'usr/share']) mkdirSync(join(root, d), { recursive: true });
      for (const f of files) writeFileSync(join(root, f), '');
      copyFileSync(oracle!, join(root, 'alternatives'));
      chmodSync(join(root, 'alternatives'), 0o755);
      const realStatuses = calls.map((c) => run('chroot', [root, '/alternatives', ...c]).status);
      rmSync(join(root, 'alternatives'));
      const ctx = imageContext({}, bin(files));
      const alts = new Alternatives(ctx);
      const statuses = calls.map((c) => alts.run(c));
      alts.write();
      const ours: Record<string, string> = {};
      for (const e of ctx.result()) {
        if (e.type === 'symlink') ours[e.path] = `-> ${e.linkname}`;
        else if (e.type === 'file' && e.path.startsWith('var/lib/alternatives/')) ours[e.path] = (await text(ctx, e.path))!;
      }
      assert.deepEqual(statuses, realStatuses);
      assert.deepEqual(ours, walk(root));
    });
  }
});
