import initSqlJs, { type Database, type SqlJsStatic } from 'sql.js';
import { UserError } from '../../errors.js';
import { HeaderType, HeaderValues, installedHeader, readHeaderEntries, type RawHeaderEntry } from './header-writer.js';
import { RpmTag } from './header.js';

/*
 * rpm's sqlite package database (rpm ≥ 4.16, lib/backend/sqlite.c and lib/rpmdb.c), written without rpm: the
 * Packages table of installed headers and the index tables rpm keeps beside it, with the schema rpm creates
 * and the rows rpmdbAdd() inserts for each package.
 */

/** A package to record as installed. */
export interface RpmdbPackage {
  /** The package's header blob: what follows the signature header in the .rpm, without the magic. */
  header: Uint8Array;
  /** The package's signature header blob, without the magic (its padding to 8 bytes may follow). */
  signature: Uint8Array;
  /** Per file, FileState.NORMAL or NOTINSTALLED (%ghost-less excluded docs and languages); all NORMAL if absent. */
  fileStates?: readonly number[];
  /** Names the package in messages (its file name); the index in the list otherwise. */
  name?: string;
}

export interface RpmdbTransaction {
  /** INSTALLTIME of every package (seconds since the epoch; SOURCE_DATE_EPOCH for reproducible images). */
  installTime: number;
  /** INSTALLTID: the transaction id, rpm's transaction start time. */
  tid: number;
  /** INSTALLCOLOR: %_transaction_color of the image's architecture; transactionColor(arch) when absent. */
  color?: number;
  /** The image's architecture (rpm's name: x86_64, aarch64, s390x…), for the color and the byte order of keys. */
  arch?: string;
}

/**
 * The index tables rpm opens, in rpm's order (dbiTags in lib/rpmdb.c), with the tag each indexes: whether its
 * key is text (a string tag) and whether it gets an index on hnum (an array tag), as sqlite.c's init_table
 * and init_index decide from the tag's class and return type.
 */
const INDEXES: readonly { table: string; tag: number; text: boolean; array: boolean }[] = [
  { table: 'Name', tag: RpmTag.NAME, text: true, array: false },
  { table: 'Basenames', tag: RpmTag.BASENAMES, text: true, array: true },
  { table: 'Group', tag: RpmTag.GROUP, text: true, array: false },
  { table: 'Requirename', tag: RpmTag.REQUIRENAME, text: true, array: true },
  { table: 'Providename', tag: RpmTag.PROVIDENAME, text: true, array: true },
  { table: 'Conflictname', tag: RpmTag.CONFLICTNAME, text: true, array: true },
  { table: 'Obsoletename', tag: RpmTag.OBSOLETENAME, text: true, array: true },
  { table: 'Triggername', tag: RpmTag.TRIGGERNAME, text: true, array: true },
  { table: 'Dirnames', tag: RpmTag.DIRNAMES, text: true, array: true },
  { table: 'Installtid', tag: RpmTag.INSTALLTID, text: false, array: false },
  { table: 'Sigmd5', tag: RpmTag.SIGMD5, text: false, array: false },
  { table: 'Sha1header', tag: RpmTag.SHA1HEADER, text: true, array: false },
  { table: 'Filetriggername', tag: RpmTag.FILETRIGGERNAME, text: true, array: true },
  { table: 'Transfiletriggername', tag: RpmTag.TRANSFILETRIGGERNAME, text: true, array: true },
  { table: 'Recommendname', tag: RpmTag.RECOMMENDNAME, text: true, array: true },
  { table: 'Suggestname', tag: RpmTag.SUGGESTNAME, text: true, array: true },
  { table: 'Supplementname', tag: RpmTag.SUPPLEMENTNAME, text: true, array: true },
  { table: 'Enhancename', tag: RpmTag.ENHANCENAME, text: true, array: true },
];

