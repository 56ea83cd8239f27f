import { posix } from 'node:path';
import { parse, type ParseEntry } from 'shell-quote';
import type { EffectContext } from '../../effects/context.js';
import type { SourcedEntry } from '../../../entries/entry-set.js';

/** One scriptlet of a package, as its header stores it (PREIN/PREINPROG, POSTIN/POSTINPROG…). */
export interface Scriptlet {
  pkg: string;
  /** '%pre', '%post', '%pretrans', '%posttrans'… */
  name: string;
  /** The interpreter and its arguments (PREINPROG…): ['/bin/sh'], ['/sbin/ldconfig'], ['<lua>']. */
  interpreter: string[];
  body: string;
}

/** Where a command came from, for notes. */
export interface CommandOrigin {
  pkg: string;
  scriptlet: string;
  /** 1-based line of the command in the scriptlet. */
  line: number;
  /** The command as the script ran it (words expanded; for -p interpreters, the interpreter). */
  argv: string[];
}

/** The effectful commands the interpreter reproduces, with their arguments as the script gives them. */
export type ScriptCommand =
  | { kind: 'account'; tool: 'groupadd' | 'useradd' | 'usermod' | 'gpasswd'; args: string[]; origin: CommandOrigin }
  /** systemd-sysusers ARGS (config files, `-` for `stdin`, --replace=…). */
  | { kind: 'sysusers'; args: string[]; stdin?: string; origin: CommandOrigin }
  /** chkconfig's alternatives (or its update-alternatives name) ARGS. */
  | { kind: 'alternatives'; args: string[]; origin: CommandOrigin }
  | { kind: 'ldconfig'; origin: CommandOrigin }
  /** `systemctl preset UNITS` (scope system) or `systemctl --global preset` (user). */
  | { kind: 'systemd-preset'; scope: 'system' | 'user'; units: string[]; origin: CommandOrigin }
  | { kind: 'update-ca-trust'; args: string[]; origin: CommandOrigin };

/** What the interpreter asks of the image being built. */
export interface ScriptHost {
  /** Whether `getent DATABASE KEY` finds the key (a name, or an id when numeric). */
  getent(database: 'passwd' | 'group', key: string): boolean;
  /** A `test` file operator (-e, -f, -d, -x, -s, -r, -w, -L, -h…) on a path as the script names it. */
  fileTest(operator: string, path: string): boolean;
  /** Called as each effectful command is reached, in order; returns its exit status (0 when absent). */
  perform?(command: ScriptCommand): number;
}

export interface ScriptletResult {
  commands: ScriptCommand[];
  /** "not reproduced: PKG %pre: COMMAND", syntax errors, a failing %pre. */
  notes: string[];
  /** The script's exit status (the last command's, or exit N's). */
  status: number;
}

export interface InterpretOptions {
  /** `$1`: how many instances of the package there will be after this transaction (1 on install). */
  installCount?: number;
}

/**
 * Interprets a scriptlet without running anything: the restricted shell that account, alternatives and
 * systemd scriptlets are written in (lists, && || !, if/elif/else/fi, { }, ( ), quoting, `$1`, literal
 * variables, redirections to /dev/null, here-documents), answering `getent` and `test` from the image and
 * collecting the effectful commands it reaches. Anything it cannot reproduce is reported as a note and
 * assumed to succeed. Never throws on bad input.
 */
export function interpretScriptlet(s: Scriptlet, host: ScriptHost, options: InterpretOptions = {}): ScriptletResult {
  const run = new Run(s, host, options.installCount ?? 1);
  const prog = s.interpreter[0] ?? '/bin/sh';
  const base = posix.basename(prog);
  if (prog === '<lua>') {
    if (s.body.trim()) run.notReproduced(1, `<lua> scriptlet`);
    return run.result(0);
  }
  if (base === 'ldconfig') {
    run.emit({ kind: 'ldconfig', origin: run.origin(1, s.interpreter) });
    return run.result(0);
  }
  if (!['sh', 'bash', 'dash'].includes(base)) {
    run.notReproduced(1, `${s.interpreter.join(' ')} scriptlet`);
    return run.result(0);
  }
  // `%pre -p "/bin/sh -e"`: the interpreter's options, as `set` would give them.
  for (const a of s.interpreter.slice(1)) if (/^-[a-z]+$/.test(a) && a.includes('e')) run.errexitOn();
  let status = 0;
  // One complete command at a time, as the shell reads and runs them: what precedes a syntax error runs.
  const { tokens, error } = tokenize(s.body);
  const parser = new Parser(tokens);
  try {
    for (;;) {
      let node: Node | undefined;
      try {
        node = parser.nextCommand();
      } catch (e) {
        if (!(e instanceof ScriptSyntaxError)) throw e;
        // A command left open by an unreadable line fails on that line's error.
        const at = parser.atEnd() && error ? error : e;
        run.note(`${s.pkg} ${s.name}: shell syntax error at line ${at.line}: ${at.message}; the rest is not reproduced`);
        status = 2;
        break;
      }
      if (!node) {
        if (error) {
          run.note(`${s.pkg} ${s.name}: shell syntax error at line ${error.line}: ${error.message}; the rest is not reproduced`);
          status = 2;
        }
        break;
      }
      status = run.exec(node);
    }
  } catch (e) {
    if (!(e instanceof Exit)) throw e;
    status = e.status;
  }
  if (status !== 0 && /^%pre(trans)?$/.test(s.name)) run.note(`${s.pkg} ${s.name}: the script would exit ${status} (rpm would not install the package)`);
  return run.result(status);
}

