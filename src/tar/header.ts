import type { EntryHeader, EntryType } from './entry.js';
import { TYPE_FLAG } from './entry.js';
import { encodePax, type PaxRecords } from './pax.js';
import { UserError } from '../errors.js';

export const BLOCK = 512;

/** The archive itself is broken: corrupt, truncated, or using a feature that cannot be represented. */
export class TarFormatError extends Error {
  override readonly name = 'TarFormatError';
}

/** Largest values the ustar octal fields hold; beyond them a PAX record carries the value. */
const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;

function writeString(block: Buffer, value: string, offset: number, length: number): void {
  block.write(value, offset, length, 'utf8');
}

function writeOctal(block: Buffer, value: number, offset: number, length: number): void {
  // width-1 zero-padded digits and a NUL, as Go's archive/tar and GNU tar write them.
  const digits = value.toString(8);
  if (digits.length > length - 1) throw new Error(`value ${value} does not fit a ${length}-byte tar header field`);
  block.write(digits.padStart(length - 1, '0') + '\0', offset, length, 'ascii');
}

function isAscii(s: string): boolean {
  return /^[\x01-\x7f]*$/.test(s);
}

/** Splits a path into ustar prefix (≤155 bytes) and name (≤100 bytes) at a '/', if it can be done. */
function splitUstarPath(path: string): { prefix: string; name: string } | undefined {
  if (path.length <= 100) return { prefix: '', name: path };
  for (let i = path.length - 1; i > 0; i--) {
    if (path[i] !== '/') continue;
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (name.length > 100) return undefined;
    if (prefix.length <= 155 && name.length > 0) return { prefix, name };
  }
  return undefined;
}

function checksum(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum;
}

function ustarBlock(
  fields: { name: string; prefix: string; linkname: string; mode: number; uid: number; gid: number; size: number; mtime: number },
  typeflag: string,
  devmajor: number,
  devminor: number,
): Buffer {
  const block = Buffer.alloc(BLOCK);
  writeString(block, fields.name, 0, 100);
  writeOctal(block, fields.mode, 100, 8);
  writeOctal(block, fields.uid, 108, 8);
  writeOctal(block, fields.gid, 116, 8);
  writeOctal(block, fields.size, 124, 12);
  writeOctal(block, fields.mtime, 136, 12);
  block.write(typeflag, 156, 1, 'ascii');
  writeString(block, fields.linkname, 157, 100);
  block.write('ustar\x0000', 257, 8, 'ascii');
  writeOctal(block, devmajor, 329, 8);
  writeOctal(block, devminor, 337, 8);
  writeString(block, fields.prefix, 345, 155);
  block.write(checksum(block).toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return block;
}

/** The name a tar entry stores: directories end with '/'. */
export function archivePath(entry: Pick<EntryHeader, 'path' | 'type'>): string {
  return entry.type === 'directory' ? `${entry.path}/` : entry.path;
}

/**
 * Encodes an entry's header: a ustar block, preceded by a PAX extended header when a value does not fit
 * ustar (long or non-ASCII names, large ids or sizes, xattrs). Owner names are never written.
 */
export function encodeHeader(entry: EntryHeader): Buffer {
  const name = archivePath(entry);
  for (const field of ['devmajor', 'devminor'] as const) {
    // ustar has 7 octal digits for these and PAX has no standard record for larger ones.
    if ((entry[field] ?? 0) > MAX_OCTAL_7) throw new UserError(`"${entry.path}": device ${field} ${entry[field]} is too large for a tar header`);
  }
  const linkname = entry.linkname ?? '';
  const pax: PaxRecords = new Map();

  const split = isAscii(name) ? splitUstarPath(name) : undefined;
  if (!split) pax.set('path', Buffer.from(name, 'utf8'));
  if (linkname.length > 100 || !isAscii(linkname)) pax.set('linkpath', Buffer.from(linkname, 'utf8'));
  if (entry.uid > MAX_OCTAL_7) pax.set('uid', Buffer.from(String(entry.uid)));
  if (entry.gid > MAX_OCTAL_7) pax.set('gid', Buffer.from(String(entry.gid)));
  if (entry.size > MAX_OCTAL_11) pax.set('size', Buffer.from(String(entry.size)));
  const mtime = Math.max(0, Math.floor(entry.mtime));
  if (mtime > MAX_OCTAL_11) pax.set('mtime', Buffer.from(String(mtime)));
  for (const [key, value] of Object.entries(entry.xattrs ?? {})) pax.set(`SCHILY.xattr.${key}`, value);

  const fields = {
    name: split ? split.name : asciiFallback(name, 100),
    prefix: split ? split.prefix : '',
    linkname: pax.has('linkpath') ? asciiFallback(linkname, 100) : linkname,
    mode: entry.mode & 0o7777,
    uid: Math.min(entry.uid, MAX_OCTAL_7),
    gid: Math.min(entry.gid, MAX_OCTAL_7),
    size: Math.min(entry.size, MAX_OCTAL_11),
    mtime: Math.min(mtime, MAX_OCTAL_11),
  };
  const main = ustarBlock(fields, TYPE_FLAG[entry.type], entry.devmajor ?? 0, entry.devminor ?? 0);
  if (pax.size === 0) return main;

  const data = encodePax(pax);
  const paxHeader = ustarBlock(
    {
      // Named from the entry's own name only (GNU tar puts its pid here): the bytes stay reproducible.
      name: asciiFallback(`PaxHeaders/${basename(entry.path)}`, 100),
      prefix: '',
      linkname: '',
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: data.length,
      mtime: fields.mtime,
    },
    'x',
    0,
    0,
  );
  return Buffer.concat([paxHeader, data, Buffer.alloc(padding(data.length)), main]);
}

function basename(path: string): string {
  const i = path.lastIndexOf('/');
  return i === -1 ? path : path.slice(i + 1);
}

/** A stand-in for the ustar field when PAX carries the real value: ASCII, cut to fit. */
function asciiFallback(value: string, max: number): string {
  return value.replace(/[^\x01-\x7f]/g, '_').slice(0, max);
}

export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** The raw fields of one header block, before PAX and GNU long-name records are applied. */
export interface RawHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Names must be UTF-8: entry paths are strings, and a lossy decoding could make two names collide. */
export function decodeName(bytes: Uint8Array, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new TarFormatError(`${what} is not valid UTF-8 (bytes: ${Buffer.from(bytes).toString('hex')})`);
  }
}

