import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline, Readable, type Duplex } from 'node:stream';
import lzma from 'lzma-native';
import type * as openpgp from 'openpgp';
import { openDecompressed } from '../../compression/decompress.js';
import type { ArchiveCompression } from '../../compression/detect.js';
import type { SourcedEntry } from '../../entries/entry-set.js';
import { parentPath } from '../../entries/path.js';
import { SpoolWriter } from '../../entries/spool-writer.js';
import { UserError } from '../../errors.js';
import { ByteReader } from '../../stream/byte-reader.js';
import { CpioReader } from './cpio.js';
import { headerFiles, leftOut, RpmFileFlag, RpmFileState, type HeaderFile } from './file-list.js';
import { readPackageHeader, RpmTag, type PackageHeader, type RpmHeader } from './header.js';
import { readLead, type RpmLead } from './lead.js';
import { checkHeaderDigests, PGP_HASH, RpmVerifier, verifyHeaderSignatures, verifyLegacySignatures, type RpmVerification } from './signature.js';

export { RpmFileFlag, RpmFileState };

export interface RpmReadOptions {
  /** With keys (gpgcheck=1) the package must carry a signature and every signature must verify. */
  keys?: openpgp.PublicKey[];
  /** Leave out %doc files, as `tsflags=nodocs` / `--nodocs` does (never %license files). */
  nodocs?: boolean;
  /** `%_install_langs` as a list ("de:fr" split on ':'); absent or with "all": every language. */
  installLangs?: readonly string[];
  /** The architectures the image accepts (noarch always): a package for another one is refused. */
  architectures?: readonly string[];
}

/** One file of the package's header, in header order, and what installing it does. */
export interface RpmFileInfo {
  /** In entry form ("usr/bin/sh"; "" for the root folder). */
  path: string;
  flags: number;
  mode: number;
  /** FILESTATES as rpm records it: NORMAL when installed or a %ghost, NOTINSTALLED when left out (nodocs, languages). */
  state: number;
  /** Whether the file is in `entries` (ghosts and files left out are not). */
  installed: boolean;
}

/** What a package file holds, in the shape readDeb gives for a .deb. */
export interface RpmContents {
  lead: RpmLead;
  /** The header blob without its magic, byte for byte as in the file (its immutable region): what the rpmdb stores. */
  header: Buffer;
  /** The signature header blob without its magic and padding, byte for byte. */
  signature: Buffer;
  parsedHeader: RpmHeader;
  parsedSignature: RpmHeader;
  /** The installed files as layer entries (owners by name in uname/gname, uid/gid 0: see mapOwners). */
  entries: SourcedEntry[];
  /** Every file of the header with its install state (the rpmdb needs ghosts and left-out files too). */
  files: RpmFileInfo[];
  /**
   * Folders rpm creates that no entry needs: when a name left out (nodocs, languages) carries the
   * content of a hardlink set another name keeps, rpm makes the left-out name's folder while it writes
   * the content to the kept one (lib/fsm.cc). Pass to rpmParentDirectories.
   */
  folders: string[];
  /** FILEDIGESTS of the regular files by entry path (algorithm: digestAlgorithm); each installed one was checked. */
  digests: Map<string, string>;
  digestAlgorithm: string;
  /** File contents back to back; `offsets[i]` where entries[i]'s content starts (-1: none). */
  spool: { path: string; size: number; offsets: number[]; sha256: string };
  verification: RpmVerification;
}

/** Several packages may spool into one folder (one per package of a build). */
let spoolCounter = 0;

/** The uncompressed payload: rpm names its compressor in the header (gzip when it does not). */
async function decompressPayload(source: AsyncIterable<Buffer>, compressor: string, what: string): Promise<Readable> {
  if (compressor === 'lzma') {
    // The legacy .lzma format has no magic to sniff; lzma-native's automatic decoder reads it.
    const decoder = lzma.createDecompressor() as unknown as Duplex;
    const output = pipeline(Readable.from(source, { objectMode: false }), decoder, () => {}) as unknown as Readable;
    return Readable.from(
      (async function* () {
        try {
          for await (const chunk of output) yield chunk as Buffer;
        } catch (err) {
          if (err instanceof UserError) throw err;
          throw new UserError(`${what}: lzma data is corrupt or truncated (${(err as Error).message})`);
        }
      })(),
      { objectMode: false },
    );
  }
  const expected: Record<string, ArchiveCompression> = { gzip: 'gzip', xz: 'xz', zstd: 'zstd', bzip2: 'bzip2' };
  const want = expected[compressor];
  if (!want) throw new UserError(`${what}: unsupported payload compressor "${compressor}" (gzip, xz, lzma and zstd are read)`);
  const { compression, stream } = await openDecompressed(source, what);
  if (compression !== want) {
    stream.destroy();
    throw new UserError(`${what}: the header says the payload is ${compressor}, its bytes are ${compression === 'none' ? 'not compressed in a known format' : compression}`);
  }
  return stream;
}

