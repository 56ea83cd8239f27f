import { UserError } from '../errors.js';
import type { Entry } from '../tar/entry.js';
import { normalizeEntryPath, normalizeLinkTarget, parentPath, sortByEntryPath, UnsafePathError } from './path.js';

/** An entry as a source produced it, with a description of where it came from for error messages. */
export interface SourcedEntry extends Entry {
  /** e.g. `entry 12 "./etc/passwd" of rootfs.tar` */
  origin: string;
}

export interface CanonicalizeOptions {
  /** Clamp every mtime to this (SOURCE_DATE_EPOCH), in seconds. */
  maxMtime?: number;
  /** Give every entry this owner (`--owner 0:0`), as when a non-root user imports a folder. */
  owner?: { uid: number; gid: number };
  /**
   * Files of lower layers a hardlink may name although this layer does not carry them (a squashed layer
   * over kept ones); unpacking links to the file already in the root.
   */
  lowerFiles?: ReadonlySet<string>;
}

/**
 * Turns the entries of one source into a valid, canonical layer: normalised paths, canonical order,
 * no duplicates, nothing that escapes the root (through '..', or by writing through a symlink or a
 * hardlink), every hardlink pointing at a file that comes before it. Throws UserError naming the entry.
 */
export function canonicalizeEntries(input: Iterable<SourcedEntry>, options: CanonicalizeOptions = {}): Entry[] {
  const byPath = new Map<string, SourcedEntry>();
  for (const entry of input) {
    let path: string;
    try {
      path = normalizeEntryPath(entry.path);
    } catch (err) {
      if (err instanceof UnsafePathError) throw new UserError(`${entry.origin}: ${err.message}`);
      throw err;
    }
    if (path === '') {
      // The root itself: its ownership and mode belong to the runtime. Only a directory can be it.
      if (entry.type !== 'directory') throw new UserError(`${entry.origin}: a ${entry.type} cannot stand for the root directory`);
      continue;
    }
    const normalized: SourcedEntry = { ...entry, path };
    if (entry.type === 'hardlink') {
      try {
        normalized.linkname = normalizeLinkTarget(entry.linkname ?? '');
      } catch (err) {
        if (err instanceof UnsafePathError) throw new UserError(`${entry.origin}: hardlink target ${err.message}`);
        throw err;
      }
      if (normalized.linkname === '') throw new UserError(`${entry.origin}: hardlink to the root directory`);
    }
    const earlier = byPath.get(path);
    if (earlier) {
      if (!sameNonFile(earlier, normalized)) {
        throw new UserError(`${entry.origin}: duplicate entry for "${path}", which ${earlier.origin} already gave differently`);
      }
      continue;
    }
    byPath.set(path, normalized);
  }

  for (const entry of byPath.values()) {
    // Writing below a symlink or a file would, when unpacked, land wherever that link points.
    for (let dir = parentPath(entry.path); dir !== ''; dir = parentPath(dir)) {
      const parent = byPath.get(dir);
      if (parent && parent.type !== 'directory') {
        const how = parent.type === 'symlink' ? `through the symlink "${dir}" -> "${parent.linkname}"` : `below "${dir}", which is a ${parent.type}`;
        throw new UserError(`${entry.origin}: "${entry.path}" is written ${how}`);
      }
    }
  }

  const ordered = sortByEntryPath([...byPath.values()]);
  resolveHardlinks(ordered, byPath, options.lowerFiles);

  return ordered.map((sourced) => {
    const { origin: _origin, ...entry } = sourced;
    if (options.owner) {
      entry.uid = options.owner.uid;
      entry.gid = options.owner.gid;
      delete entry.uname;
      delete entry.gname;
    }
    if (options.maxMtime !== undefined && entry.mtime > options.maxMtime) entry.mtime = options.maxMtime;
    return entry;
  });
}

/**
 * Two entries for one path are harmless when they say the same thing: a directory, symlink, hardlink,
 * device or FIFO with the same metadata. Two regular files always conflict: their contents would have
 * to be compared, and tar semantics (the last one wins) would hide the first.
 */
function sameNonFile(a: Entry, b: Entry): boolean {
  return (
    a.type !== 'file' &&
    a.type === b.type &&
    a.mode === b.mode &&
    a.uid === b.uid &&
    a.gid === b.gid &&
    (a.linkname ?? '') === (b.linkname ?? '') &&
    (a.devmajor ?? 0) === (b.devmajor ?? 0) &&
    (a.devminor ?? 0) === (b.devminor ?? 0)
  );
}

/**
 * In the canonical order a hardlink may come before the file it names. Each set of linked names is
 * rewritten so that its first member in order carries the content and the others link to it.
 */
function resolveHardlinks(ordered: SourcedEntry[], byPath: Map<string, SourcedEntry>, lowerFiles?: ReadonlySet<string>): void {
  const position = new Map<string, number>();
  ordered.forEach((e, i) => position.set(e.path, i));
  const groups = new Map<string, SourcedEntry[]>(); // content-holding path → its links

  for (const link of ordered) {
    if (link.type !== 'hardlink') continue;
    // Follow link chains to the entry that holds the content.
    let target = byPath.get(link.linkname!);
    const seen = new Set<string>([link.path]);
    while (target && target.type === 'hardlink') {
      if (seen.has(target.path)) throw new UserError(`${link.origin}: hardlink loop through "${target.path}"`);
      seen.add(target.path);
      target = byPath.get(target.linkname!);
    }
    if (!target && link.linkname && lowerFiles?.has(link.linkname) && link.linkname === normalizeLinkTarget(link.linkname)) continue;
    if (!target) throw new UserError(`${link.origin}: hardlink "${link.path}" points at "${link.linkname}", which is not in the archive`);
    if (target.type === 'directory') throw new UserError(`${link.origin}: hardlink "${link.path}" points at the directory "${target.path}"`);
    const group = groups.get(target.path) ?? [];
    group.push(link);
    groups.set(target.path, group);
  }

  for (const [targetPath, links] of groups) {
    const holder = byPath.get(targetPath)!;
    const members = [holder, ...links].sort((a, b) => position.get(a.path)! - position.get(b.path)!);
    const first = members[0]!;
    if (first !== holder) {
      // The first name in order takes the content and metadata; the old holder becomes a link.
      const content = { ...holder, path: first.path, origin: first.origin };
      ordered[position.get(first.path)!] = content;
      byPath.set(first.path, content);
    }
    for (const member of members.slice(1)) {
      const link: SourcedEntry = { ...holder, path: member.path, origin: member.origin, type: 'hardlink', linkname: first.path, size: 0 };
      delete link.open;
      delete link.xattrs;
      delete link.devmajor;
      delete link.devminor;
      ordered[position.get(member.path)!] = link;
      byPath.set(member.path, link);
    }
  }
}
