import { parseDer } from './der.js';
import {
  findExtension, nameAttribute, oidDer, oidString, OID, parseBasicConstraints, parseCertificate, parseExtension,
  type Certificate,
} from './certificate.js';
import { P11StringSet } from './p11-dict-order.js';
import { isPersist, readPersist } from './p11-kit-persist.js';
import { pemBlocks } from './p11-kit-pem.js';
import { bool, CKA, CKC_X_509, CKO, findBool, findUlong, isUlong, ulong, type Attributes } from './pkcs11.js';

/*
 * What p11-kit's trust module (the p11-kit-trust.so that `trust extract` reads) makes of its trust
 * sources: each configured path is a token, loaded from the files directly in it, then those in its
 * `anchors/` (every certificate trusted) and `blocklist/` (every certificate distrusted) folders. A
 * file is read as a persist (.p11-kit) file, else as one DER certificate, else as PEM (CERTIFICATE and
 * OpenSSL's TRUSTED CERTIFICATE blocks). Each object is then completed as the module's builder does
 * (label from the subject, key, issuer, serial, certificate category).
 */

export type SourceKind = 'plain' | 'anchor' | 'blocklist';

/** One file of a token, in the order the module loads it. */
export interface SourceFile {
  /** The path as notes name it. */
  path: string;
  kind: SourceKind;
  content: Buffer;
}

/** An object of a token, in load order (the module's handle order). */
export interface TrustObject {
  token: number;
  origin: string;
  attrs: Attributes;
  /** The decoded certificate of a certificate object with a valid value. */
  cert?: Certificate;
}

/** Loads the tokens (each a list of files in load order) into objects; `notes` gets p11-kit's complaints. */
export function loadTokens(tokens: SourceFile[][], notes: string[]): TrustObject[] {
  const objects: TrustObject[] = [];
  tokens.forEach((files, token) => {
    const start = objects.length;
    for (const file of files) {
      let parsed: Attributes[];
      try {
        parsed = parseSource(file, notes);
      } catch (e) {
        // Every reader above refuses bad input with a note; this is a last guard, not a path.
        notes.push(`${file.path}: could not be read (${(e as Error).message}); skipped`);
        continue;
      }
      for (const attrs of parsed) {
        const refused = checkSchema(attrs);
        if (refused) {
          // The module stops storing a file's objects at the first it refuses.
          notes.push(`${file.path}: ${refused}; this object and the rest of the file are not loaded`);
          break;
        }
        objects.push({ token, origin: file.path, attrs });
      }
    }
    complete(objects.slice(start), notes);
  });
  return objects;
}

/** The objects of one file, with the trust its location gives certificates. */
function parseSource(file: SourceFile, notes: string[]): Attributes[] {
  const { content, path } = file;
  let parsed: Attributes[] | undefined;
  if (isPersist(content)) {
    const reading = readPersist(content);
    if ('objects' in reading) parsed = reading.objects;
    else notes.push(`${path}: ${reading.error}; read as a plain certificate file instead, as p11-kit does`);
  }
  if (!parsed) parsed = derCertificate(content);
  if (!parsed) parsed = pemFile(content, path, notes);
  if (!parsed) {
    if (!/(^|\/)README$/.test(path)) notes.push(`${path}: neither a p11-kit, DER nor PEM file; skipped`);
    return [];
  }
  return parsed.map((attrs) => (isUlong(attrs, CKA.CLASS, CKO.CERTIFICATE) ? withTrust(attrs, file, notes) : attrs));
}

function derCertificate(content: Buffer): Attributes[] | undefined {
  try {
    parseCertificate(content);
  } catch {
    return undefined;
  }
  return [certificateAttrs(content)];
}

function certificateAttrs(der: Buffer): Attributes {
  return new Map([
    [CKA.CLASS, ulong(CKO.CERTIFICATE)], [CKA.MODIFIABLE, bool(false)],
    [CKA.CERTIFICATE_TYPE, ulong(CKC_X_509)], [CKA.VALUE, Buffer.from(der)],
  ]);
}

function pemFile(content: Buffer, path: string, notes: string[]): Attributes[] | undefined {
  const blocks = pemBlocks(content);
  if (blocks.length === 0) return undefined;
  const objects: Attributes[] = [];
  for (const block of blocks) {
    if (block.type === 'CERTIFICATE') {
      if (derCertificate(block.data)) objects.push(certificateAttrs(block.data));
      else notes.push(`${path}: a CERTIFICATE block does not decode; skipped`);
    } else if (block.type === 'TRUSTED CERTIFICATE') {
      const trusted = trustedCertificate(block.data);
      if (trusted) objects.push(...trusted);
      else notes.push(`${path}: a TRUSTED CERTIFICATE block does not decode; skipped`);
    }
  }
  return objects;
}

