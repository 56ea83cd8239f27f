/**
 * systemd's unit names, unit-file [Install] sections and glob matching, as `systemctl` reads them when it
 * enables units offline (`--root`): the rules of systemd's unit-name.c, conf-parser.c and install.c,
 * re-stated. Hand-written because no npm library parses systemd unit files with systemd's own error
 * semantics (what is a warning and ignored, what makes the whole unit unloadable).
 */

/** strstrip: systemd's whitespace is space, tab, newline and carriage return only (not JS's trim set). */
export function stripWhitespace(s: string): string {
  return s.replace(/^[ \t\n\r]+|[ \t\n\r]+$/g, '');
}

/** The unit types systemd knows (unit_type_from_string). */
const UNIT_TYPES = new Set(['service', 'socket', 'target', 'device', 'mount', 'automount', 'swap', 'timer', 'path', 'slice', 'scope']);
/** Types that may have Alias= and alias symlinks (unit_type_may_alias). */
const MAY_ALIAS = new Set(['service', 'socket', 'target', 'device', 'timer', 'path']);
/** Types that may be templated (unit_type_may_template). */
const MAY_TEMPLATE = new Set(['service', 'socket', 'target', 'timer', 'path']);
const NAME_CHARS = /^[A-Za-z0-9:\-_.\\]*$/;
const INSTANCE_CHARS = /^[A-Za-z0-9:\-_.\\@]+$/;
/** UNIT_NAME_MAX: names are shorter than this. */
const UNIT_NAME_MAX = 256;

export type UnitNameKind = 'plain' | 'instance' | 'template';

/** What kind of unit name this is (unit_name_is_valid / unit_name_classify), undefined if not a valid one. */
export function unitNameKind(name: string): UnitNameKind | undefined {
  if (name === '' || name.length >= UNIT_NAME_MAX) return undefined;
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || !UNIT_TYPES.has(name.slice(dot + 1))) return undefined;
  const stem = name.slice(0, dot);
  const at = stem.indexOf('@');
  if (at === 0) return undefined;
  // Further '@' may appear in the instance; the characters are checked around the first one.
  if (!NAME_CHARS.test(stem.replace(/@/g, ''))) return undefined;
  if (at < 0) return 'plain';
  return at === stem.length - 1 ? 'template' : 'instance';
}

export function isUnitName(name: string, ...kinds: UnitNameKind[]): boolean {
  const kind = unitNameKind(name);
  return kind !== undefined && (kinds.length === 0 || kinds.includes(kind));
}

/** The type suffix: `socket` for `sshd.socket`. */
export function unitType(name: string): string {
  return name.slice(name.lastIndexOf('.') + 1);
}

export function unitTypeMayAlias(type: string): boolean {
  return MAY_ALIAS.has(type);
}

export function unitTypeMayTemplate(type: string): boolean {
  return MAY_TEMPLATE.has(type);
}

/** `getty@.service` for `getty@tty1.service` or `getty@.service`; undefined for a plain name. */
export function unitTemplate(name: string): string | undefined {
  const kind = unitNameKind(name);
  if (kind !== 'instance' && kind !== 'template') return undefined;
  return `${name.slice(0, name.indexOf('@') + 1)}${name.slice(name.lastIndexOf('.'))}`;
}

/** The instance of an instance name (`tty1`), '' for a template, undefined for a plain or invalid name. */
export function unitInstance(name: string): string | undefined {
  const kind = unitNameKind(name);
  if (kind !== 'instance' && kind !== 'template') return undefined;
  return name.slice(name.indexOf('@') + 1, name.lastIndexOf('.'));
}

export function isUnitInstance(instance: string): boolean {
  return INSTANCE_CHARS.test(instance);
}

