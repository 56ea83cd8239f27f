import initSqlJs, { type SqlJsStatic } from 'sql.js';
import { errorMessage, UserError } from '../../errors.js';
import { dependencyChains, notDependedOn, type InstalledPackage } from '../installed.js';
import { RpmHeader, RpmTag } from './header.js';
import { applyWal } from './sqlite-wal.js';

/** The storage formats rpm has used for its database; only sqlite (rpm ≥ 4.16's default) is read. */
export type RpmBackend = 'sqlite' | 'bdb' | 'ndb';

export interface RpmDatabaseLocation {
  /** In the image, without a leading slash. */
  path: string;
  backend: RpmBackend;
}

/**
 * Where rpm keeps its package table, most likely first: Fedora ≥ 36 and openSUSE moved the database to
 * /usr/lib/sysimage/rpm (leaving /var/lib/rpm as a symlink to it), RHEL 9 and older Fedora keep it in
 * /var/lib/rpm; `Packages` is Berkeley DB (RHEL ≤ 8, CentOS 7), `Packages.db` ndb (openSUSE until 2022).
 */
export const RPM_DATABASE_PATHS: readonly RpmDatabaseLocation[] = [
  { path: 'usr/lib/sysimage/rpm/rpmdb.sqlite', backend: 'sqlite' },
  { path: 'var/lib/rpm/rpmdb.sqlite', backend: 'sqlite' },
  { path: 'usr/lib/sysimage/rpm/Packages.db', backend: 'ndb' },
  { path: 'var/lib/rpm/Packages.db', backend: 'ndb' },
  { path: 'usr/lib/sysimage/rpm/Packages', backend: 'bdb' },
  { path: 'var/lib/rpm/Packages', backend: 'bdb' },
];

/** The write-ahead log beside a sqlite database: read it too when the image has it (see rpmInstalledPackages). */
export function rpmWalPath(databasePath: string): string {
  return `${databasePath}-wal`;
}

/** The files whose contents rpmInstalledPackages may need, to keep while reading layers: each sqlite database and its WAL. */
export const RPM_SQLITE_FILES: readonly string[] = RPM_DATABASE_PATHS.filter((l) => l.backend === 'sqlite').flatMap((l) => [l.path, rpmWalPath(l.path)]);

/** The image's rpm database: the first of RPM_DATABASE_PATHS that `exists` (a regular file) says is there. */
export function findRpmDatabase(exists: (path: string) => boolean): RpmDatabaseLocation | undefined {
  return RPM_DATABASE_PATHS.find((l) => exists(l.path));
}

/** What to tell the user about a database in a backend this reader does not read. */
export function rpmDatabaseNotRead(location: RpmDatabaseLocation): string {
  return `rpm database (${location.backend}) not read: /${location.path}; only the sqlite backend (rpm ≥ 4.16) is read`;
}

// rpm's rpmsenseFlags (lib/rpmds.h): requires only needed while a package is being installed (its %pre and
// %post scriptlets, rpmlib features) do not keep the provider installed, for `rpm -e` as for dnf.
const SENSE_POSTTRANS = 1 << 5;
const SENSE_PRETRANS = 1 << 7;
const SENSE_SCRIPT_PRE = 1 << 9;
const SENSE_SCRIPT_POST = 1 << 10;
const SENSE_SCRIPT_PREUN = 1 << 11;
const SENSE_SCRIPT_POSTUN = 1 << 12;
const SENSE_RPMLIB = 1 << 24;
const SENSE_KEYRING = 1 << 26;
const INSTALL_ONLY = SENSE_SCRIPT_PRE | SENSE_SCRIPT_POST | SENSE_RPMLIB | SENSE_KEYRING | SENSE_PRETRANS | SENSE_POSTTRANS;
const ERASE_ONLY = SENSE_SCRIPT_PREUN | SENSE_SCRIPT_POSTUN;

let sqlJs: Promise<SqlJsStatic> | undefined;

interface RpmPackage {
  hnum: number;
  name: string;
  version: string;
  architecture: string;
  installedBytes: number;
  requires: string[];
  provides: string[];
  header: RpmHeader;
}

/**
 * The installed packages of an rpm sqlite database (`rpmdb.sqlite`), each with its size and why it is
 * installed: `top-level` when no installed package requires it (rpm has no Essential or Priority), else
 * the shortest chain of Requires from such a package, resolving virtual provides, file requires
 * (`/bin/sh`, against the packages' file lists) and rich dependencies (`(a or b)`) among the installed
 * packages. rpm's `gpg-pubkey` entries (imported signing keys) are not packages and are left out.
 *
 * @param database the bytes of rpmdb.sqlite
 * @param where names the file in messages (`IMAGE: /var/lib/rpm/rpmdb.sqlite`)
 * @param wal the bytes of rpmdb.sqlite-wal when the image has one: its committed transactions are applied
 */
