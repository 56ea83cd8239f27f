import sax from 'sax';
import { UserError } from '../../errors.js';
import { parseChecksum, type Checksum } from '../fetch/checksum.js';
import { attribute } from './repomd.js';

/** Mirrors of one repository, best first, and (from a metalink) the checksums repomd.xml may have. */
export interface MirrorSet {
  /** Base URLs (without `repodata/repomd.xml` and without a trailing slash). */
  baseUrls: string[];
  /**
   * From a metalink: one checksum per acceptable repomd.xml (the current one and the alternates that
   * lagging mirrors may still serve), each the strongest the metalink gives. Empty for a mirrorlist.
   */
  repomdChecksums: Checksum[];
}

const READABLE = /^(https?|file):\/\//;

function baseOf(url: string): string {
  return url.trim().replace(/\/+$/, '').replace(/\/repodata\/repomd\.xml$/, '').replace(/\/+$/, '');
}

const STRENGTH = ['sha512', 'sha384', 'sha256', 'sha224', 'sha1'];

/**
 * Parses a metalink (MirrorManager's metalink 3.0, or RFC 5854's 4.0): the URLs of `repomd.xml`, by
 * preference, and its hashes. Hashes dnf would not trust (md5) and protocols we cannot read (rsync) are
 * skipped.
 */
export function parseMetalink(xml: string, where: string): MirrorSet {
  const parser = sax.parser(true, { trim: false, normalize: false });
  const urls: { url: string; preference: number; order: number }[] = [];
  const blocks: Map<string, string>[] = [];
  let inRepomd = false;
  let hashes: Map<string, string> | undefined;
  let hashType: string | undefined;
  let urlPreference = 0;
  let text = '';
  let sawRoot = false;
  const local = (name: string) => name.slice(name.indexOf(':') + 1);

  parser.onerror = (err) => {
    throw new UserError(`${where}: not a well-formed metalink (${err.message.split('\n')[0]})`);
  };
  parser.onopentag = (tag) => {
    text = '';
    const name = local(tag.name);
    if (!sawRoot) {
      if (name !== 'metalink') throw new UserError(`${where}: not a metalink (the root element is <${tag.name}>)`);
      sawRoot = true;
    }
    if (name === 'file') inRepomd = attribute(tag, 'name') === 'repomd.xml';
    if (!inRepomd) return;
    if (name === 'verification' || name === 'alternate') {
      hashes = new Map();
      blocks.push(hashes);
    } else if (name === 'hash') {
      hashType = attribute(tag, 'type')?.toLowerCase().replace('-', '');
    } else if (name === 'url') {
      const preference = Number(attribute(tag, 'preference') ?? 100 - Number(attribute(tag, 'priority') ?? 0));
      urlPreference = Number.isFinite(preference) ? preference : 0;
    }
  };
  parser.ontext = (t) => {
    text += t;
  };
  parser.onclosetag = (tagName) => {
    const name = local(tagName);
    if (name === 'file') inRepomd = false;
    if (!inRepomd) return;
    if (name === 'hash' && hashes && hashType && !hashes.has(hashType)) hashes.set(hashType === 'sha' ? 'sha1' : hashType, text.trim());
    else if (name === 'url' && READABLE.test(text.trim())) urls.push({ url: baseOf(text), preference: urlPreference, order: urls.length });
    else if (name === 'verification' || name === 'alternate') hashes = undefined;
  };
  parser.write(xml).close();
  if (!sawRoot) throw new UserError(`${where}: empty, not a metalink`);

  const repomdChecksums: Checksum[] = [];
  for (const block of blocks) {
    const strongest = STRENGTH.find((algorithm) => block.has(algorithm));
    if (strongest) repomdChecksums.push(parseChecksum(strongest, block.get(strongest)!, `${where}: repomd.xml ${strongest} hash`));
  }
  if (!repomdChecksums.length) throw new UserError(`${where}: the metalink gives no usable checksum of repomd.xml (sha1 or stronger)`);
  urls.sort((a, b) => b.preference - a.preference || a.order - b.order);
  const baseUrls = [...new Set(urls.map((u) => u.url))];
  if (!baseUrls.length) throw new UserError(`${where}: the metalink lists no http, https or file URL of repomd.xml`);
  return { baseUrls, repomdChecksums };
}

/**
 * Parses a mirrorlist: one base URL a line, `#` comments (a mirrorlist URL may also answer with a
 * metalink, which dnf accepts too).
 */
export function parseMirrorlist(text: string, where: string): MirrorSet {
  if (/^\s*(<\?xml|<metalink)/.test(text)) return parseMetalink(text, where);
  const baseUrls: string[] = [];
  for (const line of text.split('\n')) {
    const url = line.trim();
    if (!url || url.startsWith('#')) continue;
    if (READABLE.test(url)) baseUrls.push(baseOf(url));
  }
  if (!baseUrls.length) throw new UserError(`${where}: the mirrorlist lists no http, https or file URL`);
  return { baseUrls: [...new Set(baseUrls)], repomdChecksums: [] };
}