/** unit_name_replace_instance: `getty@.service` + `tty1` → `getty@tty1.service`; undefined if invalid. */
export function replaceUnitInstance(name: string, instance: string): string | undefined {
  if (!isUnitName(name, 'instance', 'template') || !isUnitInstance(instance)) return undefined;
  const replaced = `${name.slice(0, name.indexOf('@') + 1)}${instance}${name.slice(name.lastIndexOf('.'))}`;
  return isUnitName(replaced, 'instance') ? replaced : undefined;
}

/**
 * fnmatch(3) with FNM_NOESCAPE and no other flag, as preset patterns are matched: `*` and `?` match any
 * character ('/' and a leading '.' included), `[...]` sets with `!`/`^`, ranges and classes, a backslash is
 * an ordinary character, and a '[' without its ']' is literal.
 */
export function fnmatch(pattern: string, name: string): boolean {
  return globRegExp(pattern).test(name);
}

const CLASSES: Record<string, string> = {
  alpha: 'A-Za-z', digit: '0-9', alnum: 'A-Za-z0-9', upper: 'A-Z', lower: 'a-z', space: ' \\t\\n\\r\\f\\v', blank: ' \\t',
  punct: '!-\\/:-@\\[-`{-~', xdigit: '0-9A-Fa-f', cntrl: '\\x00-\\x1f\\x7f', graph: '!-~', print: ' -~',
};
const cache = new Map<string, RegExp>();

function escapeClassChar(c: string): string {
  return /[\\\]^-]/.test(c) ? `\\${c}` : c;
}

function globRegExp(pattern: string): RegExp {
  const known = cache.get(pattern);
  if (known) return known;
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[\\s\\S]*';
    else if (c === '?') re += '[\\s\\S]';
    else if (c === '[') {
      const set = bracket(pattern, i);
      if (!set) re += '\\[';
      else {
        re += set.regexp;
        i = set.end;
      }
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  const compiled = new RegExp(`^${re}$`);
  if (cache.size < 4096) cache.set(pattern, compiled);
  return compiled;
}

/** A bracket expression starting at `start`: its regexp and the index of its closing ']'. */
function bracket(pattern: string, start: number): { regexp: string; end: number } | undefined {
  let i = start + 1;
  let negate = false;
  if (pattern[i] === '!' || pattern[i] === '^') {
    negate = true;
    i++;
  }
  let body = '';
  let first = true;
  for (; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === ']' && !first) return { regexp: `[${negate ? '^' : ''}${body}]`, end: i };
    first = false;
    if (c === '[' && pattern[i + 1] === ':') {
      const close = pattern.indexOf(':]', i + 2);
      const cls = close < 0 ? undefined : CLASSES[pattern.slice(i + 2, close)];
      if (cls === undefined) return undefined;
      body += cls;
      i = close + 1;
      continue;
    }
    if (pattern[i + 1] === '-' && pattern[i + 2] !== undefined && pattern[i + 2] !== ']') {
      body += `${escapeClassChar(c)}-${escapeClassChar(pattern[i + 2]!)}`;
      i += 2;
      continue;
    }
    body += escapeClassChar(c);
  }
  return undefined;
}

/** What a unit file's [Install] section (and its drop-ins') says, unexpanded. */
export interface InstallSection {
  aliases: string[];
  wantedBy: string[];
  requiredBy: string[];
  upheldBy: string[];
  also: string[];
  defaultInstance?: string;
}

export function emptyInstallSection(): InstallSection {
  return { aliases: [], wantedBy: [], requiredBy: [], upheldBy: [], also: [] };
}

export type SystemdScope = 'system' | 'global';

/** A failure systemd reports with an errno (a unit that cannot be loaded, a link that cannot be made): `code` is its name. */
export class InstallFailure extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** The InstallFailure an exception is; anything else (a bug, I/O) is thrown on. */
export function asInstallFailure(err: unknown): InstallFailure {
  if (err instanceof InstallFailure) return err;
  throw err;
}

