import { createReadStream, createWriteStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { createHash } from 'node:crypto';
import { openDecompressed } from '../compression/decompress.js';
import { sniffCompression } from '../compression/detect.js';
import { pipeline } from 'node:stream/promises';
import { digestHex, type Digest } from '../digest.js';
import { UserError } from '../errors.js';
import { normalizeEntryPath, parentPath } from '../entries/path.js';
import { readTar, TarFormatError } from '../tar/reader.js';

/** Read access to the files of a layout, whether it is a folder or a tar archive. */
export interface FileTree {
  /** How to name this tree in messages, e.g. `oci-archive:img.tar`. */
  readonly name: string;
  exists(path: string): Promise<boolean>;
  readFile(path: string): Promise<Buffer>;
  size(path: string): Promise<number>;
  open(path: string): Promise<Readable>;
  /** The first bytes of a file (fewer if it is shorter), e.g. to sniff its compression. */
  head(path: string, bytes: number): Promise<Buffer>;
}

async function readHead(stream: Readable, bytes: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    parts.push(chunk as Buffer);
    length += (chunk as Buffer).length;
    if (length >= bytes) break;
  }
  stream.destroy();
  return Buffer.concat(parts).subarray(0, bytes);
}

export function blobPath(digest: Digest): string {
  return `blobs/sha256/${digestHex(digest)}`;
}

/** Reads a blob and checks its bytes against its digest (and size, when known). */
export async function readVerifiedBlob(tree: FileTree, digest: Digest, expectedSize?: number): Promise<Buffer> {
  const data = await tree.readFile(blobPath(digest));
  const actual = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  if (actual !== digest) throw new UserError(`${tree.name}: blob ${digest} does not match its digest (content hashes to ${actual})`);
  if (expectedSize !== undefined && data.length !== expectedSize) {
    throw new UserError(`${tree.name}: blob ${digest} has ${data.length} bytes, but its descriptor says ${expectedSize}`);
  }
  return data;
}

/** Passes a blob through, failing at its end if the bytes do not hash to the expected digest. */
export class VerifyingStream extends Transform {
  private readonly hash = createHash('sha256');
  private count = 0;
  constructor(private readonly digest: Digest, private readonly what: string, private readonly expectedSize?: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.count += chunk.length;
    done(null, chunk);
  }
  override _flush(done: TransformCallback): void {
    const actual = `sha256:${this.hash.digest('hex')}`;
    if (actual !== this.digest) return done(new UserError(`${this.what}: blob ${this.digest} does not match its digest (content hashes to ${actual})`));
    if (this.expectedSize !== undefined && this.count !== this.expectedSize) {
      return done(new UserError(`${this.what}: blob ${this.digest} has ${this.count} bytes, but its descriptor says ${this.expectedSize}`));
    }
    done();
  }
}

export class DirectoryTree implements FileTree {
  constructor(readonly root: string, readonly name: string) {}

  async exists(path: string): Promise<boolean> {
    try {
      await stat(join(this.root, path));
      return true;
    } catch {
      return false;
    }
  }

