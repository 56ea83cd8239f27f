import { fileEntry } from '../../entries/synthetic.js';
import type { SourcedEntry } from '../../entries/entry-set.js';

/** debuerreotype's slimify list: what its "slim" Debian images leave out. */
export const SLIM_EXCLUDES = ['usr/share/doc', 'usr/share/groff', 'usr/share/info', 'usr/share/linda', 'usr/share/lintian/overrides', 'usr/share/locale', 'usr/share/man'];

/** Kept inside the excluded folders: licences (as debuerreotype) and the locale aliases glibc reads. */
function alwaysKept(path: string): boolean {
  return /^usr\/share\/doc\/[^/]+\/copyright$/.test(path) || path === 'usr/share/locale/locale.alias';
}

function under(path: string, dir: string): boolean {
  return path.startsWith(`${dir}/`);
}

export interface SlimResult {
  entries: SourcedEntry[];
  /** Bytes of file content left out, per excluded folder. */
  saved: Map<string, number>;
}

/**
 * Applies the slim list while the layer's entries stream by: every non-directory below an excluded folder
 * goes, except copyright files and locale.alias; folders left empty go too, except the man section
 * folders (/usr/share/man/man1...), which stay so that packages installing man-page alternatives later
 * (openjdk, famously) find them.
 */
export function slimEntries(entries: SourcedEntry[]): SlimResult {
  const saved = new Map<string, number>();
  const kept = entries.filter((e) => {
    if (e.type === 'directory') return true;
    const dir = SLIM_EXCLUDES.find((d) => under(e.path, d));
    if (!dir || alwaysKept(e.path)) return true;
    saved.set(dir, (saved.get(dir) ?? 0) + e.size);
    return false;
  });
  // Folders that still hold something, directly or below: every ancestor of a kept non-directory.
  const used = new Set<string>();
  for (const e of kept) {
    if (e.type === 'directory') continue;
    for (let p = e.path; p.includes('/'); ) used.add((p = p.slice(0, p.lastIndexOf('/'))));
  }
  const keepDir = (path: string) =>
    !SLIM_EXCLUDES.some((d) => under(path, d)) || used.has(path) || /^usr\/share\/man\/man[^/]+$/.test(path);
  return { entries: kept.filter((e) => e.type !== 'directory' || keepDir(e.path)), saved };
}

/** /etc/dpkg/dpkg.cfg.d/docker: the same exclusions for packages installed later in the image. */
export function slimDpkgConfig(mtime: number): SourcedEntry {
  const lines = [
    '# This is the "slim" variant of the Debian base image.',
    '# Many files which are normally unnecessary in containers are excluded,',
    '# and this configuration file keeps them that way.',
    ...SLIM_EXCLUDES.map((d) => `path-exclude /${d}/*`),
    '',
    '# always include these files, especially for license compliance',
    'path-include /usr/share/doc/*/copyright',
    'path-include /usr/share/locale/locale.alias',
  ];
  return { ...fileEntry('etc/dpkg/dpkg.cfg.d/docker', `${lines.join('\n')}\n`, { mtime }), origin: 'slim (dpkg path-exclude)' };
}
