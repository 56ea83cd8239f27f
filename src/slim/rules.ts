import { UserError } from '../errors.js';
import type { EntryType } from '../tar/entry.js';

/**
 * What `fromscratch slim` removes, by category: one table built from febootstrap-minimize (its
 * --keep-X and --drop-X choices), moby's contrib/mkimage-yum.sh (the same list, with zoneinfo, the rpm
 * database and /etc/services kept) and debuerreotype's slimify lists (docs but copyright files, man
 * pages, info, locales but locale.alias). `analyze` reports "what slim would save" from the same table.
 *
 * Defaults differ from febootstrap's "drop everything" where the image would break or a common next
 * step would fail: Debian's libraries live in multiarch folders the loader finds only through
 * /etc/ld.so.cache, `locale-gen` needs /usr/share/i18n, iconv needs gconv, and /etc/localtime points
 * into zoneinfo. Those categories are removed only when asked for (`--remove`).
 */
export interface SlimCategory {
  name: string;
  description: string;
  /** Removed unless `--keep NAME`; the others only with `--remove NAME`. */
  removedByDefault: boolean;
  /** Where the rule comes from (febootstrap option, debuerreotype list...). */
  origin: string;
  /** Globs of the paths the category removes: `*` is a part of one path component, `**` anything below. */
  paths: readonly string[];
  /** Paths matched above that always stay; `types` restricts an exception to entries of those types. */
  kept?: readonly { path: string; types?: readonly EntryType[] }[];
  /**
   * Folders emptied by the removal go too (as dpkg's path-exclude and debuerreotype do); false keeps
   * the folder layout programs expect (apt's var/cache/apt/archives/partial, var/log/apt).
   */
  pruneFolders: boolean;
  /** dpkg path-exclude / path-include globs (dpkg's fnmatch: `*` crosses '/') keeping packages installed later slim. */
  dpkg?: { exclude: readonly string[]; include?: readonly string[] };
}