/** The index tables' names, in rpm's order. */
export const RPMDB_INDEX_TABLES: readonly string[] = INDEXES.map((i) => i.table);

/** rpm's %_transaction_color per architecture (its platform macros): 3 on 64-bit multilib arches, 2 on ia64. */
export function transactionColor(arch: string): number {
  if (arch === 'ia64') return 2;
  return /^(x86_64|amd64|ia32e|aarch64|ppc64(le|p7)?|s390x|sparc64v?|mips64(r6)?(el)?|riscv64|loongarch64)$/.test(arch) ? 3 : 0;
}

/** Big-endian architectures: rpm writes integer index keys (Installtid) in the host's byte order. */
function bigEndian(arch: string | undefined): boolean {
  return arch !== undefined && /^(s390x?|ppc(64)?(p7)?|sparc(64v?)?|mips(64)?(r6)?|m68k|hppa.*)$/.test(arch);
}

let sqlJs: Promise<SqlJsStatic> | undefined;

/**
 * The bytes of `rpmdb.sqlite` recording `packages` as installed, in this order (hnum 1, 2, …), each header as
 * rpm stores it (installedHeader) and each index filled as rpmdb.c's tag2index() fills it. The same input
 * gives the same bytes. The database is in rollback-journal mode with no -wal/-shm beside it: every user can
 * read it (a WAL database needs its -shm, which a reader without write access to the folder cannot create),
 * and rpm switches it to WAL the first time it opens it for writing, as rpm's maintainers advise for images.
 */
export async function writeRpmDatabase(packages: readonly RpmdbPackage[], transaction: RpmdbTransaction): Promise<Buffer> {
  sqlJs ??= initSqlJs();
  const SQL = await sqlJs;
  const db = new SQL.Database();
  try {
    createSchema(db);
    db.exec('BEGIN');
    const color = transaction.color ?? transactionColor(transaction.arch ?? '');
    const insertPackage = db.prepare("INSERT INTO 'Packages' VALUES(?, ?)");
    const inserts = new Map(INDEXES.map((i) => [i.table, db.prepare(`INSERT INTO '${i.table}' VALUES(?, ?, ?)`)]));
    try {
      packages.forEach((p, i) => {
        const hnum = i + 1;
        const where = p.name ?? `package ${hnum}`;
        const blob = installedHeader(p.header, p.signature, { installTime: transaction.installTime, tid: transaction.tid, color, ...(p.fileStates ? { fileStates: p.fileStates } : {}) }, where);
        insertPackage.run([hnum, blob]);
        const values = new HeaderValues(readHeaderEntries(blob, where));
        for (const index of INDEXES) {
          const insert = inserts.get(index.table)!;
          for (const [key, idx] of indexKeys(index.tag, values, bigEndian(transaction.arch))) insert.run([key, hnum, idx]);
        }
      });
    } finally {
      insertPackage.free();
      for (const s of inserts.values()) s.free();
    }
    db.exec('COMMIT');
    return Buffer.from(db.export());
  } finally {
    db.close();
  }
}

/** The statements rpm runs to create a database, in its order (sqlite.c's init_table and init_index). */
function createSchema(db: Database): void {
  db.exec("CREATE TABLE IF NOT EXISTS 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL)");
  for (const { table, text, array } of INDEXES) {
    db.exec(
      `CREATE TABLE IF NOT EXISTS '${table}' (key '${text ? 'TEXT' : 'BLOB'}' NOT NULL, hnum INTEGER NOT NULL, idx INTEGER NOT NULL, ` +
        "FOREIGN KEY (hnum) REFERENCES 'Packages'(hnum))",
    );
    if (text) db.exec(`CREATE INDEX IF NOT EXISTS '${table}_key_idx' ON '${table}'(key ASC)`);
    if (array) db.exec(`CREATE INDEX IF NOT EXISTS '${table}_hnum_idx' ON '${table}'(hnum ASC)`);
  }
}

