import type { SourcedEntry } from '../../../entries/entry-set.js';
import type { UnpackedPackage } from '../dpkg-database.js';
import { accounts } from './accounts.js';
import { alternatives } from './alternatives.js';
import { baseFiles } from './base-files.js';
import { debEffectContext, installedLibc } from './deb-context.js';
import { systemFiles } from './system-files.js';
import { aptSources, type UsedRepository } from './image-apt-sources.js';
import { pamAuthUpdate } from './pam.js';
import { caCertificates } from './ca-certificates.js';
import { ldSoCache } from '../../effects/ld-so-cache.js';
import type { Entry } from '../../../tar/entry.js';

export interface InstallContext {
  /** The merged entries of all packages (paths already on the merged-/usr layout). */
  entries: SourcedEntry[];
  installed: UnpackedPackage[];
  epoch: number;
  arch: string;
  /** Where a packaged path is in the image (merged /usr). */
  locate: (path: string) => string;
  repositories: UsedRepository[];
  /** Entries the build adds besides the packages' (the merged-/usr links), for lookups that follow links. */
  layout?: Entry[];
  accounts?: { users: string[]; groups: string[]; homes: { path: string; uid: number; gid: number }[] };
}

export interface InstallEffects {
  entries: SourcedEntry[];
  notes: string[];
}

/**
 * What the packages' maintainer scripts would have done, done declaratively, so that nothing runs
 * (and any architecture builds on any host). The audit of every minbase postinst and which effects are
 * reproduced or skipped is in docs/maintainer-scripts.md.
 */
export async function applyInstallEffects(context: InstallContext): Promise<InstallEffects> {
  const ctx = debEffectContext(context.entries, context.installed, context.epoch, context.arch, context.locate);
  await baseFiles(ctx);
  await accounts(ctx, context.accounts ?? {});
  for (const home of context.accounts?.homes ?? []) ctx.dir(home.path, 'spec accounts (home)', 0o755, home.uid, home.gid);
  await systemFiles(ctx);
  alternatives(ctx);
  await pamAuthUpdate(ctx);
  await caCertificates(ctx);
  aptSources(ctx, context.repositories);
  // Last: libc-bin's ldconfig trigger runs after every package is configured.
  const libc = installedLibc(ctx);
  if (libc) await ldSoCache(ctx, libc, context.layout);
  return { entries: ctx.result(), notes: ctx.notes };
}
