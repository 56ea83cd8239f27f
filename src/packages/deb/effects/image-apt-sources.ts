import type { DebEffectContext } from './deb-context.js';

export interface UsedRepository {
  uri: string;
  suite: string;
  components: string[];
}

/**
 * The image's own apt configuration: the repositories it was built from, as a deb822
 * /etc/apt/sources.list.d/debian.sources (the form Debian's images use), one stanza per mirror, signed
 * by the archive keyring the image itself carries when debian-archive-keyring (or ubuntu-keyring) is in it.
 */
export function aptSources(ctx: DebEffectContext, repositories: UsedRepository[]): void {
  if (!ctx.has('apt')) return;
  const byUri = new Map<string, UsedRepository[]>();
  for (const r of repositories) byUri.set(r.uri, [...(byUri.get(r.uri) ?? []), r]);
  const keyring = ['usr/share/keyrings/debian-archive-keyring.gpg', 'usr/share/keyrings/ubuntu-archive-keyring.gpg'].find((k) => ctx.exists(k));
  const stanzas = [...byUri].map(([uri, repos]) => {
    const lines = ['Types: deb', `URIs: ${uri}`, `Suites: ${repos.map((r) => r.suite).join(' ')}`, `Components: ${[...new Set(repos.flatMap((r) => r.components))].join(' ')}`];
    if (keyring) lines.push(`Signed-By: /${keyring}`);
    return lines.join('\n');
  });
  const name = ctx.exists('usr/share/keyrings/ubuntu-archive-keyring.gpg') ? 'ubuntu.sources' : 'debian.sources';
  ctx.file(`etc/apt/sources.list.d/${name}`, `${stanzas.join('\n\n')}\n`, 'build (apt sources)');
}
