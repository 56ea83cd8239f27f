import type { SourcedEntry } from '../entries/entry-set.js';
import { normalizeEntryPath, parentPath } from '../entries/path.js';
import { dirEntry } from '../entries/synthetic.js';
import { UserError } from '../errors.js';
import type { Entry } from '../tar/entry.js';
import { withImage } from '../transport/transports.js';
import { ImageFilesystem, type ImageFsEntry } from './filesystem.js';

/** One `COPY --from`: a path of an image to a path of the image being built. */
export interface CopyRequest {
  /** An image reference (`oci:DIR[:TAG]`, `oci-archive:`, `docker-archive:`), paths already resolved. */
  from: string;
  /** Absolute path in that image; a symlink there is followed, as BuildKit follows a COPY source. */
  source: string;
  /** Absolute path in the built image. */
  path: string;
  uid?: number;
  gid?: number;
  /** For every file and folder copied (symlinks have no mode of their own). */
  mode?: number;
  /** How errors name this copy: e.g. `spec.yaml:12: copy[0]`. */
  where: string;
  /** How errors name its `from` and `source` values, when they differ from `where`. */
  whereFrom?: string;
  whereSource?: string;
}

export interface CopiedEntries {
  /** The copied entries at their new paths, content spooled. */
  entries: SourcedEntry[];
  /** Parent folders of the destinations (root, 0755), to create only where nothing else makes them. */
  parents: SourcedEntry[];
}

/**
 * Reads each image once (its merged filesystem, whiteouts applied) and copies the requested trees out
 * of it, re-rooted at their destinations. Bytes are spooled to `spoolDir`, which must outlive the entries.
 */
export async function copyFromImages(requests: readonly CopyRequest[], spoolDir: string, mtime: number): Promise<CopiedEntries> {
  const out: CopiedEntries = { entries: [], parents: [] };
  const byImage = new Map<string, CopyRequest[]>();
  for (const r of requests) byImage.set(r.from, [...(byImage.get(r.from) ?? []), r]);
  for (const [from, group] of byImage) {
    const first = group[0]!;
    let opened = false;
    try {
      await withImage(from, async (image) => {
        opened = true;
        const fs = await ImageFilesystem.read(image, from);
        for (const request of group) {
          const selected = select(fs, request);
          const spooled = await fs.spoolContent(selected.entries, spoolDir);
          out.entries.push(...relocate(spooled, selected.root, request));
        }
      });
    } catch (err) {
      if (opened || !(err instanceof UserError)) throw err;
      throw new UserError(`${first.whereFrom ?? first.where}: image "${from}" cannot be read: ${err.message}`);
    }
  }
  for (const request of requests) out.parents.push(...parentsOf(request, mtime));
  return out;
}

/** The entries a request copies, and the path in the image they are taken from. */
function select(fs: ImageFilesystem, request: CopyRequest): { root: string; entries: ImageFsEntry[] } {
  const where = request.whereSource ?? request.where;
  const root = fs.resolve(request.source, true);
  if (root === undefined) {
    const link = fs.resolve(request.source, false);
    const entry = link === undefined ? undefined : fs.get(link);
    if (entry?.type === 'symlink') throw new UserError(`${where}: "${request.source}" in ${fs.name} is a symlink to "${entry.linkname}", which is not in the image`);
    throw new UserError(`${where}: "${request.source}" is not in the image ${fs.name}`);
  }
  return { root, entries: fs.list(root) };
}

/** Moves entries from below `root` to below the request's path, with its owner and mode overrides. */
function relocate(entries: readonly (ImageFsEntry & Entry)[], root: string, request: CopyRequest): SourcedEntry[] {
  const dest = normalizeEntryPath(request.path.replace(/^\/+/, ''));
  const move = (p: string) => {
    const rest = root === '' ? (p === '' ? '' : `/${p}`) : p.slice(root.length);
    return dest === '' ? rest.replace(/^\//, '') : `${dest}${rest}`;
  };
  const out: SourcedEntry[] = [];
  for (const e of entries) {
    const path = move(e.path);
    if (path === '' && e.type !== 'directory') throw new UserError(`${request.where}: "${request.source}" is a ${e.type}; only a folder can be copied to "/"`);
    const { layer: _layer, content: _content, uname: _uname, gname: _gname, ...entry } = e;
    const copied: SourcedEntry = { ...entry, path, origin: `${request.where} ("/${e.path}" of ${request.from} → "/${path}")` };
    if (e.type === 'hardlink') copied.linkname = move(e.linkname!);
    if (request.uid !== undefined) copied.uid = request.uid;
    if (request.gid !== undefined) copied.gid = request.gid;
    if (request.mode !== undefined && e.type !== 'symlink' && e.type !== 'hardlink') copied.mode = request.mode;
    out.push(copied);
  }
  return out;
}

function parentsOf(request: CopyRequest, mtime: number): SourcedEntry[] {
  const out: SourcedEntry[] = [];
  for (let dir = parentPath(normalizeEntryPath(request.path.replace(/^\/+/, ''))); dir !== ''; dir = parentPath(dir)) {
    out.push({ ...dirEntry(dir, { mtime }), origin: `${request.where} (parent folder of "${request.path}")` });
  }
  return out;
}