// ---------------------------------------------------------------------------------------------------
// Tokens. shell-quote splits words and operators but drops newlines and knows neither here-documents nor
// `2>` (it reads `2` as a word): the logical lines, continuations, comments, here-document bodies and file
// descriptor numbers are handled here first.

class ScriptSyntaxError extends Error {
  constructor(message: string, readonly line: number) {
    super(message);
  }
}

class Exit {
  constructor(readonly status: number) {}
}

/** A word from an unquoted glob (`*`, `?`) carries `glob`: case patterns match with it. */
type Token = { word: string; line: number; glob?: true } | { op: string; line: number; heredoc?: string } | { newline: true; line: number };

/** Marks a variable in a word, to be expanded when the command runs (variables may be set by then). */
const VAR_OPEN = '\u0001';
const VAR_CLOSE = '\u0002';
const HEREDOC = '\u0003';

interface LogicalLine {
  text: string;
  line: number;
  heredocs: string[];
}

const FD_NUMBER = /[0-9]+(?=[<>])/y;
/** A variable name or a positional parameter, after `$` or `${`. */
const UNQUOTED_VAR = /[A-Za-z_][A-Za-z0-9_]*|[0-9]/y;
/** The prefix marking a variable that was not quoted. */
const UNQUOTED = '__fs_unquoted__';
const HEREDOC_START = /<<(-?)[ \t]*('([^'\n]*)'|"([^"\n]*)"|\\?([^\s;&|<>()]+))/y;

