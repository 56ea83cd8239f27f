import type { SourcedEntry } from '../../../entries/entry-set.js';
import { EffectContext } from '../../effects/context.js';
import { debianLibc, type LibcBuild } from '../../effects/ld-so-cache.js';
import type { UnpackedPackage } from '../dpkg-database.js';

/** The effect context of a Debian install: packages are dpkg's records of them. */
export type DebEffectContext = EffectContext<UnpackedPackage>;

export function debEffectContext(entries: SourcedEntry[], installed: readonly UnpackedPackage[], epoch: number, arch: string, locate?: (path: string) => string): DebEffectContext {
  return new EffectContext(entries, new Map(installed.map((p) => [p.control.get('Package')!, p])), epoch, arch, locate);
}

/** A maintainer script's text ('' when the package has none). */
export function maintainerScript(ctx: DebEffectContext, pkg: string, name: 'postinst' | 'preinst'): string {
  return ctx.packages.get(pkg)?.controlFiles.get(name)?.toString('utf8') ?? '';
}

/** The libc whose ldconfig Debian's libc-bin trigger runs, when libc-bin is installed. */
export function installedLibc(ctx: DebEffectContext): LibcBuild | undefined {
  const libc = ctx.packages.get('libc-bin');
  return libc && debianLibc(libc.control.get('Version') ?? '', ctx.arch);
}
