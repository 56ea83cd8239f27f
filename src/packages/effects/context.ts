import { posix } from 'node:path';
import { dirEntry, fileEntry, symlinkEntry } from '../../entries/synthetic.js';
import type { SourcedEntry } from '../../entries/entry-set.js';

/**
 * What an install effect sees: the unpacked files (paths as in the image), the installed packages by name
 * (each ecosystem's own record of them, `P`), and the build time; and what it adds or replaces.
 */
export class EffectContext<P = unknown> {
  private readonly byPath = new Map<string, SourcedEntry>();
  readonly added: SourcedEntry[] = [];
  readonly notes: string[] = [];

  constructor(
    entries: SourcedEntry[],
    readonly packages: ReadonlyMap<string, P>,
    readonly epoch: number,
    readonly arch: string,
    /** Maps a path as scripts name it (/bin/more) to where it is in the image (usr/bin/more on merged /usr). */
    private readonly locate: (path: string) => string = (p) => p,
  ) {
    for (const e of entries) this.byPath.set(e.path, e);
  }

  has(pkg: string): boolean {
    return this.packages.has(pkg);
  }

  entry(path: string): SourcedEntry | undefined {
    const at = this.locate(path.replace(/^\/+/, ''));
    // What an effect wrote replaces what the package shipped (a script's edit of a packaged file).
    return this.added.find((e) => e.path === at) ?? this.byPath.get(at);
  }

  /** Where a path as a script names it lives in the image. */
  locatePath(path: string): string {
    return this.locate(path.replace(/^\/+/, ''));
  }

  exists(path: string): boolean {
    return this.entry(path) !== undefined;
  }

  /** The content of a packaged (or already added) file. */
  async read(path: string): Promise<Buffer> {
    const e = this.entry(path);
    if (!e || e.type !== 'file') throw new Error(`install: ${path} is not a file in the image`);
    if (!e.open || e.size === 0) return Buffer.alloc(0);
    const chunks: Buffer[] = [];
    for await (const c of e.open()) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  /**
   * The content of the file a path leads to through symbolic links and hard links, resolved inside the
   * image as the system would resolve them at run time; undefined if they lead nowhere.
   */
  async readThrough(path: string): Promise<Buffer | undefined> {
    let at = path.replace(/^\/+/, '');
    for (let hops = 0; hops < 40; hops++) {
      const e = this.entry(at);
      if (!e) return undefined;
      if (e.type === 'file') return this.read(at);
      if (e.type === 'hardlink') at = e.linkname ?? '';
      else if (e.type === 'symlink') {
        const target = e.linkname ?? '';
        at = posix.normalize(target.startsWith('/') ? target : posix.join(posix.dirname(this.locatePath(at)), target)).replace(/^\/+/, '');
      } else return undefined;
    }
    return undefined;
  }

  private push(entry: SourcedEntry): void {
    const i = this.added.findIndex((e) => e.path === entry.path);
    if (i >= 0) this.added[i] = entry;
    else this.added.push(entry);
  }

  file(path: string, content: string | Buffer, origin: string, mode = 0o644, uid = 0, gid = 0): void {
    this.push({ ...fileEntry(path, content, { mtime: this.epoch, mode, uid, gid }), origin });
  }

  dir(path: string, origin: string, mode = 0o755, uid = 0, gid = 0): void {
    if (this.byPath.get(path)?.type === 'directory') return;
    this.push({ ...dirEntry(path, { mtime: this.epoch, mode, uid, gid }), origin });
  }

  symlink(path: string, target: string, origin: string): void {
    this.push({ ...symlinkEntry(path, target, { mtime: this.epoch }), origin });
  }

  /** Takes a path out of the image (a link a script deletes), whether packaged or added by an effect. */
  remove(path: string): void {
    this.byPath.delete(path);
    const i = this.added.findIndex((e) => e.path === path);
    if (i >= 0) this.added.splice(i, 1);
  }

  /** Entries of the image after the effects: the packaged ones, replaced or extended by what effects added. */
  result(): SourcedEntry[] {
    const replaced = new Set(this.added.map((e) => e.path));
    return [...[...this.byPath.values()].filter((e) => !replaced.has(e.path)), ...this.added];
  }
}
