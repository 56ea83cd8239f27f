import { isMap, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import type { z } from 'zod';
import { UserError } from '../errors.js';

/** A YAML path as users read it: `contents.packages[2]`. */
function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), '');
}

/** The deepest node on a path that exists, so an error on a missing key points at its parent. */
function nodeAt(root: Node | null, path: readonly PropertyKey[]): Node | null {
  let node = root;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown })?.value === key);
      if (!pair) return node;
      node = (pair.value as Node | null) ?? (pair.key as Node);
    } else if (isSeq(node) && typeof key === 'number') {
      const item = node.items[key] as Node | undefined;
      if (!item) return node;
      node = item;
    } else {
      return node;
    }
  }
  return node;
}

/**
 * Parses YAML and checks it against a schema; syntax and schema errors name the file, the line and
 * the YAML path (`fromscratch.yaml:7: contents.packages[2]: ...`). `locate` does the same for errors
 * found later.
 */
export function parseYaml<S extends z.ZodType>(text: string, file: string, schema: S): { value: z.output<S>; locate: (path: readonly PropertyKey[]) => string } {
  const lines = new LineCounter();
  // YAML 1.1 rules, as apko's (Go) parser applies them: `permissions: 0755` is octal, not 755.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, version: '1.1' });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const at = lines.linePos(e.pos[0]);
    throw new UserError(`${file}:${at.line}: invalid YAML: ${e.message.split('\n')[0]}`);
  }
  const result = schema.safeParse(doc.toJS() ?? {});
  if (!result.success) {
    const messages = result.error.issues.slice(0, 5).map((issue) => {
      let node = nodeAt(doc.contents as Node | null, issue.path);
      // An unknown key is reported on its parent: point at the key itself.
      if (issue.code === 'unrecognized_keys' && isMap(node)) {
        const pair = node.items.find((p) => (p.key as { value?: unknown })?.value === issue.keys[0]);
        if (pair) node = pair.key as Node;
      }
      const line = node?.range ? lines.linePos(node.range[0]).line : 1;
      const where = formatPath(issue.path) || '(top level)';
      const detail = issue.code === 'unrecognized_keys' ? `unknown key(s) ${issue.keys.join(', ')}` : issue.message;
      return `${file}:${line}: ${where}: ${detail}`;
    });
    throw new UserError(messages.join('\n'));
  }
  const locate = (path: readonly PropertyKey[]) => {
    const node = nodeAt(doc.contents as Node | null, path);
    return `${file}:${node?.range ? lines.linePos(node.range[0]).line : 1}: ${formatPath(path) || '(top level)'}`;
  };
  return { value: result.data, locate };
}
