import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as openpgp from 'openpgp';
import { UserError } from '../../errors.js';
import { ByteReader } from '../../stream/byte-reader.js';
import { readPackageHeader, RpmSigTag, RpmTag, type PackageHeader, type RpmHeader } from './header.js';
import { readLead } from './lead.js';

/*
 * What rpm checks of a package file before installing it (lib/rpmvs.cc), in one streaming pass:
 *  - the header digests: SHA256HEADER and SHA1HEADER, of the header's immutable region as rpm hashes it
 *    (magic, region il/dl, its index entries and data; HeaderRegion / RpmHeader.regionImage);
 *  - the payload digest: the header's PAYLOADDIGEST (algorithm PAYLOADDIGESTALGO) of the payload bytes
 *    as they are in the file, compressed;
 *  - rpm v3's MD5 of header and payload (RPMSIGTAG_MD5), and the SIZE / LONGSIZE of header + payload;
 *  - with keys (gpgcheck=1), the OpenPGP signatures: RSAHEADER or DSAHEADER over the header's region,
 *    and the legacy PGP / GPG ones over header + payload. At least one must be there, every one there
 *    must verify with one of the keys.
 */

/** rpm's digest algorithm numbers (OpenPGP's hash ids) to node's names. */
export const PGP_HASH: ReadonlyMap<number, string> = new Map([
  [1, 'md5'], [2, 'sha1'], [8, 'sha256'], [9, 'sha384'], [10, 'sha512'], [11, 'sha224'],
]);

export interface RpmVerification {
  /** What was checked, as rpm -Kv names it ("Header SHA256 digest", "Payload SHA256 digest", "Header V4 RSA signature, key ID ..."). */
  checked: string[];
  /** Key ids (hex) of the signatures that verified; empty without keys. */
  signedBy: string[];
}

function expectDigest(what: string, actual: string, expected: string, where: string): void {
  if (actual !== expected.toLowerCase()) throw new UserError(`${where}: ${what} mismatch: the package says ${expected}, its bytes give ${actual} (damaged or tampered with)`);
}

/** Checks the header digests the signature header has (rpm checks every one, not only the strongest); returns what it checked. */
export function checkHeaderDigests(signature: RpmHeader, header: PackageHeader, where: string): string[] {
  const region = header.header.regionImage();
  const checked: string[] = [];
  const sha256 = signature.string(RpmSigTag.SHA256HEADER);
  if (sha256 !== undefined) {
    expectDigest('Header SHA256 digest', createHash('sha256').update(region).digest('hex'), sha256, where);
    checked.push('Header SHA256 digest');
  }
  const sha1 = signature.string(RpmSigTag.SHA1HEADER);
  if (sha1 !== undefined) {
    expectDigest('Header SHA1 digest', createHash('sha1').update(region).digest('hex'), sha1, where);
    checked.push('Header SHA1 digest');
  }
  return checked;
}

/**
 * Checks a package's digests (and signatures) while its payload streams by: construct it once the
 * headers are read (it checks the header digest at once), feed it every payload byte of the file with
 * `payload`, then call `finish`. Errors are UserErrors naming the file.
 */
export class RpmVerifier {
  private readonly payloadHash?: { hash: Hash; expected: string; name: string };
  private readonly md5?: { hash: Hash; expected: string };
  private payloadBytes = 0;
  readonly checked: string[] = [];

