import { createHash } from 'node:crypto';
import { OID, parseExtendedKeyUsage, parseExtension, oidDer, findExtension, type Certificate } from './certificate.js';
import { CKA, CKO, findBool, isUlong, type Attributes } from './pkcs11.js';
import { labelText, type TrustObject } from './trust-store.js';

/*
 * `trust extract` (p11-kit's extract.c and extract-*.c): which certificates a filter and purpose
 * select from the trust module's objects, in the order the module lists them, and the files it
 * writes. The formats (OpenSSL's TRUSTED CERTIFICATE aux data, Java's JKS, EDK2's signature lists)
 * are small binary layouts no npm library writes the way p11-kit does, so they are written out here.
 */

export type Filter = 'ca-anchors' | 'certificates';

/** A certificate `trust extract` writes, with what its formats read. */
export interface Extracted {
  attrs: Attributes;
  cert: Certificate;
  /** Label bytes, or undefined for none (an empty label reads as none). */
  label: Buffer | undefined;
  /** The attached extensions of its token (same public key), by OID: their extnValue. */
  attached: Map<string, Buffer>;
}

export const PURPOSES = {
  'server-auth': OID.serverAuth,
  email: OID.emailProtection,
  'code-signing': OID.codeSigning,
} as const;
export type Purpose = keyof typeof PURPOSES;

const KNOWN_USAGES = [
  OID.serverAuth, OID.clientAuth, OID.codeSigning, OID.emailProtection, OID.ipsecEndSystem, OID.ipsecTunnel,
  OID.ipsecUser, OID.timeStamping,
];

/**
 * The certificates `trust extract --filter=FILTER [--purpose=P]` writes: X.509 certificate objects
 * (for ca-anchors: of the authority category, trusted, not distrusted and not on the blocklist by
 * public key or issuer and serial), each certificate value once (the first listed that passes the
 * trust check), and, for a purpose, those whose ExtendedKeyUsage (an attached one, else its own)
 * allows it or is absent.
 */
export function enumerate(objects: TrustObject[], filter: Filter, purpose: Purpose | undefined, notes: string[]): Extracted[] {
  const anchors = filter === 'ca-anchors';
  const blockedKeys = new Set<string>();
  const blockedIssuerSerials = new Set<string>();
  if (anchors) {
    for (const { attrs } of objects) {
      if (!findBool(attrs, CKA.X_DISTRUSTED)) continue;
      const issuer = attrs.get(CKA.ISSUER);
      const serial = attrs.get(CKA.SERIAL_NUMBER);
      if (issuer && serial) blockedIssuerSerials.add(issuerSerial(issuer, serial));
      const key = attrs.get(CKA.PUBLIC_KEY_INFO);
      if (key) blockedKeys.add(key.toString('hex'));
    }
  }
  const seen = new Set<string>();
  const out: Extracted[] = [];
  for (const object of objects) {
    const { attrs } = object;
    if (!isUlong(attrs, CKA.CLASS, CKO.CERTIFICATE)) continue;
    if (anchors && !isUlong(attrs, CKA.CERTIFICATE_CATEGORY, 2)) continue;
    const value = attrs.get(CKA.VALUE);
    if (!value || value.length === 0) continue;
    const id = value.toString('hex');
    if (seen.has(id)) continue;
    if (anchors) {
      if (findBool(attrs, CKA.X_DISTRUSTED)) continue;
      const key = attrs.get(CKA.PUBLIC_KEY_INFO);
      const blocked = (key && blockedKeys.has(key.toString('hex')))
        || blockedIssuerSerials.has(issuerSerial(attrs.get(CKA.ISSUER) ?? Buffer.alloc(0), attrs.get(CKA.SERIAL_NUMBER) ?? Buffer.alloc(0)));
      if (blocked || !findBool(attrs, CKA.TRUSTED)) continue;
    }
    seen.add(id);
    if (!object.cert) {
      notes.push(`${object.origin}: ${labelText(attrs)}: couldn't parse certificate; not extracted`);
      continue;
    }
    const attached = attachedExtensions(object, objects, notes);
    if (!attached) continue;
    const eku = attached.get(OID.extendedKeyUsage) ?? findExtension(object.cert, OID.extendedKeyUsage);
    const purposes = eku === undefined ? undefined : parseExtendedKeyUsage(eku);
    if (eku !== undefined && !purposes) {
      notes.push(`${object.origin}: ${labelText(attrs)}: invalid extended key usage; not extracted`);
      continue;
    }
    if (purpose && purposes && !purposes.includes(OID.anyExtendedKeyUsage) && !purposes.includes(PURPOSES[purpose])) continue;
    const label = attrs.get(CKA.LABEL);
    out.push({ attrs, cert: object.cert, label: label && label.length ? label : undefined, attached });
  }
  return out;
}

