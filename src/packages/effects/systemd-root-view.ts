import { posix } from 'node:path';
import type { Entry } from '../../tar/entry.js';
import type { EffectContext } from './context.js';
import { InstallFailure } from './systemd-units.js';

/** What the links and folders systemctl makes are said to come from. */
const ORIGIN = 'systemd presets';

export type Kind = 'file' | 'directory' | 'symlink' | 'other';

/**
 * The image as a file system with the changes of this run: paths are absolute ('/etc/…'), symlinks are
 * resolved inside the image root as `systemctl --root` resolves them (chase()).
 */
export class RootView {
  private readonly byPath = new Map<string, Entry>();
  private readonly children = new Map<string, Set<string>>();

  constructor(entries: Iterable<Entry>, private readonly ctx: EffectContext) {
    for (const e of entries) this.put(e);
  }

  private put(e: Entry): void {
    this.byPath.set(e.path, e);
    const parent = posix.dirname(`/${e.path}`).slice(1);
    let set = this.children.get(parent);
    if (!set) this.children.set(parent, (set = new Set()));
    set.add(posix.basename(e.path));
  }

  private drop(path: string): void {
    this.byPath.delete(path);
    this.children.get(posix.dirname(`/${path}`).slice(1))?.delete(posix.basename(path));
  }

  private at(rel: string): Entry | undefined {
    return this.byPath.get(rel);
  }

  /**
   * chase(): the path with its symlinks followed inside the root ('..' at the root stays there), the last
   * component followed unless `noFollowLast`. A missing component ends the walk: the rest is appended as
   * written and `exists` is false. Undefined for a symlink loop or a file used as a folder.
   */
  chase(path: string, noFollowLast = false): { path: string; exists: boolean } | undefined {
    const pending = path.split('/').filter((c) => c !== '' && c !== '.');
    const done: string[] = [];
    let hops = 0;
    while (pending.length) {
      const c = pending.shift()!;
      if (c === '..') {
        done.pop();
        continue;
      }
      const e = this.at([...done, c].join('/'));
      if (!e) {
        // The rest does not exist: it is only normalised, as CHASE_NONEXISTENT leaves it.
        for (const x of [c, ...pending]) {
          if (x === '..') done.pop();
          else done.push(x);
        }
        return { path: `/${done.join('/')}`, exists: false };
      }
      if (e.type === 'symlink' && (pending.length || !noFollowLast)) {
        if (++hops > 40) return undefined;
        const target = e.linkname ?? '';
        if (target.startsWith('/')) done.length = 0;
        pending.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
        continue;
      }
      if (pending.length && e.type !== 'directory') return undefined;
      done.push(c);
    }
    return { path: `/${done.join('/')}`, exists: true };
  }

  /** The entry at a path whose folders are followed but not its last component (lstat). */
  lstat(path: string): Entry | undefined {
    const parent = this.chase(posix.dirname(path));
    if (!parent?.exists) return undefined;
    return this.at(posix.join(parent.path, posix.basename(path)).slice(1));
  }

  kind(e: Entry | undefined): Kind | undefined {
    if (!e) return undefined;
    if (e.type === 'file' || e.type === 'hardlink') return 'file';
    if (e.type === 'directory' || e.type === 'symlink') return e.type;
    return 'other';
  }

  /** A folder's entries (folder followed), byte-sorted: systemd reads them in readdir order, which a layer has not. */
  list(dir: string): { name: string; kind: Kind }[] {
    const at = this.chase(dir);
    if (!at?.exists || (at.path !== '/' && this.at(at.path.slice(1))?.type !== 'directory')) return [];
    const names = [...(this.children.get(at.path.slice(1)) ?? [])].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    return names.map((name) => ({ name, kind: this.kind(this.at(posix.join(at.path, name).slice(1)))! }));
  }

  private fileOf(e: Entry): Entry | undefined {
    return e.type === 'hardlink' ? this.at(e.linkname ?? '') : e;
  }

  /** null_or_empty: an empty regular file or a character device 1:3. */
  nullOrEmpty(e: Entry): boolean {
    const f = this.fileOf(e);
    if (!f) return false;
    if (f.type === 'char') return f.devmajor === 1 && f.devminor === 3;
    return f.type === 'file' && f.size === 0;
  }

  /** null_or_empty_path_with_root: /dev/null counts even when the image has no /dev/null. */
  nullOrEmptyPath(path: string): boolean | undefined {
    if (posix.normalize(path) === '/dev/null') return true;
    const at = this.chase(path);
    if (!at?.exists) return undefined;
    const e = this.at(at.path.slice(1));
    return e ? this.nullOrEmpty(e) : false;
  }

  /** A regular file's content (an entry's own, not through the context's script-path mapping). */
  async read(e: Entry): Promise<string> {
    const f = this.fileOf(e);
    if (!f?.open || f.size === 0) return '';
    const chunks: Buffer[] = [];
    for await (const c of f.open()) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Adds a symlink (and the folders it needs) to the view and to the image. */
  symlink(path: string, target: string): void {
    const parent = this.chase(posix.dirname(path));
    if (!parent) throw new InstallFailure('ENOTDIR', `cannot create ${path}: a parent is not a folder`);
    if (!parent.exists) {
      let at = '';
      for (const c of parent.path.split('/').filter(Boolean)) {
        at = `${at}/${c}`;
        if (!this.at(at.slice(1))) {
          const dir: Entry = { path: at.slice(1), type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: this.ctx.epoch, size: 0 };
          this.put(dir);
          this.ctx.dir(dir.path, ORIGIN);
        }
      }
    }
    const at = posix.join(parent.path, posix.basename(path)).slice(1);
    this.put({ path: at, type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: this.ctx.epoch, size: 0, linkname: target });
    this.ctx.symlink(at, target, ORIGIN);
  }

  unlink(path: string): void {
    this.drop(path.slice(1));
    // Links this module added before can be taken back; a packaged one is reported for the caller.
    const i = this.ctx.added.findIndex((e) => e.path === path.slice(1));
    if (i >= 0) this.ctx.added.splice(i, 1);
  }
}
