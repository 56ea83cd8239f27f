import type * as openpgp from 'openpgp';
import { errorMessage, UserError } from '../errors.js';

/** OpenPGP public keys that signatures (Debian's InRelease, repomd.xml, rpm headers) must be made with. */
export type PublicKeys = openpgp.PublicKey[];

/**
 * The public keys in a key file's bytes: binary (`.gpg`, a keyring) or ASCII-armoured, where one file may
 * hold several armoured blocks (as distributions' RPM-GPG-KEY files and apt's `.asc` files do).
 */
export async function readPublicKeys(data: Buffer | string, where: string): Promise<PublicKeys> {
  // Loaded when keys are read: the library is large.
  const openpgp = await import('openpgp');
  const text = typeof data === 'string' ? data : data.toString('latin1');
  try {
    if (!text.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----')) {
      if (typeof data === 'string') throw new Error('no armoured public key block');
      return await openpgp.readKeys({ binaryKeys: data });
    }
    const blocks = text.match(/-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]*?-----END PGP PUBLIC KEY BLOCK-----/g) ?? [];
    const keys: PublicKeys = [];
    for (const block of blocks) keys.push(...(await openpgp.readKeys({ armoredKeys: block })));
    return keys;
  } catch (err) {
    throw new UserError(`${where}: holds no readable OpenPGP public key (${errorMessage(err)})`);
  }
}
