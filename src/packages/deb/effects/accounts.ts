import type { DebEffectContext } from './deb-context.js';

/**
 * Users and groups, as the maintainer scripts leave them:
 * - base-passwd's postinst copies /usr/share/base-passwd/{passwd,group}.master to /etc (when absent);
 * - apt's postinst adds the `_apt` system user (uid 42, group nogroup, as apt ≥ 2.5 fixes it);
 * - passwd's postinst runs `shadowconfig on` (pwconv/grpconv): /etc/shadow and /etc/gshadow with locked
 *   passwords, the last-change day taken from the build time, mode 0640 group shadow (42);
 * - login's postinst creates empty /etc/subuid, /etc/subgid and /var/log/faillog.
 * Extra users and groups from the spec are added by the caller before shadow files are written.
 */
export async function accounts(ctx: DebEffectContext, extra: { users?: string[]; groups?: string[] } = {}): Promise<void> {
  const hasBase = ctx.has('base-passwd');
  // Without base-passwd (a distroless-style image) only root and nobody are there, and only if the spec
  // asks for accounts at all.
  if (!hasBase && !extra.users?.length && !extra.groups?.length) return;
  const passwd = hasBase
    ? (await ctx.read('usr/share/base-passwd/passwd.master')).toString('utf8').split('\n').filter(Boolean)
    : ['root:x:0:0:root:/root:/usr/sbin/nologin', 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin'];
  const group = hasBase ? (await ctx.read('usr/share/base-passwd/group.master')).toString('utf8').split('\n').filter(Boolean) : ['root:x:0:', 'nogroup:x:65534:'];
  if (ctx.has('apt') && !passwd.some((l) => l.startsWith('_apt:'))) {
    // Inserted in uid order, before nobody, as adduser leaves it.
    const at = passwd.findIndex((l) => Number(l.split(':')[2]) > 42);
    passwd.splice(at === -1 ? passwd.length : at, 0, '_apt:x:42:65534::/nonexistent:/usr/sbin/nologin');
  }
  passwd.push(...(extra.users ?? []));
  group.push(...(extra.groups ?? []));
  // With shadow passwords the password field says "x" (pwconv/grpconv move the rest to the shadow files).
  const shadowed = ctx.has('passwd');
  const mark = (line: string) => (shadowed ? line.replace(/^([^:]*):[^:]*:/, '$1:x:') : line);
  passwd.splice(0, passwd.length, ...passwd.map(mark));
  group.splice(0, group.length, ...group.map(mark));
  ctx.file('etc/passwd', `${passwd.join('\n')}\n`, 'base-passwd postinst');
  ctx.file('etc/group', `${group.join('\n')}\n`, 'base-passwd postinst');
  ctx.notes.push(`accounts: ${passwd.length} users, ${group.length} groups`);

  if (shadowed) {
    const day = Math.floor(ctx.epoch / 86400);
    const shadow = passwd.map((l) => `${l.split(':')[0]}:*:${day}:0:99999:7:::`);
    const gshadow = group.map((l) => `${l.split(':')[0]}:*::`);
    ctx.file('etc/shadow', `${shadow.join('\n')}\n`, 'passwd postinst (shadowconfig on)', 0o640, 0, 42);
    ctx.file('etc/gshadow', `${gshadow.join('\n')}\n`, 'passwd postinst (shadowconfig on)', 0o640, 0, 42);
  }
  if (ctx.has('login')) {
    ctx.file('etc/subuid', '', 'login postinst');
    ctx.file('etc/subgid', '', 'login postinst');
    ctx.file('var/log/faillog', '', 'login postinst');
  }
}
