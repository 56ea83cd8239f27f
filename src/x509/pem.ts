import { createHash } from 'node:crypto';
import { CONTEXT, parseDer, UNIVERSAL, type DerNode } from './der.js';

/** What `openssl rehash` links a file by: a certificate's subject or a CRL's issuer, and its SHA-1. */
export interface HashedObject {
  kind: 'certificate' | 'crl';
  name: DerNode;
  /** SHA-1 of the DER: rehash skips a file whose object it has already linked under the same hash. */
  sha1: Buffer;
}

export type PemReading = { object: HashedObject } | { skipped: string };

const CERTIFICATE_LABELS = new Set(['CERTIFICATE', 'X509 CERTIFICATE', 'TRUSTED CERTIFICATE']);
const CRL_LABEL = 'X509 CRL';
const BLOCK = /^-----BEGIN ([^\n-]*)-----\r?\n([\s\S]*?)^-----END \1-----/gm;

/**
 * The one certificate or CRL of a PEM file, as `openssl rehash` reads it: a file with none, or with
 * more than one, or with one that does not decode is skipped (rehash says so for the first two and
 * skips the third silently). Blocks of other kinds (keys, parameters) do not count.
 */
export function readPemObject(content: Buffer): PemReading {
  const text = content.toString('latin1');
  const objects: HashedObject[] = [];
  for (const [, label = '', body = ''] of text.matchAll(BLOCK)) {
    const kind = CERTIFICATE_LABELS.has(label) ? 'certificate' : label === CRL_LABEL ? 'crl' : undefined;
    if (!kind) continue;
    if (/^[\w-]+:/m.test(body)) return { skipped: `its ${label} block has PEM headers (encrypted?)` };
    const der = Buffer.from(body.replace(/\s+/g, ''), 'base64');
    try {
      objects.push(decode(kind, der, label === 'TRUSTED CERTIFICATE'));
    } catch (e) {
      return { skipped: `its ${label} does not decode (${(e as Error).message})` };
    }
  }
  if (objects.length !== 1) return { skipped: `it does not contain exactly one certificate or CRL (${objects.length})` };
  return { object: objects[0]! };
}

/** The name a certificate or CRL is hashed by; `trusted`: OpenSSL's trust settings follow the certificate. */
function decode(kind: HashedObject['kind'], der: Buffer, trusted: boolean): HashedObject {
  const node = trusted ? leadingElement(der) : parseDer(der);
  const tbs = node.children[0];
  if (node.tagClass !== UNIVERSAL || node.tagNumber !== 16 || !tbs || tbs.tagNumber !== 16) throw new Error('not a signed SEQUENCE');
  let name: DerNode | undefined;
  if (kind === 'certificate') {
    // [0] version, serialNumber, signature, issuer, validity, subject
    const first = tbs.children[0];
    const versioned = first !== undefined && first.tagClass === CONTEXT && first.tagNumber === 0;
    name = tbs.children[versioned ? 5 : 4];
  } else {
    // version (INTEGER, optional), signature, issuer
    const first = tbs.children[0];
    const versioned = first !== undefined && first.tagClass === UNIVERSAL && first.tagNumber === 2;
    name = tbs.children[versioned ? 2 : 1];
  }
  if (!name) throw new Error(`no ${kind === 'certificate' ? 'subject' : 'issuer'}`);
  return { kind, name, sha1: createHash('sha1').update(node.tlv).digest() };
}

/** A TRUSTED CERTIFICATE is the certificate followed by OpenSSL's trust attributes: the first element. */
function leadingElement(der: Buffer): DerNode {
  if (der.length < 2) throw new Error('too short');
  const lengthByte = der[1]!;
  let end: number;
  if (lengthByte < 0x80) end = 2 + lengthByte;
  else {
    const count = lengthByte & 0x7f;
    if (count === 0 || count > 4 || der.length < 2 + count) throw new Error('bad length');
    end = 2 + count + der.readUIntBE(2, count);
  }
  if (end > der.length) throw new Error('truncated');
  return parseDer(der.subarray(0, end));
}
