import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../../fs/temp.js';

/**
 * Records the build derives and keeps in the cache (decoded packages, resolutions) are JSON with the
 * SHA-256 of their body on the first line, so a damaged record is noticed on read and treated as absent,
 * as a damaged downloaded file is.
 */
export async function writeChecked(path: string, value: unknown): Promise<void> {
  const body = JSON.stringify(value);
  await writeFileAtomic(path, `${createHash('sha256').update(body).digest('hex')}\n${body}`);
}

/**
 * writeChecked for records that only save work later: a record that cannot be written (a full disk, a
 * read-only cache) must not fail the build that made it. Says whether it was written.
 */
export async function tryWriteChecked(path: string, value: unknown): Promise<boolean> {
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeChecked(path, value);
    return true;
  } catch {
    return false;
  }
}

/** The record's value, or undefined when it is missing, damaged or not JSON. */
export async function readChecked(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  const newline = text.indexOf('\n');
  const body = text.slice(newline + 1);
  if (newline !== 64 || createHash('sha256').update(body).digest('hex') !== text.slice(0, 64)) return undefined;
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}
