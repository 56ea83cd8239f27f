import { x509NameHash } from './name-hash.js';
import { readPemObject } from './pem.js';

/** A file in a certificate directory, with its content (a symbolic link's: what it points at). */
export interface DirectoryFile {
  name: string;
  content: Buffer;
}

export interface RehashResult {
  /** `HASH.N` (certificates) and `HASH.rN` (CRLs) links, each to the name of a file in the directory. */
  links: { name: string; target: string }[];
  /** Files with a certificate extension that get no link, and why. */
  skipped: { name: string; reason: string }[];
}

const EXTENSIONS = new Set(['pem', 'crt', 'cer', 'crl']);
const MAX_COLLISIONS = 256;

/** Whether `openssl rehash` reads a file of this name: by its extension, in any case. */
export function isRehashed(name: string): boolean {
  const dot = name.lastIndexOf('.');
  return dot >= 0 && EXTENSIONS.has(name.slice(dot + 1).toLowerCase());
}

/**
 * The links `openssl rehash DIR` makes in a directory that has none yet: for each file named *.pem,
 * *.crt, *.cer or *.crl holding exactly one certificate (or CRL), a link named by the hash of its
 * subject (issuer) with the lowest free number, files being taken in byte order of their names.
 * A second file with the very same certificate under the same hash gets no link, as in rehash.
 *
 * rehash itself takes the files in the order the directory lists them (it means to sort them but its
 * list has no comparison function), so which of two certificates with the same subject gets `.0`
 * depends on the file system it runs on; byte order is what a sorted listing gives, and is stable.
 */
export function rehashLinks(files: DirectoryFile[]): RehashResult {
  const buckets = new Map<string, { target: string; sha1: Buffer }[]>();
  const skipped: RehashResult['skipped'] = [];
  const sorted = [...files].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  for (const file of sorted) {
    if (!isRehashed(file.name)) continue;
    const reading = readPemObject(file.content);
    if ('skipped' in reading) {
      skipped.push({ name: file.name, reason: reading.skipped });
      continue;
    }
    const { kind, name, sha1 } = reading.object;
    let hash: string;
    try {
      hash = x509NameHash(name);
    } catch (e) {
      skipped.push({ name: file.name, reason: `its ${kind === 'crl' ? 'issuer' : 'subject'} name cannot be canonicalised (${(e as Error).message})` });
      continue;
    }
    const key = `${hash}.${kind === 'crl' ? 'r' : ''}`;
    const bucket = buckets.get(key) ?? [];
    buckets.set(key, bucket);
    if (bucket.some((e) => e.sha1.equals(sha1))) {
      skipped.push({ name: file.name, reason: `duplicate of the ${kind} already linked as ${key}${bucket.findIndex((e) => e.sha1.equals(sha1))}` });
      continue;
    }
    if (bucket.length >= MAX_COLLISIONS) throw new Error(`rehash: more than ${MAX_COLLISIONS} files with hash ${hash}`);
    bucket.push({ target: file.name, sha1 });
  }
  const links = [...buckets].flatMap(([key, bucket]) => bucket.map((e, n) => ({ name: `${key}${n}`, target: e.target })));
  links.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  return { links, skipped };
}
