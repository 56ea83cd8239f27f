import type { Entry } from '../../tar/entry.js';

/**
 * A read-only view of the image's entries as a filesystem, for effects that must look things up the
 * way a program inside the image would: symlinks followed (relative and absolute, within the image
 * root), directories listed. Paths are image paths without a leading '/'.
 */
export class ImageTree {
  private readonly byPath = new Map<string, Entry>();
  private readonly children = new Map<string, string[]>();

  constructor(entries: Iterable<Entry>) {
    for (const e of entries) {
      this.byPath.set(e.path, e);
      const slash = e.path.lastIndexOf('/');
      const parent = slash < 0 ? '' : e.path.slice(0, slash);
      const list = this.children.get(parent) ?? [];
      list.push(e.path.slice(slash + 1));
      this.children.set(parent, list);
    }
  }

  /** The entry at exactly this path (no symlink of the last component followed). */
  lstat(path: string): Entry | undefined {
    return this.byPath.get(path);
  }

  /**
   * The path with every symlink followed, or undefined when a component is missing or the links
   * loop. The root is ''. Like the kernel, '..' at the root stays at the root.
   */
  resolve(path: string, followLast = true): string | undefined {
    const pending = path.split('/').filter((c) => c !== '' && c !== '.');
    const done: string[] = [];
    let hops = 0;
    while (pending.length) {
      const c = pending.shift()!;
      if (c === '..') {
        done.pop();
        continue;
      }
      const here = [...done, c].join('/');
      const e = this.byPath.get(here);
      if (!e) return undefined;
      if (e.type === 'symlink' && (followLast || pending.length)) {
        if (++hops > 40) return undefined;
        const target = e.linkname ?? '';
        if (target.startsWith('/')) done.length = 0;
        pending.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
        continue;
      }
      if (pending.length && e.type !== 'directory') return undefined;
      done.push(c);
    }
    return done.join('/');
  }

  /** The entry a path leads to, symlinks followed (a hardlink stays a hardlink: see `content`). */
  stat(path: string): Entry | undefined {
    const at = this.resolve(path);
    if (at === undefined) return undefined;
    return at === '' ? { path: '', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 } : this.byPath.get(at);
  }

  isDirectory(path: string): boolean {
    return this.stat(path)?.type === 'directory';
  }

  /** Names in a directory (already resolved), in byte order. */
  list(dir: string): string[] {
    return [...(this.children.get(dir) ?? [])].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  }

  /** The content of a regular file (or of the file a hardlink names); undefined for anything else. */
  async content(entry: Entry): Promise<Buffer | undefined> {
    const file = entry.type === 'hardlink' ? this.byPath.get(entry.linkname ?? '') : entry;
    if (!file || file.type !== 'file') return undefined;
    if (!file.open || file.size === 0) return Buffer.alloc(0);
    const chunks: Buffer[] = [];
    for await (const c of file.open()) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  /**
   * glob(3) without flags, as ldconfig's `include` uses it: `*`, `?` and `[...]` per component, no
   * match for a leading '.' unless the pattern has one, results sorted in byte order (LC_COLLATE=C).
   */
  glob(pattern: string): string[] {
    let found = [''];
    for (const part of pattern.split('/').filter((c) => c !== '')) {
      const next: string[] = [];
      for (const base of found) {
        const here = base === '' ? part : `${base}/${part}`;
        if (!/[*?[]/.test(part)) {
          if (this.resolve(here, false) !== undefined) next.push(here);
          continue;
        }
        const dir = this.resolve(base);
        if (dir === undefined || !this.isDirectory(base)) continue;
        const re = globRegExp(part);
        for (const name of this.list(dir)) if (re.test(name)) next.push(base === '' ? name : `${base}/${name}`);
      }
      found = next;
    }
    return found.filter((p) => p !== '').sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  }
}

function globRegExp(part: string): RegExp {
  let re = part.startsWith('.') ? '' : '(?!\\.)';
  for (let i = 0; i < part.length; i++) {
    const c = part[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = part.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let set = part.slice(i + 1, end);
      if (set.startsWith('!')) set = `^${set.slice(1)}`;
      re += `[${set.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}
