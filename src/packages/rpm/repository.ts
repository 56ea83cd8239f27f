import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import type * as openpgp from 'openpgp';
import { openDecompressed } from '../../compression/decompress.js';
import { sniffCompression, type ArchiveCompression } from '../../compression/detect.js';
import { UserError, errorMessage } from '../../errors.js';
import { readChecked, tryWriteChecked } from '../fetch/checked-record.js';
import { NotFoundError, type HttpOptions } from '../fetch/http.js';
import { isFileUrl, urlBytes, urlToFile } from '../fetch/url.js';
import type { ContentStore } from '../fetch/store.js';
import { findVerified, formatChecksum, putVerified, type Checksum } from '../fetch/checksum.js';
import { parseMetalink, parseMirrorlist, type MirrorSet } from './mirrors.js';
import type { RpmRepoConfig } from './repo-config.js';
import { parseRepomd, type Repomd, type RepomdData, type RpmLocation } from './repomd.js';
import { readPublicKeys } from '../signing-keys.js';

export type RpmKeyring = openpgp.PublicKey[];

export interface RpmRepositoryOptions {
  store: ContentStore;
  /** Use only what the store and the saved repomd.xml files hold. */
  offline?: boolean;
  /** Keys repomd.xml must be signed with (a signature is then required even without repo_gpgcheck). */
  keys?: RpmKeyring;
  /** Notes for the user (a mirror that failed and was skipped). */
  log?: (message: string) => void;
  http?: HttpOptions;
}

/** One metadata file of a repository, verified against repomd.xml and kept in the store. */
export interface RpmMetadataFile {
  /** repomd's data type: `primary`, `filelists`, `group`, `group_gz`, … */
  type: string;
  url: string;
  /** The verified copy in the store. */
  path: string;
  compression: ArchiveCompression;
  checksum: Checksum;
  size?: number;
  /** The checksum and size of the decompressed bytes, checked by openMetadata as it streams. */
  openChecksum?: Checksum;
  openSize?: number;
}

