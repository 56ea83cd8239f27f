import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { openDecompressed } from '../../compression/decompress.js';
import { UserError } from '../../errors.js';
import { ByteReader } from '../../stream/byte-reader.js';
import { scanTarArchive, type TarScan } from '../../entries/tar-source.js';
import type { SourcedEntry } from '../../entries/entry-set.js';
import { normalizeEntryPath } from '../../entries/path.js';
import { parseConffiles } from './dpkg-database.js';
import { readTar, TarFormatError } from '../../tar/reader.js';

/** What a .deb holds: its control files (control, md5sums, conffiles, maintainer scripts...) and its files. */
export interface DebContents {
  /** Control archive members by name (`control`, `postinst`, `md5sums`...). */
  control: Map<string, Buffer>;
  /** The data archive as entries, content spooled to disk. */
  entries: SourcedEntry[];
}

const AR_MAGIC = '!<arch>\n';

/** A conffile (`/etc/x`) and a data.tar member (`./etc/x`) as one comparable key. */
const conffileKey = (path: string) => path.replace(/^(\.?\/+)+/, '');

/** One member of an ar archive (deb(5) uses the common System V/GNU variant). */
interface ArMember {
  name: string;
  size: number;
}

async function readArHeader(reader: ByteReader, where: string): Promise<ArMember | undefined> {
  if (reader.position % 2 === 1) await reader.skip(1);
  const header = await reader.read(60);
  if (header.length === 0) return undefined;
  if (header.length < 60 || header.toString('latin1', 58, 60) !== '`\n') throw new UserError(`${where}: corrupt ar member header at byte ${reader.position - header.length}`);
  const name = header.toString('latin1', 0, 16).trim().replace(/\/$/, '');
  const size = Number(header.toString('latin1', 48, 58).trim());
  if (!Number.isSafeInteger(size) || size < 0) throw new UserError(`${where}: bad ar member size for ${name}`);
  return { name, size };
}

/** An exactly `size`-byte slice of the reader as a stream. */
function memberStream(reader: ByteReader, size: number, where: string): Readable {
  let left = size;
  return Readable.from(
    (async function* () {
      while (left > 0) {
        const chunk = await reader.readSome(Math.min(left, 1 << 20));
        if (chunk.length === 0) throw new UserError(`${where}: truncated`);
        left -= chunk.length;
        yield chunk;
      }
    })(),
    { objectMode: false },
  );
}

/**
 * Reads a .deb in one streaming pass: `debian-binary` must say 2.x, `control.tar[.gz|.xz|.zst]` is read
 * into memory (it is small), `data.tar[.gz|.xz|.zst|.bz2]` is read as entries whose content is spooled
 * into `spoolDir`. The md5 of each conffile is computed on the way (dpkg records conffile hashes; every file's
 * md5 when the data archive comes before the control archive).
 */
export async function readDeb(path: string, where: string, spoolDir: string): Promise<DebContents & { md5: Map<string, string>; spool: TarScan['spool'] }> {
  const reader = new ByteReader(createReadStream(path, { highWaterMark: 1 << 20 }));
  const magic = await reader.read(AR_MAGIC.length);
  if (magic.toString('latin1') !== AR_MAGIC) throw new UserError(`${where}: not a Debian package (no ar archive magic)`);
  const control = new Map<string, Buffer>();
  let entries: SourcedEntry[] | undefined;
  let spool: TarScan['spool'] | undefined;
  const md5 = new Map<string, string>();
  const md5Hashes = new Map<string, ReturnType<typeof createHash>>();
  let sawVersion = false;
  let sawControl = false;
  try {
    for (;;) {
      const member = await readArHeader(reader, where);
      if (!member) break;
      if (member.name === 'debian-binary') {
        const version = (await reader.read(member.size)).toString('latin1').trim();
        if (!/^2\.\d+$/.test(version)) throw new UserError(`${where}: unsupported package format ${version}`);
        sawVersion = true;
      } else if (member.name.startsWith('control.tar')) {
        sawControl = true;
        const { stream } = await openDecompressed(memberStream(reader, member.size, where), `${where}: ${member.name}`);
        for await (const record of readTar(stream)) {
          const chunks: Buffer[] = [];
          for await (const c of record.body()) chunks.push(c);
          if (record.header.type !== 'file') continue;
          const name = normalizeEntryPath(record.header.path);
          if (name !== '') control.set(name, Buffer.concat(chunks));
        }
      } else if (member.name.startsWith('data.tar')) {
        const { stream } = await openDecompressed(memberStream(reader, member.size, where), `${where}: ${member.name}`);
        const listed = control.get('conffiles');
        const conffiles = listed === undefined && !sawControl ? undefined : new Set(parseConffiles(listed?.toString('utf8') ?? '').map(conffileKey));
        const scan = await scanTarArchive(stream, `${where}: ${member.name}`, spoolDir, {
          hashSpool: true,
          onContent: (path, chunk) => {
            // dpkg records md5s only for conffiles (md5sums ships the rest); control.tar comes first.
            if (conffiles && !conffiles.has(conffileKey(path))) return;
            let h = md5Hashes.get(path);
            if (!h) md5Hashes.set(path, (h = createHash('md5')));
            h.update(chunk);
          },
        });
        entries = scan.entries;
        spool = scan.spool;
        for (const [path, hash] of md5Hashes) md5.set(path, hash.digest('hex'));
        md5Hashes.clear();
      } else {
        await reader.skip(member.size);
      }
    }
  } catch (err) {
    if (err instanceof TarFormatError) throw new UserError(`${where}: ${err.message}`);
    throw err;
  } finally {
    await reader.close();
  }
  if (!sawVersion) throw new UserError(`${where}: not a Debian package (no debian-binary member)`);
  if (!control.has('control')) throw new UserError(`${where}: no control file in the package`);
  if (!entries || !spool) throw new UserError(`${where}: no data.tar member in the package`);
  return { control, entries, md5, spool };
}
