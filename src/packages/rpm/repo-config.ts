import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../../errors.js';

/**
 * YUM/DNF repository configuration: a yum.conf / dnf.conf `[main]`, the repositories it and its
 * `reposdir` `*.repo` files define, and dnf's variables, read as `mkimage-yum.sh -y /etc/yum.conf` has
 * dnf read them.
 */

/** One `key=value` of an INI section, with the line it starts on (for errors). */
export interface IniEntry {
  value: string;
  line: number;
}

export interface IniSection {
  name: string;
  line: number;
  entries: Map<string, IniEntry>;
}

/**
 * Reads dnf's INI dialect (libdnf's ConfigParser, itself modelled on Python's): `[section]` headers,
 * `key=value` or `key: value`, continuation lines that start with whitespace (joined with a newline),
 * whole-line `#`/`;` comments, keys case-insensitive. Hand-written because no INI library on npm joins
 * continuation lines (a `baseurl` with one mirror per line is common in real .repo files).
 */
export function parseIni(text: string, file: string): IniSection[] {
  const sections: IniSection[] = [];
  let section: IniSection | undefined;
  let last: IniEntry | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const where = `${file}:${i + 1}`;
    const trimmed = raw.trim();
    if (trimmed === '') {
      last = undefined; // a blank line ends a continued value
      continue;
    }
    if (trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    if (/^[ \t]/.test(raw) && last) {
      last.value = last.value === '' ? trimmed : `${last.value}\n${trimmed}`;
      continue;
    }
    if (trimmed.startsWith('[')) {
      const match = /^\[([^\]]*)\]\s*(?:[#;].*)?$/.exec(trimmed);
      const name = match?.[1]?.trim();
      if (!match || !name) throw new UserError(`${where}: malformed section header "${trimmed}"`);
      if (sections.some((s) => s.name === name)) throw new UserError(`${where}: section [${name}] is defined twice in this file`);
      section = { name, line: i + 1, entries: new Map() };
      sections.push(section);
      last = undefined;
      continue;
    }
    const match = /^([^=:]*?)\s*([=:])\s*(.*)$/.exec(trimmed);
    if (!match) throw new UserError(`${where}: expected "key=value", a [section] or a comment, got "${trimmed}"`);
    const key = match[1]!.toLowerCase();
    if (!key) throw new UserError(`${where}: a value without a key ("${trimmed}")`);
    if (!/^[a-z0-9_.-]+$/.test(key) || (match[2] === ':' && match[3]!.startsWith('//'))) {
      throw new UserError(`${where}: expected "key=value", got "${trimmed}" (a URL continuing the line above must be indented)`);
    }
    if (!section) throw new UserError(`${where}: "${key}" comes before any [section]`);
    if (section.entries.has(key)) throw new UserError(`${where}: "${key}" is set twice in [${section.name}]`);
    last = { value: match[3]!, line: i + 1 };
    section.entries.set(key, last);
  }
  return sections;
}

/** dnf's booleans (libdnf OptionBool). */
export function parseBool(value: string, where: string): boolean {
  switch (value.trim().toLowerCase()) {
    case '1':
    case 'yes':
    case 'true':
    case 'on':
      return true;
    case '0':
    case 'no':
    case 'false':
    case 'off':
      return false;
    default:
      throw new UserError(`${where}: "${value}" is not a boolean (use 1/0, yes/no, true/false or on/off)`);
  }
}

/** dnf's list options: items separated by whitespace, commas or newlines. */
export function parseList(value: string): string[] {
  return value.split(/[\s,]+/).filter(Boolean);
}

/** dnf's `$basearch` for an rpm architecture (dnf.rpm's table, the architectures images are made for). */
const BASEARCH: Record<string, string> = {
  x86_64: 'x86_64',
  amd64: 'x86_64',
  ia32e: 'x86_64',
  i386: 'i386',
  i486: 'i386',
  i586: 'i386',
  i686: 'i386',
  athlon: 'i386',
  geode: 'i386',
  aarch64: 'aarch64',
  armv6hl: 'armhfp',
  armv7hl: 'armhfp',
  armv7hnl: 'armhfp',
  armv8hl: 'armhfp',
  armv5tel: 'arm',
  armv6l: 'arm',
  armv7l: 'arm',
  armv8l: 'arm',
  ppc64le: 'ppc64le',
  ppc64: 'ppc64',
  ppc64p7: 'ppc64',
  ppc: 'ppc',
  s390x: 's390x',
  s390: 's390',
  riscv64: 'riscv64',
  loongarch64: 'loongarch64',
  mips64el: 'mips64el',
  noarch: 'noarch',
};

export function rpmBasearch(arch: string): string {
  const base = BASEARCH[arch];
  if (!base) throw new UserError(`unknown RPM architecture "${arch}" (known: ${Object.keys(BASEARCH).join(', ')})`);
  return base;
}

export type YumVars = Record<string, string>;

/**
 * Expands dnf variables: `$name`, `${name}`, and libdnf's `${name:-default}` / `${name:+alternative}`.
 * A name is the longest run of letters, digits and `_`; unknown variables stay as written, as dnf leaves them.
 */
export function substituteVars(text: string, vars: YumVars): string {
  return text.replace(/\$\{([A-Za-z0-9_]+)(?::([-+])([^}]*))?\}|\$([A-Za-z0-9_]+)/g, (whole, braced?: string, op?: string, word?: string, bare?: string) => {
    const name = braced ?? bare!;
    const value = vars[name];
    if (op === '-') return value ? value : substituteVars(word ?? '', vars);
    if (op === '+') return value ? substituteVars(word ?? '', vars) : '';
    return value ?? whole;
  });
}

