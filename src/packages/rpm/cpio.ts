import { UserError } from '../../errors.js';
import { ByteReader } from '../../stream/byte-reader.js';

/*
 * The cpio archive of an rpm payload, read as a stream. Hand-written: the one maintained npm reader,
 * cpio-stream, reads the "newc" format but not rpm ≥ 4.12's stripped headers (07070X, used when a file
 * reaches 4 GiB), takes each member's size from the archive where rpm takes it from the package header,
 * and depends on readable-stream v3 and bl; rpm's own use is small (lib/cpio.cc): headers of 13 hex
 * fields, names, padding to 4 bytes.
 *
 *   "070701" (newc) or "070702" (crc) | 13 × 8 hex digits: ino mode uid gid nlink mtime filesize
 *     devmajor devminor rdevmajor rdevminor namesize check | name + NUL | pad to 4 | data | pad to 4
 *   "07070X" (stripped) | 8 hex digits: the file's index in the header | pad to 4 | data | pad to 4
 *
 * A newc member named "TRAILER!!!", or a stripped one with index ffffffff, ends the archive. As in rpm,
 * the package header decides how many data bytes follow a member (setSize), not the archive.
 */

export interface CpioMember {
  /** The name as the archive has it ("./usr/bin/sh"); undefined for a stripped header. */
  name?: string;
  /** For a stripped header: the index of the file in the package header. */
  index?: number;
  /** The newc fields (absent for stripped headers, whose metadata is in the package header). */
  ino?: number;
  mode?: number;
  nlink?: number;
  mtime?: number;
  /** Data bytes the archive announces (0 for a stripped header until setSize). */
  size: number;
  rdevmajor?: number;
  rdevminor?: number;
  /** Offset of the member's header in the uncompressed archive, for messages. */
  offset: number;
}

/** rpm's limit on a member name (CPIO_NAMESIZE_MAX). */
const NAME_MAX = 4096;
const NEWC_FIELDS = 13;
const TRAILER = 'TRAILER!!!';
const HEX8 = /^[0-9a-fA-F]{8}$/;

/** Reads the members of a cpio archive one at a time; each member's data can be read before the next. */
export class CpioReader {
  private readonly reader: ByteReader;
  /** Where the current member's data ends: the next header starts after it and its padding. */
  private dataEnd = 0;
  private ended = false;

  constructor(
    source: AsyncIterable<Buffer>,
    /** Names the archive in errors (the package file and its payload). */
    private readonly where: string,
  ) {
    this.reader = new ByteReader(source);
  }

  /** Bytes of the uncompressed archive consumed so far. */
  get position(): number {
    return this.reader.position;
  }

  private bad(why: string, at = this.reader.position): never {
    throw new UserError(`${this.where}: corrupt cpio payload at byte ${at}: ${why}`);
  }

  private async exactly(n: number, what: string): Promise<Buffer> {
    const got = await this.reader.read(n);
    if (got.length < n) this.bad(`truncated in ${what}`);
    return got;
  }

  private async pad(): Promise<void> {
    const left = (4 - (this.reader.position % 4)) % 4;
    if (left > 0) await this.exactly(left, 'padding');
  }

  private hex(field: Buffer, what: string, at: number): number {
    const text = field.toString('latin1');
    if (!HEX8.test(text)) this.bad(`${what} "${text.replace(/[^\x20-\x7e]/g, '?')}" is not 8 hex digits`, at);
    return Number.parseInt(text, 16);
  }

  /** The next member, skipping what is left of the current one's data; undefined at the trailer. */
  async next(): Promise<CpioMember | undefined> {
    if (this.ended) return undefined;
    const left = this.dataEnd - this.reader.position;
    if (left > 0 && (await this.reader.skip(left)) !== left) this.bad('truncated in file data');
    await this.pad();
    const offset = this.reader.position;
    const magic = (await this.exactly(6, 'a header')).toString('latin1');
    if (magic === '07070X') {
      const index = this.hex(await this.exactly(8, 'a header'), 'file index', offset + 6);
      await this.pad();
      this.dataEnd = this.reader.position;
      if (index === 0xffffffff) {
        this.ended = true;
        return undefined;
      }
      return { index, size: 0, offset };
    }
    if (magic !== '070701' && magic !== '070702') this.bad(`bad magic "${magic.replace(/[^\x20-\x7e]/g, '?')}" (not a cpio newc, crc or rpm stripped header)`, offset);
    const fields = await this.exactly(8 * NEWC_FIELDS, 'a header');
    const value = (i: number, what: string) => this.hex(fields.subarray(8 * i, 8 * i + 8), what, offset + 6 + 8 * i);
    const member: CpioMember = {
      ino: value(0, 'inode'),
      mode: value(1, 'mode'),
      nlink: value(4, 'link count'),
      mtime: value(5, 'mtime'),
      size: value(6, 'file size'),
      rdevmajor: value(9, 'rdev major'),
      rdevminor: value(10, 'rdev minor'),
      offset,
    };
    const nameSize = value(11, 'name size');
    if (nameSize < 1 || nameSize > NAME_MAX) this.bad(`name size ${nameSize} (1 to ${NAME_MAX})`, offset);
    const rawName = await this.exactly(nameSize, 'a name');
    if (rawName[nameSize - 1] !== 0 || rawName.indexOf(0) !== nameSize - 1) this.bad('a name that is not one NUL-terminated string', offset);
    member.name = rawName.toString('utf8', 0, nameSize - 1);
    await this.pad();
    this.dataEnd = this.reader.position + member.size;
    if (member.name === TRAILER) {
      this.ended = true;
      return undefined;
    }
    return member;
  }

  /** Says how many data bytes the current member has, as the package header knows it (rpm's rpmcpioSetExpectedFileSize). */
  setSize(size: number): void {
    this.dataEnd = this.reader.position + size;
  }

  /** The current member's data bytes, in chunks of at most 1 MiB. */
  async *data(): AsyncGenerator<Buffer> {
    for (;;) {
      const left = this.dataEnd - this.reader.position;
      if (left <= 0) return;
      const chunk = await this.reader.readSome(Math.min(left, 1 << 20));
      if (chunk.length === 0) this.bad('truncated in file data');
      yield chunk;
    }
  }

  /** After the trailer: the archive's padding and nothing else may follow (rpm pads the trailer to 4 bytes). */
  async finish(): Promise<void> {
    if (!this.ended) this.bad('no trailer');
    for (;;) {
      const rest = await this.reader.readSome(1 << 16);
      if (rest.length === 0) break;
      if (rest.some((b) => b !== 0)) this.bad('data after the trailer');
    }
  }

  async close(): Promise<void> {
    await this.reader.close();
  }
}
