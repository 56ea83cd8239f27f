import { execFile } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import type { SourcedEntry } from '../../entries/entry-set.js';
import { UserError } from '../../errors.js';
import { hostPlatform, type Platform } from '../../oci/platform.js';
import { dirEntry, fileEntry, symlinkEntry } from '../../entries/synthetic.js';
import type { EffectContext } from './context.js';
import { ImageTree } from './image-tree.js';

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
export async function listApplets(binary: Buffer, { platform, arch }: BusyboxTarget, workDir: string): Promise<string[]> {
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

/**
 * `busybox --install [-s] [DIR]`, as a package scriptlet runs it: a link to the binary for every applet it
 * lists, at the applet's own path or in DIR, symbolic with -s (to the binary's real path, as busybox links
 * to /proc/self/exe resolved) and hard without; names that exist already, or whose folder does not, are
 * left alone (link() fails there and busybox goes on).
 */
export async function busyboxInstall(ctx: EffectContext, command: { binary: string; symlinks: boolean; dir?: string }, target: BusyboxTarget, workDir: string, origin: string): Promise<number> {
  const tree = new ImageTree(ctx.result());
  const binary = tree.resolve(command.binary.replace(/^\/+/, ''));
  const content = binary === undefined ? undefined : await ctx.readThrough(binary);
  if (binary === undefined || !content) {
    ctx.notes.push(`${origin}: ${command.binary} is not in the image; no applet links made`);
    return 0;
  }
  let made = 0;
  for (const applet of await listApplets(content, target, workDir)) {
    const name = posix.basename(applet);
    const folder = tree.resolve(command.dir !== undefined ? command.dir.replace(/^\/+/, '') : posix.dirname(applet));
    if (folder === undefined || !tree.isDirectory(folder)) continue;
    const path = folder ? `${folder}/${name}` : name;
    if (tree.lstat(path) || ctx.entry(path)) continue;
    if (command.symlinks) ctx.symlink(path, `/${binary}`, origin);
    else ctx.hardlink(path, binary, origin);
    made++;
  }
  ctx.notes.push(`${origin}: busybox --install${command.symlinks ? ' -s' : ''}: ${made} applet links`);
  return made;
}