/** Splits a script into logical lines: continuations joined, comments dropped, here-document bodies taken. */
function* logicalLines(script: string): Generator<LogicalLine> {
  const raw = script.replace(/\r\n/g, '\n');
  let i = 0;
  let line = 1;
  while (i < raw.length) {
    const start = line;
    let text = '';
    let quote: "'" | '"' | '`' | undefined;
    const pending: { delim: string; strip: boolean }[] = [];
    for (; i < raw.length; i++) {
      const c = raw[i]!;
      if (quote === "'") {
        if (c === "'") quote = undefined;
        if (c === '\n') line++;
        text += c;
        continue;
      }
      if (c === '\\') {
        if (raw[i + 1] === '\n') {
          i++;
          line++;
          continue;
        }
        text += c + (raw[i + 1] ?? '');
        i++;
        continue;
      }
      if (c === '$' && raw[i + 1] === '(') {
        // Command substitution: kept as one unknown value (the command using it is not reproduced).
        let depth = 0;
        let k = i + 1;
        let q: string | undefined;
        for (; k < raw.length; k++) {
          const d = raw[k]!;
          if (q) {
            if (d === q) q = undefined;
          } else if (d === "'" || d === '"') q = d;
          else if (d === '(') depth++;
          else if (d === ')' && --depth === 0) break;
        }
        if (k >= raw.length) throw new ScriptSyntaxError('unterminated $(', line);
        const inner = raw.slice(i, k + 1);
        line += inner.split('\n').length - 1;
        // Hidden from shell-quote as a variable no one sets, named by the text in hex.
        text += `${VAR_OPEN}%${Buffer.from(inner).toString('hex')}${VAR_CLOSE}`;
        i = k;
        continue;
      }
      if (quote) {
        if (c === quote) quote = undefined;
        if (c === '\n') line++;
        text += c;
        continue;
      }
      if (c === '$' && /[A-Za-z_0-9{]/.test(raw[i + 1] ?? '')) {
        // An unquoted variable is split into fields when it expands: renamed so its expansion knows.
        const brace = raw[i + 1] === '{';
        UNQUOTED_VAR.lastIndex = i + (brace ? 2 : 1);
        const m = UNQUOTED_VAR.exec(raw);
        if (m && (!brace || raw[i + 2 + m[0].length] === '}')) {
          text += `\${${UNQUOTED}${m[0]}}`;
          i += m[0].length + (brace ? 2 : 0);
          continue;
        }
      }
      if (c === "'" || c === '"' || c === '`') {
        quote = c;
        text += c;
        continue;
      }
      const atWordStart = text === '' || /[\s;&|()]/.test(text[text.length - 1]!);
      if (c === '#' && atWordStart) {
        while (i < raw.length && raw[i] !== '\n') i++;
        i--;
        continue;
      }
      if (atWordStart && /[0-9]/.test(c)) {
        // A file descriptor number (`2>/dev/null`): dropped, the redirection stays.
        FD_NUMBER.lastIndex = i;
        const m = FD_NUMBER.exec(raw);
        if (m) {
          i += m[0].length - 1;
          continue;
        }
      }
      if (c === '<' && raw[i + 1] === '<' && raw[i + 2] !== '<') {
        HEREDOC_START.lastIndex = i;
        const m = HEREDOC_START.exec(raw);
        if (!m) throw new ScriptSyntaxError('here-document without a delimiter', line);
        pending.push({ delim: m[3] ?? m[4] ?? m[5] ?? '', strip: m[1] === '-' });
        text += ` <<${HEREDOC}${pending.length - 1} `;
        i += m[0].length - 1;
        continue;
      }
      if (c === '\n') {
        line++;
        i++;
        break;
      }
      text += c;
    }
    if (quote) throw new ScriptSyntaxError(`unterminated ${quote} quote`, start);
    const heredocs: string[] = [];
    for (const h of pending) {
      const body: string[] = [];
      let closed = false;
      while (i < raw.length) {
        const end = raw.indexOf('\n', i);
        let l = raw.slice(i, end === -1 ? raw.length : end);
        i = end === -1 ? raw.length : end + 1;
        line++;
        if (h.strip) l = l.replace(/^\t+/, '');
        if (l === h.delim) {
          closed = true;
          break;
        }
        body.push(l);
      }
      if (!closed) throw new ScriptSyntaxError(`here-document delimited by ${h.delim} is not closed`, start);
      heredocs.push(body.length ? `${body.join('\n')}\n` : '');
    }
    if (text.trim()) yield { text, line: start, heredocs };
  }
}

/** The tokens of the complete lines, and the syntax error that stopped reading, if any. */
function tokenize(script: string): { tokens: Token[]; error?: ScriptSyntaxError } {
  const tokens: Token[] = [];
  try {
    for (const l of logicalLines(script)) tokens.push(...lineTokens(l));
  } catch (e) {
    if (e instanceof ScriptSyntaxError) return { tokens, error: e };
    throw e;
  }
  return { tokens };
}

function lineTokens(l: LogicalLine): Token[] {
  const tokens: Token[] = [];
  {
    let parts: ParseEntry[];
    try {
      parts = parse(l.text, (name: string) => `${VAR_OPEN}${name}${VAR_CLOSE}`);
    } catch (e) {
      // shell-quote refuses a malformed ${…} ("Bad substitution"), as the shell does.
      throw new ScriptSyntaxError(e instanceof Error ? e.message : String(e), l.line);
    }
    for (let k = 0; k < parts.length; k++) {
      const p = parts[k]!;
      if (typeof p === 'string') tokens.push({ word: p, line: l.line });
      else if ('comment' in p) continue;
      else if (p.op === 'glob') tokens.push({ word: (p as { pattern: string }).pattern, line: l.line, glob: true });
      else if ((p.op as string) === '<<') {
        const next = parts[k + 1];
        const index = typeof next === 'string' && next.startsWith(HEREDOC) ? Number(next.slice(1)) : NaN;
        tokens.push({ op: '<<', line: l.line, heredoc: l.heredocs[index] ?? '' });
        if (!Number.isNaN(index)) k++;
      } else tokens.push({ op: p.op, line: l.line });
    }
    tokens.push({ newline: true, line: l.line });
  }
  return tokens;
}

// ---------------------------------------------------------------------------------------------------
// Syntax tree and parser (POSIX shell grammar, the part scriptlets use).

interface Redirect {
  op: string;
  target: string;
  heredoc?: string;
}
type Node =
  | { type: 'simple'; words: string[]; redirects: Redirect[]; line: number }
  | { type: 'and-or'; first: Node; rest: { op: '&&' | '||'; node: Node }[] }
  | { type: 'not'; node: Node }
  | { type: 'pipeline'; nodes: Node[]; line: number }
  | { type: 'list'; nodes: Node[] }
  | { type: 'if'; branches: { cond: Node; body: Node }[]; otherwise?: Node }
  | { type: 'group'; body: Node; subshell: boolean }
  | { type: 'case'; subject: string; items: { patterns: { word: string; glob: boolean }[]; body?: Node }[]; line: number }
  | { type: 'for'; name: string; words?: string[]; body: Node; line: number }
  | { type: 'unsupported'; text: string; line: number };

const REDIRECTS = new Set(['>', '>>', '<', '>&', '<&', '&>', '>|', '<<']);

class Parser {
  private at = 0;
  constructor(private readonly tokens: Token[]) {}

  atEnd(): boolean {
    return this.at >= this.tokens.length;
  }
  private peek(): Token | undefined {
    return this.tokens[this.at];
  }
  private line(): number {
    return this.peek()?.line ?? this.tokens[this.tokens.length - 1]?.line ?? 1;
  }
  private isWord(t: Token | undefined, w?: string): t is { word: string; line: number } {
    return t !== undefined && 'word' in t && (w === undefined || t.word === w);
  }
  private isOp(t: Token | undefined, op: string): boolean {
    return t !== undefined && 'op' in t && t.op === op;
  }
  private skipNewlines(): void {
    while (this.peek() && 'newline' in this.peek()!) this.at++;
  }
  private expectWord(w: string): void {
    this.skipNewlines();
    if (!this.isWord(this.peek(), w)) throw new ScriptSyntaxError(this.peek() ? `expected '${w}' near ${describe(this.peek()!)}` : `expected '${w}' before the end of the script`, this.line());
    this.at++;
  }

  /** The next complete command (an and-or list) at the top level, or undefined at the end. */
  nextCommand(): Node | undefined {
    for (;;) {
      const t = this.peek();
      if (!t) return undefined;
      if ('newline' in t || this.isOp(t, ';')) this.at++;
      else break;
    }
    const node = this.andOr();
    const t = this.peek();
    if (t && !('newline' in t) && !this.isOp(t, ';') && !this.isOp(t, '&')) throw new ScriptSyntaxError(`unexpected ${describe(t)}`, t.line);
    if (t) this.at++;
    return node;
  }

  /** A compound list, up to (not including) one of the closing words. */
  private list(closers: string[]): Node {
    const nodes: Node[] = [];
    for (;;) {
      this.skipNewlines();
      const t = this.peek();
      if (!t) throw new ScriptSyntaxError(`expected '${closers.join("' or '")}' before the end of the script`, this.line());
      if (this.isWord(t) && closers.includes(t.word)) break;
      if (this.isOp(t, ')') && closers.includes(')')) break;
      if (this.isOp(t, ';;') && closers.includes(';;')) break;
      if (this.isOp(t, ';')) {
        this.at++;
        continue;
      }
      nodes.push(this.andOr());
      const n = this.peek();
      if (n && ('newline' in n || this.isOp(n, ';') || this.isOp(n, '&'))) this.at++;
    }
    if (!nodes.length) throw new ScriptSyntaxError(`empty list before '${closers.join("' or '")}'`, this.line());
    return nodes.length === 1 ? nodes[0]! : { type: 'list', nodes };
  }

  private andOr(): Node {
    const first = this.pipeline();
    const rest: { op: '&&' | '||'; node: Node }[] = [];
    for (;;) {
      const t = this.peek();
      const op = this.isOp(t, '&&') ? '&&' : this.isOp(t, '||') ? '||' : undefined;
      if (!op) break;
      this.at++;
      this.skipNewlines();
      rest.push({ op, node: this.pipeline() });
    }
    return rest.length ? { type: 'and-or', first, rest } : first;
  }

  private pipeline(): Node {
    let negate = false;
    while (this.isWord(this.peek(), '!')) {
      negate = !negate;
      this.at++;
    }
    const line = this.line();
    const nodes = [this.command()];
    while (this.isOp(this.peek(), '|')) {
      this.at++;
      this.skipNewlines();
      nodes.push(this.command());
    }
    const node: Node = nodes.length === 1 ? nodes[0]! : { type: 'pipeline', nodes, line };
    return negate ? { type: 'not', node } : node;
  }

  private command(): Node {
    const t = this.peek();
    if (!t || 'newline' in t) throw new ScriptSyntaxError(t ? 'expected a command' : 'expected a command before the end of the script', this.line());
    if (this.isWord(t, 'if')) return this.ifClause();
    if (this.isWord(t, '{')) {
      this.at++;
      const body = this.list(['}']);
      this.at++;
      return this.withRedirects({ type: 'group', body, subshell: false });
    }
    if (this.isOp(t, '(')) {
      this.at++;
      const body = this.list([')']);
      this.at++;
      return this.withRedirects({ type: 'group', body, subshell: true });
    }
    if (this.isWord(t, 'case')) return this.caseClause();
    if (this.isWord(t, 'for')) return this.forClause();
    if (this.isWord(t) && ['while', 'until', 'function'].includes(t.word)) return this.skipCompound(t.word, t.line);
    if (this.isWord(t) && ['then', 'elif', 'else', 'fi', 'do', 'done', 'esac', '}'].includes(t.word)) throw new ScriptSyntaxError(`unexpected '${t.word}'`, t.line);
    return this.simple();
  }

  private withRedirects(node: Node): Node {
    const redirects = this.redirects();
    // Redirections of a compound command matter only when they write somewhere.
    const real = redirects.filter((r) => !harmless(r));
    return real.length ? { type: 'unsupported', text: `${describeNode(node)} ${real.map((r) => `${r.op} ${r.target}`).join(' ')}`, line: this.line() } : node;
  }

  private redirects(): Redirect[] {
    const out: Redirect[] = [];
    for (;;) {
      const t = this.peek();
      if (!t || !('op' in t) || !REDIRECTS.has(t.op)) return out;
      this.at++;
      if (t.op === '<<') {
        out.push({ op: '<<', target: '', heredoc: t.heredoc ?? '' });
        continue;
      }
      const target = this.peek();
      if (!this.isWord(target)) throw new ScriptSyntaxError(`redirection ${t.op} without a target`, t.line);
      this.at++;
      out.push({ op: t.op, target: target.word });
    }
  }

  private ifClause(): Node {
    this.at++;
    const branches: { cond: Node; body: Node }[] = [];
    let cond = this.list(['then']);
    this.at++;
    let body = this.list(['elif', 'else', 'fi']);
    branches.push({ cond, body });
    let otherwise: Node | undefined;
    for (;;) {
      const t = this.peek() as { word: string; line: number };
      this.at++;
      if (t.word === 'elif') {
        cond = this.list(['then']);
        this.at++;
        body = this.list(['elif', 'else', 'fi']);
        branches.push({ cond, body });
      } else if (t.word === 'else') {
        otherwise = this.list(['fi']);
        this.at++;
        break;
      } else break;
    }
    return this.withRedirects(otherwise ? { type: 'if', branches, otherwise } : { type: 'if', branches });
  }

  private caseClause(): Node {
    const line = this.line();
    this.at++;
    const subject = this.peek();
    if (!this.isWord(subject)) throw new ScriptSyntaxError("expected a word after 'case'", line);
    this.at++;
    this.expectWord('in');
    const items: { patterns: { word: string; glob: boolean }[]; body?: Node }[] = [];
    for (;;) {
      this.skipNewlines();
      const t = this.peek();
      if (!t) throw new ScriptSyntaxError("'case' is not closed (expected 'esac')", line);
      if (this.isWord(t, 'esac')) {
        this.at++;
        break;
      }
      if (this.isOp(t, '(')) this.at++;
      const patterns: { word: string; glob: boolean }[] = [];
      for (;;) {
        const p = this.peek();
        if (!this.isWord(p)) throw new ScriptSyntaxError('expected a case pattern', this.line());
        patterns.push({ word: p.word, glob: p.glob === true || /\[.+\]/.test(p.word) });
        this.at++;
        if (this.isOp(this.peek(), '|')) this.at++;
        else if (this.isOp(this.peek(), ')')) {
          this.at++;
          break;
        } else throw new ScriptSyntaxError("expected ')' after a case pattern", this.line());
      }
      this.skipNewlines();
      const body = this.isOp(this.peek(), ';;') || this.isWord(this.peek(), 'esac') ? undefined : this.list([';;', 'esac']);
      if (this.isOp(this.peek(), ';;')) this.at++;
      items.push(body ? { patterns, body } : { patterns });
    }
    return this.withRedirects({ type: 'case', subject: subject.word, items, line });
  }

  private forClause(): Node {
    const line = this.line();
    this.at++;
    const name = this.peek();
    if (!this.isWord(name) || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name.word)) throw new ScriptSyntaxError("expected a name after 'for'", line);
    this.at++;
    this.skipNewlines();
    let words: string[] | undefined;
    if (this.isWord(this.peek(), 'in')) {
      this.at++;
      words = [];
      for (let t = this.peek(); this.isWord(t); t = this.peek()) {
        words.push(t.word);
        this.at++;
      }
    }
    const sep = this.peek();
    if (sep && ('newline' in sep || this.isOp(sep, ';'))) this.at++;
    this.expectWord('do');
    const body = this.list(['done']);
    this.at++;
    return this.withRedirects(words ? { type: 'for', name: name.word, words, body, line } : { type: 'for', name: name.word, body, line });
  }

  /** while/until/function: not interpreted; skipped whole (with nesting) and reported. */
  private skipCompound(word: string, line: number): Node {
    const closer: Record<string, string> = { while: 'done', until: 'done' };
    const words: string[] = [];
    let depth = 0;
    const open = new Set(['for', 'while', 'until', 'case', 'if', '{']);
    const close = new Set(['done', 'esac', 'fi', '}']);
    for (;;) {
      const t = this.peek();
      if (!t) throw new ScriptSyntaxError(`'${word}' is not closed (expected '${closer[word] ?? '}'}')`, line);
      this.at++;
      if ('word' in t) {
        words.push(t.word);
        if (open.has(t.word)) depth++;
        else if (close.has(t.word)) {
          depth--;
          if (depth === 0) break;
        }
      } else if ('op' in t) words.push(t.op);
      else words.push(';');
    }
    return { type: 'unsupported', text: display(words.join(' ').replace(/ ; /g, '; ')), line };
  }

  private simple(): Node {
    const line = this.line();
    const words: string[] = [];
    const redirects: Redirect[] = [];
    for (;;) {
      const t = this.peek();
      if (!t || 'newline' in t) break;
      if ('word' in t) {
        words.push(t.word);
        this.at++;
      } else if (REDIRECTS.has(t.op)) {
        redirects.push(...this.redirects());
      } else if (t.op === '(' && words.length === 1) {
        // name() { … }: a function definition.
        return this.skipFunction(words[0]!, line);
      } else break;
    }
    if (!words.length && !redirects.length) throw new ScriptSyntaxError(`expected a command near ${describe(this.peek()!)}`, line);
    return { type: 'simple', words, redirects, line };
  }

  private skipFunction(name: string, line: number): Node {
    this.at++;
    if (!this.isOp(this.peek(), ')')) throw new ScriptSyntaxError(`bad function definition ${name}`, line);
    this.at++;
    this.skipNewlines();
    if (!this.isWord(this.peek(), '{')) throw new ScriptSyntaxError(`bad function definition ${name}`, line);
    this.at++;
    this.list(['}']);
    this.at++;
    return { type: 'unsupported', text: `${name}() { … }`, line };
  }
}