/** The first unexpanded `$var` left in a value, if any. */
function unexpanded(value: string): string | undefined {
  return /\$\{?([A-Za-z0-9_]+)/.exec(value)?.[1];
}

/** One YUM/DNF repository, its options already defaulted from `[main]` and its variables expanded. */
export interface RpmRepoConfig {
  id: string;
  name: string;
  /** Base URLs in the order given (mirrors of the same content), without a trailing slash. */
  baseurl: string[];
  mirrorlist?: string;
  metalink?: string;
  enabled: boolean;
  /** Packages must carry a valid signature by one of `gpgkey`. */
  gpgcheck: boolean;
  /** repomd.xml must come with a valid `repomd.xml.asc` by one of `gpgkey`. */
  repoGpgcheck: boolean;
  /** Key URLs: `file://`, `http://` or `https://`. */
  gpgkey: string[];
  /** Lower wins (dnf's default 99). */
  priority: number;
  /** Among equal priorities, lower is preferred (default 1000). */
  cost: number;
  excludepkgs: string[];
  includepkgs: string[];
  skipIfUnavailable: boolean;
  /** Where it was defined: `FILE:LINE`, or `--rpm-repo`. */
  source: string;
}

/** The `[main]` options the builder honours. */
export interface YumMainConfig {
  /** Folders searched for `*.repo` files, as written (relative to the root). */
  reposdir: string[];
  /** Folders of variable files, as written (relative to the root). */
  varsdir: string[];
  tsflags: string[];
  /** tsflags has `nodocs`. */
  nodocs: boolean;
  installWeakDeps: boolean;
  /** `exclude`/`excludepkgs` of `[main]`: apply to every repository. */
  excludepkgs: string[];
  keepcache: boolean;
  gpgcheck: boolean;
  repoGpgcheck: boolean;
  releasever?: string;
}

export interface YumConfig {
  file: string;
  main: YumMainConfig;
  /** Every repository defined, enabled or not, in the order dnf reads them (the conf, then each reposdir's files sorted). */
  repos: RpmRepoConfig[];
  /** The variables used for expansion. */
  vars: YumVars;
}

export interface YumConfigOptions {
  /** The file system reposdir and varsdir are read from (default `/`, the host), as dnf's --installroot. */
  root?: string;
  /** `--releasever`, which wins over `[main] releasever` and a `releasever` vars file. */
  releasever?: string;
  /** The rpm architecture the image is built for (default x86_64): `$arch`, and `$basearch` from it. */
  arch?: string;
  /** Where DNF_VAR_*, DNF0-9 and YUM0-9 are read (default process.env). */
  env?: NodeJS.ProcessEnv;
}

const DEFAULT_REPOSDIR = ['/etc/yum.repos.d', '/etc/yum/repos.d', '/etc/distro.repos.d'];
const DEFAULT_VARSDIR = ['/etc/dnf/vars', '/etc/yum/vars'];

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false; // a dangling link, as dnf skips it
  }
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new UserError(`${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** Variable files (file name = variable, first line = value), later folders overriding earlier ones as in dnf. */
async function readVarsDirs(root: string, dirs: string[], vars: YumVars): Promise<void> {
  for (const dir of dirs) {
    const full = join(root, dir);
    if (!(await isDirectory(full))) continue;
    for (const name of (await readdir(full)).sort()) {
      const path = join(full, name);
      if (await isFile(path)) vars[name] = (await readText(path)).split('\n')[0]!;
    }
  }
}

function varsFromEnv(env: NodeJS.ProcessEnv): YumVars {
  const vars: YumVars = {};
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (/^DNF_VAR_[A-Za-z0-9_]+$/.test(key)) vars[key.slice('DNF_VAR_'.length)] = value;
    else if (/^(DNF|YUM)[0-9]$/.test(key)) vars[key] = value;
  }
  return vars;
}

/** Reads typed options out of a section, naming FILE:LINE in errors. */
class SectionReader {
  constructor(
    private readonly section: IniSection,
    private readonly file: string,
    private readonly vars: YumVars,
  ) {}

  where(key: string): string {
    const entry = this.section.entries.get(key);
    return `${this.file}:${entry ? entry.line : this.section.line}`;
  }

  string(...keys: string[]): string | undefined {
    for (const key of keys) {
      const entry = this.section.entries.get(key);
      if (entry) return substituteVars(entry.value, this.vars).trim();
    }
    return undefined;
  }

  bool(key: string, fallback: boolean): boolean {
    const value = this.string(key);
    return value === undefined || value === '' ? fallback : parseBool(value, this.where(key));
  }

  int(key: string, fallback: number): number {
    const value = this.string(key);
    if (value === undefined || value === '') return fallback;
    if (!/^-?[0-9]+$/.test(value)) throw new UserError(`${this.where(key)}: ${key} must be a whole number, got "${value}"`);
    return Number(value);
  }

  list(...keys: string[]): string[] {
    const values: string[] = [];
    for (const key of keys) {
      const value = this.string(key);
      if (value !== undefined) values.push(...parseList(value));
    }
    return values;
  }
}

function readMain(section: IniSection | undefined, file: string, vars: YumVars): YumMainConfig {
  const r = new SectionReader(section ?? { name: 'main', line: 1, entries: new Map() }, file, vars);
  const reposdir = r.list('reposdir');
  const varsdir = r.list('varsdir');
  const tsflags = r.list('tsflags');
  const main: YumMainConfig = {
    reposdir: section?.entries.has('reposdir') ? reposdir : DEFAULT_REPOSDIR,
    varsdir: section?.entries.has('varsdir') ? varsdir : DEFAULT_VARSDIR,
    tsflags,
    nodocs: tsflags.includes('nodocs'),
    installWeakDeps: r.bool('install_weak_deps', true),
    excludepkgs: r.list('exclude', 'excludepkgs'),
    keepcache: r.bool('keepcache', false),
    gpgcheck: r.bool('gpgcheck', false),
    repoGpgcheck: r.bool('repo_gpgcheck', false),
  };
  const releasever = r.string('releasever');
  if (releasever) main.releasever = releasever;
  return main;
}

function trimUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

function readRepo(section: IniSection, file: string, vars: YumVars, main: YumMainConfig): RpmRepoConfig {
  const r = new SectionReader(section, file, vars);
  const id = substituteVars(section.name, vars);
  if (!/^[A-Za-z0-9_.:-]+$/.test(id)) throw new UserError(`${file}:${section.line}: "${section.name}" is not a valid repository id (letters, digits, and - _ . :)`);
  const repo: RpmRepoConfig = {
    id,
    name: r.string('name') || id,
    baseurl: r.list('baseurl').map(trimUrl),
    enabled: r.bool('enabled', true),
    gpgcheck: r.bool('gpgcheck', main.gpgcheck),
    repoGpgcheck: r.bool('repo_gpgcheck', main.repoGpgcheck),
    gpgkey: r.list('gpgkey'),
    priority: r.int('priority', 99),
    cost: r.int('cost', 1000),
    excludepkgs: r.list('exclude', 'excludepkgs'),
    includepkgs: r.list('includepkgs'),
    skipIfUnavailable: r.bool('skip_if_unavailable', false),
    source: `${file}:${section.line}`,
  };
  const mirrorlist = r.string('mirrorlist');
  if (mirrorlist) repo.mirrorlist = mirrorlist;
  const metalink = r.string('metalink');
  if (metalink) repo.metalink = metalink;
  if (repo.enabled) checkRepo(repo, (key) => r.where(key));
  return repo;
}

const URL_SCHEMES = /^(https?|file):\/\//;

/** An enabled repository must say where it is, in URLs we can read, with every variable known. */
function checkRepo(repo: RpmRepoConfig, where: (key: string) => string): void {
  if (!repo.baseurl.length && !repo.mirrorlist && !repo.metalink) {
    throw new UserError(`${repo.source}: repository "${repo.id}" has no baseurl, mirrorlist or metalink`);
  }
  const urls: [string, string][] = [
    ...repo.baseurl.map((u): [string, string] => ['baseurl', u]),
    ...repo.gpgkey.map((u): [string, string] => ['gpgkey', u]),
    ...(repo.mirrorlist ? [['mirrorlist', repo.mirrorlist] as [string, string]] : []),
    ...(repo.metalink ? [['metalink', repo.metalink] as [string, string]] : []),
  ];
  for (const [key, url] of urls) {
    const variable = unexpanded(url);
    if (variable) {
      const hint = variable === 'releasever' ? ' (pass --releasever)' : ` (define it in a vars folder or DNF_VAR_${variable})`;
      throw new UserError(`${where(key)}: repository "${repo.id}": ${key} "${url}" uses $${variable}, which has no value${hint}`);
    }
    if (!URL_SCHEMES.test(url)) throw new UserError(`${where(key)}: repository "${repo.id}": ${key} "${url}" is not an http://, https:// or file:// URL`);
  }
}

