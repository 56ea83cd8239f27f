import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { ParallelGzip } from '../src/compression/parallel-gzip.js';
import { must, sha256Hex, tempDir } from './helpers.js';

async function compress(data: Buffer, blockSize: number, parallelism = 4, chunk = 70000): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) pieces.push(data.subarray(i, i + chunk));
  const out: Buffer[] = [];
  for await (const c of Readable.from(pieces).pipe(new ParallelGzip({ blockSize, parallelism }))) out.push(c as Buffer);
  return Buffer.concat(out);
}

describe('parallel gzip', () => {
  // Half text (compressible, so back-references cross block borders), half random.
  const text = Buffer.from('the quick brown fox jumps over the lazy dog; '.repeat(30000));
  const data = Buffer.concat([text, randomBytes(700000), text.subarray(0, 123457)]);

  for (const blockSize of [65536, 262144, data.length, data.length * 2]) {
    it(`makes one gzip member that GNU gzip accepts (block ${blockSize})`, async () => {
      const gz = await compress(data, blockSize);
      const dir = tempDir();
      writeFileSync(join(dir, 'x.gz'), gz);
      must('gzip', ['-t', join(dir, 'x.gz')]);
      assert.equal(must('sh', ['-c', `gzip -dc '${join(dir, 'x.gz')}' | sha256sum`]).split(' ')[0], sha256Hex(data));
      assert.equal(gz.readUInt32LE(gz.length - 4), data.length);
    });
  }

  it('gives the same bytes whatever the parallelism and the input chunking', async () => {
    const a = await compress(data, 65536, 1, 4096);
    const b = await compress(data, 65536, 8, 999999);
    assert.ok(a.equals(b));
  });

  it('compresses about as well as gzip -6 and handles empty input', async () => {
    const gz = await compress(text, 262144);
    const dir = tempDir();
    writeFileSync(join(dir, 't'), text);
    const reference = Number(must('sh', ['-c', `gzip -6 -c '${join(dir, 't')}' | wc -c`]).trim());
    assert.ok(gz.length < reference * 1.1, `${gz.length} vs gzip's ${reference}`);
    assert.equal(gunzipSync(await compress(Buffer.alloc(0), 65536)).length, 0);
  });
});
