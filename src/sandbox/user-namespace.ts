import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readFile, readlink, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { UserError } from '../errors.js';

const execFileAsync = promisify(execFile);

/** `count` ids starting at `inside` in the namespace are `outside` on the host. */
export interface IdRange {
  inside: number;
  outside: number;
  count: number;
}

/** How ids map into the sandbox; the same shape whether the caller is root or not. */
export interface IdMap {
  uids: IdRange[];
  gids: IdRange[];
  /** Root writes the maps itself; everyone else goes through the setuid newuidmap/newgidmap. */
  writer: 'kernel' | 'newidmap';
}

/** A Debian system uses ids 0-65535 (nobody is 65534): root plus 65535 subordinate ids. */
export const SANDBOX_IDS = 65536;

/** The sandbox cannot start here; the message says what to configure. */
export class SandboxUnavailableError extends UserError {}

async function onPath(command: string): Promise<boolean> {
  for (const dir of (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    try {
      await access(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this folder
    }
  }
  return false;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The first range of /etc/subuid or /etc/subgid for this user (by name or number) big enough for a system. */
function subordinateRange(text: string, user: string, id: number): { start: number; count: number } | undefined {
  for (const line of text.split('\n')) {
    const [owner, start, count] = line.trim().split(':');
    if (owner !== user && owner !== String(id)) continue;
    const range = { start: Number(start), count: Number(count) };
    if (Number.isSafeInteger(range.start) && Number.isSafeInteger(range.count) && range.count >= SANDBOX_IDS - 1) return range;
  }
  return undefined;
}

/**
 * The id mapping of the sandbox, as mmdebstrap's unshare mode makes it: root inside is the caller, ids
 * 1-65535 inside are the caller's subordinate ids. Real root maps 0-65535 onto itself. Checks everything
 * that can be checked before starting, so a missing piece is reported with what to do about it.
 */
export async function sandboxIdMap(): Promise<IdMap> {
  if (process.platform !== 'linux') throw new SandboxUnavailableError(`--scripts runs maintainer scripts in a Linux user namespace; this is ${process.platform}`);
  for (const [command, pkg] of [['unshare', 'util-linux'], ['chroot', 'coreutils'], ['tar', 'tar'], ['mount', 'mount']] as const) {
    if (!(await onPath(command))) throw new SandboxUnavailableError(`--scripts needs ${command} (Debian package ${pkg})`);
  }
  const maxNamespaces = await readOptional('/proc/sys/user/max_user_namespaces');
  if (maxNamespaces?.trim() === '0') throw new SandboxUnavailableError('--scripts needs user namespaces, and this kernel allows none: sysctl -w user.max_user_namespaces=10000');
  const uid = process.getuid?.() ?? -1;
  const gid = process.getgid?.() ?? -1;
  if (uid === 0) {
    const all = [{ inside: 0, outside: 0, count: SANDBOX_IDS }];
    return { uids: all, gids: all, writer: 'kernel' };
  }
  if ((await readOptional('/proc/sys/kernel/unprivileged_userns_clone'))?.trim() === '0') {
    throw new SandboxUnavailableError('--scripts needs unprivileged user namespaces, which this kernel has turned off: sysctl -w kernel.unprivileged_userns_clone=1');
  }
  if ((await readOptional('/proc/sys/kernel/apparmor_restrict_unprivileged_userns'))?.trim() === '1') {
    throw new SandboxUnavailableError('--scripts needs unprivileged user namespaces, which AppArmor restricts here: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor profile allowing userns for node)');
  }
  if (!(await onPath('newuidmap')) || !(await onPath('newgidmap'))) {
    throw new SandboxUnavailableError('--scripts needs newuidmap and newgidmap to map subordinate ids: apt-get install uidmap');
  }
  const user = userInfo().username;
  const hint = `give ${user} ${SANDBOX_IDS} subordinate ids, e.g. as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${user}`;
  const subuid = subordinateRange((await readOptional('/etc/subuid')) ?? '', user, uid);
  if (!subuid) throw new SandboxUnavailableError(`--scripts needs a range of at least ${SANDBOX_IDS - 1} ids for ${user} in /etc/subuid: ${hint}`);
  const subgid = subordinateRange((await readOptional('/etc/subgid')) ?? '', user, uid);
  if (!subgid) throw new SandboxUnavailableError(`--scripts needs a range of at least ${SANDBOX_IDS - 1} ids for ${user} in /etc/subgid: ${hint}`);
  return {
    uids: [{ inside: 0, outside: uid, count: 1 }, { inside: 1, outside: subuid.start, count: SANDBOX_IDS - 1 }],
    gids: [{ inside: 0, outside: gid, count: 1 }, { inside: 1, outside: subgid.start, count: SANDBOX_IDS - 1 }],
    writer: 'newidmap',
  };
}

/** Waits until `pid` has left our user namespace (unshare(2) has run), or rejects when it exited first. */
async function namespaceEntered(pid: number, child: ChildProcess): Promise<void> {
  const ours = await readlink('/proc/self/ns/user');
  for (let waited = 0; waited < 10_000; waited += 2) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error('exited');
    try {
      if ((await readlink(`/proc/${pid}/ns/user`)) !== ours) return;
    } catch {
      throw new Error('exited');
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error('did not enter its namespace within 10 s');
}

async function writeIdMaps(pid: number, ids: IdMap): Promise<void> {
  const line = (ranges: IdRange[]) => ranges.map((r) => `${r.inside} ${r.outside} ${r.count}`).join('\n');
  if (ids.writer === 'kernel') {
    await writeFile(`/proc/${pid}/uid_map`, `${line(ids.uids)}\n`);
    await writeFile(`/proc/${pid}/gid_map`, `${line(ids.gids)}\n`);
    return;
  }
  const args = (ranges: IdRange[]) => ranges.flatMap((r) => [String(r.inside), String(r.outside), String(r.count)]);
  for (const [tool, ranges] of [['newuidmap', ids.uids], ['newgidmap', ids.gids]] as const) {
    try {
      await execFileAsync(tool, [String(pid), ...args(ranges)]);
    } catch (err) {
      const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
      throw new SandboxUnavailableError(`${tool} refused the sandbox's id map (${stderr || (err as Error).message}); check the ranges in /etc/subuid and /etc/subgid and that ${tool} is setuid root (package uidmap)`);
    }
  }
}

export interface SandboxOptions {
  /** The whole environment of the command (nothing of ours leaks in). */
  env: Record<string, string>;
  /** Sees the command's error output as it comes. */
  onStderr?: (chunk: Buffer) => void;
}

/** A command running in the sandbox: stdin and stdout are the caller's to use. */
export interface SandboxProcess {
  child: ChildProcess;
  stdin: NodeJS.WritableStream;
  stdout: NodeJS.ReadableStream;
  /** Resolves when it has exited and its output is closed. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last lines of its error output. */
  stderrTail(lines?: number): string;
}

/** The end of a stream, in bounded memory. */
class Tail {
  private text = '';
  add(chunk: Buffer): void {
    this.text = (this.text + chunk.toString('utf8')).slice(-65536);
  }
  lines(n: number): string {
    return this.text.trimEnd().split('\n').slice(-n).join('\n');
  }
}

/**
 * Runs `command` as root of a fresh user namespace, with its own mount and pid namespaces (the command
 * is pid 1: when it exits, everything it started is killed). The ids are mapped from outside once the
 * namespace exists, the way mmdebstrap does; the command only starts after that, so it runs with the
 * full capabilities of namespace root.
 */
export async function spawnInSandbox(command: string[], ids: IdMap, options: SandboxOptions): Promise<SandboxProcess> {
  // Holds the command back until the maps are written: an exec before that would drop capabilities.
  const gate = 'IFS= read -r go <&3 && [ "$go" = go ] || exit 111; exec 3<&-; exec "$@"';
  const child = spawn('unshare', ['--user', '--mount', '--pid', '--fork', '--propagation', 'private', '--', '/bin/sh', '-c', gate, 'sandbox', ...command], {
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    env: options.env,
  });
  const tail = new Tail();
  child.stderr!.on('data', (chunk: Buffer) => {
    tail.add(chunk);
    options.onStderr?.(chunk);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  const control = child.stdio[3] as NodeJS.WritableStream;
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    try {
      await namespaceEntered(child.pid!, child);
    } catch (err) {
      await exited;
      throw new SandboxUnavailableError(
        `cannot create the user namespace for --scripts (${tail.lines(5) || (err as Error).message}). ` +
          'Unprivileged user namespaces must be allowed (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0; ' +
          'inside a container, the container must allow them too).',
      );
    }
    await writeIdMaps(child.pid!, ids);
    control.end('go\n');
  } catch (err) {
    control.end();
    child.kill('SIGKILL');
    throw err;
  }
  return { child, stdin: child.stdin!, stdout: child.stdout!, exited, stderrTail: (n = 25) => tail.lines(n) };
}