// rpmsenseFlags (include/rpm/rpmds.h): requires needed only while installing are left out of Requirename.
const SENSE = {
  POSTTRANS: 1 << 5, PREREQ: 1 << 6, PRETRANS: 1 << 7, SCRIPT_PRE: 1 << 9, SCRIPT_POST: 1 << 10, SCRIPT_PREUN: 1 << 11,
  SCRIPT_POSTUN: 1 << 12, RPMLIB: 1 << 24, KEYRING: 1 << 26, META: 1 << 29,
} as const;
const INSTALL_ONLY = (SENSE.SCRIPT_PRE | SENSE.SCRIPT_POST | SENSE.RPMLIB | SENSE.KEYRING | SENSE.PRETRANS | SENSE.POSTTRANS) & ~SENSE.PREREQ;
const ERASE_ONLY = (SENSE.SCRIPT_PREUN | SENSE.SCRIPT_POSTUN) & ~SENSE.PREREQ;

/** rpm's isTransientReq(). */
function transient(flags: number): boolean {
  return (flags & INSTALL_ONLY) !== 0 && (flags & ERASE_ONLY) === 0 && (flags & SENSE.META) === 0;
}

const RICH_INDEXED: ReadonlySet<number> = new Set([RpmTag.REQUIRENAME, RpmTag.CONFLICTNAME, RpmTag.SUGGESTNAME, RpmTag.SUPPLEMENTNAME, RpmTag.RECOMMENDNAME, RpmTag.ENHANCENAME]);

/** The (key, idx) rows rpm's tag2index() inserts into the index of `tag` for one installed header. */
export function indexKeys(tag: number, header: HeaderValues, bigEndianKeys = false): [string | Uint8Array, number][] {
  const entry = header.get(tag);
  if (!entry) return tag === RpmTag.GROUP ? [['Unknown', 0]] : [];
  const rows: [string | Uint8Array, number][] = [];
  if (entry.type === HeaderType.BIN) return [[entry.data.slice(), 0]];
  if (entry.type !== HeaderType.STRING && entry.type !== HeaderType.STRING_ARRAY && entry.type !== HeaderType.I18NSTRING) {
    for (let i = 0; i < entry.count; i++) rows.push([integerKey(entry, i, bigEndianKeys), i]);
    return rows;
  }
  // An I18N string is looked up in the C locale: its first value.
  const values = entry.type === HeaderType.I18NSTRING ? header.strings(tag).slice(0, 1) : header.strings(tag);
  const requireFlags = tag === RpmTag.REQUIRENAME ? header.numbers(RpmTag.REQUIREFLAGS) : [];
  const triggerIndex = tag === RpmTag.FILETRIGGERNAME ? header.numbers(RpmTag.FILETRIGGERINDEX) : tag === RpmTag.TRANSFILETRIGGERNAME ? header.numbers(RpmTag.TRANSFILETRIGGERINDEX) : [];
  values.forEach((key, i) => {
    let idx = i;
    if (tag === RpmTag.FILETRIGGERNAME || tag === RpmTag.TRANSFILETRIGGERNAME) idx = triggerIndex[i] ?? 0;
    if (tag === RpmTag.REQUIRENAME && transient(requireFlags[i] ?? 0)) return;
    if (tag === RpmTag.TRIGGERNAME && values.indexOf(key) < i) return;
    rows.push([key, idx]);
    if (key.startsWith('(') && RICH_INDEXED.has(tag) && entry.type === HeaderType.STRING_ARRAY) {
      for (const name of richDependencyKeys(key)) rows.push([name, idx]);
    }
  });
  return rows;
}

function integerKey(entry: RawHeaderEntry, i: number, bigEndianKeys: boolean): Uint8Array {
  const size = entry.data.length / entry.count;
  const key = entry.data.slice(i * size, (i + 1) * size);
  return bigEndianKeys ? key : key.reverse();
}