function describe(t: Token): string {
  if ('word' in t) return `'${display(t.word)}'`;
  if ('op' in t) return `'${t.op}'`;
  return 'end of line';
}

function describeNode(n: Node): string {
  switch (n.type) {
    case 'simple':
      return displayWords(n.words);
    case 'if':
      return 'if … fi';
    case 'case':
      return `case ${display(n.subject)} in … esac`;
    case 'for':
      return `for ${n.name} … done`;
    case 'group':
      return '{ … }';
    default:
      return n.type;
  }
}

/** A word for a message: variables shown as the script writes them. */
function display(word: string): string {
  return word.replace(new RegExp(`${VAR_OPEN}(?:${UNQUOTED})?([^${VAR_CLOSE}]*)${VAR_CLOSE}`, 'g'), (_, n: string) => (n.startsWith('%') ? Buffer.from(n.slice(1), 'hex').toString() : `$${n.length > 1 && !/^\w+$/.test(n) ? `{${n}}` : n}`));
}

/** A case pattern: `*`, `?` and `[…]` (with `!` or `^` negation) as the shell matches them. */
function globMatch(pattern: string, subject: string): boolean {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        const body = pattern.slice(i + 1, end).replace(/^[!^]/, '^').replace(/\\/g, '\\\\');
        re += `[${body}]`;
        i = end;
      }
    } else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  try {
    return new RegExp(`^${re}$`, 's').test(subject);
  } catch {
    return false;
  }
}

