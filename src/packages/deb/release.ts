import { readFile } from 'node:fs/promises';
import * as openpgp from 'openpgp';
import { UserError } from '../../errors.js';
import { readPublicKeys } from '../signing-keys.js';
import { parseControl, type Paragraph } from './control.js';

export type Keyring = openpgp.PublicKey[];

/** Reads OpenPGP public keys from keyring files, binary (`.gpg`) or ASCII-armoured (`.asc`). */
export async function loadKeyring(paths: string[]): Promise<Keyring> {
  const keys: Keyring = [];
  for (const path of paths) {
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (err) {
      throw new UserError(`keyring "${path}" cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    keys.push(...(await readPublicKeys(data, `keyring "${path}"`)));
  }
  return keys;
}

/** Reads keys given inline (an ASCII-armoured block, as apt's Signed-By and specs allow). */
export async function keyringFromArmour(text: string, where: string): Promise<Keyring> {
  try {
    return await openpgp.readKeys({ armoredKeys: text });
  } catch (err) {
    throw new UserError(`${where}: not an ASCII-armoured OpenPGP public key block (${(err as Error).message})`);
  }
}

export interface ReleaseFile {
  /** SHA256 checksum, size and path of every index the Release file covers. */
  sha256: Map<string, { hash: string; size: number }>;
  fields: Paragraph;
  suite?: string;
  codename?: string;
  acquireByHash: boolean;
  architectures: string[];
  components: string[];
  validUntil?: Date;
  date?: Date;
}

export function parseRelease(text: string, where: string): ReleaseFile {
  const [fields] = parseControl(text, { source: where });
  if (!fields) throw new UserError(`${where}: empty Release file`);
  const sha256 = new Map<string, { hash: string; size: number }>();
  for (const line of (fields.get('SHA256') ?? '').split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length === 3 && /^[a-f0-9]{64}$/.test(parts[0]!)) sha256.set(parts[2]!, { hash: parts[0]!, size: Number(parts[1]) });
  }
  if (sha256.size === 0) throw new UserError(`${where}: the Release file lists no SHA256 checksums`);
  const date = (name: string) => {
    const v = fields.get(name);
    const d = v ? new Date(v) : undefined;
    return d && !Number.isNaN(d.getTime()) ? d : undefined;
  };
  const release: ReleaseFile = {
    sha256,
    fields,
    acquireByHash: (fields.get('Acquire-By-Hash') ?? '').toLowerCase() === 'yes',
    architectures: (fields.get('Architectures') ?? '').split(/\s+/).filter(Boolean),
    components: (fields.get('Components') ?? '').split(/\s+/).filter(Boolean),
  };
  const suite = fields.get('Suite');
  if (suite) release.suite = suite;
  const codename = fields.get('Codename');
  if (codename) release.codename = codename;
  const validUntil = date('Valid-Until');
  if (validUntil) release.validUntil = validUntil;
  const released = date('Date');
  if (released) release.date = released;
  return release;
}

/**
 * Checks an InRelease file's cleartext signature against the keyring and returns the signed text. At
 * least one signature must verify with a key of the keyring; anything else is refused.
 */
export async function verifyInRelease(signed: string, keyring: Keyring, where: string): Promise<string> {
  let message: openpgp.CleartextMessage;
  try {
    message = await openpgp.readCleartextMessage({ cleartextMessage: signed });
  } catch (err) {
    throw new UserError(`${where}: not an OpenPGP-signed file (${(err as Error).message})`);
  }
  const result = await openpgp.verify({ message, verificationKeys: keyring });
  const failures: string[] = [];
  for (const signature of result.signatures) {
    try {
      await signature.verified;
      return message.getText();
    } catch (err) {
      failures.push(`key ${signature.keyID.toHex()}: ${(err as Error).message}`);
    }
  }
  throw new UserError(`${where}: the signature does not verify with the keyring (${failures.join('; ') || 'no signatures'})`);
}

/** apt refuses Release files past their Valid-Until (a frozen or replayed mirror); so does this. */
export function checkFreshness(release: ReleaseFile, where: string, now = new Date()): void {
  if (release.validUntil && release.validUntil.getTime() < now.getTime()) {
    throw new UserError(`${where}: the Release file expired on ${release.validUntil.toISOString()} (Valid-Until); the mirror is stale or replayed`);
  }
}