function readString(block: Buffer, offset: number, length: number, what = 'a header field'): string {
  const end = block.indexOf(0, offset);
  return decodeName(block.subarray(offset, end === -1 || end > offset + length ? offset + length : end), what);
}

function readNumber(block: Buffer, offset: number, length: number, field: string): number {
  const first = block[offset]!;
  if (first & 0x80) {
    // GNU base-256: the field is a big-endian two's complement number once the marker bit is replaced
    // by a copy of the sign bit (bit 6).
    let value = BigInt(first & 0x40 ? first : first & 0x7f);
    for (let i = 1; i < length; i++) value = (value << 8n) | BigInt(block[offset + i]!);
    if (first & 0x40) value -= 1n << BigInt(8 * length);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) throw new Error(`header field ${field} is out of range`);
    return Number(value);
  }
  const text = block.toString('ascii', offset, offset + length).replace(/[\0 ]+$/, '').replace(/^[\0 ]+/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new Error(`header field ${field} is not an octal number ("${text}")`);
  return parseInt(text, 8);
}

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** Decodes one header block; throws when the checksum says this is not a tar header. */
export function decodeHeader(block: Buffer): RawHeader {
  const stored = readNumber(block, 148, 8, 'chksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  if (stored !== unsigned && stored !== signed) throw new Error('bad header checksum (not a tar archive, or corrupt)');

  const magic = block.toString('latin1', 257, 263);
  let name = readString(block, 0, 100, 'entry name');
  // Only POSIX ustar has a prefix field at 345; GNU tar keeps atime/ctime there.
  if (magic === 'ustar\0') {
    const prefix = readString(block, 345, 155, 'entry name prefix');
    if (prefix) name = `${prefix}/${name}`;
  }
  const flag = block[156] === 0 ? '0' : String.fromCharCode(block[156]!);
  return {
    name,
    mode: readNumber(block, 100, 8, 'mode'),
    uid: readNumber(block, 108, 8, 'uid'),
    gid: readNumber(block, 116, 8, 'gid'),
    size: readNumber(block, 124, 12, 'size'),
    mtime: readNumber(block, 136, 12, 'mtime'),
    typeflag: flag,
    linkname: readString(block, 157, 100, 'link target'),
    uname: readString(block, 265, 32),
    gname: readString(block, 297, 32),
    devmajor: readNumber(block, 329, 8, 'devmajor'),
    devminor: readNumber(block, 337, 8, 'devminor'),
  };
}

const TYPE_BY_FLAG: Record<string, EntryType> = {
  '0': 'file',
  '7': 'file', // contiguous file: a regular file everywhere that matters
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'directory',
  '6': 'fifo',
};

export function entryTypeOf(typeflag: string): EntryType | undefined {
  return TYPE_BY_FLAG[typeflag];
}
