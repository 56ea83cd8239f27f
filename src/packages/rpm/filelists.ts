import type { Readable } from 'node:stream';
import { readXml, type XmlPosition } from './metadata-xml.js';
import { StringPool } from './package.js';

/**
 * createrepo_c puts into primary.xml only the files under /etc, in a `bin/` folder, and /usr/lib/sendmail
 * (its "primary file" rule); a file requirement on any other path needs filelists.xml, as libsolv
 * consults it. For such paths primary is complete, so only other paths are looked up here.
 */
export function inPrimaryFileList(path: string): boolean {
  return path.startsWith('/etc/') || path.includes('bin/') || path === '/usr/lib/sendmail';
}

export interface FilelistsOptions {
  /** Named in errors. */
  file: string;
  /** The paths to keep (the file requirements primary cannot answer); everything else is skipped. */
  wanted: ReadonlySet<string>;
  strings?: StringPool;
}

/**
 * Reads filelists.xml (decompressed) as a stream and returns, per package checksum (pkgid), the wanted
 * paths it holds. Only wanted paths are kept: a full file list of a large repository would cost hundreds
 * of megabytes, while dependency resolution needs just the handful of paths some package requires.
 */
export async function parseFilelists(stream: Readable, options: FilelistsOptions): Promise<Map<string, string[]>> {
  const strings = options.strings ?? new StringPool();
  const found = new Map<string, string[]>();
  let pkgid: string | undefined;
  await readXml(stream, options.file, (position: XmlPosition) => ({
    wantText: (path) => pkgid !== undefined && path.length === 3 && path[2] === 'file',
    open(el, path) {
      if (path.length === 1 && el.name !== 'filelists') position.fail(`expected <filelists>, found <${el.name}>`);
      if (path.length === 2 && el.name === 'package') {
        const id = el.attr('pkgid');
        if (!id) position.fail('a <package> has no pkgid');
        pkgid = id.toLowerCase();
      }
    },
    text(text) {
      if (pkgid === undefined) return;
      const path = text.trim();
      if (!options.wanted.has(path)) return;
      let list = found.get(pkgid);
      if (!list) found.set(pkgid, (list = []));
      list.push(strings.intern(path));
    },
    close(name, path) {
      if (name === 'package' && path.length === 2) pkgid = undefined;
    },
  }));
  return found;
}