/**
 * Reads a yum.conf / dnf.conf, the variables, and every `*.repo` file of its reposdir folders (under
 * `root`), as dnf does: the conf's own repositories first, then each folder's files in name order.
 */
export async function readYumConfig(file: string, options: YumConfigOptions = {}): Promise<YumConfig> {
  const root = options.root ?? '/';
  const sections = parseIni(await readText(file), file);
  const mainSection = sections.find((s) => s.name === 'main');
  // [main] is read twice: once for varsdir and releasever (no variables yet), then with them.
  const bare = readMain(mainSection, file, {});
  const vars: YumVars = varsFromEnv(options.env ?? process.env);
  await readVarsDirs(root, bare.varsdir, vars);
  const arch = options.arch ?? 'x86_64';
  vars['arch'] = arch;
  vars['basearch'] = rpmBasearch(arch);
  const releasever = options.releasever ?? bare.releasever;
  if (releasever) vars['releasever'] = releasever;
  if (vars['releasever']) {
    // dnf also offers the major and minor parts (dnf 4.19+); harmless for older configs.
    const [major, minor] = vars['releasever'].split('.');
    vars['releasever_major'] ??= major!;
    if (minor !== undefined) vars['releasever_minor'] ??= minor;
  }
  const main = readMain(mainSection, file, vars);
  if (releasever) main.releasever = releasever;

  const repos: RpmRepoConfig[] = [];
  const seen = new Map<string, string>();
  const add = (repo: RpmRepoConfig) => {
    const earlier = seen.get(repo.id);
    if (earlier) throw new UserError(`${repo.source}: repository "${repo.id}" is already defined at ${earlier}`);
    seen.set(repo.id, repo.source);
    repos.push(repo);
  };
  for (const section of sections) if (section.name !== 'main') add(readRepo(section, file, vars, main));
  for (const dir of main.reposdir) {
    const full = join(root, dir);
    if (!(await isDirectory(full))) continue;
    for (const name of (await readdir(full)).filter((n) => n.endsWith('.repo')).sort()) {
      const path = join(full, name);
      if (!(await isFile(path))) continue;
      for (const section of parseIni(await readText(path), path)) add(readRepo(section, path, vars, main));
    }
  }
  return { file, main, repos, vars };
}

