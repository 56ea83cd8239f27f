import { readdir } from 'node:fs/promises';
import { UserError } from '../../errors.js';
import { readHostSources, type AptSource } from './apt-sources.js';

export interface SuiteSource {
  uri: string;
  /** Keyring files to verify the suite with. */
  keyrings: string[];
  /** How it was found, for progress output: `--mirror`, `FROMSCRATCH_MIRROR`, `/etc/apt/...:3`. */
  via: string;
}

export interface MirrorOptions {
  /** From --mirror or the spec: used for every suite. */
  mirror?: string;
  /** From --keyring or the spec. */
  keyrings?: string[];
  env?: NodeJS.ProcessEnv;
  /** The host's apt configuration directory (tests). */
  aptRoot?: string;
}

/** The host's archive keyrings, when nothing names one: /usr/share/keyrings/*-archive-keyring.gpg. */
export async function defaultKeyrings(dir = '/usr/share/keyrings'): Promise<string[]> {
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch {
    // none
  }
  return names.filter((n) => /-archive-keyring\.(gpg|asc)$/.test(n)).sort().map((n) => `${dir}/${n}`);
}

function keyringsOf(source: AptSource): string[] | undefined {
  if (!source.signedBy || source.signedBy.includes('BEGIN PGP')) return undefined;
  return source.signedBy.split(/[\s,]+/).filter(Boolean);
}

/**
 * Where a suite comes from. In order: the mirror the user gave (flag or spec), the FROMSCRATCH_MIRROR
 * environment variable, the host's apt source that lists this suite, and otherwise the host's apt
 * source for the same archive family (a suite of the Debian archive is served by the mirror that
 * serves another one: `-security` suites by the security mirror, the rest by the main one).
 */
export async function findSuiteSource(suite: string, options: MirrorOptions = {}): Promise<SuiteSource> {
  const env = options.env ?? process.env;
  const given = options.mirror ?? env['FROMSCRATCH_MIRROR'];
  const via = options.mirror ? '--mirror' : 'FROMSCRATCH_MIRROR';
  if (given) return { uri: given, keyrings: options.keyrings ?? (await defaultKeyrings()), via };

  const sources = await readHostSources(options.aptRoot);
  const security = suite.endsWith('-security');
  const exact = sources.find((s) => s.suites.includes(suite));
  const family = sources.find((s) => s.suites.some((x) => x.endsWith('-security') === security));
  const source = exact ?? family;
  if (source) {
    return { uri: source.uris[0]!, keyrings: options.keyrings ?? keyringsOf(source) ?? (await defaultKeyrings()), via: source.origin };
  }
  throw new UserError(
    `no mirror for suite "${suite}": the host's apt configuration (/etc/apt/sources.list, /etc/apt/sources.list.d/) lists none; ` +
      'give one with --mirror URL, the spec\'s contents.repositories, or the FROMSCRATCH_MIRROR environment variable',
  );
}
