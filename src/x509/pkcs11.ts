/**
 * The PKCS#11 attributes p11-kit's trust module keeps for each object, as the module stores them on a
 * 64-bit host: a CK_ULONG is 8 bytes little-endian, a CK_BBOOL one byte. Objects are kept as
 * attribute type → value bytes, so that checks read them the way p11-kit does (a "boolean" is any
 * one-byte value, a number any eight-byte one).
 */
export type Attributes = Map<number, Buffer>;

const X_VENDOR = 0xd8444700; // CKA_VENDOR_DEFINED | "XDG"
const NSS = 0xce534350;

export const CKA = {
  CLASS: 0x0, TOKEN: 0x1, PRIVATE: 0x2, LABEL: 0x3, APPLICATION: 0x10, VALUE: 0x11, OBJECT_ID: 0x12,
  CERTIFICATE_TYPE: 0x80, ISSUER: 0x81, SERIAL_NUMBER: 0x82, TRUSTED: 0x86, CERTIFICATE_CATEGORY: 0x87,
  JAVA_MIDP_SECURITY_DOMAIN: 0x88, URL: 0x89, HASH_OF_SUBJECT_PUBLIC_KEY: 0x8a, HASH_OF_ISSUER_PUBLIC_KEY: 0x8b,
  CHECK_VALUE: 0x90, SUBJECT: 0x101, ID: 0x102, START_DATE: 0x110, END_DATE: 0x111, PUBLIC_KEY_INFO: 0x129,
  MODIFIABLE: 0x170,
  NSS_MOZILLA_CA_POLICY: NSS + 0x22, NSS_SERVER_DISTRUST_AFTER: NSS + 0x23, NSS_EMAIL_DISTRUST_AFTER: NSS + 0x24,
  CERT_SHA1_HASH: 0xce5363b4, CERT_MD5_HASH: 0xce5363b5,
  X_ASSERTION_TYPE: X_VENDOR + 1, X_CERTIFICATE_VALUE: X_VENDOR + 2, X_PURPOSE: X_VENDOR + 3, X_PEER: X_VENDOR + 4,
  X_DISTRUSTED: X_VENDOR + 100, X_CRITICAL: X_VENDOR + 101,
} as const;

export const CKO = {
  DATA: 0, CERTIFICATE: 1, NSS_TRUST: 0xce534353, NSS_BUILTIN_ROOT_LIST: 0xce534354,
  X_TRUST_ASSERTION: X_VENDOR + 100, X_CERTIFICATE_EXTENSION: X_VENDOR + 200,
} as const;

export const CKC_X_509 = 0;

/** The trust attributes of NSS trust objects (CKA_TRUST_*): consecutive from CKA_TRUST_DIGITAL_SIGNATURE. */
const TRUST_ATTRIBUTES = [
  'digital-signature', 'non-repudiation', 'key-encipherment', 'data-encipherment', 'key-agreement', 'key-cert-sign',
  'crl-sign', 'server-auth', 'client-auth', 'code-signing', 'email-protection', 'ipsec-end-system', 'ipsec-tunnel',
  'ipsec-user', 'time-stamping', 'step-up-approved',
].map((name, i) => [`trust-${name}`, 0xce536351 + i] as const);

/**
 * Attribute names as p11-kit's persist format spells them (its constants table). Only these are
 * accepted as field names; the values cover every attribute the trust module's object schemas allow,
 * and the other names p11-kit knows (key material and such, which no schema allows) map to types no
 * schema lists, so an object naming one is refused when it is loaded, as p11-kit refuses it.
 */
