import { parentPath } from '../entries/path.js';
import type { ImageFilesystem, ImageFsEntry } from '../image/filesystem.js';
import type { EntryType } from '../tar/entry.js';

/** Where dpkg keeps its per-package file lists and checksums, and the folder whose files configure it. */
export const DPKG_INFO = 'var/lib/dpkg/info';
export const DPKG_STATUS = 'var/lib/dpkg/status';
export const DPKG_CONFIG_DIR = 'etc/dpkg/dpkg.cfg.d';
/** The file slim writes there (debuerreotype names its own "docker"). */
export const SLIM_DPKG_CONFIG = `${DPKG_CONFIG_DIR}/fromscratch-slim`;

/** New content for a file of the image, to be written in place of the layer entry holding it. */
export interface FileEdit {
  layer: number;
  /** Index of the entry in the layer's tar. */
  entry: number;
  path: string;
  content: Buffer;
}

export interface DpkgEdits {
  edits: FileEdit[];
  /** Lines taken out of .list and .md5sums files. */
  lines: number;
  /** Files that would need an edit but are hardlinks to bytes elsewhere (left alone). */
  skipped: string[];
}

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Splits on '\n' keeping the bytes of each line (dpkg writes names as bytes, not necessarily UTF-8). */
function lines(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = data.indexOf(0x0a); i !== -1; i = data.indexOf(0x0a, start)) {
    out.push(data.subarray(start, i));
    start = i + 1;
  }
  if (start < data.length) out.push(data.subarray(start));
  return out;
}

/**
 * Takes the paths slim removes out of dpkg's records (the versions of var/lib/dpkg/info/PKG.list and
 * PKG.md5sums the image shows), so that `dpkg --verify` does not report them missing and `dpkg -L`
 * and `dpkg -S` tell what is there. Packaged names are resolved through the image's symlinks (/bin/x
 * of a merged-/usr image is usr/bin/x); a name the image does not have is left as it is.
 */
export async function dpkgRecordEdits(fs: ImageFilesystem, removes: (path: string, type: EntryType) => boolean, spoolDir: string): Promise<DpkgEdits> {
  const gone = (packaged: string): boolean => {
    const path = packaged.replace(/^\/+/, '');
    if (path === '' || path === '.') return false;
    const parent = parentPath(path);
    const dir = parent === '' ? '' : fs.resolve(parent, true);
    if (dir === undefined) return false;
    const real = dir === '' ? path.slice(parent ? parent.length + 1 : 0) : `${dir}/${path.slice(parent.length + 1)}`;
    const entry = fs.get(real);
    return entry !== undefined && removes(entry.path, entry.type);
  };
  const records = fs.list(DPKG_INFO).filter((e) => e.type === 'file' && /\.(list|md5sums)$/.test(e.path) && e.content);
  const spooled = await fs.spoolContent(records, spoolDir);
  const edits: FileEdit[] = [];
  const skipped: string[] = [];
  let removed = 0;
  for (const file of spooled) {
    const data = file.open ? await readAll(file.open()) : Buffer.alloc(0);
    const md5sums = file.path.endsWith('.md5sums');
    const kept: Buffer[] = [];
    let dropped = 0;
    for (const line of lines(data)) {
      const text = line.toString('utf8');
      const name = md5sums ? /^[0-9a-f]{32} [ *](.+)$/.exec(text)?.[1] : text;
      if (name !== undefined && gone(name)) dropped++;
      else kept.push(line);
    }
    if (dropped === 0) continue;
    if (!isOwnEntry(file)) {
      skipped.push(file.path);
      continue;
    }
    removed += dropped;
    const content = kept.length ? Buffer.concat(kept.flatMap((l) => [l, Buffer.from('\n')])) : Buffer.alloc(0);
    edits.push({ layer: file.content!.layer, entry: file.content!.entry, path: file.path, content });
  }
  return { edits, lines: removed, skipped };
}

/** The file's bytes are its own entry's (not a hardlink's, made in another layer or under another name). */
function isOwnEntry(e: ImageFsEntry): boolean {
  return e.content !== undefined && e.content.layer === e.layer;
}
