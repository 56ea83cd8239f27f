import type { DebEffectContext } from './deb-context.js';

/**
 * Smaller effects of the minbase set's maintainer scripts:
 * - debianutils: /etc/shells from /usr/share/debianutils/shells plus the shells.d fragments other
 *   packages (bash, dash) ship, each shell with its /usr twin, as update-shells writes it; and the
 *   state file /var/lib/shells.state;
 * - dash: /bin/sh and sh(1) are diverted to *.distrib (dpkg-divert) and /bin/sh points to dash;
 * - tzdata: /etc/localtime -> /usr/share/zoneinfo/Etc/UTC and /etc/timezone;
 * - libpam-modules: empty /etc/environment and /etc/security/opasswd (0600);
 * - libc-bin: /etc/nsswitch.conf from /usr/share/libc-bin/nsswitch.conf;
 * - base-files: /etc/dpkg/origins/default -> debian (it ships the origins, dpkg's postinst links).
 */
export async function systemFiles(ctx: DebEffectContext): Promise<void> {
  if (ctx.has('debianutils') && ctx.exists('usr/share/debianutils/shells')) {
    const shells: string[] = [];
    const add = (s: string) => {
      for (const variant of s.startsWith('/usr/') ? [s] : [s, `/usr${s}`]) if (!shells.includes(variant)) shells.push(variant);
    };
    const base = (await ctx.read('usr/share/debianutils/shells')).toString('utf8').split('\n');
    const header = base.filter((l) => l.startsWith('#'));
    base.filter((l) => l.startsWith('/')).forEach(add);
    const fragments = ctx.result().filter((e) => e.path.startsWith('usr/share/debianutils/shells.d/') && e.type === 'file').map((e) => e.path).sort();
    for (const f of fragments) (await ctx.read(f)).toString('utf8').split('\n').filter((l) => l.startsWith('/')).forEach(add);
    ctx.file('etc/shells', `${[...header, ...shells].join('\n')}\n`, 'debianutils postinst (update-shells)');
    ctx.file('var/lib/shells.state', `${shells.join('\n')}\n`, 'debianutils postinst (update-shells)');
  }
  if (ctx.has('dash')) {
    const diverted = [
      ['/usr/share/man/man1/sh.1.gz', '/usr/share/man/man1/sh.distrib.1.gz'],
      ['/bin/sh', '/bin/sh.distrib'],
    ];
    ctx.file('var/lib/dpkg/diversions', diverted.map(([from, to]) => `${from}\n${to}\ndash\n`).join(''), 'dash postinst (dpkg-divert)');
    ctx.symlink('usr/bin/sh', 'dash', 'dash postinst');
    if (ctx.exists('usr/share/man/man1/dash.1.gz')) ctx.symlink('usr/share/man/man1/sh.1.gz', 'dash.1.gz', 'dash postinst');
  }
  if (ctx.has('tzdata')) {
    ctx.symlink('etc/localtime', '/usr/share/zoneinfo/Etc/UTC', 'tzdata postinst');
    ctx.file('etc/timezone', 'Etc/UTC\n', 'tzdata postinst');
  }
  if (ctx.has('libpam-modules')) {
    ctx.file('etc/environment', '', 'libpam-modules postinst');
    ctx.file('etc/security/opasswd', '', 'libpam-modules postinst', 0o600);
  }
  // libc-bin installs its default name-service switch configuration.
  if (ctx.exists('usr/share/libc-bin/nsswitch.conf') && !ctx.exists('etc/nsswitch.conf')) {
    ctx.file('etc/nsswitch.conf', await ctx.read('usr/share/libc-bin/nsswitch.conf'), 'libc-bin postinst');
  }
  if (ctx.exists('etc/dpkg/origins/debian') && !ctx.exists('etc/dpkg/origins/default')) {
    ctx.symlink('etc/dpkg/origins/default', 'debian', 'base-files (dpkg origins)');
  }
}