/** A repository whose repomd.xml is verified and whose primary, filelists and comps are in the store. */
export interface RpmRepository {
  config: RpmRepoConfig;
  /** The base URL (mirror) the metadata came from; packages are fetched from it too. */
  baseUrl: string;
  repomdUrl: string;
  revision?: string;
  repomd: Repomd;
  /** SHA-256 of repomd.xml: names the repository's exact metadata (for caches and lockfiles). */
  repomdSha256: string;
  /** repomd.xml's detached signature was verified. */
  signed: boolean;
  /** The repository's gpgkey keys (loaded when gpgcheck or repo_gpgcheck asks for them), for packages. */
  keys: RpmKeyring;
  primary: RpmMetadataFile;
  filelists: RpmMetadataFile;
  /** comps (groups), when the repository has them. */
  group?: RpmMetadataFile;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/**
 * The URL of a file repository metadata locates (a package's `<location>`, a metadata file's): its href
 * under the repository's base URL, or under its `xml:base` when it has one (createrepo_c's --baseurl).
 */
export function rpmLocationUrl(baseUrl: string, location: RpmLocation): string {
  return `${trimSlash(location.base ?? baseUrl)}/${location.href.replace(/^\/+/, '')}`;
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}


/** Where a key fetched over the network is kept, so --offline builds can verify with it again. */
function savedKeyPath(store: ContentStore, url: string): string {
  return join(store.root, 'rpm-keys', sha256(url));
}

/** Signing keys downloaded by this process, by URL. */
const keyDownloads = new Map<string, Promise<Buffer>>();

/**
 * The keys of a repository's `gpgkey` URLs. `file://` keys are read where they are; keys from the
 * network are saved in the store (trust on first use, as dnf imports them) for --offline builds.
 */
export async function loadRpmRepoKeys(repo: Pick<RpmRepoConfig, 'id' | 'gpgkey'>, options: Pick<RpmRepositoryOptions, 'store' | 'offline' | 'http'>): Promise<RpmKeyring> {
  const keys: RpmKeyring = [];
  for (const url of repo.gpgkey) {
    const where = `repository "${repo.id}": gpgkey ${url}`;
    let data: Buffer;
    if (isFileUrl(url)) {
      data = await urlBytes(url).catch((err: unknown) => {
        throw new UserError(`${where}: ${errorMessage(err)}`);
      });
    } else if (options.offline) {
      const saved = await readChecked(savedKeyPath(options.store, url));
      if (typeof saved !== 'string') throw new UserError(`${where}: not in the cache, and --offline forbids downloading it`);
      data = Buffer.from(saved, 'base64');
    } else {
      // A build reads the keys up to three times (the repository, the build cache's key, the signature
      // check): downloaded once per process.
      let download = keyDownloads.get(url);
      if (!download) {
        download = urlBytes(url, options.http).then(async (bytes) => {
          await tryWriteChecked(savedKeyPath(options.store, url), bytes.toString('base64'));
          return bytes;
        });
        keyDownloads.set(url, download);
        download.catch(() => keyDownloads.delete(url));
      }
      data = await download;
    }
    keys.push(...(await readPublicKeys(data, where)));
  }
  return keys;
}

/** Checks a detached OpenPGP signature (`repomd.xml.asc`) of `data` against the keys. */
export async function verifyDetachedSignature(data: Buffer, signatureBytes: Buffer, keys: RpmKeyring, where: string): Promise<void> {
  // Loaded when a signature is checked: the library is large, and most warm builds of unsigned repositories need none of it.
  const openpgp = await import('openpgp');
  let signature: openpgp.Signature;
  try {
    const text = signatureBytes.toString('latin1');
    signature = text.includes('-----BEGIN PGP SIGNATURE-----')
      ? await openpgp.readSignature({ armoredSignature: text })
      : await openpgp.readSignature({ binarySignature: signatureBytes });
  } catch (err) {
    throw new UserError(`${where}.asc: not an OpenPGP signature (${errorMessage(err)})`);
  }
  const message = await openpgp.createMessage({ binary: data });
  const failures: string[] = [];
  try {
    const result = await openpgp.verify({ message, signature, verificationKeys: keys, format: 'binary' });
    for (const s of result.signatures) {
      try {
        await s.verified;
        return;
      } catch (err) {
        failures.push(`key ${s.keyID.toHex()}: ${errorMessage(err)}`);
      }
    }
  } catch (err) {
    failures.push(errorMessage(err));
  }
  throw new UserError(`${where}: the signature ${where}.asc does not verify with the repository's keys (${failures.join('; ') || 'no signatures'})`);
}

/** The last verified repomd.xml (and signature) of a repository, kept for --offline builds. */
interface SavedRepomd {
  baseUrl: string;
  repomd: string;
  signature?: string;
}

function isSavedRepomd(value: unknown): value is SavedRepomd {
  if (typeof value !== 'object' || value === null || !('baseUrl' in value) || !('repomd' in value)) return false;
  const signature = 'signature' in value ? value.signature : undefined;
  return typeof value.baseUrl === 'string' && typeof value.repomd === 'string' && (signature === undefined || typeof signature === 'string');
}

/** Saved under the URL the repository is known by: its base URL, or its mirrorlist or metalink. */
function savedRepomdPath(store: ContentStore, identity: string): string {
  return join(store.root, 'rpm-repomd', sha256(identity));
}

interface FetchedRepomd {
  baseUrl: string;
  bytes: Buffer;
  signature?: Buffer;
}

interface Verification {
  repo: RpmRepoConfig;
  keys: RpmKeyring;
  needSignature: boolean;
}

async function verifyRepomd(fetched: FetchedRepomd, v: Verification, repomdChecksums: Checksum[] = []): Promise<Repomd> {
  const url = `${fetched.baseUrl}/repodata/repomd.xml`;
  if (v.needSignature) {
    if (!fetched.signature) throw new UserError(`${url}: repository "${v.repo.id}" requires a signed repomd.xml (repo_gpgcheck=1 or a key given), but ${url}.asc is missing`);
    await verifyDetachedSignature(fetched.bytes, fetched.signature, v.keys, url);
  }
  if (repomdChecksums.length) {
    const ok = repomdChecksums.some((c) => createHash(c.algorithm).update(fetched.bytes).digest('hex') === c.value);
    if (!ok) throw new UserError(`${url}: does not match the metalink's checksums (${repomdChecksums.map(formatChecksum).join(', ')}): a stale or tampered mirror`);
  }
  return parseRepomd(fetched.bytes, url);
}

async function downloadRepomd(baseUrl: string, v: Verification, http?: HttpOptions): Promise<FetchedRepomd> {
  const url = `${baseUrl}/repodata/repomd.xml`;
  const bytes = await urlBytes(url, http);
  const fetched: FetchedRepomd = { baseUrl, bytes };
  if (v.needSignature) {
    try {
      fetched.signature = await urlBytes(`${url}.asc`, http);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }
  return fetched;
}

/** The mirrors to try: baseurl when given (a mirrorlist or metalink beside it is then not fetched), else the list's. */
async function mirrorsOf(repo: RpmRepoConfig, http?: HttpOptions): Promise<MirrorSet> {
  if (repo.baseurl.length) return { baseUrls: repo.baseurl.map(trimSlash), repomdChecksums: [] };
  const list = repo.metalink ?? repo.mirrorlist!;
  const text = (await urlBytes(list, http)).toString('utf8');
  return repo.metalink ? parseMetalink(text, list) : parseMirrorlist(text, list);
}

/** The URL a repository is known by for the saved repomd.xml: the mirror's base URL, or the list's URL. */
function identityOf(repo: RpmRepoConfig, baseUrl: string): string {
  return repo.baseurl.length ? baseUrl : (repo.metalink ?? repo.mirrorlist!);
}

async function saveRepomd(store: ContentStore, repo: RpmRepoConfig, fetched: FetchedRepomd): Promise<void> {
  const record: SavedRepomd = { baseUrl: fetched.baseUrl, repomd: fetched.bytes.toString('base64') };
  if (fetched.signature) record.signature = fetched.signature.toString('base64');
  await tryWriteChecked(savedRepomdPath(store, identityOf(repo, fetched.baseUrl)), record);
}

async function openRepomd(repo: RpmRepoConfig, v: Verification, options: RpmRepositoryOptions): Promise<{ fetched: FetchedRepomd; repomd: Repomd }> {
  const identities = repo.baseurl.length ? repo.baseurl.map(trimSlash) : [repo.metalink ?? repo.mirrorlist!];
  if (options.offline) {
    for (const identity of identities) {
      const saved = await readChecked(savedRepomdPath(options.store, identity));
      if (!isSavedRepomd(saved)) continue;
      const fetched: FetchedRepomd = { baseUrl: saved.baseUrl, bytes: Buffer.from(saved.repomd, 'base64') };
      if (saved.signature !== undefined) fetched.signature = Buffer.from(saved.signature, 'base64');
      return { fetched, repomd: await verifyRepomd(fetched, v) };
    }
    const shown = repo.baseurl.length ? `${identities[0]}/repodata/repomd.xml` : `repomd.xml (from ${identities[0]})`;
    throw new UserError(`repository "${repo.id}": ${shown} is not in the cache, and --offline forbids downloading it`);
  }
  const mirrors = await mirrorsOf(repo, options.http);
  const failures: string[] = [];
  for (const baseUrl of mirrors.baseUrls) {
    let fetched: FetchedRepomd;
    try {
      fetched = await downloadRepomd(baseUrl, v, options.http);
    } catch (err) {
      // Only downloads happen here, so any UserError means this mirror is unreachable or lacks the file.
      if (!(err instanceof UserError)) throw err;
      failures.push(errorMessage(err));
      if (baseUrl !== mirrors.baseUrls.at(-1)) options.log?.(`repository "${repo.id}": ${errorMessage(err)}; trying the next mirror`);
      continue;
    }
    // A mirror that serves a bad signature or a bad repomd is refused, not skipped: tampering is an error.
    return { fetched, repomd: await verifyRepomd(fetched, v, mirrors.repomdChecksums) };
  }
  throw new UserError(`repository "${repo.id}" (${repo.source}): repomd.xml is not available from any mirror (${failures.join('; ')})`);
}

/** The compression a stored file has, from its first bytes. */
async function compressionOf(path: string): Promise<ArchiveCompression> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(6);
    const { bytesRead } = await handle.read(head, 0, 6, 0);
    return sniffCompression(head.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

/** Takes a metadata file from the store or fetches it, verified against repomd's checksum and size. */
async function fetchMetadata(baseUrl: string, data: RepomdData, options: RpmRepositoryOptions): Promise<RpmMetadataFile> {
  const url = rpmLocationUrl(baseUrl, data.location);
  let path = await findVerified(options.store, data.checksum, data.size);
  if (!path) {
    if (options.offline) throw new UserError(`${url}: not in the cache, and --offline forbids downloading it`);
    path = await putVerified(options.store, data.checksum, (tmp) => urlToFile(url, tmp, undefined, options.http), url, data.size);
  }
  const compression = await compressionOf(path);
  if (compression === 'bzip2') throw new UserError(`${url}: bzip2-compressed metadata is not supported (make the repository with createrepo_c's default gz, or xz or zstd)`);
  const file: RpmMetadataFile = { type: data.type, url, path, compression, checksum: data.checksum };
  if (data.size !== undefined) file.size = data.size;
  if (data.openChecksum) file.openChecksum = data.openChecksum;
  if (data.openSize !== undefined) file.openSize = data.openSize;
  return file;
}

/** comps as createrepo_c and modifyrepo_c list it, compressed forms first (smaller to fetch). */
const GROUP_TYPES = ['group_gz', 'group_xz', 'group_zst', 'group'];

/** comps, in the first form listed that the mirror has. */
async function fetchGroup(baseUrl: string, repomd: Repomd, options: RpmRepositoryOptions): Promise<RpmMetadataFile | undefined> {
  const groups = GROUP_TYPES.map((t) => repomd.data.get(t)).filter((d): d is RepomdData => d !== undefined);
  for (const [i, data] of groups.entries()) {
    try {
      return await fetchMetadata(baseUrl, data, options);
    } catch (err) {
      // A form the mirror lacks is worth another form of the same comps; a bad file is not.
      if (!(err instanceof NotFoundError) || i === groups.length - 1) throw err;
      options.log?.(`${errorMessage(err)}; using the repository's ${groups[i + 1]!.type} instead`);
    }
  }
  return undefined;
}

/**
 * Opens a YUM/DNF repository: repomd.xml fetched (from the first mirror that has it) and, when the
 * repository says repo_gpgcheck=1 or `keys` are given, verified against its detached signature; then
 * primary, filelists and comps fetched into the store, each verified against repomd's checksum and
 * size before use. Offline, the last verified repomd.xml is verified again and the files come from the
 * store.
 */
export async function openRpmRepository(repo: RpmRepoConfig, options: RpmRepositoryOptions): Promise<RpmRepository> {
  const keys = repo.gpgcheck || repo.repoGpgcheck ? await loadRpmRepoKeys(repo, options) : [];
  const given = options.keys ?? [];
  const needSignature = repo.repoGpgcheck || given.length > 0;
  if (repo.repoGpgcheck && !keys.length && !given.length) {
    throw new UserError(`${repo.source}: repository "${repo.id}" has repo_gpgcheck=1 but no gpgkey to verify repomd.xml with`);
  }
  const verification: Verification = { repo, keys: [...given, ...keys], needSignature };
  const { fetched, repomd } = await openRepomd(repo, verification, options);
  const repomdUrl = `${fetched.baseUrl}/repodata/repomd.xml`;

  const primaryData = repomd.data.get('primary');
  const filelistsData = repomd.data.get('filelists');
  if (!primaryData) throw new UserError(`${repomdUrl}: lists no primary metadata`);
  if (!filelistsData) throw new UserError(`${repomdUrl}: lists no filelists metadata`);
  // Fetched side by side; all settle before a failure is reported, so none is left half-written.
  const fetches = [
    fetchMetadata(fetched.baseUrl, primaryData, options),
    fetchMetadata(fetched.baseUrl, filelistsData, options),
    fetchGroup(fetched.baseUrl, repomd, options),
  ] as const;
  await Promise.allSettled(fetches);
  const [primary, filelists, group] = await Promise.all(fetches);
  // Saved only once its files are in the store: --offline then finds the last complete state.
  if (!options.offline) await saveRepomd(options.store, repo, fetched);

  const repository: RpmRepository = {
    config: repo,
    baseUrl: fetched.baseUrl,
    repomdUrl,
    repomd,
    repomdSha256: sha256(fetched.bytes),
    signed: needSignature,
    keys,
    primary,
    filelists,
  };
  if (repomd.revision !== undefined) repository.revision = repomd.revision;
  if (group) repository.group = group;
  return repository;
}

/** Checks decompressed bytes against repomd's open-checksum and open-size as they stream past. */
class OpenChecksumVerifier extends Transform {
  private readonly hash: Hash;
  private length = 0;

  constructor(
    private readonly file: RpmMetadataFile,
    private readonly expected: Checksum | undefined,
  ) {
    super();
    this.hash = createHash(expected?.algorithm ?? 'sha256');
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.length += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    const { file, expected } = this;
    if (file.openSize !== undefined && this.length !== file.openSize) {
      done(new UserError(`${file.url}: decompressed size mismatch: expected ${file.openSize} bytes, got ${this.length}`));
      return;
    }
    const actual = this.hash.digest('hex');
    if (expected && actual !== expected.value) {
      done(new UserError(`${file.url}: decompressed ${expected.algorithm.toUpperCase()} mismatch: expected ${expected.value}, got ${actual}`));
      return;
    }
    done();
  }
}

/**
 * The decompressed bytes of a metadata file, streamed (a 17,000-package primary is never held whole).
 * The stream fails with a UserError if the decompressed bytes do not match repomd's open-checksum.
 */
export async function openMetadata(file: RpmMetadataFile): Promise<Readable> {
  const { stream } = await openDecompressed(createReadStream(file.path, { highWaterMark: 1 << 20 }), file.url);
  if (!file.openChecksum && file.openSize === undefined) return stream;
  const verifier = new OpenChecksumVerifier(file, file.openChecksum);
  // pipeline, not pipe: a consumer that stops early (destroys the result) also closes the file.
  return pipeline(stream, verifier, () => {});
}
