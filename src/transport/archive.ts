import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { canonicalizeEntries } from '../entries/entry-set.js';
import { scanDirectory } from '../entries/directory-source.js';
import { writeAtomically } from '../fs/temp.js';
import { writeTar } from '../tar/writer.js';

/**
 * Packs a staged folder into the tar file `dest`, atomically. Owners, modes and times are fixed (root,
 * 0644/0755, epoch), so the archive depends only on the files' names and bytes, never on the umask.
 */
export async function packDirectory(dir: string, dest: string): Promise<void> {
  const { entries } = await scanDirectory(dir);
  const canonical = canonicalizeEntries(entries, { owner: { uid: 0, gid: 0 }, maxMtime: 0 }).map((e) => ({
    ...e,
    mode: e.type === 'directory' ? 0o755 : 0o644,
  }));
  await mkdir(dirname(dest), { recursive: true });
  await writeAtomically(dest, (tmp) => pipeline(Readable.from(writeTar(canonical)), createWriteStream(tmp)));
}
