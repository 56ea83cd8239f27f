import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UserError } from '../../errors.js';
import { withTempDir } from '../../fs/temp.js';
import { readChecked, tryWriteChecked } from './checked-record.js';
import type { ContentStore } from './store.js';

/** The digests createrepo_c writes into repomd.xml and primary.xml (`sha` is sha1's old name). */
export type ChecksumAlgorithm = 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

export interface Checksum {
  algorithm: ChecksumAlgorithm;
  /** Lower-case hex. */
  value: string;
}

const HEX_LENGTH: Record<ChecksumAlgorithm, number> = { sha1: 40, sha224: 56, sha256: 64, sha384: 96, sha512: 128 };

/** A checksum as repository metadata writes it (`<checksum type="sha256">HEX</checksum>`), validated. */
export function parseChecksum(type: string, value: string, where: string): Checksum {
  const name = type.trim().toLowerCase();
  const algorithm = name === 'sha' ? 'sha1' : name;
  if (algorithm === 'md5') throw new UserError(`${where}: md5 checksums are too weak to verify anything; the repository must be made with sha256 (createrepo_c's default)`);
  if (!Object.hasOwn(HEX_LENGTH, algorithm)) throw new UserError(`${where}: unknown checksum type "${type}" (known: sha1, sha224, sha256, sha384, sha512)`);
  const known = algorithm as ChecksumAlgorithm;
  const hex = value.trim().toLowerCase();
  if (hex.length !== HEX_LENGTH[known] || !/^[0-9a-f]+$/.test(hex)) throw new UserError(`${where}: "${value.trim()}" is not a ${known} checksum (${HEX_LENGTH[known]} hex digits)`);
  return { algorithm: known, value: hex };
}

export function formatChecksum(checksum: Checksum): string {
  return `${checksum.algorithm}:${checksum.value}`;
}

/** Hashes a file with the named algorithm and SHA-256 in one read. */
async function hashFile(path: string, algorithm: ChecksumAlgorithm): Promise<{ named: string; sha256: string }> {
  const named = createHash(algorithm);
  const sha256 = createHash('sha256');
  await pipeline(
    createReadStream(path, { highWaterMark: 1 << 20 }),
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        named.update(chunk);
        sha256.update(chunk);
        done();
      },
    }),
  );
  return { named: named.digest('hex'), sha256: sha256.digest('hex') };
}

/** Where the store keeps which SHA-256 a file of another checksum was stored under. */
function recordPath(store: ContentStore, checksum: Checksum): string {
  return join(store.root, 'checksum', checksum.algorithm, checksum.value.slice(0, 2), checksum.value);
}

interface ChecksumRecord {
  sha256: string;
  size: number;
}

function isChecksumRecord(value: unknown): value is ChecksumRecord {
  if (typeof value !== 'object' || value === null) return false;
  const sha256 = 'sha256' in value ? value.sha256 : undefined;
  const size = 'size' in value ? value.size : undefined;
  return typeof sha256 === 'string' && /^[0-9a-f]{64}$/.test(sha256) && typeof size === 'number';
}

/**
 * The SHA-256 the store keeps the file with this checksum under, when that is known without reading the
 * file: the checksum itself, or the record written when a file with this checksum was verified. The file
 * may since have gone from the store; `findVerified` checks.
 */
export async function knownSha256(store: ContentStore, checksum: Checksum, size?: number): Promise<string | undefined> {
  if (checksum.algorithm === 'sha256') return checksum.value;
  const record = await readChecked(recordPath(store, checksum));
  if (!isChecksumRecord(record) || (size !== undefined && record.size !== size)) return undefined;
  return record.sha256;
}

/** A verified copy of the file with this checksum (and size) in the store, or undefined. */
export async function findVerified(store: ContentStore, checksum: Checksum, size?: number): Promise<string | undefined> {
  const sha256 = await knownSha256(store, checksum, size);
  return sha256 === undefined ? undefined : store.get(sha256, size);
}

/**
 * The store's content-addressed files are keyed by SHA-256; repository metadata names other digests
 * too. Fills the store with `write(tmp)` unless a verified copy is there; the written file must match
 * `checksum` (and `size`), or it is refused and removed, so nothing is ever stored under a wrong name.
 * Returns the stored path.
 */
export async function putVerified(store: ContentStore, checksum: Checksum, write: (tmp: string) => Promise<void>, what: string, size?: number): Promise<string> {
  if (checksum.algorithm === 'sha256') return store.put(checksum.value, write, what, size);
  return (await putChecked(store, checksum, write, what, size, async (tmp) => {
    const actual = await hashFile(tmp, checksum.algorithm);
    if (actual.named !== checksum.value) throw new UserError(`${what}: ${checksum.algorithm.toUpperCase()} mismatch: expected ${checksum.value}, got ${actual.named}`);
    return actual.sha256;
  })).path;
}

/**
 * Fills the store with `write(tmp)` checked by `check` (which throws a UserError when the file is not the
 * one wanted, and returns its SHA-256), and records the SHA-256 under `key` for knownSha256. For checksums
 * that cover only part of a file (Alpine's control segment), `key` names that checksum and `check` is the
 * ecosystem's. Returns the stored path and its SHA-256.
 */
export async function putChecked(store: ContentStore, key: Checksum, write: (tmp: string) => Promise<void>, what: string, size: number | undefined, check: (tmp: string) => Promise<string>): Promise<{ path: string; sha256: string }> {
  const sha256 = await knownSha256(store, key, size);
  const existing = sha256 === undefined ? undefined : await store.get(sha256, size);
  if (existing && sha256) return { path: existing, sha256 };
  return withTempDir(
    store.tempPrefix('checksum'),
    async (dir) => {
      const tmp = join(dir, 'file');
      await write(tmp);
      const got = (await stat(tmp)).size;
      if (size !== undefined && got !== size) throw new UserError(`${what}: size mismatch: expected ${size} bytes, got ${got}`);
      const actual = await check(tmp);
      const path = await store.adopt(tmp, actual);
      await tryWriteChecked(recordPath(store, key), { sha256: actual, size: got } satisfies ChecksumRecord);
      return { path, sha256: actual };
    },
    await store.tempParent(),
  );
}
