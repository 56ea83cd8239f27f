import { parentPath } from '../entries/path.js';
import type { ImageFilesystem, ImageFsEntry } from '../image/filesystem.js';
import type { EntryType } from '../tar/entry.js';
import { collectGarbage } from '../memory/garbage.js';

/** dpkg's per-package file lists and checksums. */
export const DPKG_RECORD = /^var\/lib\/dpkg\/info\/[^/]+\.(?:list|md5sums)$/;

/** How captured file contents are keyed: a layer and the entry's index in its tar. */
export function contentKey(layer: number, entry: number): string {
  return `${layer}:${entry}`;
}

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

/** A line read as latin1 (one char per byte, so the bytes go back unchanged) as the UTF-8 name it holds. */
function utf8Name(line: string): string {
  return /[^\x00-\x7f]/.test(line) ? Buffer.from(line, 'latin1').toString('utf8') : line;
}

/**
 * Takes the paths slim removes out of dpkg's records (the versions of var/lib/dpkg/info/PKG.list and
 * PKG.md5sums the image shows), so that `dpkg --verify` does not report them missing and `dpkg -L`
 * and `dpkg -S` tell what is there. Packaged names are resolved through the image's symlinks (/bin/x
 * of a merged-/usr image is usr/bin/x); a name the image does not have is left as it is.
 */
export async function dpkgRecordEdits(
  fs: ImageFilesystem,
  removes: (path: string, type: EntryType) => boolean,
  captured: ReadonlyMap<string, Buffer>,
  spoolDir: string,
): Promise<DpkgEdits> {
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
  const records = fs.list(DPKG_INFO).filter((e) => e.type === 'file' && DPKG_RECORD.test(e.path) && e.content);
  // Bytes the layer scan did not keep (a file list reached through a symlink...) are read from the layers.
  const missing = await fs.spoolContent(records.filter((e) => !captured.has(contentKey(e.content!.layer, e.content!.entry))), spoolDir);
  const spooled = new Map(missing.map((e) => [e.path, e]));
  const edits: FileEdit[] = [];
  const skipped: string[] = [];
  let removed = 0;
  let lineCount = 0;
  for (const file of records) {
    const spool = spooled.get(file.path);
    const data = spool ? (spool.open ? await readAll(spool.open()) : Buffer.alloc(0)) : captured.get(contentKey(file.content!.layer, file.content!.entry))!;
    const md5sums = file.path.endsWith('.md5sums');
    // latin1: dpkg writes names as bytes, not necessarily UTF-8; each line goes back as it was.
    const text = data.toString('latin1');
    const kept: string[] = [];
    let dropped = 0;
    for (const line of text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n')) {
      const name = md5sums ? /^[0-9a-f]{32} [ *](.+)$/.exec(line)?.[1] : line;
      if (name !== undefined && line !== '' && gone(utf8Name(name))) dropped++;
      else kept.push(line);
    }
    // Each name looked up leaves short-lived garbage that V8 would let pile up on images with many
    // packages; collecting now and then keeps the peak down.
    lineCount += kept.length + dropped;
    if (lineCount > 20_000) {
      lineCount = 0;
      collectGarbage();
    }
    if (dropped === 0) continue;
    if (!isOwnEntry(file)) {
      skipped.push(file.path);
      continue;
    }
    removed += dropped;
    const content = Buffer.from(kept.length ? `${kept.join('\n')}\n` : '', 'latin1');
    edits.push({ layer: file.content!.layer, entry: file.content!.entry, path: file.path, content });
  }
  return { edits, lines: removed, skipped };
}

/** The file's bytes are its own entry's (not a hardlink's, made in another layer or under another name). */
function isOwnEntry(e: ImageFsEntry): boolean {
  return e.content !== undefined && e.content.layer === e.layer;
}