/**
 * Only the lead and headers of a package file (checked as readRpm checks them, the header digests
 * included), without reading its payload: for what needs the header alone (a database, a query).
 */
export async function readRpmHeaders(path: string, where: string): Promise<{ lead: RpmLead; signature: PackageHeader; header: PackageHeader }> {
  const reader = new ByteReader(createReadStream(path, { highWaterMark: 1 << 16 }));
  try {
    const lead = await readLead(reader, where);
    const signature = await readPackageHeader(reader, 'signature', where);
    const header = await readPackageHeader(reader, 'header', where);
    checkHeaderDigests(signature.header, header, where);
    return { lead, signature, header };
  } finally {
    await reader.close();
  }
}

/** A created file of the header as a layer entry: a hardlink to `linkTo`, or with its content at `contentAt` in the spool. */
function layerEntry(f: HeaderFile, linkTo: string | undefined, contentAt: number | undefined, spool: SpoolWriter, where: string): SourcedEntry {
  if (f.type === 'socket') throw new UserError(`${where}: "${f.name}" is a socket, which a layer cannot hold`);
  const entry: SourcedEntry = {
    path: f.path, type: f.type, mode: f.mode & 0o7777, uid: 0, gid: 0, mtime: f.mtime, size: 0,
    uname: f.user, gname: f.group, origin: `${where}: ${f.name}`,
  };
  if (linkTo !== undefined) {
    entry.type = 'hardlink';
    entry.linkname = linkTo;
  } else if (f.type === 'file') {
    entry.size = f.size;
    if (contentAt !== undefined) entry.open = spool.opener(contentAt, f.size);
  } else if (f.type === 'symlink') {
    entry.linkname = f.linkto;
  } else if (f.type === 'char' || f.type === 'block') {
    // FILERDEVS holds the old 16-bit dev_t: major in the high byte, minor in the low one.
    entry.devmajor = (f.rdev >> 8) & 0xff;
    entry.devminor = f.rdev & 0xff;
  }
  return entry;
}

/**
 * Reads a package file in one streaming pass: lead (a binary package), signature header, header (its
 * digest and, with keys, its signatures checked before anything else), then the payload, decompressed
 * as PAYLOADCOMPRESSOR says, through the cpio reader while its compressed bytes are hashed. The entries
 * come from the header's file list, the payload gives only contents, spooled into one file in
 * `spoolDir` and checked against FILEDIGESTS. `where` names the package in errors.
 */
