import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { UserError } from '../../errors.js';

export interface HttpOptions {
  /** Attempts after the first one, for network errors, 5xx and 429 (default 4). */
  retries?: number;
  /** First backoff in ms, doubled each retry (default 500). */
  backoffMs?: number;
  /** Per-attempt timeout in ms (default 60 s without progress). */
  timeoutMs?: number;
}

/** The server answered that the file is not there: not worth retrying. */
export class NotFoundError extends UserError {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function transient(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

/**
 * GET with retries and exponential backoff on transient failures. Returns the response of the first
 * attempt that succeeded; throws NotFoundError for 404/410, UserError naming the URL otherwise.
 */
export async function httpGet(url: string, options: HttpOptions = {}): Promise<Response> {
  const retries = options.retries ?? 4;
  let delay = options.backoffMs ?? 500;
  let lastError = '';
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt > 0) {
      await sleep(delay);
      delay *= 2;
    }
    let response: Response;
    try {
      response = await fetch(url, { signal: AbortSignal.timeout(options.timeoutMs ?? 60_000), redirect: 'follow' });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      lastError = cause?.code ?? cause?.message ?? (err as Error).message;
      continue;
    }
    if (response.ok) return response;
    await response.body?.cancel();
    if (response.status === 404 || response.status === 410) throw new NotFoundError(`${url}: not found on the server (HTTP ${response.status})`);
    lastError = `HTTP ${response.status} ${response.statusText}`;
    if (!transient(response.status)) break;
  }
  throw new UserError(`${url}: could not be downloaded after ${retries + 1} attempts (${lastError})`);
}

export async function httpGetBytes(url: string, options?: HttpOptions): Promise<Buffer> {
  const response = await httpGet(url, options);
  return Buffer.from(await response.arrayBuffer());
}

/** Streams a download into a file; the caller verifies and renames it. Reports bytes as they arrive. */
export async function httpGetToFile(url: string, path: string, onBytes?: (n: number) => void, options?: HttpOptions): Promise<void> {
  const response = await httpGet(url, options);
  if (!response.body) throw new UserError(`${url}: empty response`);
  const body = Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>);
  if (onBytes) body.on('data', (chunk: Buffer) => onBytes(chunk.length));
  await pipeline(body, createWriteStream(path));
}