/**
 * The names rpm indexes for a rich dependency besides the whole string (rpmdb.c's updateRichDep): every
 * simple dependency in it except rpmlib() ones, those in the condition of an `if`/`unless` prefixed with `!`
 * (and, after an `else`, that condition again unprefixed), sorted bytewise, without duplicates. Nothing when
 * the string does not parse, as rpm.
 */
export function richDependencyKeys(dependency: string): string[] {
  const names = parseRichNames(dependency);
  if (!names) return [];
  const sorted = names.map((n) => Buffer.from(n)).sort(Buffer.compare).map((b) => b.toString());
  const out: string[] = [];
  sorted.forEach((name, i) => {
    if (i > 0 && sorted[i - 1] === name) return;
    out.push(name.startsWith(' ') ? name.slice(1) : name);
  });
  return out;
}

const RICH_OPS: ReadonlySet<string> = new Set(['and', 'or', 'if', 'unless', 'else', 'with', 'without']);
const COMPARISONS: ReadonlySet<string> = new Set(['<=', '=<', '<', '==', '=', '>=', '=>', '>']);

/**
 * The names of a rich dependency, each prefixed with ' ' or '!' as updateRichDepCB collects them, or undefined
 * when it does not parse. A hand-written scanner following rpm's rpmrichParse (lib/rpmds.c): its separators
 * (whitespace and commas) and its names, which may hold balanced parentheses (`perl(Foo)`).
 */
function parseRichNames(text: string): string[] | undefined {
  let p = 0;
  const white = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v' || c === ',';
  const skipWhite = () => {
    while (p < text.length && white(text[p])) p++;
  };
  const skipWord = () => {
    let depth = 0;
    while (p < text.length && !white(text[p])) {
      if (text[p] === ')' && depth-- <= 0) break;
      if (text[p++] === '(') depth++;
    }
  };
  const names: string[] = [];
  let negated = false;
  const groupStart: number[] = [];
  const group = (): boolean => {
    groupStart.push(names.length);
    const level = groupStart.length - 1;
    if (text[p++] !== '(') return false;
    let op = '';
    for (;;) {
      skipWhite();
      if (p >= text.length || text[p] === ')') return false;
      if (text[p] === '(') {
        if (!group()) return false;
      } else {
        const start = p;
        skipWord();
        const name = text.slice(start, p);
        if (!name) return false;
        skipWhite();
        const opStart = p;
        skipWord();
        if (COMPARISONS.has(text.slice(opStart, p))) {
          skipWhite();
          const versionStart = p;
          skipWord();
          if (p === versionStart) return false;
        } else {
          p = opStart;
        }
        if (!(name.length > 7 && name.startsWith('rpmlib('))) names.push(`${negated ? '!' : ' '}${name}`);
      }
      skipWhite();
      if (p >= text.length) return false;
      if (text[p] === ')') break;
      const opStart = p;
      while (p < text.length && !/\s/.test(text[p]!) && text[p] !== ')') p++;
      op = text.slice(opStart, p);
      if (!RICH_OPS.has(op)) return false;
      if (op === 'if' || op === 'unless') {
        groupStart[level] = names.length;
        negated = !negated;
      } else if (op === 'else') {
        for (const n of names.slice(groupStart[level]!)) names.push(`${n.startsWith('!') ? ' ' : '!'}${n.slice(1)}`);
        negated = !negated;
      }
    }
    p++;
    if (op === 'if' || op === 'unless') negated = !negated;
    groupStart.pop();
    return true;
  };
  return group() ? names : undefined;
}

/** Where the image's rpm keeps its database, and the compatibility link to make beside it. */
export interface RpmdbLocation {
  /** The database folder, relative to the image root (`var/lib/rpm`, `usr/lib/sysimage/rpm`). */
  dbpath: string;
  /** The database file, relative to the image root. */
  path: string;
  /** `var/lib/rpm` → `../../usr/lib/sysimage/rpm` when the database lives in /usr, as Fedora ≥ 36 ships it. */
  link?: { path: string; target: string };
}

