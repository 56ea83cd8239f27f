import type { SourcedEntry } from '../../entries/entry-set.js';
import { fileEntry } from '../../entries/synthetic.js';

/*
 * What mkimage-yum.sh (moby's contrib script behind the classic CentOS images) adds around `yum
 * --installroot`: the device nodes it makes with mknod and /etc/sysconfig/network. (Its emptied yum
 * cache needs nothing here: no package manager runs during a build, so the caches stay as packaged.)
 * Containers get a fresh /dev from their runtime; the nodes are there so that the image also works as a
 * chroot, as that script's images did.
 */

/** mkimage-yum.sh's `mknod` list: name, type, major, minor, mode. */
const DEVICES: readonly [string, 'char' | 'fifo', number, number, number][] = [
  ['console', 'char', 5, 1, 0o600],
  ['initctl', 'fifo', 0, 0, 0o600],
  ['full', 'char', 1, 7, 0o666],
  ['null', 'char', 1, 3, 0o666],
  ['ptmx', 'char', 5, 2, 0o666],
  ['random', 'char', 1, 8, 0o666],
  ['tty', 'char', 5, 0, 0o666],
  ['tty0', 'char', 4, 0, 0o666],
  ['urandom', 'char', 1, 9, 0o666],
  ['zero', 'char', 1, 5, 0o666],
];

const ORIGIN = 'mkimage-yum.sh';

/** The device nodes mkimage-yum.sh makes under /dev (the folder itself comes from the filesystem package). */
export function deviceNodes(mtime: number): SourcedEntry[] {
  return DEVICES.map(([name, type, major, minor, mode]) => ({
    path: `dev/${name}`, type, mode, uid: 0, gid: 0, mtime, size: 0,
    ...(type === 'char' ? { devmajor: major, devminor: minor } : {}),
    origin: `${ORIGIN} (mknod)`,
  }));
}

/** /etc/sysconfig/network as mkimage-yum.sh writes it (network-scripts read it; NETWORKING=yes). */
export function sysconfigNetwork(mtime: number): SourcedEntry {
  return { ...fileEntry('etc/sysconfig/network', 'NETWORKING=yes\nHOSTNAME=localhost.localdomain\n', { mtime }), origin: ORIGIN };
}

/**
 * The release as mkimage-yum.sh derives its tag: the first version number in /etc/redhat-release (else
 * /etc/system-release), e.g. `9` from "CentOS Stream release 9" and `8.9` from "Rocky Linux release 8.9
 * (Green Obsidian)"; and that file's text as the image's description.
 */
export function releaseOf(text: string): { name: string; version?: string } {
  const name = text.split('\n')[0]!.trim();
  const version = /(\d+(?:\.\d+)*)/.exec(name)?.[1];
  return version === undefined ? { name } : { name, version };
}
