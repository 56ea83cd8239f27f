import { UserError } from '../errors.js';
import type { Entry } from './entry.js';
import { BLOCK, encodeHeader, padding } from './header.js';

const CHUNK = 262144;

/** Gathers small pieces into ~1 MiB chunks so hashing and compression see few, large buffers. */
class Coalescer {
  private parts: Buffer[] = [];
  private length = 0;

  add(part: Buffer): Buffer | undefined {
    this.parts.push(part);
    this.length += part.length;
    return this.length >= CHUNK ? this.take() : undefined;
  }

  take(): Buffer | undefined {
    if (this.length === 0) return undefined;
    const out = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.length);
    this.parts = [];
    this.length = 0;
    return out;
  }
}

/**
 * Writes entries, in the order given, as one tar stream: PAX where ustar cannot hold a value, numeric
 * ownership only, content checked against the size the header promised. The output depends on nothing
 * but the entries. Ends with the two zero blocks.
 */
export async function* writeTar(entries: Iterable<Entry> | AsyncIterable<Entry>): AsyncGenerator<Buffer> {
  const out = new Coalescer();
  for await (const entry of entries) {
    const header = encodeHeader(entry);
    const ready = out.add(header);
    if (ready) yield ready;
    if (entry.type !== 'file' || entry.size === 0) continue;
    if (!entry.open) throw new Error(`tar writer: file entry "${entry.path}" has no content`);
    let written = 0;
    for await (const chunk of entry.open() as AsyncIterable<Buffer>) {
      written += chunk.length;
      if (written > entry.size) break;
      const full = out.add(chunk);
      if (full) yield full;
    }
    if (written !== entry.size) {
      throw new UserError(`"${entry.path}" changed while it was read: expected ${entry.size} bytes, got ${written > entry.size ? 'more' : written}`);
    }
    const pad = padding(entry.size);
    if (pad) {
      const full = out.add(Buffer.alloc(pad));
      if (full) yield full;
    }
  }
  out.add(Buffer.alloc(2 * BLOCK));
  const last = out.take();
  if (last) yield last;
}
