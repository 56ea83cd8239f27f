import sax from 'sax';
import { UserError } from '../../errors.js';
import { parseChecksum, type Checksum } from '../fetch/checksum.js';

/** Where a file lies: `href` relative to the repository's base URL, or to `base` (xml:base) when given. */
export interface RpmLocation {
  href: string;
  base?: string;
}

/** One `<data type=…>` of repomd.xml: a metadata file and what it must hash to. */
export interface RepomdData {
  type: string;
  location: RpmLocation;
  checksum: Checksum;
  openChecksum?: Checksum;
  size?: number;
  openSize?: number;
  timestamp?: number;
}

export interface Repomd {
  revision?: string;
  /** By type (`primary`, `filelists`, `other`, `group`, `group_gz`, …). */
  data: Map<string, RepomdData>;
}

/** The value of a sax attribute, whichever way the parser was set up. */
export function attribute(tag: sax.Tag | sax.QualifiedTag, name: string): string | undefined {
  const value = tag.attributes[name];
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.value;
}

interface DataDraft {
  type: string;
  line: number;
  location?: RpmLocation;
  checksum?: Checksum;
  openChecksum?: Checksum;
  size?: number;
  openSize?: number;
  timestamp?: number;
}

function wholeNumber(text: string, where: string, name: string): number {
  const value = text.trim();
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new UserError(`${where}: <${name}> is not a whole number ("${value.slice(0, 40)}")`);
  return Number(value);
}

/**
 * Parses `repodata/repomd.xml` (the repository's index of metadata files, as createrepo_c writes it).
 * `where` (the URL or path) names the file in errors.
 */
export function parseRepomd(xml: string | Buffer, where: string): Repomd {
  const parser = sax.parser(true, { trim: false, normalize: false });
  const data = new Map<string, RepomdData>();
  const stack: string[] = [];
  let revision: string | undefined;
  let draft: DataDraft | undefined;
  let text = '';
  let checksumType: string | undefined;
  let sawRoot = false;
  const at = () => `${where}:${parser.line + 1}`;

  parser.onerror = (err) => {
    throw new UserError(`${where}: not a well-formed repomd.xml (${err.message.split('\n')[0]} at line ${parser.line + 1})`);
  };
  parser.onopentag = (tag) => {
    stack.push(tag.name);
    text = '';
    if (stack.length === 1) {
      if (tag.name !== 'repomd') throw new UserError(`${where}: not a repomd.xml (the root element is <${tag.name}>, not <repomd>)`);
      sawRoot = true;
      return;
    }
    if (stack.length === 2 && tag.name === 'data') {
      const type = attribute(tag, 'type');
      if (!type) throw new UserError(`${at()}: <data> without a type`);
      draft = { type, line: parser.line + 1 };
      return;
    }
    if (stack.length !== 3 || !draft) return;
    if (tag.name === 'location') {
      const href = attribute(tag, 'href');
      if (!href) throw new UserError(`${at()}: <location> of "${draft.type}" has no href`);
      const base = attribute(tag, 'xml:base');
      draft.location = base ? { href, base } : { href };
    } else if (tag.name === 'checksum' || tag.name === 'open-checksum') {
      checksumType = attribute(tag, 'type');
      if (!checksumType) throw new UserError(`${at()}: <${tag.name}> of "${draft.type}" has no type`);
    }
  };
  parser.ontext = (t) => {
    text += t;
  };
  parser.oncdata = (t) => {
    text += t;
  };
  parser.onclosetag = (name) => {
    const depth = stack.length;
    stack.pop();
    if (depth === 2 && name === 'revision') revision = text.trim();
    if (depth === 2 && name === 'data' && draft) {
      const d = draft;
      draft = undefined;
      const line = `${where}:${d.line}`;
      if (!d.location) throw new UserError(`${line}: "${d.type}" has no <location href>`);
      if (!d.checksum) throw new UserError(`${line}: "${d.type}" has no <checksum>`);
      if (data.has(d.type)) throw new UserError(`${line}: "${d.type}" is listed twice`);
      const entry: RepomdData = { type: d.type, location: d.location, checksum: d.checksum };
      if (d.openChecksum) entry.openChecksum = d.openChecksum;
      if (d.size !== undefined) entry.size = d.size;
      if (d.openSize !== undefined) entry.openSize = d.openSize;
      if (d.timestamp !== undefined) entry.timestamp = d.timestamp;
      data.set(d.type, entry);
    }
    if (depth !== 3 || !draft) return;
    const what = `${at()}: <${name}> of "${draft.type}"`;
    if (name === 'checksum') draft.checksum = parseChecksum(checksumType!, text, what);
    else if (name === 'open-checksum') draft.openChecksum = parseChecksum(checksumType!, text, what);
    else if (name === 'size') draft.size = wholeNumber(text, at(), name);
    else if (name === 'open-size') draft.openSize = wholeNumber(text, at(), name);
    else if (name === 'timestamp') draft.timestamp = wholeNumber(text, at(), name);
  };

  parser.write(typeof xml === 'string' ? xml : xml.toString('utf8')).close();
  if (!sawRoot) throw new UserError(`${where}: empty, not a repomd.xml`);
  const repomd: Repomd = { data };
  if (revision) repomd.revision = revision;
  return repomd;
}