export const SLIM_CATEGORIES: readonly SlimCategory[] = [
  {
    name: 'docs',
    description: 'documentation in /usr/share/doc (copyright files and the per-package links kept), GNOME help, lintian overrides',
    removedByDefault: true,
    origin: 'febootstrap --drop-docs, debuerreotype slimify',
    paths: ['usr/share/doc/**', 'usr/share/gnome/help/**', 'usr/share/linda/**', 'usr/share/lintian/overrides/**'],
    kept: [
      { path: 'usr/share/doc/*/copyright' },
      // /usr/share/doc/libgcc-s1 -> gcc-12-base: the package's copyright file is reached through it.
      { path: 'usr/share/doc/*', types: ['symlink'] },
      { path: 'usr/share/doc/kde/HTML/C/**' },
      { path: 'usr/share/gnome/help/*/C/**' },
    ],
    pruneFolders: true,
    dpkg: {
      exclude: ['/usr/share/doc/*', '/usr/share/gnome/help/*', '/usr/share/linda/*', '/usr/share/lintian/overrides/*'],
      include: ['/usr/share/doc/*/copyright', '/usr/share/doc/kde/HTML/C/*', '/usr/share/gnome/help/*/C/*'],
    },
  },
  {
    name: 'man',
    description: 'man pages and groff (the man section folders stay, for packages that install man-page alternatives)',
    removedByDefault: true,
    origin: 'febootstrap --drop-docs, debuerreotype slimify',
    paths: ['usr/share/man/**', 'usr/share/groff/**'],
    kept: [{ path: 'usr/share/man/man*', types: ['directory'] }],
    pruneFolders: true,
    dpkg: { exclude: ['/usr/share/man/*', '/usr/share/groff/*'] },
  },
  {
    name: 'info',
    description: 'GNU info manuals',
    removedByDefault: true,
    origin: 'febootstrap --drop-docs, debuerreotype slimify',
    paths: ['usr/share/info/**'],
    pruneFolders: true,
    dpkg: { exclude: ['/usr/share/info/*'] },
  },
  {
    name: 'locales',
    description: 'message translations in /usr/share/locale (locale.alias and the language/currency tables kept)',
    removedByDefault: true,
    origin: 'febootstrap --drop-locales, debuerreotype slimify',
    paths: ['usr/share/locale/**'],
    kept: [
      { path: 'usr/share/locale/locale.alias' },
      { path: 'usr/share/locale/all_languages' },
      { path: 'usr/share/locale/languages' },
      { path: 'usr/share/locale/currency/**' },
      { path: 'usr/share/locale/l10n/**' },
    ],
    pruneFolders: true,
    dpkg: {
      exclude: ['/usr/share/locale/*'],
      include: ['/usr/share/locale/locale.alias', '/usr/share/locale/all_languages', '/usr/share/locale/languages', '/usr/share/locale/currency/*', '/usr/share/locale/l10n/*'],
    },
  },
  {
    name: 'caches',
    description: "package managers' caches: apt's downloaded .debs, package lists and pkgcache, yum/dnf/zypper/apk caches, man-db's index, debconf's and dpkg's -old backups",
    removedByDefault: true,
    origin: 'febootstrap --drop-yum-cache, debuerreotype (apt lists and archives)',
    paths: [
      'var/cache/apt/**', 'var/lib/apt/lists/**', 'var/cache/yum/**', 'var/cache/dnf/**', 'var/cache/zypp/**', 'var/cache/apk/**',
      'var/cache/man/**', 'var/cache/debconf/*-old', 'var/lib/dpkg/*-old',
    ],
    pruneFolders: false,
  },
  {
    name: 'logs',
    description: 'log files in /var/log (the login records wtmp, btmp, lastlog and faillog kept)',
    removedByDefault: true,
    origin: 'debuerreotype (apt history logs)',
    paths: ['var/log/**'],
    kept: [{ path: 'var/log/wtmp' }, { path: 'var/log/btmp' }, { path: 'var/log/lastlog' }, { path: 'var/log/faillog' }],
    pruneFolders: false,
  },
  {
    name: 'cracklib',
    description: 'cracklib password dictionaries (pam_cracklib/pwquality dictionary checks)',
    removedByDefault: true,
    origin: 'febootstrap --drop-cracklib',
    paths: ['usr/share/cracklib/**'],
    pruneFolders: true,
    dpkg: { exclude: ['/usr/share/cracklib/*'] },
  },
  {
    name: 'sln',
    description: "glibc's statically linked ln (sln)",
    removedByDefault: true,
    origin: 'febootstrap --drop-sln',
    paths: ['sbin/sln', 'usr/sbin/sln'],
    pruneFolders: false,
  },
  {
    name: 'ldconfig',
    description: "ldconfig's auxiliary cache (var/cache/ldconfig), rebuilt on its next run",
    removedByDefault: true,
    origin: 'febootstrap --drop-ldconfig (the cache part)',
    paths: ['var/cache/ldconfig/**'],
    pruneFolders: false,
  },
  {
    name: 'i18n',
    description: 'locale sources (charmaps, locale definitions) that localedef and locale-gen compile',
    removedByDefault: false,
    origin: 'febootstrap --drop-i18n',
    paths: ['usr/share/i18n/**'],
    pruneFolders: true,
    dpkg: { exclude: ['/usr/share/i18n/*'] },
  },
  {
    name: 'compiled-locales',
    description: 'compiled locales in /usr/lib/locale (the C.UTF-8 locale kept)',
    removedByDefault: false,
    origin: 'febootstrap --drop-locales (usr/lib/locale)',
    paths: ['usr/lib/locale/**', 'lib/locale/**'],
    kept: [{ path: 'usr/lib/locale/C.utf8/**' }, { path: 'usr/lib/locale/C.UTF-8/**' }, { path: 'lib/locale/C.utf8/**' }, { path: 'lib/locale/C.UTF-8/**' }],
    pruneFolders: true,
    dpkg: { exclude: ['/usr/lib/locale/*'], include: ['/usr/lib/locale/C.utf8/*', '/usr/lib/locale/C.UTF-8/*'] },
  },
  {
    name: 'gconv',
    description: "glibc's iconv conversion modules (gconv); iconv keeps only its built-in UTF-8/ASCII/Latin-1 conversions",
    removedByDefault: false,
    origin: 'febootstrap --drop-locales (usr/lib*/gconv)',
    paths: ['usr/lib/gconv/**', 'usr/lib64/gconv/**', 'usr/lib/*/gconv/**', 'lib/*/gconv/**', 'lib64/gconv/**'],
    pruneFolders: true,
    dpkg: { exclude: ['/usr/lib/*/gconv/*', '/usr/lib64/gconv/*', '/usr/lib/gconv/*'] },
  },
  {
    name: 'zoneinfo',
    description: 'time zone data, but UTC, GMT and the zone /etc/localtime names',
    removedByDefault: false,
    origin: 'febootstrap --drop-zoneinfo',
    paths: ['usr/share/zoneinfo/**'],
    kept: [
      { path: 'usr/share/zoneinfo/UTC' }, { path: 'usr/share/zoneinfo/UCT' }, { path: 'usr/share/zoneinfo/Universal' }, { path: 'usr/share/zoneinfo/Zulu' },
      { path: 'usr/share/zoneinfo/GMT*' }, { path: 'usr/share/zoneinfo/*.tab' }, { path: 'usr/share/zoneinfo/posixrules' },
      // Debian's UTC is a link to Etc/UTC, and /etc/localtime names Etc/UTC.
      { path: 'usr/share/zoneinfo/Etc/UTC' }, { path: 'usr/share/zoneinfo/Etc/UCT' }, { path: 'usr/share/zoneinfo/Etc/Universal' },
      { path: 'usr/share/zoneinfo/Etc/Zulu' }, { path: 'usr/share/zoneinfo/Etc/GMT*' },
    ],
    pruneFolders: true,
    dpkg: {
      exclude: ['/usr/share/zoneinfo/*'],
      include: [
        '/usr/share/zoneinfo/UTC', '/usr/share/zoneinfo/UCT', '/usr/share/zoneinfo/Universal', '/usr/share/zoneinfo/Zulu', '/usr/share/zoneinfo/GMT*',
        '/usr/share/zoneinfo/*.tab', '/usr/share/zoneinfo/posixrules', '/usr/share/zoneinfo/Etc/*',
      ],
    },
  },
  {
    name: 'pkgdb',
    description: "the rpm database (var/lib/rpm, usr/lib/sysimage/rpm): rpm then knows no installed package; never dpkg's",
    removedByDefault: false,
    origin: 'febootstrap --drop-rpmdb',
    paths: ['var/lib/rpm/**', 'usr/lib/sysimage/rpm/**'],
    pruneFolders: true,
  },
  {
    name: 'ld.so.cache',
    description: "the dynamic loader's cache /etc/ld.so.cache; refused where libraries live outside the loader's default folders (Debian's multiarch folders)",
    removedByDefault: false,
    origin: 'febootstrap --drop-ldconfig, mkimage-yum.sh',
    paths: ['etc/ld.so.cache'],
    pruneFolders: false,
  },
  {
    name: 'services',
    description: '/etc/services cut down to the well-known ports (below 1024), without comments',
    removedByDefault: false,
    origin: 'febootstrap --drop-services',
    // Rewritten, not removed: see `slimServices`.
    paths: [],
    pruneFolders: false,
  },
];