export interface RepoFromUrlOptions {
  gpgcheck?: boolean;
  repoGpgcheck?: boolean;
  gpgkey?: string[];
  vars?: YumVars;
}

/**
 * A repository given on the command line (`--rpm-repo URL`), with an id made from the URL the same way
 * every time: its host and path as a readable slug, and a short hash so different URLs never share one.
 */
export function rpmRepoFromUrl(url: string, options: RepoFromUrlOptions = {}): RpmRepoConfig {
  const expanded = trimUrl(substituteVars(url.trim(), options.vars ?? {}));
  const slug = expanded
    .replace(URL_SCHEMES, '')
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(-40);
  const hash = createHash('sha256').update(expanded).digest('hex').slice(0, 8);
  const repo: RpmRepoConfig = {
    id: `${slug || 'repo'}-${hash}`,
    name: expanded,
    baseurl: [expanded],
    enabled: true,
    gpgcheck: options.gpgcheck ?? false,
    repoGpgcheck: options.repoGpgcheck ?? false,
    gpgkey: options.gpgkey ?? [],
    priority: 99,
    cost: 1000,
    excludepkgs: [],
    includepkgs: [],
    skipIfUnavailable: false,
    source: '--rpm-repo',
  };
  checkRepo(repo, () => `--rpm-repo ${url}`);
  return repo;
}