function issuerSerial(issuer: Buffer, serial: Buffer): string {
  return `${issuer.toString('hex')}/${serial.toString('hex')}`;
}

/**
 * The extension objects of the certificate's token with its public key: the first of each object id,
 * by the OID inside its value. Undefined (and a note) when one does not decode: p11-kit then skips
 * the certificate.
 */
function attachedExtensions(object: TrustObject, objects: TrustObject[], notes: string[]): Map<string, Buffer> | undefined {
  const attached = new Map<string, Buffer>();
  const key = object.attrs.get(CKA.PUBLIC_KEY_INFO);
  if (!key || key.length === 0) return attached;
  const ids = new Set<string>();
  for (const other of objects) {
    if (other.token !== object.token || !isUlong(other.attrs, CKA.CLASS, CKO.X_CERTIFICATE_EXTENSION)) continue;
    if (!other.attrs.get(CKA.PUBLIC_KEY_INFO)?.equals(key)) continue;
    const id = other.attrs.get(CKA.OBJECT_ID)?.toString('hex');
    if (id !== undefined && ids.has(id)) continue;
    if (id !== undefined) ids.add(id);
    try {
      const ext = parseExtension(other.attrs.get(CKA.VALUE) ?? Buffer.alloc(0));
      attached.set(ext.oid, ext.value);
    } catch {
      notes.push(`${other.origin}: couldn't parse attached certificate extension; ${labelText(object.attrs)} not extracted`);
      return undefined;
    }
  }
  return attached;
}

