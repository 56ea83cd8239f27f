import { copyFile, readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { errorMessage, UserError } from '../../errors.js';
import { httpGetBytes, httpGetToFile, NotFoundError, type HttpOptions } from './http.js';

/*
 * Repositories may be local (`file:///srv/repo`, as CI and air-gapped mirrors use them): these read a
 * URL of either kind. A missing file is a NotFoundError, as a 404 is.
 */

export function isFileUrl(url: string): boolean {
  return url.startsWith('file://');
}

function localPath(url: string): string {
  try {
    return fileURLToPath(url);
  } catch (err) {
    throw new UserError(`${url}: not a usable file:// URL (${errorMessage(err)})`);
  }
}

function readFailure(url: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new NotFoundError(`${url}: no such file`);
  return new UserError(`${url}: cannot be read (${code ?? errorMessage(err)})`);
}

/** Downloads (or, for file://, copies) a URL into a file; `onBytes` sees the bytes as they arrive. */
export async function urlToFile(url: string, path: string, onBytes?: (n: number) => void, http?: HttpOptions): Promise<void> {
  if (!isFileUrl(url)) return httpGetToFile(url, path, onBytes, http);
  try {
    const from = localPath(url);
    await copyFile(from, path);
    onBytes?.((await stat(path)).size);
  } catch (err) {
    throw readFailure(url, err);
  }
}

/** A URL's bytes (http, https or file). */
export async function urlBytes(url: string, http?: HttpOptions): Promise<Buffer> {
  if (!isFileUrl(url)) return httpGetBytes(url, http);
  try {
    return await readFile(localPath(url));
  } catch (err) {
    throw readFailure(url, err);
  }
}