/** Words for a message, quoted only where the shell would need it. */
function displayWords(words: string[]): string {
  return words.map((w) => display(w)).map((w) => (w === '' ? "''" : /[\s'"\\|&;<>()]/.test(w) ? `'${w.replace(/'/g, "'\\''")}'` : w)).join(' ');
}

/** Redirections that change nothing in the image. */
function harmless(r: Redirect): boolean {
  if (r.op === '<<') return true;
  if (r.op === '>&' || r.op === '<&') return /^[0-9-]+$/.test(r.target) || r.target === '/dev/null';
  return r.target === '/dev/null';
}

// ---------------------------------------------------------------------------------------------------
// Evaluation.

const PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

class Run {
  readonly commands: ScriptCommand[] = [];
  readonly notes: string[] = [];
  private readonly vars = new Map<string, string>();
  private readonly unknownVars = new Set<string>();

  constructor(
    private readonly s: Scriptlet,
    private readonly host: ScriptHost,
    installCount: number,
  ) {
    this.vars.set('1', String(installCount));
    this.vars.set('#', '1');
    this.vars.set('0', s.interpreter[0] ?? '/bin/sh');
    // rpm runs scriptlets with this PATH.
    this.vars.set('PATH', '/sbin:/bin:/usr/sbin:/usr/bin');
  }

  origin(line: number, argv: string[]): CommandOrigin {
    return { pkg: this.s.pkg, scriptlet: this.s.name, line, argv };
  }
  note(text: string): void {
    this.notes.push(text);
  }
  notReproduced(_line: number, text: string): void {
    this.notes.push(`not reproduced: ${this.s.pkg} ${this.s.name}: ${text}`);
  }
  emit(c: ScriptCommand): number {
    this.commands.push(c);
    return this.host.perform?.(c) ?? 0;
  }
  result(status: number): ScriptletResult {
    return { commands: this.commands, notes: this.notes, status };
  }

  exec(n: Node): number {
    this.vars.set('?', String(this.last));
    const status = this.execNode(n);
    this.last = status;
    return status;
  }
  private last = 0;

  /** In a condition (if/elif, `!`, all but the last of && ||) a failure does not stop a `set -e` script. */
  private conditions = 0;
  private errexit = false;

  errexitOn(): void {
    this.errexit = true;
  }

  private condition(n: Node): number {
    this.conditions++;
    try {
      return this.exec(n);
    } finally {
      this.conditions--;
    }
  }

  private execNode(n: Node): number {
    switch (n.type) {
      case 'simple': {
        const status = this.simple(n);
        if (status !== 0 && this.errexit && this.conditions === 0) throw new Exit(status);
        return status;
      }
      case 'list': {
        let s = 0;
        for (const c of n.nodes) s = this.exec(c);
        return s;
      }
      case 'and-or': {
        const all = [{ op: '&&' as const, node: n.first }, ...n.rest];
        let s = 0;
        for (const [k, { op, node }] of all.entries()) {
          if (k > 0 && (op === '&&') !== (s === 0)) continue;
          s = k < all.length - 1 ? this.condition(node) : this.exec(node);
        }
        return s;
      }
      case 'not':
        return this.condition(n.node) === 0 ? 1 : 0;
      case 'pipeline':
        this.notReproduced(n.line, n.nodes.map(describeNode).join(' | '));
        return 0;
      case 'if': {
        for (const b of n.branches) if (this.condition(b.cond) === 0) return this.exec(b.body);
        return n.otherwise ? this.exec(n.otherwise) : 0;
      }
      case 'group': {
        if (!n.subshell) return this.exec(n.body);
        // A subshell's exit and variables end with it.
        const vars = new Map(this.vars);
        const unknown = new Set(this.unknownVars);
        const errexit = this.errexit;
        try {
          return this.exec(n.body);
        } catch (e) {
          if (e instanceof Exit) return e.status;
          throw e;
        } finally {
          this.vars.clear();
          for (const [k, v] of vars) this.vars.set(k, v);
          this.unknownVars.clear();
          for (const k of unknown) this.unknownVars.add(k);
          this.errexit = errexit;
        }
      }
      case 'case': {
        const subject = this.expand(n.subject);
        if (subject === undefined) {
          this.notReproduced(n.line, describeNode(n));
          return 0;
        }
        for (const item of n.items) {
          for (const p of item.patterns) {
            const pattern = this.expand(p.word);
            if (pattern === undefined) {
              this.notReproduced(n.line, describeNode(n));
              return 0;
            }
            if (p.glob ? globMatch(pattern, subject) : pattern === subject) return item.body ? this.exec(item.body) : 0;
          }
        }
        return 0;
      }
      case 'for': {
        // Without `in`, the positional parameters: rpm passes $1 only.
        const words = n.words ?? [`${VAR_OPEN}1${VAR_CLOSE}`];
        const values: string[] = [];
        for (const w of words) {
          const f = this.fields(w);
          if (f === undefined || f.some((v) => /[*?[]/.test(v))) {
            this.notReproduced(n.line, describeNode(n));
            return 0;
          }
          values.push(...f);
        }
        let s = 0;
        for (const v of values) {
          this.vars.set(n.name, v);
          this.unknownVars.delete(n.name);
          s = this.exec(n.body);
        }
        return s;
      }
      case 'unsupported':
        this.notReproduced(n.line, n.text);
        return 0;
    }
  }

  /** A variable's value; undefined when it cannot be known. */
  private value(name: string): string | undefined {
    const v = this.vars.get(name);
    if (v !== undefined) return v;
    // Unset variables are empty, as in the shell; but not those set from what cannot be known, command
    // substitutions, ${…} forms, or what rpm puts in the environment (RPM_INSTALL_PREFIX…).
    if (this.unknownVars.has(name) || !/^([A-Za-z_][A-Za-z0-9_]*|[0-9]+|\?|#)$/.test(name) || name.startsWith('RPM_')) return undefined;
    return '';
  }

  /**
   * Expands a word into fields: unquoted variables are split at blanks (IFS) and vanish when empty;
   * quoted ones and literal text are kept whole. Undefined when a value cannot be known.
   */
  private fields(word: string): string[] | undefined {
    if (word === '' || word.includes('`')) return word === '' ? [''] : undefined;
    const out: string[] = [];
    let cur: string | undefined;
    const re = new RegExp(`${VAR_OPEN}([^${VAR_CLOSE}]*)${VAR_CLOSE}`, 'g');
    let last = 0;
    for (let m = re.exec(word); ; m = re.exec(word)) {
      const literal = word.slice(last, m ? m.index : word.length);
      if (literal) cur = (cur ?? '') + literal;
      if (!m) break;
      last = m.index + m[0].length;
      const split = m[1]!.startsWith(UNQUOTED);
      const v = this.value(split ? m[1]!.slice(UNQUOTED.length) : m[1]!);
      if (v === undefined) return undefined;
      if (!split) {
        cur = (cur ?? '') + v;
        continue;
      }
      const pieces = v.split(/[ \t\n]+/);
      pieces.forEach((piece, k) => {
        if (k > 0 && cur !== undefined) {
          out.push(cur);
          cur = undefined;
        }
        if (piece) cur = (cur ?? '') + piece;
      });
    }
    if (cur !== undefined) out.push(cur);
    return out;
  }

  /** Expands a word where the shell does not split it (assignments, case); undefined when unknown. */
  private expand(word: string): string | undefined {
    let unknown = false;
    const out = word.replace(new RegExp(`${VAR_OPEN}([^${VAR_CLOSE}]*)${VAR_CLOSE}`, 'g'), (_, name: string) => {
      const v = this.value(name.startsWith(UNQUOTED) ? name.slice(UNQUOTED.length) : name);
      if (v === undefined) unknown = true;
      return v ?? '';
    });
    return unknown || out.includes('`') ? undefined : out;
  }

  private simple(n: Extract<Node, { type: 'simple' }>): number {
    const text = displayWords(n.words);
    const writes = n.redirects.filter((r) => !harmless(r));
    // Output to rpm's log changes nothing, whatever it says.
    if (!writes.length && ['echo', 'printf', ':', 'true'].includes(n.words[0] ?? '')) return 0;
    // Leading assignments: NAME=value (alone, they set shell variables; before a command, its environment).
    let k = 0;
    while (k < n.words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(n.words[k]!)) k++;
    if (k === n.words.length && !writes.length) {
      for (const w of n.words) {
        const at = w.indexOf('=');
        const value = this.expand(w.slice(at + 1));
        if (value === undefined) {
          // Its value cannot be known: neither can anything that uses it.
          this.unknownVars.add(w.slice(0, at));
          this.vars.delete(w.slice(0, at));
          this.notReproduced(n.line, text);
        } else {
          this.unknownVars.delete(w.slice(0, at));
          this.vars.set(w.slice(0, at), value);
        }
      }
      return 0;
    }
    const argv: string[] = [];
    for (const w of n.words.slice(k)) {
      const f = this.fields(w);
      if (f === undefined) {
        this.notReproduced(n.line, text);
        return 0;
      }
      argv.push(...f);
    }
    const stdin = n.redirects.find((r) => r.op === '<<')?.heredoc;
    if (!argv.length) {
      this.notReproduced(n.line, text);
      return 0;
    }
    // Messages show the command as it would run.
    const ran = displayWords(argv);
    if (writes.length) {
      this.notReproduced(n.line, `${ran} ${writes.map((r) => `${r.op}${display(r.target)}`).join(' ')}`);
      return 0;
    }
    return this.command(argv, stdin, n.line, ran);
  }

  private command(argv: string[], stdin: string | undefined, line: number, text: string): number {
    const name = argv[0]!;
    const base = name.includes('/') ? posix.basename(name) : name;
    const args = argv.slice(1);
    const origin = this.origin(line, argv);
    switch (base) {
      case ':':
      case 'true':
        return 0;
      case 'false':
        return 1;
      case 'exit':
      case 'return': {
        const code = args[0] === undefined ? this.last : Number(args[0]);
        throw new Exit(Number.isInteger(code) ? code & 0xff : 2);
      }
      case 'set': {
        // Options only: -e/+e (errexit) is followed; -x, -u and the like change nothing here.
        if (!args.length || !args.every((a) => /^[-+][a-z]+$/.test(a))) {
          this.notReproduced(line, text);
          return 0;
        }
        for (const a of args) if (a.includes('e')) this.errexit = a.startsWith('-');
        return 0;
      }
      case 'echo':
      case 'printf':
        // Output goes to rpm's log; with no redirection to a file it changes nothing.
        return 0;
      case '[':
      case 'test': {
        const expr = base === '[' ? args.slice(0, -1) : args;
        if (base === '[' && args[args.length - 1] !== ']') {
          this.notReproduced(line, `${text} (missing ']')`);
          return 2;
        }
        const r = this.test(expr);
        if (r === undefined) {
          this.notReproduced(line, text);
          return 0;
        }
        return r ? 0 : 1;
      }
      case 'getent': {
        const db = args[0];
        // Several keys: 2 unless every one is found.
        if ((db === 'passwd' || db === 'group') && args.length >= 2) return args.slice(1).every((k) => this.host.getent(db, k)) ? 0 : 2;
        this.notReproduced(line, text);
        return 0;
      }
      case 'id': {
        const user = args.filter((a) => !a.startsWith('-'));
        if (user.length === 1 && args.every((a) => /^-[ungr]+$/.test(a) || !a.startsWith('-'))) return this.host.getent('passwd', user[0]!) ? 0 : 1;
        this.notReproduced(line, text);
        return 0;
      }
      case 'command':
      case 'which':
      case 'type': {
        const names = args.filter((a) => !a.startsWith('-'));
        if ((base !== 'command' || args[0] === '-v') && names.length === 1) return this.found(names[0]!) ? 0 : 1;
        this.notReproduced(line, text);
        return 0;
      }
      case 'groupadd':
      case 'useradd':
      case 'usermod':
      case 'gpasswd':
        return this.emit({ kind: 'account', tool: base, args, origin });
      case 'systemd-sysusers':
        return this.emit(stdin !== undefined ? { kind: 'sysusers', args, stdin, origin } : { kind: 'sysusers', args, origin });
      case 'alternatives':
      case 'update-alternatives':
        return this.emit({ kind: 'alternatives', args, origin });
      case 'ldconfig':
        return this.emit({ kind: 'ldconfig', origin });
      case 'update-ca-trust':
        return this.emit({ kind: 'update-ca-trust', args, origin });
      case 'systemctl':
        return this.systemctl(args, origin, text);
      case 'systemd-update-helper': {
        // systemd ≥ 249's %systemd_post: install-system-units / install-user-units run `systemctl preset`.
        const [verb, ...units] = args;
        if (verb === 'install-system-units' || verb === 'install-user-units') {
          if (!units.length) return 0;
          return this.emit({ kind: 'systemd-preset', scope: verb === 'install-system-units' ? 'system' : 'user', units, origin });
        }
        this.notReproduced(line, text);
        return 0;
      }
      default:
        this.notReproduced(line, text);
        return 0;
    }
  }

  private systemctl(args: string[], origin: CommandOrigin, text: string): number {
    const operands = args.filter((a) => !a.startsWith('-'));
    const global = args.includes('--global') || args.includes('--user');
    const [verb, ...units] = operands;
    if (verb === 'preset' && units.length) return this.emit({ kind: 'systemd-preset', scope: global ? 'user' : 'system', units, origin });
    // Nothing runs while an image is built: reloading is a no-op and no unit is active.
    if (verb === 'daemon-reload') return 0;
    if (verb === 'is-active') return 3;
    this.notReproduced(origin.line, text);
    return 0;
  }

  private found(cmd: string): boolean {
    if (cmd.includes('/')) return this.host.fileTest('-x', cmd);
    if ([':', 'true', 'false', 'echo', 'printf', 'test', '[', 'command', 'exit'].includes(cmd)) return true;
    return PATH.some((d) => this.host.fileTest('-x', `${d}/${cmd}`));
  }

  /** test(1)'s expression; undefined when it uses something this cannot answer. */
  private test(e: string[]): boolean | undefined {
    const or = e.indexOf('-o');
    if (or > 0) {
      const a = this.test(e.slice(0, or));
      const b = this.test(e.slice(or + 1));
      return a === undefined || b === undefined ? undefined : a || b;
    }
    const and = e.indexOf('-a');
    if (and > 0 && e.length > 3) {
      const a = this.test(e.slice(0, and));
      const b = this.test(e.slice(and + 1));
      return a === undefined || b === undefined ? undefined : a && b;
    }
    if (e[0] === '!' && e.length > 1) {
      const r = this.test(e.slice(1));
      return r === undefined ? undefined : !r;
    }
    if (e.length === 0) return false;
    if (e.length === 1) return e[0] !== '';
    if (e.length === 2) {
      const [op, v] = e as [string, string];
      if (op === '-n') return v !== '';
      if (op === '-z') return v === '';
      if (/^-[efdxsrwLhbcpSg]$/.test(op)) return this.host.fileTest(op, v);
      return undefined;
    }
    if (e.length === 3) {
      const [a, op, b] = e as [string, string, string];
      if (op === '=' || op === '==') return a === b;
      if (op === '!=') return a !== b;
      const x = Number(a);
      const y = Number(b);
      if (!/^-?[0-9]+$/.test(a.trim()) || !/^-?[0-9]+$/.test(b.trim())) return undefined;
      switch (op) {
        case '-eq':
          return x === y;
        case '-ne':
          return x !== y;
        case '-lt':
          return x < y;
        case '-le':
          return x <= y;
        case '-gt':
          return x > y;
        case '-ge':
          return x >= y;
      }
    }
    return undefined;
  }
}

/**
 * The scriptlets rpm runs when installing: every package's %pretrans first, then %pre and %post of each
 * package in install order, then every package's %posttrans.
 */
export const INSTALL_SCRIPTLETS = ['%pretrans', '%pre', '%post', '%posttrans'] as const;

/**
 * `test`'s file operators answered from the image (as root runs them: -r/-w need only existence, -x any
 * execute bit on a file, directories searchable), following symbolic links except for -L/-h.
 */
export function imageFileTest(ctx: EffectContext): (operator: string, path: string) => boolean {
  const resolve = (path: string): SourcedEntry | undefined => {
    let at = ctx.locatePath(path);
    for (let hops = 0; hops < 40; hops++) {
      const e = ctx.entry(at);
      if (!e || (e.type !== 'symlink' && e.type !== 'hardlink')) return e;
      const target = e.linkname ?? '';
      at = e.type === 'hardlink' ? target.replace(/^\/+/, '') : ctx.locatePath(posix.normalize(target.startsWith('/') ? target : posix.join(posix.dirname(at), target)));
    }
    return undefined;
  };
  return (op, path) => {
    if (op === '-L' || op === '-h') return ctx.entry(ctx.locatePath(path))?.type === 'symlink';
    const e = resolve(path);
    if (!e) return false;
    switch (op) {
      case '-f':
        return e.type === 'file';
      case '-d':
        return e.type === 'directory';
      case '-x':
        return e.type === 'directory' || (e.mode & 0o111) !== 0;
      case '-s':
        return e.size > 0;
      case '-b':
        return e.type === 'block';
      case '-c':
        return e.type === 'char';
      case '-p':
        return e.type === 'fifo';
      default:
        return true;
    }
  };
}
