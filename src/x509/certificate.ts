import * as asn1js from 'asn1js';
import { CONTEXT, parseDer, UNIVERSAL, type DerNode } from './der.js';

/** The parts of an X.509 certificate that trust policy reads, each as encoded in the certificate. */
export interface Certificate {
  der: Buffer;
  /** 0 for v1 (absent version), 2 for v3. */
  version: number;
  serial: Buffer;
  issuer: Buffer;
  subject: Buffer;
  subjectNode: DerNode;
  publicKeyInfo: Buffer;
  extensions: Extension[];
}

export interface Extension {
  oid: string;
  critical: boolean;
  /** The contents of extnValue (the extension's own DER). */
  value: Buffer;
}

export const OID = {
  basicConstraints: '2.5.29.19',
  extendedKeyUsage: '2.5.29.37',
  subjectKeyIdentifier: '2.5.29.14',
  anyExtendedKeyUsage: '2.5.29.37.0',
  /** p11-kit's extension for purposes an OpenSSL TRUSTED CERTIFICATE rejects. */
  opensslReject: '1.3.6.1.4.1.3319.6.10.1',
  /** p11-kit's placeholder in an ExtendedKeyUsage that must list no purpose. */
  reservedPurpose: '1.3.6.1.4.1.3319.6.10.16',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  ipsecEndSystem: '1.3.6.1.5.5.7.3.5',
  ipsecTunnel: '1.3.6.1.5.5.7.3.6',
  ipsecUser: '1.3.6.1.5.5.7.3.7',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  commonName: '2.5.4.3',
  organizationalUnit: '2.5.4.11',
  organization: '2.5.4.10',
} as const;

const is = (n: DerNode | undefined, tag: number, tagClass = UNIVERSAL): n is DerNode =>
  n !== undefined && n.tagClass === tagClass && n.tagNumber === tag;

/** A certificate's fields; throws an Error saying what is wrong with its DER. */
export function parseCertificate(der: Buffer): Certificate {
  const cert = parseDer(der);
  const [tbs, algorithm, signature] = cert.children;
  if (!is(cert, 16) || cert.children.length !== 3 || !is(tbs, 16) || !is(algorithm, 16) || !is(signature, 3)) {
    throw new Error('not an X.509 certificate (a SEQUENCE of tbsCertificate, algorithm, signature)');
  }
  const fields = [...tbs.children];
  let version = 0;
  if (is(fields[0], 0, CONTEXT)) {
    const v = fields.shift()!.children[0];
    if (!is(v, 2) || v.contents.length !== 1) throw new Error('bad certificate version');
    version = v.contents[0]!;
  }
  const [serial, sigAlg, issuer, validity, subject, spki, ...rest] = fields;
  if (!is(serial, 2) || !is(sigAlg, 16) || !is(issuer, 16) || !is(validity, 16) || !is(subject, 16) || !is(spki, 16)) {
    throw new Error('tbsCertificate lacks a field (serial, signature, issuer, validity, subject, key)');
  }
  let extensions: Extension[] = [];
  for (const node of rest) {
    if (is(node, 3, CONTEXT)) extensions = parseExtensions(node.children[0]);
    else if (!is(node, 1, CONTEXT) && !is(node, 2, CONTEXT)) throw new Error('unexpected field in tbsCertificate');
  }
  return {
    der: Buffer.from(der), version, serial: Buffer.from(serial.tlv), issuer: Buffer.from(issuer.tlv),
    subject: Buffer.from(subject.tlv), subjectNode: subject, publicKeyInfo: Buffer.from(spki.tlv), extensions,
  };
}

function parseExtensions(seq: DerNode | undefined): Extension[] {
  if (!is(seq, 16)) throw new Error('extensions are not a SEQUENCE');
  return seq.children.map(parseExtensionNode);
}