/**
 * OpenSSL's TRUSTED CERTIFICATE: the certificate, then optionally its CertAux (trust and reject
 * purposes, alias, key id), which p11-kit turns into attached extensions: an ExtendedKeyUsage of the
 * trusted purposes (a CertAux without any makes the certificate distrusted), its reject extension,
 * and the key id as a SubjectKeyIdentifier.
 */
function trustedCertificate(data: Buffer): Attributes[] | undefined {
  let cert: Certificate;
  let aux: ReturnType<typeof parseCertAux> | undefined;
  try {
    const first = parseDer(data.subarray(0, tlvLength(data)));
    cert = parseCertificate(Buffer.from(first.tlv));
    if (cert.der.length < data.length) aux = parseCertAux(data.subarray(cert.der.length));
  } catch {
    return undefined;
  }
  const attrs = certificateAttrs(cert.der);
  if (!aux) return [attrs];
  const objects: Attributes[] = [];
  if (aux.alias !== undefined) attrs.set(CKA.LABEL, aux.alias);
  // p11-kit keeps both lists in hash tables, and writes them in the tables' order.
  const trustSet = new P11StringSet();
  for (const o of aux.trust) trustSet.add(o);
  const rejectSet = aux.reject && new P11StringSet();
  for (const o of aux.reject ?? []) rejectSet!.add(o);
  for (const o of rejectSet?.keys() ?? []) trustSet.delete(o);
  const rejects = rejectSet?.keys();
  const trusts = trustSet.keys();
  const attach = (oid: string, critical: boolean, value: Buffer) => {
    objects.push(extensionAttrs(cert.publicKeyInfo, oid, critical, value));
  };
  attach(OID.extendedKeyUsage, true, oidSequence(trusts.length ? trusts : [OID.reservedPurpose]));
  if (rejects && rejects.length > 0) attach(OID.opensslReject, false, oidSequence(rejects));
  attrs.set(CKA.TRUSTED, bool(trusts.length > 0));
  attrs.set(CKA.X_DISTRUSTED, bool(trusts.length === 0));
  if (aux.keyid) objects.push(extensionAttrs(cert.publicKeyInfo, OID.subjectKeyIdentifier, false, aux.keyid));
  return [...objects, attrs];
}

function tlvLength(data: Buffer): number {
  if (data.length < 2) throw new Error('short');
  const l = data[1]!;
  if (l < 0x80) return 2 + l;
  const n = l & 0x7f;
  if (n === 0 || n > 4 || data.length < 2 + n) throw new Error('bad length');
  return 2 + n + data.readUIntBE(2, n);
}

function parseCertAux(der: Buffer): { trust: string[]; reject?: string[]; alias?: Buffer; keyid?: Buffer } {
  const seq = parseDer(der);
  if (seq.tagClass !== 0 || seq.tagNumber !== 16) throw new Error('CertAux is not a SEQUENCE');
  const out: { trust: string[]; reject?: string[]; alias?: Buffer; keyid?: Buffer } = { trust: [] };
  const oids = (n: typeof seq) => n.children.map((c) => {
    if (c.tagClass !== 0 || c.tagNumber !== 6) throw new Error('not an OID');
    return oidString(c);
  });
  let stage = 0;
  for (const n of seq.children) {
    if (stage < 1 && n.tagClass === 0 && n.tagNumber === 16) { out.trust = oids(n); stage = 1; }
    else if (stage < 2 && n.tagClass === 2 && n.tagNumber === 0) { out.reject = oids(n); stage = 2; }
    else if (stage < 3 && n.tagClass === 0 && n.tagNumber === 12) { out.alias = Buffer.from(n.contents); stage = 3; }
    // p11-kit keeps the key id as encoded (an OCTET STRING), the SubjectKeyIdentifier's own form.
    else if (stage < 4 && n.tagClass === 0 && n.tagNumber === 4) { out.keyid = Buffer.from(n.tlv); stage = 4; }
    else if (stage < 5 && n.tagClass === 2 && n.tagNumber === 1) stage = 5;
    else throw new Error('unexpected CertAux field');
  }
  return out;
}

function oidSequence(oids: string[]): Buffer {
  return derSequence(oids.map(oidDer));
}

