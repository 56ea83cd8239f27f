import { execFile } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { SourcedEntry } from '../../entries/entry-set.js';
import { UserError } from '../../errors.js';
import { hostPlatform, type Platform } from '../../oci/platform.js';
import { dirEntry, fileEntry, symlinkEntry } from '../../entries/synthetic.js';

const run = promisify(execFile);

/** qemu-user's name for an OCI architecture, to list applets of a foreign busybox. */
const QEMU: Record<string, string> = { arm64: 'aarch64', arm: 'arm', '386': 'i386', ppc64le: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', mips64le: 'mips64el', amd64: 'x86_64' };

/** The target's architecture: its OCI platform, and its name in the ecosystem (for messages). */
export interface BusyboxTarget {
  platform: Platform;
  arch: string;
}

/**
 * The applets a busybox binary has, from `busybox --list-full` (paths such as `bin/sh`, `usr/bin/awk`):
 * the binary is the only reliable source of its own applet table. A binary for another architecture is
 * run through qemu-user-static (`qemu-ARCH-static`), when the host has it.
 */
async function listApplets(binary: Buffer, { platform, arch }: BusyboxTarget, workDir: string): Promise<string[]> {
  const path = join(workDir, 'busybox');
  await writeFile(path, binary);
  await chmod(path, 0o755);
  const native = hostPlatform().architecture === platform.architecture;
  const command = native ? path : `qemu-${QEMU[platform.architecture] ?? platform.architecture}-static`;
  const args = native ? ['--list-full'] : [path, '--list-full'];
  try {
    const { stdout } = await run(command, args, { maxBuffer: 1 << 20 });
    return stdout.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('/'));
  } catch (err) {
    const hint = native ? '' : ` (to build busybox for ${arch} on this host, install qemu-user-static)`;
    throw new UserError(`cannot list the applets of busybox for ${arch}: ${(err as Error).message.split('\n')[0]}${hint}`);
  }
}

const origin = 'busybox preset';
const file = (path: string, text: string, mtime: number): SourcedEntry => ({ ...fileEntry(path, text, { mtime }), origin });
const dir = (path: string, mtime: number, mode = 0o755): SourcedEntry => ({ ...dirEntry(path, { mtime, mode }), origin });

/**
 * The busybox base image, as the `busybox` images are: /bin/busybox from a static busybox package, a
 * symlink to it for every applet it has, the usual empty folders (/tmp 1777), and /etc/passwd and
 * /etc/group with root and nobody. No package database: nothing in it manages packages.
 */
export async function busyboxEntries(packaged: SourcedEntry[], target: BusyboxTarget, mtime: number, workDir: string): Promise<SourcedEntry[]> {
  const binary = packaged.find((e) => (e.path === 'usr/bin/busybox' || e.path === 'bin/busybox') && e.type === 'file');
  if (!binary?.open) throw new UserError('busybox-static did not ship /bin/busybox');
  const chunks: Buffer[] = [];
  for await (const c of binary.open()) chunks.push(c as Buffer);
  const content = Buffer.concat(chunks);
  const applets = await listApplets(content, target, workDir);
  const out: SourcedEntry[] = [
    ...['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'etc', 'home', 'proc', 'sys', 'dev', 'var', 'var/spool', 'var/spool/mail', 'var/www'].map((d) => dir(d, mtime)),
    dir('root', mtime, 0o700),
    dir('tmp', mtime, 0o1777),
    { ...binary, path: 'bin/busybox', origin: 'busybox-static' },
    file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n', mtime),
    file('etc/group', 'root:x:0:\nnogroup:x:65534:\n', mtime),
  ];
  for (const applet of applets) {
    if (applet === 'bin/busybox') continue;
    out.push({ ...symlinkEntry(applet, '/bin/busybox', { mtime }), origin: 'busybox applet' });
  }
  return out;
}
