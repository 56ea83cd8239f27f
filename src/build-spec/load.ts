import { readFile } from 'node:fs/promises';
import { UserError } from '../errors.js';
import { parseYaml } from '../yaml/located.js';
import { specSchema, type Spec } from './schema.js';

/**
 * Reads a spec: YAML syntax errors and schema errors both name the file, the line and the YAML path
 * (`fromscratch.yaml:7: contents.packages[2]: a Debian package name...`).
 */
export async function loadSpec(file: string): Promise<LoadedSpec> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UserError(`spec "${file}" cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return { ...parseSpecText(text, file), dir: file.includes('/') ? file.slice(0, file.lastIndexOf('/')) : '.' };
}

export interface LoadedSpec {
  spec: Spec;
  /** The spec's folder: relative paths in it are relative to this. */
  dir: string;
  /** `file:line: yaml.path` of a value, for errors found after parsing (a copy source not in its image). */
  locate: (path: readonly PropertyKey[]) => string;
}

export function parseSpec(text: string, file: string): Spec {
  return parseSpecText(text, file).spec;
}

function parseSpecText(text: string, file: string): Omit<LoadedSpec, 'dir'> {
  const { value, locate } = parseYaml(text, file, specSchema);
  return { spec: value, locate };
}