/** The file the `services` category rewrites. */
export const SERVICES_PATH = 'etc/services';

export const SLIM_CATEGORY_NAMES: readonly string[] = SLIM_CATEGORIES.map((c) => c.name);

const byName = new Map(SLIM_CATEGORIES.map((c) => [c.name, c]));

export function slimCategoryByName(name: string): SlimCategory | undefined {
  return byName.get(name);
}

/**
 * A glob as a regular expression. Hand-written (not picomatch/minimatch): the globs are this table's
 * own, and the same strings are turned into dpkg's fnmatch globs, where `*` also crosses '/'.
 */
function globRegExp(glob: string): RegExp {
  const body = glob
    .split('**')
    .map((part) => part.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*'))
    .join('.+');
  return new RegExp(`^${body}$`);
}

interface CompiledCategory {
  category: SlimCategory;
  paths: RegExp[];
  kept: { re: RegExp; types?: readonly EntryType[] }[];
}

const compiled: CompiledCategory[] = SLIM_CATEGORIES.map((category) => ({
  category,
  paths: category.paths.map(globRegExp),
  kept: (category.kept ?? []).map((k) => ({ re: globRegExp(k.path), ...(k.types ? { types: k.types } : {}) })),
}));

/** Where a path falls in the table, whatever is kept: its category, and whether it is one of the category's exceptions. */
export interface PathClass {
  category: SlimCategory;
  /** An always-kept path (a copyright file, locale.alias, a man section folder...). */
  exception: boolean;
}

/**
 * The category a path belongs to (relative, no leading slash, as layer entries carry it). An exception
 * restricted to some entry types applies only when `type` is given and is one of them.
 */
export function classifyPath(path: string, type?: EntryType): PathClass | undefined {
  for (const c of compiled) {
    if (!c.paths.some((re) => re.test(path))) continue;
    const exception = c.kept.some((k) => k.re.test(path) && (!k.types || (type !== undefined && k.types.includes(type))));
    return { category: c.category, exception };
  }
  return undefined;
}

/**
 * The category under which slim removes `path`, or undefined when it stays: outside every category,
 * an always-kept exception, or in a category named in `keep`. `keep` holds the categories that stay;
 * `keptCategories()` gives slim's defaults. Folders are classified as their contents are (whether a
 * folder goes depends on what stays below it); they carry no bytes.
 */
export function slimCategory(path: string, keep: ReadonlySet<string>, type?: EntryType): string | undefined {
  const c = classifyPath(path, type);
  if (!c || c.exception || keep.has(c.category.name)) return undefined;
  return c.category.name;
}

function checkNames(flag: string, names: readonly string[]): void {
  for (const name of names) {
    if (!byName.has(name)) throw new UserError(`${flag} ${name}: no such category; the categories are ${SLIM_CATEGORY_NAMES.join(', ')}`);
  }
}

/**
 * The categories that stay, for `slimCategory`: those not removed by default, plus `keep`, minus
 * `remove`. Throws a UserError for an unknown name or a category both kept and removed.
 */
export function keptCategories(selection: { keep?: readonly string[]; remove?: readonly string[] } = {}): ReadonlySet<string> {
  const keep = selection.keep ?? [];
  const remove = selection.remove ?? [];
  checkNames('--keep', keep);
  checkNames('--remove', remove);
  const both = keep.find((k) => remove.includes(k));
  if (both) throw new UserError(`--keep ${both} and --remove ${both} contradict each other`);
  const kept = new Set(SLIM_CATEGORIES.filter((c) => !c.removedByDefault).map((c) => c.name));
  for (const k of keep) kept.add(k);
  for (const r of remove) kept.delete(r);
  return kept;
}

/**
 * /etc/dpkg/dpkg.cfg.d/ lines that keep the removed categories out of packages installed later, as
 * debuerreotype's slim images do; undefined when no removed category concerns package files.
 */
export function dpkgSlimConfig(keep: ReadonlySet<string>): string | undefined {
  const removed = SLIM_CATEGORIES.filter((c) => c.dpkg && !keep.has(c.name));
  if (removed.length === 0) return undefined;
  const lines = [
    '# Written by fromscratch: files of these kinds were left out of this image,',
    '# and these rules keep packages installed later from bringing them back.',
  ];
  for (const c of removed) {
    lines.push('', `# ${c.name}: ${c.description}`);
    for (const g of c.dpkg!.exclude) lines.push(`path-exclude ${g}`);
    for (const g of c.dpkg!.include ?? []) lines.push(`path-include ${g}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * /etc/services cut to the well-known ports (below 1024), comments and blank lines dropped: what
 * febootstrap's --drop-services aims at (it writes a fixed short list), derived here from the image's
 * own file so that aliases and protocols stay as the distribution wrote them.
 */
export function slimServices(content: string): string {
  const kept: string[] = [];
  for (const line of content.split('\n')) {
    const entry = line.replace(/#.*/, '').trim();
    const m = /^\S+\s+(\d+)\/\S+/.exec(entry);
    if (m && Number(m[1]) < 1024) kept.push(entry.replace(/\s+/g, ' '));
  }
  return kept.length ? `${kept.join('\n')}\n` : '';
}