/** The specifiers [Install] values may use that depend on the unit's name alone (install-printf.c). */
export interface SpecifierContext {
  /** The unit's name as being installed (a template's, an instance's). */
  name: string;
  scope: SystemdScope;
  /** A template's DefaultInstance=: the name specifiers of a template then name that instance. */
  defaultInstance?: string;
}

/**
 * Expands %-specifiers as install_name_printf does. Name specifiers (%n %N %p %i %j) and, for the
 * system scope, the user ones (%u %U %g %G: root) are known offline; the host's (machine ID, host name,
 * boot ID, kernel release, OS release fields, %a, %T/%V...) are not reproducible, so they fail with
 * code UNSUPPORTED; an unknown letter fails as systemd does (EBADSLT).
 */
export function expandSpecifiers(text: string, ctx: SpecifierContext): string {
  const name = ctx.defaultInstance && isUnitName(ctx.name, 'template') ? replaceUnitInstance(ctx.name, ctx.defaultInstance) ?? ctx.name : ctx.name;
  const dot = name.lastIndexOf('.');
  const stem = name.slice(0, dot);
  const at = stem.indexOf('@');
  const prefix = at < 0 ? stem : stem.slice(0, at);
  const values: Record<string, string> = {
    n: name,
    N: stem,
    p: prefix,
    i: at < 0 ? '' : stem.slice(at + 1),
    j: prefix.slice(prefix.lastIndexOf('-') + 1),
    '%': '%',
  };
  if (ctx.scope === 'system') Object.assign(values, { u: 'root', U: '0', g: 'root', G: '0' });
  const host = 'aAbBHlmMovwWTVhsSCEdLtY';
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    const letter = text[i + 1];
    if (letter === undefined) {
      out += '%';
      break;
    }
    i++;
    const value = values[letter];
    if (value !== undefined) out += value;
    else if (host.includes(letter)) throw new InstallFailure('UNSUPPORTED', `specifier %${letter} in "${text}" depends on the host systemctl runs on`);
    else throw new InstallFailure('EBADSLT', `invalid specifier %${letter} in "${text}"`);
  }
  return out;
}

/** The sections install.c names when it parses a unit file: [Install] read, the others skipped quietly. */
const QUIET_SECTIONS = new Set(['Unit', 'Automount', 'Device', 'Mount', 'Path', 'Scope', 'Service', 'Slice', 'Socket', 'Swap', 'Target', 'Timer']);

/**
 * extract_first_word with whitespace separators: `unquote` drops quotes (and keeps escapes, as
 * EXTRACT_RETAIN_ESCAPE does); undefined when a quote is left open.
 */
export function splitWords(text: string, unquote: boolean): string[] | undefined {
  const words: string[] = [];
  let i = 0;
  const ws = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r';
  while (i < text.length) {
    while (ws(text[i])) i++;
    if (i >= text.length) break;
    let word = '';
    let quote: string | undefined;
    for (; i < text.length; i++) {
      const c = text[i]!;
      if (c === '\\') {
        word += c + (text[i + 1] ?? '');
        i++;
        continue;
      }
      if (quote) {
        if (c === quote) quote = undefined;
        else word += c;
        continue;
      }
      if (ws(c)) break;
      if (unquote && (c === '"' || c === "'")) quote = c;
      else word += c;
    }
    if (quote) return undefined;
    words.push(word);
  }
  return words;
}

/**
 * Parses one unit file (or drop-in) into `into`, as systemd's config_parse with install.c's table does:
 * line continuations, comments, unknown sections, keys and malformed lines ignored with a warning (pushed
 * onto `warnings`); a broken section header, a bad Also= or DefaultInstance= make the whole unit unloadable
 * (InstallFailure), as they make `systemctl enable` and `preset` fail. `onAlso` is told every Also= unit.
 * UpheldBy= is known from systemd 254 on.
 */
