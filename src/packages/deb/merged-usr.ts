import type { Entry } from '../../tar/entry.js';
import { dirEntry, symlinkEntry } from '../../entries/synthetic.js';

/**
 * The /usr merge as debootstrap does it for current releases: /bin, /sbin and /lib* are symlinks into
 * /usr, created before anything is unpacked, so packages that still ship files under /bin land in
 * /usr/bin. Here that means rewriting entry paths; dpkg's file lists keep the paths as packaged, as
 * they do on a merged system.
 */
export function mergedUsrDirs(arch: string): string[] {
  const dirs = ['bin', 'sbin', 'lib'];
  if (arch === 'amd64') dirs.push('lib32', 'lib64', 'libx32');
  else if (arch === 'mips64el' || arch === 'mipsel') dirs.push('lib32', 'lib64', 'libo32');
  else if (arch === 'ppc64el' || arch === 's390x' || arch === 'loong64' || arch === 'riscv64' || arch === 'arm64') dirs.push('lib64');
  return dirs;
}

/**
 * The path an entry ends up at on a merged-/usr system: anything below /bin, /sbin, /lib* moves into
 * /usr, and so do those folders themselves when a package lists them as directories. A package that
 * ships the link itself (trixie's base-files ships `/bin -> usr/bin`) keeps it where it is.
 */
export function mergedPath(path: string, dirs: readonly string[], type: 'directory' | 'other' = 'other'): string {
  const slash = path.indexOf('/');
  if (slash === -1) return dirs.includes(path) && type === 'directory' ? `usr/${path}` : path;
  return dirs.includes(path.slice(0, slash)) ? `usr/${path}` : path;
}

/**
 * The symlinks `bin -> usr/bin`... and their target folders: bin, sbin and lib always, the
 * architecture's other lib folders only when a package ships something there (as debootstrap does).
 */
export function mergedUsrEntries(dirs: readonly string[], mtime: number, used: (dir: string) => boolean = () => true): Entry[] {
  const out: Entry[] = [];
  for (const dir of dirs) {
    if (!['bin', 'sbin', 'lib'].includes(dir) && !used(dir)) continue;
    out.push(dirEntry(`usr/${dir}`, { mtime }), symlinkEntry(dir, `usr/${dir}`, { mtime }));
  }
  return out;
}
