/**
 * deb822 control data (Debian policy §5.1): paragraphs of `Field: value` lines separated by blank lines,
 * with continuation lines starting with a space or tab. Used by Packages and Release indexes, the dpkg
 * status database, .deb control files and apt's .sources files. Field names compare case-insensitively.
 */
export class Paragraph {
  private readonly fields = new Map<string, { name: string; value: string }>();
  /** 1-based line number of the paragraph's first field, for error messages. */
  constructor(readonly line: number = 0) {}

  get(name: string): string | undefined {
    return this.fields.get(name.toLowerCase())?.value;
  }

  has(name: string): boolean {
    return this.fields.has(name.toLowerCase());
  }

  set(name: string, value: string): void {
    this.fields.set(name.toLowerCase(), { name, value });
  }

  /** Fields in the order they were set, with their original spelling. */
  entries(): [string, string][] {
    return [...this.fields.values()].map((f) => [f.name, f.value]);
  }

  /** Serialises as a paragraph (no trailing blank line). Multi-line values keep their continuation lines. */
  format(): string {
    return this.entries()
      .map(([name, value]) => formatField(name, value))
      .join('\n');
  }
}

/**
 * One field as deb822 writes it. Values keep continuation lines without their leading space (as parsed),
 * so each gets one back; a value starting with a line break (Conffiles, Description-less) starts on the
 * next line.
 */
export function formatField(name: string, value: string): string {
  const body = value.replace(/\n/g, '\n ');
  return value.startsWith('\n') ? `${name}:${body}` : `${name}: ${body}`;
}

export interface ParseOptions {
  /** Lines starting with '#' are comments (allowed in apt's .sources files, not in Packages). */
  comments?: boolean;
  /** Names the input in error messages. */
  source?: string;
}

export class ControlSyntaxError extends Error {
  override readonly name = 'ControlSyntaxError';
}

/** Parses deb822 text into paragraphs. Values are trimmed; continuation lines are joined with '\n'. */
export function parseControl(text: string, options: ParseOptions = {}): Paragraph[] {
  const paragraphs: Paragraph[] = [];
  let current: Paragraph | undefined;
  let lastField: string | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (options.comments && line.startsWith('#')) continue;
    if (line.trim() === '') {
      if (current) paragraphs.push(current);
      current = undefined;
      lastField = undefined;
      continue;
    }
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (!current || lastField === undefined) {
        throw new ControlSyntaxError(`${options.source ?? 'control data'}:${i + 1}: continuation line without a field`);
      }
      const previous = current.get(lastField) ?? '';
      current.set(lastField, `${previous}\n${line.slice(1)}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new ControlSyntaxError(`${options.source ?? 'control data'}:${i + 1}: expected "Field: value", got "${line.slice(0, 80)}"`);
    current ??= new Paragraph(i + 1);
    lastField = line.slice(0, colon);
    current.set(lastField, line.slice(colon + 1).trim());
  }
  if (current) paragraphs.push(current);
  return paragraphs;
}
