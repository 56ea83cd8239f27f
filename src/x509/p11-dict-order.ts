/*
 * The order p11-kit's string-keyed hash table (common/dict.c, murmur3 with seed 42) lists its keys
 * in. p11-kit writes the purposes of an OpenSSL TRUSTED CERTIFICATE's trust and reject lists into
 * attached extensions in that order, which then shows in the OpenSSL bundle it extracts, so the
 * table is modelled here: 9 buckets to start, growing to 2n+1 when it holds more keys than buckets,
 * new keys at the end of their bucket's chain, chains reversed as they move to the grown table.
 */

function murmur3(data: Buffer): number {
  let h = 42;
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  const rotl = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;
  const body = data.length - (data.length % 4);
  for (let i = 0; i < body; i += 4) {
    let k = data.readUInt32LE(i);
    k = Math.imul(k, c1);
    k = rotl(k, 15);
    k = Math.imul(k, c2);
    h ^= k;
    h = rotl(h, 13);
    h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
  }
  const tail = data.length % 4;
  let k = 0;
  if (tail >= 3) k ^= data[body + 2]! << 16;
  if (tail >= 2) k ^= data[body + 1]! << 8;
  if (tail >= 1) {
    k ^= data[body]!;
    k = Math.imul(k, c1);
    k = rotl(k, 15);
    k = Math.imul(k, c2);
    h ^= k;
  }
  // p11-kit mixes in the length of the tail, not of the whole input
  h ^= tail;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A set of strings kept as p11-kit's p11_dict keeps them; `keys()` lists them in its iteration order. */
export class P11StringSet {
  private buckets: { key: string; hash: number }[][] = Array.from({ length: 9 }, () => []);
  private count = 0;

  add(key: string): void {
    const hash = murmur3(Buffer.from(key, 'latin1'));
    const chain = this.buckets[hash % this.buckets.length]!;
    if (chain.some((b) => b.key === key)) return;
    chain.push({ key, hash });
    this.count++;
    if (this.count > this.buckets.length) {
      const grown: { key: string; hash: number }[][] = Array.from({ length: this.buckets.length * 2 + 1 }, () => []);
      for (const b of this.buckets.flat()) grown[b.hash % grown.length]!.unshift(b);
      this.buckets = grown;
    }
  }

  delete(key: string): void {
    const hash = murmur3(Buffer.from(key, 'latin1'));
    const chain = this.buckets[hash % this.buckets.length]!;
    const i = chain.findIndex((b) => b.key === key);
    if (i >= 0) {
      chain.splice(i, 1);
      this.count--;
    }
  }

  keys(): string[] {
    return this.buckets.flat().map((b) => b.key);
  }
}