export async function readRpm(path: string, where: string, spoolDir: string, options: RpmReadOptions = {}): Promise<RpmContents> {
  const reader = new ByteReader(createReadStream(path, { highWaterMark: 1 << 20 }));
  const spoolPath = join(spoolDir, `rpm-content-${spoolCounter++}.spool`);
  let spool: SpoolWriter | undefined;
  let cpio: CpioReader | undefined;
  try {
    const lead = await readLead(reader, where);
    if (lead.type !== 'binary') throw new UserError(`${where}: a source package, not a binary one`);
    const signature = await readPackageHeader(reader, 'signature', where);
    const header = await readPackageHeader(reader, 'header', where);
    const h = header.header;
    const verifier = new RpmVerifier(where, signature.header, header);
    const signedBy: string[] = [];
    if (options.keys) {
      const checked = await verifyHeaderSignatures(signature.header, header, options.keys, where);
      verifier.checked.push(...checked.checked);
      signedBy.push(...checked.signedBy);
    }
    const arch = h.string(RpmTag.ARCH) ?? '';
    if (options.architectures && arch !== 'noarch' && !options.architectures.includes(arch)) {
      throw new UserError(`${where}: the package is for ${arch || 'no architecture'}, the image for ${options.architectures.join(', ')}`);
    }
    const os = h.string(RpmTag.OS);
    if (options.architectures && os !== undefined && os.toLowerCase() !== 'linux') throw new UserError(`${where}: the package is for ${os}, not Linux`);
    const format = h.string(RpmTag.PAYLOADFORMAT) ?? 'cpio';
    if (format !== 'cpio') throw new UserError(`${where}: unsupported payload format "${format}" (rpm packages carry cpio)`);

    const files = headerFiles(h, where);
    const skip = leftOut(files, h.strings(RpmTag.DIRNAMES), h.numbers(RpmTag.DIRINDEXES), options);
    const created = files.map((f, i) => !skip[i] && !(f.flags & RpmFileFlag.GHOST) && f.path !== '');
    const digestAlgo = h.numbers(RpmTag.FILEDIGESTALGO)[0] ?? 1;
    const digestName = PGP_HASH.get(digestAlgo);
    if (!digestName) throw new UserError(`${where}: unknown file digest algorithm ${digestAlgo}`);
    const byName = new Map<string, number>();
    files.forEach((f, i) => byName.set(f.name, i));
    // Which file of a hardlink set takes the content: the first created one, as rpm's fsm writes it.
    const holderOf = (i: number): number | undefined => {
      const set = files[i]!.links;
      if (!set) return created[i] ? i : undefined;
      return set.find((k) => created[k]);
    };

    // The payload: its compressed bytes hashed as they pass, then decompressed and read as cpio.
    const compressedSource = (async function* () {
      for (;;) {
        const chunk = await reader.readSome(1 << 20);
        if (chunk.length === 0) return;
        verifier.payload(chunk);
        yield chunk;
      }
    })();
    const payloadName = `${where}: payload`;
    const archive = await decompressPayload(compressedSource, h.string(RpmTag.PAYLOADCOMPRESSOR) ?? 'gzip', payloadName);
    cpio = new CpioReader(archive, payloadName);
    spool = new SpoolWriter(spoolPath, { hash: true });
    const contentAt = new Map<number, number>();
    const found = new Array<boolean>(files.length).fill(false);
    const folders = new Set<string>();
    for (;;) {
      const member = await cpio.next();
      if (!member) break;
      let i: number | undefined;
      if (member.index !== undefined) {
        if (member.index >= files.length) throw new UserError(`${payloadName}: a member names file ${member.index}, the package has ${files.length}`);
        i = member.index;
      } else {
        const name = member.name!.replace(/^\.?\/*/, '/');
        i = byName.get(name);
        if (i === undefined) throw new UserError(`${payloadName}: "${member.name}" is not in the package's file list`);
      }
      const f = files[i]!;
      // rpm < 4.11 sometimes put %ghost files into the payload; rpm skips them.
      if (f.flags & RpmFileFlag.GHOST) continue;
      if (found[i]) throw new UserError(`${payloadName}: "${f.name}" is in the payload twice`);
      found[i] = true;
      // As rpm does, the header says how much data follows: a file's content (in a hardlink set only
      // with the last name), a symlink's target; newc headers must agree.
      const hasContent = f.type === 'file' && (!f.links || f.links[f.links.length - 1] === i);
      const size = hasContent || f.type === 'symlink' ? f.size : 0;
      if (member.index === undefined && member.size !== size) throw new UserError(`${payloadName}: "${f.name}" has ${member.size} bytes in the payload, the header says ${size}`);
      cpio.setSize(size);
      if (!hasContent) continue;
      const holder = holderOf(i);
      if (holder === undefined) continue;
      const hash: Hash = createHash(digestName);
      const start = spool.size;
      for await (const chunk of cpio.data()) {
        hash.update(chunk);
        await spool.append(chunk);
      }
      const digest = hash.digest('hex');
      if (f.digest !== '' && digest !== f.digest) throw new UserError(`${where}: "${f.name}" does not match its digest in the header (${digestName} ${f.digest}, its content gives ${digest})`);
      if (size > 0) contentAt.set(holder, start);
      if (holder !== i && !created[i]) folders.add(parentPath(f.path));
    }
    await cpio.finish();
    const missing = files.findIndex((f, i) => !found[i] && !(f.flags & RpmFileFlag.GHOST));
    if (missing >= 0) throw new UserError(`${payloadName}: "${files[missing]!.name}" is in the header but not in the payload`);
    // The rest of the file (nothing, normally) still counts for the payload digest and size.
    for await (const _ of compressedSource);
    verifier.finish(cpio.position);
    if (options.keys) {
      const checked = await verifyLegacySignatures(path, signature.header, header, options.keys, where);
      verifier.checked.push(...checked.checked);
      signedBy.push(...checked.signedBy);
    }
    const written = await spool.finish(where);

    const entries: SourcedEntry[] = [];
    const offsets: number[] = [];
    const digests = new Map<string, string>();
    files.forEach((f, i) => {
      if (f.type === 'file' && f.digest !== '') digests.set(f.path, f.digest);
      if (!created[i]) return;
      const holder = f.type === 'file' ? holderOf(i)! : i;
      const start = holder === i ? contentAt.get(i) : undefined;
      const entry = layerEntry(f, holder === i ? undefined : files[holder]!.path, start, spool!, where);
      const at = start ?? -1;
      entries.push(entry);
      offsets.push(at);
    });
    return {
      lead,
      header: header.blob,
      signature: signature.blob,
      parsedHeader: h,
      parsedSignature: signature.header,
      entries,
      files: files.map((f, i) => ({ path: f.path, flags: f.flags, mode: f.mode, state: skip[i] ? RpmFileState.NOTINSTALLED : RpmFileState.NORMAL, installed: created[i]! })),
      folders: [...folders].filter((d) => d !== ''),
      digests,
      digestAlgorithm: digestName,
      spool: { path: written.path, size: written.size, offsets, sha256: written.sha256! },
      verification: { checked: verifier.checked, signedBy },
    };
  } catch (err) {
    spool?.destroy();
    throw err;
  } finally {
    await cpio?.close();
    await reader.close();
  }
}

/**
 * The folders rpm creates for installed files whose parents no entry gives (lib/fsm.cc ensureDir):
 * mode 0755 (rpm's _dirPerms), owned by the installing user, root. Give `mtime` for reproducible
 * layers (rpm leaves the time of installation), and RpmContents.folders. In an image, only parents no
 * package of the set owns.
 */
export function rpmParentDirectories(entries: readonly SourcedEntry[], mtime = 0, folders: readonly string[] = []): SourcedEntry[] {
  const have = new Set(entries.map((e) => e.path));
  const made = new Map<string, SourcedEntry>();
  const make = (start: string, origin: string) => {
    for (let dir = start; dir !== '' && !have.has(dir) && !made.has(dir); dir = parentPath(dir)) {
      made.set(dir, { path: dir, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime, size: 0, origin });
    }
  };
  for (const e of entries) make(parentPath(e.path), `folder rpm creates for ${e.origin}`);
  for (const folder of folders) make(folder, `folder rpm creates while writing a hardlink's content (${folder})`);
  return [...made.values()];
}

/** name → id from a passwd or group file (first line wins, as getpwnam reads it). */
function idsByName(text: string): Map<string, number> {
  const ids = new Map<string, number>();
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields.length < 3 || fields[0] === '' || ids.has(fields[0]!)) continue;
    if (!/^\d+$/.test(fields[2]!)) continue;
    ids.set(fields[0]!, Number(fields[2]));
  }
  return ids;
}

/**
 * Gives entries the ids their owner names have in the image's own /etc/passwd and /etc/group (from the
 * `setup` package and %pre scriptlets), as rpm does when installing (lib/rpmfi.cc rpmfilesStat): "root"
 * is always 0; an unknown user or group becomes root, with a warning, and loses the setuid or setgid
 * bit. Returns the mapped entries and the unknown names (to warn about, as rpm does).
 */
export function mapOwners(entries: readonly SourcedEntry[], passwdText: string, groupText: string): { entries: SourcedEntry[]; unknownUsers: string[]; unknownGroups: string[] } {
  const users = idsByName(passwdText);
  const groups = idsByName(groupText);
  const unknownUsers = new Set<string>();
  const unknownGroups = new Set<string>();
  const mapped = entries.map((e) => {
    const out: SourcedEntry = { ...e };
    if (e.uname !== undefined) {
      const uid = e.uname === 'root' ? 0 : users.get(e.uname);
      if (uid === undefined) {
        unknownUsers.add(e.uname);
        out.uid = 0;
        out.mode &= ~0o4000;
      } else out.uid = uid;
    }
    if (e.gname !== undefined) {
      const gid = e.gname === 'root' ? 0 : groups.get(e.gname);
      if (gid === undefined) {
        unknownGroups.add(e.gname);
        out.gid = 0;
        out.mode &= ~0o2000;
      } else out.gid = gid;
    }
    return out;
  });
  return { entries: mapped, unknownUsers: [...unknownUsers].sort(), unknownGroups: [...unknownGroups].sort() };
}