/** The files rpm reads its macros from, in its order (rpmrc's macrofiles, `rpm --showrc`), that can define %_dbpath. */
function macroFileOrder(path: string): number {
  const p = path.replace(/^\/+/, '');
  if (p === 'usr/lib/rpm/macros') return 0;
  if (p.startsWith('usr/lib/rpm/macros.d/')) return 1;
  if (p.startsWith('usr/lib/rpm/platform/')) return 2;
  // The vendor's macros (%{_rpmconfigdir}/%{_vendor}/macros: redhat/macros, suse/macros).
  if (/^usr\/lib\/rpm\/[^/]+\/macros$/.test(p)) return 2.5;
  if (p.startsWith('etc/rpm/macros.') || p.startsWith('etc/rpm/platform')) return 3;
  if (p === 'etc/rpm/macros') return 4;
  return -1;
}

/**
 * Where rpm in the image looks for its database: %_dbpath as the image's macro files define it (the rpm
 * package's usr/lib/rpm/macros, then macros.d/macros.*, then /etc/rpm, later definitions winning), expanded
 * with the path macros it uses (%{_var}, %{_usr}, %{_prefix}, %{_localstatedir}); rpm's default /var/lib/rpm
 * when no file defines it. Files rpm does not read macros from are ignored.
 */
export function rpmdbPath(macroFiles: readonly { path: string; content: string }[]): RpmdbLocation {
  const macros = new Map<string, { value: string; file: string }>([
    ['_usr', { value: '/usr', file: '' }],
    ['_var', { value: '/var', file: '' }],
    ['_prefix', { value: '/usr', file: '' }],
    ['_localstatedir', { value: '/var', file: '' }],
    ['_dbpath', { value: '%{_var}/lib/rpm', file: '' }],
  ]);
  const files = macroFiles
    .filter((f) => macroFileOrder(f.path) >= 0)
    .sort((a, b) => macroFileOrder(a.path) - macroFileOrder(b.path) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const f of files) {
    for (const line of f.content.replace(/\\\n/g, ' ').split('\n')) {
      const m = /^\s*%([A-Za-z_][A-Za-z0-9_]*)(?![A-Za-z0-9_(])\s+(.*?)\s*$/.exec(line);
      if (m && macros.has(m[1]!)) macros.set(m[1]!, { value: m[2]!, file: f.path });
    }
  }
  const expand = (value: string, depth: number, file: string): string =>
    value.replace(/%%|%\{\??([A-Za-z_][A-Za-z0-9_]*)\}|%([A-Za-z_][A-Za-z0-9_]*)|%[({[]/g, (match, braced?: string, bare?: string) => {
      if (match === '%%') return '%';
      const name = braced ?? bare;
      const macro = name === undefined ? undefined : macros.get(name);
      if (!macro || depth > 8) throw new UserError(`${file || 'rpm macros'}: cannot expand %_dbpath: ${match} is not a path macro`);
      return expand(macro.value, depth + 1, macro.file || file);
    });
  const dbpathMacro = macros.get('_dbpath')!;
  const absolute = expand(dbpathMacro.value, 0, dbpathMacro.file).replace(/\/+/g, '/').replace(/\/$/, '');
  if (!absolute.startsWith('/') || absolute.split('/').includes('..')) {
    throw new UserError(`${dbpathMacro.file}: %_dbpath ${absolute} is not an absolute path inside the image`);
  }
  const dbpath = absolute.slice(1);
  const location: RpmdbLocation = { dbpath, path: `${dbpath}/rpmdb.sqlite` };
  if (dbpath === 'usr/lib/sysimage/rpm') location.link = { path: 'var/lib/rpm', target: '../../usr/lib/sysimage/rpm' };
  return location;
}
