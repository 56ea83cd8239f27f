import type { DebEffectContext } from './deb-context.js';

/**
 * base-files' postinst on a first install: default dotfiles and /etc files copied from
 * /usr/share/base-files, the FHS directories it creates with their modes and groups, /var/spool/mail
 * and /usr/local/man links, and the login accounting files (empty, group utmp).
 */
export async function baseFiles(ctx: DebEffectContext): Promise<void> {
  if (!ctx.has('base-files')) return;
  const origin = 'base-files postinst';
  const defaults: [string, string][] = [
    ['dot.profile', 'root/.profile'],
    ['dot.bashrc', 'root/.bashrc'],
    ['profile', 'etc/profile'],
    ['motd', 'etc/motd'],
  ];
  for (const [from, to] of defaults) {
    if (ctx.exists(`usr/share/base-files/${from}`) && !ctx.exists(to)) ctx.file(to, await ctx.read(`usr/share/base-files/${from}`), origin);
  }
  for (const dir of ['mnt', 'srv', 'opt', 'etc/opt', 'var/opt', 'media']) ctx.dir(dir, origin);
  ctx.dir('var/mail', origin, 0o2775, 0, 8);
  ctx.symlink('var/spool/mail', '../mail', origin);
  ctx.dir('run/lock', origin, 0o1777);
  for (const dir of ['usr/local', 'usr/local/share', 'usr/local/share/man', 'usr/local/bin', 'usr/local/games', 'usr/local/lib', 'usr/local/include', 'usr/local/sbin', 'usr/local/src', 'usr/local/etc']) {
    ctx.dir(dir, origin);
  }
  ctx.symlink('usr/local/man', 'share/man', origin);
  ctx.file('var/log/wtmp', '', origin, 0o664, 0, 43);
  ctx.file('var/log/btmp', '', origin, 0o660, 0, 43);
  ctx.file('var/log/lastlog', '', origin, 0o664, 0, 43);
  if (ctx.exists('usr/share/info') && ctx.exists('usr/share/base-files/info.dir') && !ctx.exists('usr/share/info/dir')) {
    ctx.file('usr/share/info/dir', await ctx.read('usr/share/base-files/info.dir'), origin);
  }
}