/** PEM with 64-column base64, as p11-kit (and OpenSSL) write it. */
function pem(type: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${type}-----\n${b64}\n-----END ${type}-----\n`;
}

/** `# label` before each block (--comment), a blank line between blocks. */
function commented(list: Extracted[], block: (e: Extracted) => string): Buffer {
  return Buffer.from(list.map((e, i) => `${i ? '\n' : ''}# ${e.label ? e.label.toString('latin1') : 'certificate'}\n${block(e)}`).join(''), 'latin1');
}

/** --format=pem-bundle --comment */
export function pemBundle(list: Extracted[]): Buffer {
  return commented(list, (e) => pem('CERTIFICATE', e.cert.der));
}

/** --format=openssl-bundle --comment: each certificate followed by OpenSSL's CertAux. */
export function opensslBundle(list: Extracted[], notes: string[]): Buffer {
  const written: { e: Extracted; block: string }[] = [];
  for (const e of list) {
    const aux = certAux(e);
    if (aux) written.push({ e, block: pem('TRUSTED CERTIFICATE', Buffer.concat([e.cert.der, aux])) });
    else notes.push(`${labelText(e.attrs)}: invalid trust or reject purposes; left out of the OpenSSL bundle`);
  }
  return commented(written.map((w) => w.e), (e) => written.find((w) => w.e === e)!.block);
}

/**
 * CertAux ::= SEQUENCE { trust SEQUENCE OF OID OPTIONAL, reject [0] SEQUENCE OF OID OPTIONAL,
 * alias UTF8String OPTIONAL, keyid OCTET STRING OPTIONAL, ... } as p11-kit fills it: a distrusted
 * certificate rejects every known purpose (after those of an attached reject extension) and has no
 * trust; an anchor trusts its attached ExtendedKeyUsage's purposes (no trust field without one); any
 * other certificate has an empty trust list. The alias is the label; the key id an attached
 * SubjectKeyIdentifier's value.
 */
function certAux(e: Extracted): Buffer | undefined {
  let trust: string[] | undefined;
  let reject: string[] | undefined;
  const rejectExt = e.attached.get(OID.opensslReject);
  if (rejectExt) {
    reject = parseExtendedKeyUsage(rejectExt);
    if (!reject) return undefined;
  }
  if (findBool(e.attrs, CKA.X_DISTRUSTED)) {
    reject = [...(reject ?? []), ...KNOWN_USAGES];
  } else if (findBool(e.attrs, CKA.TRUSTED)) {
    const ekuExt = e.attached.get(OID.extendedKeyUsage);
    if (ekuExt) {
      trust = parseExtendedKeyUsage(ekuExt);
      if (!trust) return undefined;
    }
  } else trust = [];
  const fields: Buffer[] = [];
  if (trust) fields.push(tlv(0x30, Buffer.concat(trust.map(oidDer))));
  if (reject) fields.push(tlv(0xa0, Buffer.concat(reject.map(oidDer))));
  if (e.label) fields.push(tlv(0x0c, e.label));
  const keyid = e.attached.get(OID.subjectKeyIdentifier);
  if (keyid) fields.push(tlv(0x04, keyid));
  return tlv(0x30, Buffer.concat(fields));
}

function tlv(tag: number, body: Buffer): Buffer {
  let length: number[];
  if (body.length < 0x80) length = [body.length];
  else {
    length = [];
    for (let v = body.length; v > 0; v = Math.floor(v / 256)) length.unshift(v & 0xff);
    length.unshift(0x80 | length.length);
  }
  return Buffer.concat([Buffer.from([tag, ...length]), body]);
}

/**
 * --format=java-cacerts: a JKS keystore (magic FEEDFEED, version 2) of trusted-certificate entries,
 * each with an alias made from the label (ASCII lower-cased, spaces and non-ASCII bytes dropped,
 * "-N" added to repeats; "unlabeled" without one), the entry date, and the DER; then Java's keyed
 * SHA-1 over the password "changeit" (UTF-16BE), "Mighty Aphrodite" and the data. p11-kit dates every
 * entry with the current time, or SOURCE_DATE_EPOCH when set: `epoch` (seconds).
 */
export function javaCacerts(list: Extracted[], epoch: number): Buffer {
  const parts: Buffer[] = [Buffer.from([0xfe, 0xed, 0xfe, 0xed]), u32(2), u32(list.length)];
  const aliases = new Set<string>();
  const millis = Buffer.alloc(8);
  millis.writeBigUInt64BE(BigInt(epoch) * 1000n);
  for (const e of list) {
    const base = Buffer.from([...(e.label ?? Buffer.from('unlabeled'))].filter((c) => c < 0x80 && !isSpace(c))
      .map((c) => (c >= 0x41 && c <= 0x5a ? c + 0x20 : c)));
    let alias = base.toString('latin1');
    for (let n = 1; aliases.has(alias); n++) alias = `${base.toString('latin1')}-${n}`;
    aliases.add(alias);
    const a = Buffer.from(alias, 'latin1');
    parts.push(u32(2), u16(a.length), a, millis, u16(5), Buffer.from('X.509'), u32(e.cert.der.length), e.cert.der);
  }
  const body = Buffer.concat(parts);
  const digest = createHash('sha1').update(Buffer.from('changeit', 'utf16le').swap16()).update('Mighty Aphrodite').update(body).digest();
  return Buffer.concat([body, digest]);
}

/** C's isspace in the C locale. */
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** EFI_CERT_X509_GUID and p11-kit's owner GUID, in the little-endian field layout EFI stores. */
const EFI_CERT_X509 = Buffer.from('a159c0a5e494a74a87b5ab155c2bf072', 'hex');
const P11_KIT_OWNER = Buffer.from('503bdddc05f4fd4396bebd33b1734776', 'hex');

/** --format=edk2-cacerts: one EFI_SIGNATURE_LIST per certificate, each with one signature owned by p11-kit. */
export function edk2Cacerts(list: Extracted[]): Buffer {
  return Buffer.concat(list.flatMap((e) => {
    const header = Buffer.alloc(12);
    const signatureSize = 16 + e.cert.der.length;
    header.writeUInt32LE(28 + signatureSize, 0);
    header.writeUInt32LE(0, 4);
    header.writeUInt32LE(signatureSize, 8);
    return [EFI_CERT_X509, header, P11_KIT_OWNER, e.cert.der];
  }));
}