function parseExtensionNode(ext: DerNode): Extension {
  const [id, second, third] = ext.children;
  const value = third ?? second;
  const critical = third !== undefined && is(second, 1) && second.contents[0] !== 0;
  if (!is(ext, 16) || !is(id, 6) || !is(value, 4) || (third !== undefined && !is(second, 1)) || ext.children.length > 3) {
    throw new Error('an extension is not a SEQUENCE of extnID, critical, extnValue');
  }
  return { oid: oidString(id), critical, value: Buffer.from(value.contents) };
}

/** A whole Extension (the CKA_VALUE of p11-kit's attached extension objects). */
export function parseExtension(der: Buffer): Extension {
  return parseExtensionNode(parseDer(der));
}

/** The extnValue of the first extension with this OID. */
export function findExtension(cert: Certificate, oid: string): Buffer | undefined {
  return cert.extensions.find((e) => e.oid === oid)?.value;
}

export function oidString(node: DerNode): string {
  const { result } = asn1js.fromBER(node.tlv);
  if (!(result instanceof asn1js.ObjectIdentifier)) throw new Error('not an OBJECT IDENTIFIER');
  return result.getValue();
}

/** The DER of an OID given in dotted form. */
export function oidDer(oid: string): Buffer {
  return Buffer.from(new asn1js.ObjectIdentifier({ value: oid }).toBER(false));
}

/**
 * The purposes of an ExtendedKeyUsage (a SEQUENCE OF OBJECT IDENTIFIER), in order, without p11-kit's
 * reserved placeholder; undefined if it does not decode.
 */
export function parseExtendedKeyUsage(value: Buffer): string[] | undefined {
  try {
    const seq = parseDer(value);
    if (!is(seq, 16) || !seq.children.every((c) => is(c, 6))) return undefined;
    return seq.children.map(oidString).filter((o) => o !== OID.reservedPurpose);
  } catch {
    return undefined;
  }
}

/** cA of a BasicConstraints; undefined if it does not decode. */
export function parseBasicConstraints(value: Buffer): boolean | undefined {
  try {
    const seq = parseDer(value);
    if (!is(seq, 16) || seq.children.length > 2) return undefined;
    const [first, second] = seq.children;
    if (first === undefined) return false;
    if (is(first, 1)) return second === undefined || is(second, 2) ? first.contents[0] !== 0 : undefined;
    return is(first, 2) && second === undefined ? false : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The first value of an attribute in a Name, as UTF-8 text (p11-kit's label for a certificate without
 * one: the subject's CN, else OU, else O). The string types p11-kit reads are UTF8String,
 * NumericString, IA5String, TeletexString and PrintableString (taken as UTF-8), UniversalString and
 * BMPString; a value that is none of them, or not valid text, gives undefined.
 */
export function nameAttribute(name: DerNode, oid: string): string | undefined {
  for (const rdn of name.children) {
    for (const atv of rdn.children) {
      const [type, value] = atv.children;
      if (!type || !is(type, 6) || oidString(type) !== oid) continue;
      return value ? directoryString(value) : undefined;
    }
  }
  return undefined;
}

function directoryString(value: DerNode): string | undefined {
  if (value.tagClass !== UNIVERSAL || value.constructed) return undefined;
  const bytes = Buffer.from(value.contents);
  try {
    switch (value.tagNumber) {
      case 12: case 18: case 22: case 20: case 19: {
        const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
        // p11-kit copies the string with strndup: it ends at a NUL.
        return text.split('\0')[0];
      }
      case 28: return ucs(bytes, 4);
      case 30: return ucs(bytes, 2);
      default: return undefined;
    }
  } catch {
    return undefined;
  }
}

function ucs(bytes: Buffer, width: 2 | 4): string | undefined {
  if (bytes.length % width !== 0) return undefined;
  const codes: number[] = [];
  for (let i = 0; i < bytes.length; i += width) {
    const c = width === 2 ? bytes.readUInt16BE(i) : bytes.readUInt32BE(i);
    if (c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return undefined;
    codes.push(c);
  }
  return String.fromCodePoint(...codes).split('\0')[0];
}