export async function rpmInstalledPackages(database: Uint8Array, where: string, wal?: Uint8Array): Promise<InstalledPackage[]> {
  return (await readRpmDatabase(database, where, wal)).packages;
}

/** The installed packages, and which package installed each path (relative, as image entries name them). */
export async function readRpmDatabase(database: Uint8Array, where: string, wal?: Uint8Array): Promise<{ packages: InstalledPackage[]; owners: Map<string, string> }> {
  const bytes = wal && wal.length > 0 ? applyWal(database, wal).database : database;
  const packages = (await readHeaders(bytes, where)).map((h) => describe(h.hnum, h.header, `${where}: Packages hnum ${h.hnum}`)).filter((p) => p.name !== 'gpg-pubkey');
  const owners = new Map<string, string>();
  for (const p of packages) for (const path of filesOf(p.header)) owners.set(path.replace(/^\/+/, ''), p.name);
  return { packages: withWhy(packages), owners };
}

async function readHeaders(database: Uint8Array, where: string): Promise<{ hnum: number; header: RpmHeader }[]> {
  sqlJs ??= initSqlJs();
  const SQL = await sqlJs;
  let db;
  try {
    db = new SQL.Database(database);
  } catch (err) {
    throw new UserError(`${where}: not a sqlite database: ${errorMessage(err)}`);
  }
  try {
    let statement;
    try {
      statement = db.prepare('SELECT hnum, blob FROM Packages ORDER BY hnum');
    } catch (err) {
      throw new UserError(`${where}: not an rpm database: ${errorMessage(err)}`);
    }
    const out: { hnum: number; header: RpmHeader }[] = [];
    try {
      while (statement.step()) {
        const [hnum, blob] = statement.get();
        if (typeof hnum !== 'number' || !(blob instanceof Uint8Array)) {
          throw new UserError(`${where}: Packages hnum ${String(hnum)}: the blob is not an rpm header`);
        }
        out.push({ hnum, header: RpmHeader.parse(blob, `${where}: Packages hnum ${hnum}`) });
      }
    } finally {
      statement.free();
    }
    return out;
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${where}: cannot read the rpm database: ${errorMessage(err)}`);
  } finally {
    db.close();
  }
}

function describe(hnum: number, header: RpmHeader, where: string): RpmPackage {
  const name = header.string(RpmTag.NAME);
  if (!name) throw new UserError(`${where}: corrupt rpm header: it has no NAME`);
  const epoch = header.numbers(RpmTag.EPOCH)[0];
  const flags = header.numbers(RpmTag.REQUIREFLAGS);
  return {
    hnum,
    name,
    // As rpm prints %{EVR}: the epoch whenever the header has one, even 0.
    version: `${epoch !== undefined ? `${epoch}:` : ''}${header.string(RpmTag.VERSION) ?? ''}-${header.string(RpmTag.RELEASE) ?? ''}`,
    architecture: header.string(RpmTag.ARCH) ?? '',
    installedBytes: header.numbers(RpmTag.LONGSIZE)[0] ?? header.numbers(RpmTag.SIZE)[0] ?? 0,
    requires: header.strings(RpmTag.REQUIRENAME).filter((_, i) => {
      const f = flags[i] ?? 0;
      return !(f & INSTALL_ONLY) || (f & ERASE_ONLY) !== 0;
    }),
    provides: header.strings(RpmTag.PROVIDENAME),
    header,
  };
}

/** The paths a package installs (BASENAMES joined to DIRNAMES through DIRINDEXES), only `wanted` ones if given. */
function filesOf(header: RpmHeader, wanted?: ReadonlySet<string>): string[] {
  const basenames = header.strings(RpmTag.BASENAMES);
  const dirnames = header.strings(RpmTag.DIRNAMES);
  const dirindexes = header.numbers(RpmTag.DIRINDEXES);
  const out: string[] = [];
  for (let i = 0; i < basenames.length; i++) {
    const path = `${dirnames[dirindexes[i] ?? -1] ?? ''}${basenames[i]}`;
    if (!wanted || wanted.has(path)) out.push(path);
  }
  return out;
}

function withWhy(packages: RpmPackage[]): InstalledPackage[] {
  // Several packages of one name (multilib, installonly kernels) are told apart in chains by version and arch.
  const counts = new Map<string, number>();
  for (const p of packages) counts.set(p.name, (counts.get(p.name) ?? 0) + 1);
  const label = new Map(packages.map((p) => [p, counts.get(p.name)! > 1 ? `${p.name}-${p.version}.${p.architecture}` : p.name]));

  // Who provides each capability, in database order; a package of that very name first.
  const providers = new Map<string, RpmPackage[]>();
  const provide = (what: string, p: RpmPackage) => {
    const list = providers.get(what) ?? [];
    if (!list.includes(p)) list.push(p);
    providers.set(what, list);
  };
  for (const p of packages) for (const what of [p.name, ...p.provides]) provide(what, p);
  const fileRequires = new Set(packages.flatMap((p) => p.requires.flatMap(requiredNames)).filter((n) => n.startsWith('/')));
  if (fileRequires.size > 0) for (const p of packages) for (const path of filesOf(p.header, fileRequires)) provide(path, p);
  const providerOf = (what: string): RpmPackage | undefined => {
    const list = providers.get(what);
    return list?.find((p) => p.name === what) ?? list?.[0];
  };

  const deps = new Map<string, string[]>();
  for (const p of packages) {
    const out = new Set<string>();
    for (const require of p.requires) {
      for (const q of resolveRequire(require, providerOf) ?? []) if (q !== p) out.add(label.get(q)!);
    }
    deps.set(label.get(p)!, [...out]);
  }
  const sorted = [...packages].sort((a, b) => compare(label.get(a)!, label.get(b)!));
  const names = sorted.map((p) => label.get(p)!);
  const why = dependencyChains(names, deps, notDependedOn(names, deps).map((n) => [n, 'top-level'] as const), 'dependency cycle');
  return sorted.map((p) => ({
    name: p.name,
    version: p.version,
    architecture: p.architecture,
    installedBytes: p.installedBytes,
    why: why.get(label.get(p)!)!,
  }));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/*
 * Rich (boolean) dependencies, rpm ≥ 4.13: `(A and B)`, `(A or B)`, `(A if B [else C])`, `(A unless B
 * [else C])`, `(A with B)`, `(A without B)`, nested, each operand a capability with an optional version.
 * Versions are not compared: the installed set was resolved by the package manager already.
 */
type Rich = { name: string } | { op: string; operands: Rich[] };

function parseRich(text: string): Rich | undefined {
  const tokens = text.match(/[()]|[^\s()]+/g) ?? [];
  let i = 0;
  const operand = (): Rich | undefined => {
    if (tokens[i] === '(') return group();
    const name = tokens[i++];
    if (name === undefined || name === ')') return undefined;
    if (/^[<>=]+$/.test(tokens[i] ?? '')) i += 2;
    return { name };
  };
  const group = (): Rich | undefined => {
    i++; // '('
    const first = operand();
    if (!first) return undefined;
    const operands = [first];
    let op = '';
    while (tokens[i] !== ')') {
      const word = tokens[i++];
      if (word === undefined) return undefined;
      op ||= word;
      const next = operand();
      if (!next) return undefined;
      operands.push(next);
    }
    i++;
    return operands.length === 1 ? first : { op, operands };
  };
  return tokens[0] === '(' ? group() : undefined;
}

/** Every capability a requirement names (for finding the file requires among them). */
function requiredNames(require: string): string[] {
  if (!require.startsWith('(')) return [require];
  const walk = (r: Rich | undefined): string[] => (!r ? [] : 'name' in r ? [r.name] : r.operands.flatMap(walk));
  return walk(parseRich(require));
}

/** The installed packages a requirement keeps installed, or undefined when it is not satisfied. */
function resolveRequire(require: string, providerOf: (what: string) => RpmPackage | undefined): RpmPackage[] | undefined {
  const evaluate = (r: Rich | undefined): RpmPackage[] | undefined => {
    if (!r) return undefined;
    if ('name' in r) {
      const p = providerOf(r.name);
      return p ? [p] : undefined;
    }
    const all = r.operands.map(evaluate);
    const [a, b, c] = all;
    switch (r.op) {
      case 'and':
        return all.every((x) => x !== undefined) ? all.flatMap((x) => x ?? []) : undefined;
      case 'or':
        return all.find((x) => x !== undefined);
      case 'if':
        return b !== undefined ? a : r.operands.length > 2 ? c : [];
      case 'unless':
        return b === undefined ? a : r.operands.length > 2 ? c : [];
      default: // with, without: the provider of the first operand
        return a;
    }
  };
  return require.startsWith('(') ? evaluate(parseRich(require)) : evaluate({ name: require });
}
