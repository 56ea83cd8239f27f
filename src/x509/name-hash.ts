import { createHash } from 'node:crypto';
import { encodeDer, UNIVERSAL, type DerNode } from './der.js';

/*
 * OpenSSL's X509_NAME_hash, the name of the links `openssl rehash` makes (and the name OpenSSL's
 * lookup in a certificate directory looks for). It is not a hash of the name as encoded but of
 * OpenSSL's own canonical form of it, which no ASN.1 library produces, so it is written out here:
 *
 * - each attribute value of one of the string types below becomes a UTF8String, with ASCII
 *   whitespace trimmed at both ends, runs of it collapsed to one space, and ASCII letters lower-cased
 *   (other values are kept as encoded);
 * - each RDN is DER-encoded as a SET OF (elements sorted by their encoding), and the RDNs are
 *   concatenated without the outer SEQUENCE;
 * - the hash is the first four bytes of the SHA-1 of that, read as a little-endian number.
 */

/**
 * Universal tags OpenSSL reads as an attribute value (its ASN1_PRINTABLE: the string types, BIT STRING,
 * SEQUENCE and the tags it has no type for); a name with any other value (VisibleString among them, or
 * a tag not of the universal class) does not decode, so OpenSSL has no hash for it.
 */
const READ = new Set([3, 7, 8, 9, 11, 12, 13, 14, 15, 16, 18, 19, 20, 22, 28, 29, 30]);

/** The tags of those it canonicalises, with their bytes per character (0: UTF-8). */
const CANONICALISED = new Map<number, 0 | 1 | 2 | 4>([
  [12, 0], // UTF8String
  [19, 1], // PrintableString
  [20, 1], // T61String (each byte read as the character of that code, as OpenSSL does)
  [22, 1], // IA5String
  [28, 4], // UniversalString (UCS-4, big-endian)
  [30, 2], // BMPString (UCS-2, big-endian)
]);

/** The 8 lower-case hex digits OpenSSL names a certificate's subject (or a CRL's issuer) by. */
export function x509NameHash(name: DerNode): string {
  const md = createHash('sha1').update(canonicalName(name)).digest();
  return md.readUInt32LE(0).toString(16).padStart(8, '0');
}

/** OpenSSL's canonical encoding of a Name (a SEQUENCE OF RDN, each a SET OF AttributeTypeAndValue). */
export function canonicalName(name: DerNode): Buffer {
  if (!isUniversal(name, 16)) throw new Error('a Name is not a SEQUENCE');
  const rdns: Buffer[] = [];
  for (const rdn of name.children) {
    if (!isUniversal(rdn, 17)) throw new Error('an RDN is not a SET');
    if (rdn.children.length === 0) continue; // an empty RDN has no entries, so OpenSSL has nothing to encode
    const entries = rdn.children.map((atv) => {
      const [type, value] = atv.children;
      if (!isUniversal(atv, 16) || atv.children.length !== 2 || !type || !value || !isUniversal(type, 6)) {
        throw new Error('an attribute is not a SEQUENCE of an OBJECT IDENTIFIER and a value');
      }
      return encodeDer(0x30, Buffer.concat([type.tlv, canonicalValue(value)]));
    });
    // DER orders a SET OF by the elements' encodings (byte-wise, a prefix first).
    entries.sort(Buffer.compare);
    rdns.push(encodeDer(0x31, Buffer.concat(entries)));
  }
  return Buffer.concat(rdns);
}

function isUniversal(node: DerNode, tag: number): boolean {
  return node.tagClass === UNIVERSAL && node.tagNumber === tag;
}

/** One attribute value as OpenSSL canonicalises it (asn1_string_canon). */
function canonicalValue(value: DerNode): Buffer {
  if (value.tagClass !== UNIVERSAL || !READ.has(value.tagNumber)) throw new Error(`an attribute value has a type OpenSSL does not read (tag ${value.tagNumber})`);
  const width = value.constructed ? undefined : CANONICALISED.get(value.tagNumber);
  if (width === undefined) return Buffer.from(value.tlv); // kept as encoded
  const utf8 = toUtf8(value.contents, width);
  // Byte-wise on the UTF-8, as OpenSSL does: bytes of multi-byte characters are never spaces or letters.
  let start = 0;
  let end = utf8.length;
  while (start < end && isSpace(utf8[start]!)) start++;
  while (end > start && isSpace(utf8[end - 1]!)) end--;
  const out: number[] = [];
  for (let i = start; i < end; i++) {
    const c = utf8[i]!;
    if (isSpace(c)) {
      if (!isSpace(utf8[i - 1]!)) out.push(0x20);
    } else out.push(c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
  }
  return encodeDer(0x0c, Buffer.from(out));
}

/** The C locale's isspace: tab, line feed, vertical tab, form feed, carriage return, space. */
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/** The string as UTF-8; OpenSSL gives up on a name whose strings do not convert, and so does this. */
function toUtf8(contents: Uint8Array, width: 0 | 1 | 2 | 4): Buffer {
  if (width === 0) {
    new TextDecoder('utf-8', { fatal: true }).decode(contents); // throws on malformed UTF-8
    return Buffer.from(contents);
  }
  if (contents.length % width !== 0) throw new Error(`a ${width}-byte string has ${contents.length} bytes`);
  const codes: number[] = [];
  const view = new DataView(contents.buffer, contents.byteOffset, contents.byteLength);
  for (let i = 0; i < contents.length; i += width) {
    const code = width === 1 ? view.getUint8(i) : width === 2 ? view.getUint16(i) : view.getUint32(i);
    if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) throw new Error(`character U+${code.toString(16)} is not valid`);
    codes.push(code);
  }
  return Buffer.from(String.fromCodePoint(...codes), 'utf8');
}
