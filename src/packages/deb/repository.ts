import { readFile } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { openDecompressed } from '../../compression/decompress.js';
import { UserError } from '../../errors.js';
import { httpGetBytes, httpGetToFile, NotFoundError } from '../fetch/http.js';
import type { ContentStore } from '../fetch/store.js';
import { writeFileAtomic } from '../../fs/temp.js';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parsePackagesIndex, type DebPackage } from './package.js';
import { checkFreshness, parseRelease, verifyInRelease, type Keyring, type ReleaseFile } from './release.js';

export interface RepositoryConfig {
  /** Mirror base URI, e.g. the `URIs:` of an apt source. */
  uri: string;
  suite: string;
  components: string[];
  keyring: Keyring;
}

export interface RepositoryOptions {
  store: ContentStore;
  /** Use only what the store and the saved InRelease files have. */
  offline?: boolean;
  /** Sees the count of index paragraphs parsed so far. */
  onParsed?: (packages: number) => void;
  now?: Date;
}

/** One suite of one mirror, verified: its Release file and the packages of its indexes. */
export interface Repository {
  config: RepositoryConfig;
  release: ReleaseFile;
  packages: DebPackage[];
}

function trimSlash(uri: string): string {
  return uri.replace(/\/+$/, '');
}

/** Where the last verified InRelease of a suite is kept, for --offline builds (verified again on use). */
function savedInReleasePath(store: ContentStore, url: string): string {
  return join(store.root, 'inrelease', createHash('sha256').update(url).digest('hex'));
}

async function fetchInRelease(url: string, options: RepositoryOptions): Promise<string> {
  const saved = savedInReleasePath(options.store, url);
  if (options.offline) {
    try {
      return await readFile(saved, 'utf8');
    } catch {
      throw new UserError(`${url}: not in the cache, and --offline forbids downloading it`);
    }
  }
  const text = (await httpGetBytes(url)).toString('utf8');
  await mkdir(join(options.store.root, 'inrelease'), { recursive: true });
  await writeFileAtomic(saved, text);
  return text;
}

/** Fetches (or takes from the store) one index file named in the Release file, checked by SHA256. */
async function fetchIndex(base: string, release: ReleaseFile, path: string, options: RepositoryOptions): Promise<string> {
  const entry = release.sha256.get(path)!;
  const dir = path.slice(0, path.lastIndexOf('/'));
  // Acquire-By-Hash: the file under its hash name cannot change while we read it (mirror updates).
  const url = release.acquireByHash ? `${base}/${dir}/by-hash/SHA256/${entry.hash}` : `${base}/${path}`;
  const cached = await options.store.get(entry.hash, entry.size);
  if (cached) return cached;
  if (options.offline) throw new UserError(`${url}: not in the cache, and --offline forbids downloading it`);
  return options.store.put(entry.hash, (tmp) => httpGetToFile(url, tmp), url, entry.size);
}

/**
 * Parses an index as it is decompressed, a chunk of paragraphs at a time, so the ~45 MB text is never
 * held twice (as bytes and as a string) on top of the parsed packages.
 */
async function readPackagesIndex(path: string, what: string, repository: string, origin: string, onParsed?: (n: number) => void): Promise<DebPackage[]> {
  const { stream } = await openDecompressed(createReadStream(path, { highWaterMark: 1 << 20 }), what);
  const decoder = new StringDecoder('utf8');
  const packages: DebPackage[] = [];
  let rest = '';
  for await (const chunk of stream) {
    const text = rest + decoder.write(chunk as Buffer);
    const end = text.lastIndexOf('\n\n');
    if (end === -1) {
      rest = text;
      continue;
    }
    packages.push(...parsePackagesIndex(text.slice(0, end), repository, origin));
    onParsed?.(packages.length);
    rest = text.slice(end + 2);
  }
  packages.push(...parsePackagesIndex(rest + decoder.end(), repository, origin));
  return packages;
}

/** A suite whose InRelease is verified, with the indexes it will read (not yet fetched). */
export interface OpenedSuite {
  config: RepositoryConfig;
  release: ReleaseFile;
  base: string;
  /** One Packages index per component: its path in the Release file and its verified SHA256. */
  indexes: { component: string; path: string; sha256: string }[];
}

/**
 * Opens a suite: InRelease fetched and its signature verified against the keyring, Valid-Until
 * checked, and each component's Packages index for `arch` chosen (xz, gz or plain, whichever the
 * Release lists first). The indexes' SHA256s identify the suite's exact content.
 */
export async function openSuite(config: RepositoryConfig, arch: string, options: RepositoryOptions): Promise<OpenedSuite> {
  const base = `${trimSlash(config.uri)}/dists/${config.suite}`;
  const inReleaseUrl = `${base}/InRelease`;
  let signed: string;
  try {
    signed = await fetchInRelease(inReleaseUrl, options);
  } catch (err) {
    if (err instanceof NotFoundError) throw new UserError(`suite "${config.suite}" is not on the mirror ${trimSlash(config.uri)} (no dists/${config.suite}/InRelease)`);
    throw err;
  }
  const text = await verifyInRelease(signed, config.keyring, inReleaseUrl);
  const release = parseRelease(text, inReleaseUrl);
  checkFreshness(release, inReleaseUrl, options.now);

  const indexes: OpenedSuite['indexes'] = [];
  for (const component of config.components) {
    if (release.components.length && !release.components.includes(component) && !release.components.some((c) => c.endsWith(`/${component}`))) {
      throw new UserError(`suite "${config.suite}" has no component "${component}" (it has: ${release.components.join(', ')})`);
    }
    const stem = `${component}/binary-${arch}/Packages`;
    const path = [`${stem}.xz`, `${stem}.gz`, stem].find((p) => release.sha256.has(p));
    if (!path) throw new UserError(`suite "${config.suite}" has no ${component} packages for ${arch} (no ${stem} in its Release file)`);
    indexes.push({ component, path, sha256: release.sha256.get(path)!.hash });
  }
  return { config, release, base, indexes };
}

/** Fetches (or takes from the store) an opened suite's indexes, each verified before it is parsed. */
export async function loadSuitePackages(suite: OpenedSuite, options: RepositoryOptions): Promise<Repository> {
  const packages: DebPackage[] = [];
  const { config, release, base } = suite;
  for (const { component, path } of suite.indexes) {
    const file = await fetchIndex(base, release, path, options);
    const before = packages.length;
    const onParsed = options.onParsed && ((n: number) => options.onParsed!(before + n));
    packages.push(...(await readPackagesIndex(file, `${base}/${path}`, trimSlash(config.uri), `${config.suite}/${component}`, onParsed)));
  }
  return { config, release, packages };
}

/** openSuite and loadSuitePackages in one. */
export async function openRepository(config: RepositoryConfig, arch: string, options: RepositoryOptions): Promise<Repository> {
  return loadSuitePackages(await openSuite(config, arch, options), options);
}
