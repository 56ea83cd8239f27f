import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import sax from 'sax';
import { UserError, errorMessage } from '../../errors.js';

/** What the repository metadata readers see of an element: its name and attributes. */
export interface XmlElement {
  name: string;
  attr(name: string): string | undefined;
}

export interface XmlHandlers {
  open(element: XmlElement, path: readonly string[]): void;
  /** Text inside the innermost open element, only called where `wantText` says so. */
  text?(text: string, path: readonly string[]): void;
  close?(name: string, path: readonly string[]): void;
  /** Whether an element's text is needed (skips descriptions and changelogs cheaply). */
  wantText?(path: readonly string[]): boolean;
}

/** The position a metadata error names: `file:line`. */
export class XmlPosition {
  constructor(
    readonly file: string,
    private readonly parser: { line: number },
  ) {}
  fail(message: string): never {
    throw new UserError(`${this.file}:${this.parser.line + 1}: ${message}`);
  }
}

/**
 * Streams an XML document through sax (strict mode) chunk by chunk, so a large primary.xml is never held
 * whole; a malformed document is a UserError naming the file and line. `handlers` may throw UserErrors
 * made with `position.fail`.
 */
export async function readXml(stream: Readable, file: string, makeHandlers: (position: XmlPosition) => XmlHandlers): Promise<void> {
  const parser = sax.parser(true, { trim: false, normalize: false, position: true });
  const position = new XmlPosition(file, parser);
  const handlers = makeHandlers(position);
  const path: string[] = [];
  let collect = false;
  let buffer = '';
  let failure: unknown;
  let sawRoot = false;
  parser.onerror = (e) => {
    failure ??= new UserError(`${file}:${parser.line + 1}: malformed XML: ${errorMessage(e).split('\n')[0]}`);
  };
  parser.onopentag = (tag) => {
    if (failure) return;
    sawRoot = true;
    try {
      if (collect && handlers.text && buffer) handlers.text(buffer, path);
      path.push(tag.name);
      const attributes = tag.attributes;
      handlers.open(
        {
          name: tag.name,
          attr: (name) => {
            const v = attributes[name];
            return typeof v === 'string' ? v : v?.value;
          },
        },
        path,
      );
      collect = handlers.wantText?.(path) ?? false;
      buffer = '';
    } catch (e) {
      failure = e;
    }
  };
  const onText = (t: string) => {
    if (collect) buffer += t;
  };
  parser.ontext = onText;
  parser.oncdata = onText;
  parser.onclosetag = (name) => {
    if (failure) return;
    try {
      if (collect && handlers.text) handlers.text(buffer, path);
      collect = false;
      buffer = '';
      handlers.close?.(name, path);
      path.pop();
    } catch (e) {
      failure = e;
    }
  };
  const decoder = new StringDecoder('utf8');
  try {
    for await (const chunk of stream) {
      parser.write(typeof chunk === 'string' ? chunk : decoder.write(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk))));
      if (failure) break;
    }
    if (!failure) {
      parser.write(decoder.end());
      parser.close();
    }
  } catch (e) {
    if (!failure) throw e instanceof UserError ? e : new UserError(`${file}: cannot read: ${errorMessage(e)}`);
  }
  if (failure) {
    stream.destroy();
    throw failure instanceof UserError ? failure : new UserError(`${file}:${parser.line + 1}: ${errorMessage(failure)}`);
  }
  if (!sawRoot) throw new UserError(`${file}:${parser.line + 1}: no XML document`);
}

/** An integer attribute, or a UserError naming the element. */
export function intAttr(el: XmlElement, name: string, position: XmlPosition, fallback?: number): number {
  const v = el.attr(name);
  if (v === undefined || v === '') {
    if (fallback !== undefined) return fallback;
    position.fail(`<${el.name}> has no ${name}`);
  }
  if (!/^\d+$/.test(v)) position.fail(`<${el.name}> ${name}="${v}" is not a number`);
  return Number(v);
}