function derSequence(items: Buffer[], tag = 0x30): Buffer {
  const body = Buffer.concat(items);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** An attached-extension object as p11-kit's parser makes it. */
function extensionAttrs(publicKeyInfo: Buffer, oid: string, critical: boolean, value: Buffer): Attributes {
  const ext = derSequence([oidDer(oid), ...(critical ? [Buffer.from([0x01, 0x01, 0xff])] : []), derSequence([value], 0x04)]);
  return new Map([
    [CKA.PUBLIC_KEY_INFO, Buffer.from(publicKeyInfo)], [CKA.CLASS, ulong(CKO.X_CERTIFICATE_EXTENSION)],
    [CKA.MODIFIABLE, bool(false)], [CKA.OBJECT_ID, oidDer(oid)], [CKA.VALUE, ext],
  ]);
}

/**
 * The trust a certificate's location gives it: in anchors/ trusted (unless it says it is
 * distrusted, which p11-kit keeps and warns about), in blocklist/ distrusted, elsewhere what the
 * file says, untrusted by default.
 */
function withTrust(attrs: Attributes, file: SourceFile, notes: string[]): Attributes {
  if (file.kind === 'anchor') {
    if (findBool(attrs, CKA.X_DISTRUSTED)) {
      notes.push(`${file.path}: certificate with distrust in location for anchors; kept distrusted`);
      return attrs;
    }
    attrs.set(CKA.TRUSTED, bool(true));
    attrs.set(CKA.X_DISTRUSTED, bool(false));
  } else if (file.kind === 'blocklist') {
    attrs.set(CKA.TRUSTED, bool(false));
    attrs.set(CKA.X_DISTRUSTED, bool(true));
  } else {
    if (!attrs.has(CKA.TRUSTED)) attrs.set(CKA.TRUSTED, bool(false));
    if (!attrs.has(CKA.X_DISTRUSTED)) attrs.set(CKA.X_DISTRUSTED, bool(false));
  }
  return attrs;
}

const COMMON = [CKA.CLASS, CKA.TOKEN, CKA.MODIFIABLE, CKA.PRIVATE, CKA.LABEL];
const SCHEMAS = new Map<number, { allowed: Set<number>; required: number[] }>([
  [CKO.CERTIFICATE, {
    allowed: new Set([...COMMON, CKA.CERTIFICATE_TYPE, CKA.TRUSTED, CKA.X_DISTRUSTED, CKA.NSS_MOZILLA_CA_POLICY,
      CKA.NSS_SERVER_DISTRUST_AFTER, CKA.NSS_EMAIL_DISTRUST_AFTER, CKA.CERTIFICATE_CATEGORY, CKA.CHECK_VALUE,
      CKA.START_DATE, CKA.END_DATE, CKA.SUBJECT, CKA.ID, CKA.ISSUER, CKA.SERIAL_NUMBER, CKA.VALUE, CKA.URL,
      CKA.HASH_OF_SUBJECT_PUBLIC_KEY, CKA.HASH_OF_ISSUER_PUBLIC_KEY, CKA.JAVA_MIDP_SECURITY_DOMAIN, CKA.PUBLIC_KEY_INFO]),
    required: [CKA.CERTIFICATE_TYPE],
  }],
  [CKO.X_CERTIFICATE_EXTENSION, {
    allowed: new Set([...COMMON, CKA.VALUE, CKA.PUBLIC_KEY_INFO, CKA.OBJECT_ID, CKA.ID]),
    required: [CKA.VALUE, CKA.PUBLIC_KEY_INFO],
  }],
  [CKO.DATA, { allowed: new Set([...COMMON, CKA.VALUE, CKA.APPLICATION, CKA.OBJECT_ID]), required: [] }],
  [CKO.NSS_TRUST, {
    allowed: new Set([...COMMON, CKA.CERT_SHA1_HASH, CKA.CERT_MD5_HASH, CKA.ISSUER, CKA.SUBJECT, CKA.SERIAL_NUMBER,
      ...Array.from({ length: 16 }, (_, i) => 0xce536351 + i), CKA.ID]),
    required: [],
  }],
  [CKO.NSS_BUILTIN_ROOT_LIST, { allowed: new Set(COMMON), required: [] }],
  [CKO.X_TRUST_ASSERTION, {
    allowed: new Set([...COMMON, CKA.X_PURPOSE, CKA.X_CERTIFICATE_VALUE, CKA.X_ASSERTION_TYPE, CKA.ISSUER,
      CKA.SERIAL_NUMBER, CKA.X_PEER, CKA.ID]),
    required: [CKA.X_PURPOSE, CKA.X_ASSERTION_TYPE],
  }],
]);

/** Why the module's builder refuses to store an object (p11_builder_build while loading), if it does. */
function checkSchema(attrs: Attributes): string | undefined {
  const klass = findUlong(attrs, CKA.CLASS);
  if (klass === undefined) return 'an object has no class';
  const schema = SCHEMAS.get(Number(klass));
  if (!schema) return `an object has an unsupported class (${klass})`;
  if (klass === BigInt(CKO.CERTIFICATE)) {
    const type = findUlong(attrs, CKA.CERTIFICATE_TYPE);
    if (type === undefined) return 'a certificate has no certificate-type';
    if (type !== BigInt(CKC_X_509)) return 'a certificate is not X.509';
  }
  for (const type of attrs.keys()) {
    if (!schema.allowed.has(type)) return `attribute 0x${type.toString(16)} is not valid for the object`;
  }
  const missing = schema.required.find((t) => !attrs.has(t));
  return missing === undefined ? undefined : `an object lacks required attribute 0x${missing.toString(16)}`;
}

/**
 * The attributes the builder adds to a token's objects where the file did not give them: for a
 * certificate its label (subject CN, else OU, else O), public key info, issuer, subject and serial,
 * and its category (authority when a BasicConstraints, attached or its own, says cA, or for a
 * self-signed v1 certificate); for an extension its object id.
 */
function complete(objects: TrustObject[], notes: string[]): void {
  const extensions = objects.filter((o) => isUlong(o.attrs, CKA.CLASS, CKO.X_CERTIFICATE_EXTENSION));
  for (const ext of extensions) {
    if (ext.attrs.has(CKA.OBJECT_ID)) continue;
    try {
      ext.attrs.set(CKA.OBJECT_ID, oidDer(parseExtension(ext.attrs.get(CKA.VALUE)!).oid));
    } catch {
      notes.push(`${ext.origin}: an attached certificate extension does not decode`);
    }
  }
  for (const object of objects) {
    const { attrs } = object;
    if (!isUlong(attrs, CKA.CLASS, CKO.CERTIFICATE)) continue;
    const value = attrs.get(CKA.VALUE);
    let cert: Certificate | undefined;
    if (value && value.length > 0) {
      try {
        cert = parseCertificate(value);
        object.cert = cert;
      } catch (e) {
        notes.push(`${object.origin}: a certificate does not decode (${(e as Error).message})`);
      }
    }
    const setDefault = (type: number, v: Buffer | undefined) => {
      if (v !== undefined && !attrs.has(type)) attrs.set(type, v);
    };
    if (!attrs.has(CKA.LABEL)) {
      const subject = cert?.subjectNode;
      const label = subject && (nameAttribute(subject, OID.commonName) ?? nameAttribute(subject, OID.organizationalUnit)
        ?? nameAttribute(subject, OID.organization));
      attrs.set(CKA.LABEL, Buffer.from(label ?? '', 'utf8'));
    }
    setDefault(CKA.TRUSTED, bool(false));
    setDefault(CKA.X_DISTRUSTED, bool(false));
    setDefault(CKA.PUBLIC_KEY_INFO, cert?.publicKeyInfo);
    setDefault(CKA.ISSUER, cert ? cert.issuer : Buffer.alloc(0));
    setDefault(CKA.SUBJECT, cert?.subject);
    setDefault(CKA.SERIAL_NUMBER, cert ? cert.serial : Buffer.alloc(0));
    setDefault(CKA.VALUE, Buffer.alloc(0));
    if (!attrs.has(CKA.CERTIFICATE_CATEGORY)) attrs.set(CKA.CERTIFICATE_CATEGORY, ulong(category(object, extensions, notes)));
  }
}

function category(object: TrustObject, extensions: TrustObject[], notes: string[]): number {
  const { attrs, cert } = object;
  const key = attrs.get(CKA.PUBLIC_KEY_INFO);
  const bcOid = oidDer(OID.basicConstraints);
  const attached = key && extensions.find((e) => e.attrs.get(CKA.PUBLIC_KEY_INFO)?.equals(key) && e.attrs.get(CKA.OBJECT_ID)?.equals(bcOid));
  let bc: Buffer | undefined;
  if (attached) {
    try {
      bc = parseExtension(attached.attrs.get(CKA.VALUE)!).value;
    } catch {
      return 0;
    }
  } else if (cert) bc = findExtension(cert, OID.basicConstraints);
  if (bc) {
    const ca = parseBasicConstraints(bc);
    if (ca === undefined) {
      notes.push(`${object.origin}: ${labelText(attrs)}: invalid basic constraints certificate extension`);
      return 0;
    }
    return ca ? 2 : 3;
  }
  if (cert && cert.version === 0 && cert.subject.equals(cert.issuer)) return 2;
  return attrs.get(CKA.VALUE)?.length ? 3 : 0;
}

export function labelText(attrs: Attributes): string {
  const label = attrs.get(CKA.LABEL);
  return label && label.length ? label.toString('utf8') : 'certificate';
}
