import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { UserError } from './errors.js';

/** A content digest as the OCI image-spec writes it: `algorithm:hex`. Only sha256 is produced. */
export type Digest = `sha256:${string}`;

const SHA256 = /^sha256:[a-f0-9]{64}$/;

export function isDigest(value: string): value is Digest {
  return SHA256.test(value);
}

export function parseDigest(value: string, what = 'digest'): Digest {
  if (!isDigest(value)) throw new UserError(`${what} "${value}" is not a sha256 digest (sha256:<64 hex digits>)`);
  return value;
}

export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

export function sha256(data: string | Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Reads a stream to its end and returns the digest and size of what it carried. */
export async function digestStream(stream: NodeJS.ReadableStream): Promise<{ digest: Digest; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/** Passes bytes through unchanged while counting and hashing them, so a digest costs no second read. */
export class DigestingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private count = 0;
  private result: Digest | undefined;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.count += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.result = `sha256:${this.hash.digest('hex')}`;
    done();
  }

  get size(): number {
    return this.count;
  }

  /** Available once the stream has ended. */
  get digest(): Digest {
    if (this.result === undefined) throw new Error('DigestingStream: digest read before the stream ended');
    return this.result;
  }
}