export function parseInstallSection(
  text: string, file: string, spec: SpecifierContext, into: InstallSection, warnings: string[], onAlso: (name: string) => void,
  systemdVersion: number,
): void {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n|\0/);
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  let section: string | undefined;
  let ignoring = false;
  let continuation: string | undefined;
  let lineNo = 0;
  const warn = (msg: string): void => {
    warnings.push(`${file}:${lineNo}: ${msg}`);
  };

  const parseLine = (raw: string): void => {
    const l = stripWhitespace(raw);
    if (l === '' || l.startsWith('#') || l.startsWith(';')) return;
    if (l.startsWith('[')) {
      if (!l.endsWith(']')) throw new InstallFailure('EBADMSG', `${file}:${lineNo}: invalid section header "${l}"`);
      const name = l.slice(1, -1);
      if (name === 'Install') {
        section = name;
        ignoring = false;
      } else {
        if (!QUIET_SECTIONS.has(name) && !name.startsWith('X-')) warn(`unknown section "${name}", ignoring`);
        section = undefined;
        ignoring = true;
      }
      return;
    }
    if (ignoring) return;
    if (section === undefined) return warn('assignment outside of a section, ignoring');
    const eq = l.indexOf('=');
    if (eq < 0) return warn(`missing '=', ignoring line "${l}"`);
    assign(stripWhitespace(l.slice(0, eq)), stripWhitespace(l.slice(eq + 1)));
  };

  const list = (target: string[], key: string, value: string): void => {
    if (value === '') {
      target.length = 0;
      return;
    }
    const words = splitWords(value, true);
    if (!words) return warn(`invalid syntax in ${key}=${value}, ignoring`);
    target.push(...words);
  };

  const assign = (key: string, value: string): void => {
    switch (key) {
      case 'WantedBy':
        return list(into.wantedBy, key, value);
      case 'RequiredBy':
        return list(into.requiredBy, key, value);
      case 'UpheldBy':
        // Read from systemd 254 on; 252 (EL 9) warns that it does not know the key.
        if (systemdVersion < 254) return warn(`unknown key "${key}" in section [Install], ignoring`);
        return list(into.upheldBy, key, value);
      case 'Alias':
        if (!unitTypeMayAlias(unitType(spec.name))) return warn(`Alias= is not allowed for ${unitType(spec.name)} units, ignoring`);
        return list(into.aliases, key, value);
      case 'Also':
        for (const word of splitWords(value, false) ?? []) {
          const name = expandSpecifiers(word, spec);
          if (!isUnitName(name)) throw new InstallFailure('EINVAL', `${file}:${lineNo}: Also= names "${name}", which is not a valid unit name`);
          into.also.push(name);
          onAlso(name);
        }
        return;
      case 'DefaultInstance': {
        if (isUnitName(spec.name, 'instance')) return;
        if (!isUnitName(spec.name, 'template')) return warn('DefaultInstance= only makes sense for template units, ignoring');
        const instance = expandSpecifiers(value, spec);
        if (instance !== '' && !isUnitInstance(instance)) throw new InstallFailure('EINVAL', `${file}:${lineNo}: invalid DefaultInstance= value "${instance}"`);
        into.defaultInstance = instance === '' ? undefined : instance;
        return;
      }
      default:
        return warn(`unknown key "${key}" in section [Install], ignoring`);
    }
  };

  for (const line of lines) {
    lineNo++;
    const lead = line.replace(/^[ \t\n\r]+/, '');
    // Comment lines are dropped before continuations are joined: they neither end nor extend one.
    if (lead.startsWith('#') || lead.startsWith(';')) continue;
    let joined = continuation === undefined ? line : continuation + line;
    let escaped = false;
    for (const c of line) escaped = escaped ? false : c === '\\';
    if (escaped) {
      joined = `${joined.slice(0, -1)} `;
      continuation = joined;
      continue;
    }
    continuation = undefined;
    parseLine(joined);
  }
  if (continuation !== undefined) parseLine(continuation);
}