export const ATTRIBUTE_NAMES: ReadonlyMap<string, number> = new Map<string, number>([
  ['class', CKA.CLASS], ['token', CKA.TOKEN], ['private', CKA.PRIVATE], ['label', CKA.LABEL],
  ['application', CKA.APPLICATION], ['value', CKA.VALUE], ['object-id', CKA.OBJECT_ID],
  ['certificate-type', CKA.CERTIFICATE_TYPE], ['issuer', CKA.ISSUER], ['serial-number', CKA.SERIAL_NUMBER],
  ['ac-issuer', 0x83], ['owner', 0x84], ['attr-types', 0x85], ['trusted', CKA.TRUSTED],
  ['certificate-category', CKA.CERTIFICATE_CATEGORY], ['java-midp-security-domain', CKA.JAVA_MIDP_SECURITY_DOMAIN],
  ['url', CKA.URL], ['hash-of-subject-public-key', CKA.HASH_OF_SUBJECT_PUBLIC_KEY],
  ['hash-of-issuer-public-key', CKA.HASH_OF_ISSUER_PUBLIC_KEY], ['check-value', CKA.CHECK_VALUE], ['key-type', 0x100],
  ['subject', CKA.SUBJECT], ['id', CKA.ID], ['sensitive', 0x103], ['encrypt', 0x104], ['decrypt', 0x105],
  ['wrap', 0x106], ['unwrap', 0x107], ['sign', 0x108], ['sign-recover', 0x109], ['verify', 0x10a],
  ['recover', 0x10b], ['derive', 0x10c], ['start-date', CKA.START_DATE], ['end-date', CKA.END_DATE],
  ['modulus', 0x120], ['modulus-bits', 0x121], ['public-exponent', 0x122], ['private-exponent', 0x123],
  ['prime-1', 0x124], ['prime-2', 0x125], ['exponent-1', 0x126], ['exponent-2', 0x127], ['coefficient', 0x128],
  ['public-key-info', CKA.PUBLIC_KEY_INFO], ['x-public-key-info', CKA.PUBLIC_KEY_INFO], ['prime', 0x130],
  ['subprime', 0x131], ['base', 0x132], ['prime-bits', 0x133], ['subprime-bits', 0x134], ['value-bits', 0x160],
  ['value-len', 0x161], ['extractable', 0x162], ['local', 0x163], ['never-extractable', 0x164],
  ['always-sensitive', 0x165], ['key-gen-mechanism', 0x166], ['modifiable', CKA.MODIFIABLE],
  ['ecdsa-params', 0x180], ['ec-point', 0x181], ['secondary-auth', 0x200], ['auth-pin-flags', 0x201],
  ['always-authenticate', 0x202], ['wrap-with-trusted', 0x210], ['hw-feature-type', 0x300],
  ['reset-on-init', 0x301], ['has-reset', 0x302], ['pixel-x', 0x400], ['pixel-y', 0x401], ['resolution', 0x402],
  ['char-rows', 0x403], ['char-columns', 0x404], ['color', 0x405], ['bits-per-pixel', 0x406],
  ['char-sets', 0x480], ['encoding-methods', 0x481], ['mime-types', 0x482], ['mechanism-type', 0x500],
  ['required-cms-attributes', 0x501], ['default-cms-attributes', 0x502], ['supported-cms-attributes', 0x503],
  ['wrap-template', 0x40000211], ['unwrap-template', 0x40000212], ['allowed-mechanisms', 0x40000600],
  ['nss-url', NSS + 1], ['nss-email', NSS + 2], ['nss-smime-constant', NSS + 3], ['nss-smime-timestamp', NSS + 4],
  ['nss-pkcs8-salt', NSS + 5], ['nss-password-check', NSS + 6], ['nss-expires', NSS + 7], ['nss-krl', NSS + 8],
  ['nss-pqg-counter', NSS + 0x14], ['nss-pqg-seed', NSS + 0x15], ['nss-pqg-h', NSS + 0x16],
  ['nss-pqg-seed-bits', NSS + 0x17], ['nss-module-spec', NSS + 0x18],
  ['nss-mozilla-ca-policy', CKA.NSS_MOZILLA_CA_POLICY], ['nss-server-distrust-after', CKA.NSS_SERVER_DISTRUST_AFTER],
  ['nss-email-distrust-after', CKA.NSS_EMAIL_DISTRUST_AFTER],
  ...TRUST_ATTRIBUTES,
  ['cert-sha1-hash', CKA.CERT_SHA1_HASH], ['cert-md5-hash', CKA.CERT_MD5_HASH],
  ['x-assertion-type', CKA.X_ASSERTION_TYPE], ['x-certificate-value', CKA.X_CERTIFICATE_VALUE],
  ['x-purpose', CKA.X_PURPOSE], ['x-peer', CKA.X_PEER], ['x-distrusted', CKA.X_DISTRUSTED],
  ['x-critical', CKA.X_CRITICAL],
]);

const KNOWN_TYPES = new Set(ATTRIBUTE_NAMES.values());

/** Whether p11-kit's constants table has a name for this attribute type. */
export function isKnownAttribute(type: number): boolean {
  return KNOWN_TYPES.has(type);
}

/**
 * The names p11-kit resolves in a value (and, through the same table, in a field name): attribute
 * types, object classes, NSS trust levels, certificate types, assertion types and certificate
 * categories, later tables overriding earlier ones as in p11-kit. Key-type and mechanism names are
 * left out (no trust object has them): a value spelled so is refused.
 */
export const VALUE_NAMES: ReadonlyMap<string, number> = new Map<string, number>([
  ...ATTRIBUTE_NAMES,
  ['data', CKO.DATA], ['certificate', CKO.CERTIFICATE], ['public-key', 2], ['private-key', 3], ['secret-key', 4],
  ['hw-feature', 5], ['domain-parameters', 6], ['mechanism', 7], ['nss-crl', 0xce534351], ['nss-smime', 0xce534352],
  ['nss-trust', CKO.NSS_TRUST], ['nss-builtin-root-list', CKO.NSS_BUILTIN_ROOT_LIST], ['nss-newslot', 0xce534355],
  ['nss-delslot', 0xce534356], ['x-trust-assertion', CKO.X_TRUST_ASSERTION],
  ['x-certificate-extension', CKO.X_CERTIFICATE_EXTENSION],
  ['nss-trusted', 0xce534351], ['nss-trusted-delegator', 0xce534352], ['nss-must-verify-trust', 0xce534353],
  ['nss-trust-unknown', 0xce534355], ['nss-not-trusted', 0xce53435a], ['nss-valid-delegator', 0xce53435b],
  ['x-509', CKC_X_509], ['x-509-attr-cert', 1], ['wtls', 2],
  ['x-distrusted-certificate', 1], ['x-pinned-certificate', 2], ['x-anchored-certificate', 3],
  ['unspecified', 0], ['token-user', 1], ['authority', 2], ['other-entry', 3],
]);

export function ulong(value: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(value)));
  return b;
}

export function bool(value: boolean): Buffer {
  return Buffer.from([value ? 1 : 0]);
}

/** p11_attrs_find_bool: a one-byte value, true unless zero. */
export function findBool(attrs: Attributes, type: number): boolean | undefined {
  const v = attrs.get(type);
  return v && v.length === 1 ? v[0] !== 0 : undefined;
}

/** p11_attrs_find_ulong: an eight-byte value. */
export function findUlong(attrs: Attributes, type: number): bigint | undefined {
  const v = attrs.get(type);
  return v && v.length === 8 ? v.readBigUInt64LE(0) : undefined;
}

/** Whether an attribute holds exactly this number (p11_attrs_match compares the bytes). */
export function isUlong(attrs: Attributes, type: number, value: number): boolean {
  return findUlong(attrs, type) === BigInt(value);
}