  constructor(
    private readonly where: string,
    private readonly signature: RpmHeader,
    private readonly header: PackageHeader,
  ) {
    const region = header.header.regionImage();
    this.checked.push(...checkHeaderDigests(signature, header, where));
    const payloadDigest = header.header.strings(RpmTag.PAYLOADDIGEST)[0];
    if (payloadDigest !== undefined) {
      const algo = header.header.numbers(RpmTag.PAYLOADDIGESTALGO)[0] ?? 8;
      const name = PGP_HASH.get(algo);
      if (!name) throw new UserError(`${where}: unknown payload digest algorithm ${algo}`);
      this.payloadHash = { hash: createHash(name), expected: payloadDigest.toLowerCase(), name: `Payload ${name.toUpperCase()} digest` };
    }
    const md5 = signature.binary(RpmSigTag.MD5);
    if (md5) {
      this.md5 = { hash: createHash('md5').update(region), expected: md5.toString('hex') };
    }
    if (this.checked.length === 0 && !md5) throw new UserError(`${where}: the package has no header digest (SHA256HEADER, SHA1HEADER or MD5)`);
    if (!this.payloadHash && !md5) throw new UserError(`${where}: the package has no payload digest (PAYLOADDIGEST or MD5)`);
  }

  private expect(what: string, actual: string, expected: string): void {
    expectDigest(what, actual, expected, this.where);
    this.checked.push(what);
  }

  /** The next bytes of the payload as the file has them. */
  payload(chunk: Buffer): void {
    this.payloadBytes += chunk.length;
    this.payloadHash?.hash.update(chunk);
    this.md5?.hash.update(chunk);
  }

  /** After the last payload byte: the payload digests and sizes; `archiveBytes` is the uncompressed payload length when it was read. */
  finish(archiveBytes?: number): void {
    if (this.payloadHash) this.expect(this.payloadHash.name, this.payloadHash.hash.digest('hex'), this.payloadHash.expected);
    if (this.md5) this.expect('MD5 digest', this.md5.hash.digest('hex'), this.md5.expected);
    const total = this.header.length + this.payloadBytes;
    const size = this.signature.numbers(RpmSigTag.LONGSIZE)[0] ?? this.signature.numbers(RpmSigTag.SIZE)[0];
    if (size !== undefined && size !== total) throw new UserError(`${this.where}: the package says its header and payload have ${size} bytes, the file has ${total} (truncated or damaged)`);
    const archive = this.signature.numbers(RpmSigTag.LONGARCHIVESIZE)[0] ?? this.signature.numbers(RpmSigTag.PAYLOADSIZE)[0];
    if (archiveBytes !== undefined && archive !== undefined && archive !== archiveBytes) {
      throw new UserError(`${this.where}: the package says its payload unpacks to ${archive} bytes, it unpacks to ${archiveBytes}`);
    }
  }
}


const SIGNATURES = [
  { tag: RpmSigTag.RSAHEADER, name: 'header RSA signature', header: true },
  { tag: RpmSigTag.DSAHEADER, name: 'header DSA signature', header: true },
  { tag: RpmSigTag.PGP, name: 'legacy RSA signature of header and payload', header: false },
  { tag: RpmSigTag.GPG, name: 'legacy DSA signature of header and payload', header: false },
] as const;

/** The signatures a package carries, by kind. */
export function rpmSignatures(signature: RpmHeader): { tag: number; name: string; header: boolean; packet: Buffer }[] {
  return SIGNATURES.flatMap((s) => {
    const packet = signature.binary(s.tag);
    return packet ? [{ ...s, packet }] : [];
  });
}

/** Verifies one OpenPGP signature packet over `data` (bytes, or a stream of them) with `keys`. */
async function verifyPacket(packet: Buffer, data: Uint8Array | ReadableStream<Uint8Array>, keys: openpgp.PublicKey[], what: string, where: string): Promise<string> {
  let signature: openpgp.Signature;
  try {
    signature = await openpgp.readSignature({ binarySignature: packet });
  } catch (err) {
    throw new UserError(`${where}: unreadable ${what} (${(err as Error).message})`);
  }
  const ids = signature.getSigningKeyIDs().map((id) => id.toHex());
  const known = keys.filter((k) => signature.getSigningKeyIDs().some((id) => k.getKeys(id).length > 0));
  if (known.length === 0) throw new UserError(`${where}: ${what} made with key ID ${ids.join(', ') || '(none)'}, which is not among the given keys`);
  try {
    if (data instanceof Uint8Array) {
      const result = await openpgp.verify({ message: await openpgp.createMessage({ binary: data }), signature, verificationKeys: known, format: 'binary' });
      for (const s of result.signatures) await s.verified;
    } else {
      const result = await openpgp.verify({ message: await openpgp.createMessage({ binary: data }), signature, verificationKeys: known, format: 'binary' });
      // A streamed message is verified once its data has been read through.
      const reader = result.data.getReader();
      while (!(await reader.read()).done);
      for (const s of result.signatures) await s.verified;
    }
  } catch (err) {
    throw new UserError(`${where}: bad ${what} (key ID ${ids.join(', ')}): ${(err as Error).message}`);
  }
  return ids[0]!;
}