  async readFile(path: string): Promise<Buffer> {
    try {
      return await readFile(join(this.root, path));
    } catch (err) {
      throw new UserError(`${this.name}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }

  async size(path: string): Promise<number> {
    try {
      return (await stat(join(this.root, path))).size;
    } catch {
      throw new UserError(`${this.name}: ${path} is missing`);
    }
  }

  async open(path: string): Promise<Readable> {
    await this.size(path);
    return createReadStream(join(this.root, path), { highWaterMark: 1 << 20 });
  }

  async head(path: string, bytes: number): Promise<Buffer> {
    return readHead(await this.open(path), bytes);
  }
}

function safeNormalize(path: string): string | undefined {
  try {
    return normalizeEntryPath(path.replace(/^\/+/, ''));
  } catch {
    return undefined;
  }
}

interface Member {
  offset: number;
  size: number;
}

/**
 * A tar archive read as a file tree. Plain archives are indexed in place (members are read at their
 * offsets); compressed ones are first decompressed to a spool file in `spoolDir`.
 */
export class TarTree implements FileTree {
  private constructor(readonly name: string, private readonly file: string, private readonly members: Map<string, Member>) {}

  static async open(file: string, name: string, spoolDir: string): Promise<TarTree> {
    try {
      if (!(await stat(file)).isFile()) throw new UserError(`${name}: "${file}" is not a file`);
    } catch (err) {
      if (err instanceof UserError) throw err;
      throw new UserError(`${name}: cannot read "${file}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    let tarFile = file;
    const fd = await open(file, 'r');
    const head = Buffer.alloc(6);
    await fd.read(head, 0, head.length, 0).finally(() => fd.close());
    if (sniffCompression(head) !== 'none') {
      // Members must be readable at offsets: a compressed archive is unpacked to a spool file first.
      const { stream } = await openDecompressed(createReadStream(file), name);
      tarFile = join(spoolDir, 'archive.tar');
      await pipeline(stream, createWriteStream(tarFile));
    }
    const members = new Map<string, Member>();
    const links = new Map<string, string>();
    try {
      for await (const record of readTar(createReadStream(tarFile, { highWaterMark: 1 << 20 }))) {
        let path: string;
        try {
          path = normalizeEntryPath(record.header.path);
        } catch {
          continue; // a member with an unsafe name can never be one the layout refers to
        }
        const { type, linkname } = record.header;
        if (type === 'file') members.set(path, { offset: record.dataOffset, size: record.header.size });
        // Older `docker save` stores a layer used twice once, with a symlink (or hardlink) for the other.
        else if (type === 'symlink' && linkname) links.set(path, linkname.startsWith('/') ? linkname : `${parentPath(path)}/${linkname}`);
        else if (type === 'hardlink' && linkname) links.set(path, linkname);
      }
      for (const [path, target] of links) {
        let resolved: string | undefined = target;
        for (let hop = 0; resolved !== undefined && !members.has(safeNormalize(resolved) ?? '') && hop < 8; hop++) resolved = links.get(safeNormalize(resolved) ?? '');
        const member = resolved === undefined ? undefined : members.get(safeNormalize(resolved) ?? '');
        if (member) members.set(path, member);
      }
    } catch (err) {
      if (err instanceof TarFormatError) throw new UserError(`${name}: ${err.message}`);
      throw err;
    }
    return new TarTree(name, tarFile, members);
  }

  private member(path: string): Member {
    const m = this.members.get(normalizeEntryPath(path));
    if (!m) throw new UserError(`${this.name}: the archive has no ${path}`);
    return m;
  }

  async exists(path: string): Promise<boolean> {
    return this.members.has(normalizeEntryPath(path));
  }

  async size(path: string): Promise<number> {
    return this.member(path).size;
  }

  async readFile(path: string): Promise<Buffer> {
    const m = this.member(path);
    if (m.size > 64 * 1024 * 1024) throw new UserError(`${this.name}: ${path} is too large to be a JSON document`);
    const fd = await open(this.file, 'r');
    try {
      const buffer = Buffer.alloc(m.size);
      const { bytesRead } = await fd.read(buffer, 0, m.size, m.offset);
      if (bytesRead !== m.size) throw new UserError(`${this.name}: ${path} is truncated`);
      return buffer;
    } finally {
      await fd.close();
    }
  }

  async open(path: string): Promise<Readable> {
    const m = this.member(path);
    if (m.size === 0) return Readable.from([]);
    return createReadStream(this.file, { start: m.offset, end: m.offset + m.size - 1, highWaterMark: 1 << 20 });
  }

  async head(path: string, bytes: number): Promise<Buffer> {
    return readHead(await this.open(path), bytes);
  }
}