/**
 * Checks the header signatures with `keys` (as soon as the header is read); the legacy signatures over
 * header and payload are checked by `verifyLegacySignatures` once the payload is known. Throws when the
 * package carries no signature at all.
 */
export async function verifyHeaderSignatures(signature: RpmHeader, header: PackageHeader, keys: openpgp.PublicKey[], where: string): Promise<{ checked: string[]; signedBy: string[] }> {
  const all = rpmSignatures(signature);
  if (all.length === 0) throw new UserError(`${where}: the package is not signed, and a signature is required (gpgcheck)`);
  const checked: string[] = [];
  const signedBy: string[] = [];
  for (const s of all.filter((s) => s.header)) {
    signedBy.push(await verifyPacket(s.packet, header.header.regionImage(), keys, s.name, where));
    checked.push(s.name);
  }
  return { checked, signedBy };
}

/** Checks the legacy signatures (PGP, GPG) over header and payload by reading them again from the file at `path`. */
export async function verifyLegacySignatures(path: string, signature: RpmHeader, header: PackageHeader, keys: openpgp.PublicKey[], where: string): Promise<{ checked: string[]; signedBy: string[] }> {
  const checked: string[] = [];
  const signedBy: string[] = [];
  for (const s of rpmSignatures(signature).filter((s) => !s.header)) {
    // rpm hashes the header as a region image (magic included) and then the payload: for a package file
    // that is exactly the file's bytes from the header's magic to the end.
    const file = createReadStream(path, { start: header.offset, highWaterMark: 1 << 20 });
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        try {
          for await (const chunk of file) controller.enqueue(new Uint8Array(chunk as Buffer));
          controller.close();
        } catch (err) {
          controller.error(err);
        }
      },
    });
    signedBy.push(await verifyPacket(s.packet, stream, keys, s.name, where));
    checked.push(s.name);
  }
  return { checked, signedBy };
}

/**
 * Verifies a package file as `rpm -K` does: digests always, signatures when `keys` are given (then the
 * package must be signed and every signature must verify). Reads the file once (twice for a legacy
 * header+payload signature). `where` names the file in errors (default: its path).
 */
export async function verifyRpm(path: string, options: { keys?: openpgp.PublicKey[]; where?: string } = {}): Promise<RpmVerification> {
  const where = options.where ?? path;
  const reader = new ByteReader(createReadStream(path, { highWaterMark: 1 << 20 }));
  try {
    await readLead(reader, where);
    const signature = await readPackageHeader(reader, 'signature', where);
    const header = await readPackageHeader(reader, 'header', where);
    const verifier = new RpmVerifier(where, signature.header, header);
    const signedBy: string[] = [];
    if (options.keys) {
      const h = await verifyHeaderSignatures(signature.header, header, options.keys, where);
      verifier.checked.push(...h.checked);
      signedBy.push(...h.signedBy);
    }
    for (;;) {
      const chunk = await reader.readSome(1 << 20);
      if (chunk.length === 0) break;
      verifier.payload(chunk);
    }
    verifier.finish();
    if (options.keys) {
      const l = await verifyLegacySignatures(path, signature.header, header, options.keys, where);
      verifier.checked.push(...l.checked);
      signedBy.push(...l.signedBy);
    }
    return { checked: verifier.checked, signedBy };
  } finally {
    await reader.close();
  }
}
