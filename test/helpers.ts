import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';

/** The repository root (tests run from dist/test). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = join(ROOT, 'bin/fromscratch');
export const EPOCH = '1700000000';

const temps: string[] = [];
after(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

/** A fresh temporary folder, removed when the test file ends. Lower case: podman names images after it. */
export function tempDir(prefix = 'fs-test'): string {
  const dir = join(tmpdir(), `${prefix}-${randomBytes(6).toString('hex')}`);
  mkdirSync(dir, { mode: 0o700 });
  temps.push(dir);
  return dir;
}

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; never throws on a non-zero exit (tests assert on it). */
export function run(command: string, args: string[], options: SpawnSyncOptions = {}): RunResult {
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, ...options });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

/** Runs a command and fails the test with its output if it exits non-zero. */
export function must(command: string, args: string[], options: SpawnSyncOptions = {}): string {
  const r = run(command, args, options);
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${r.status}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** The fromscratch CLI, with SOURCE_DATE_EPOCH set unless `env` says otherwise. */
export function cli(args: string[], options: SpawnSyncOptions & { env?: NodeJS.ProcessEnv } = {}): RunResult {
  return run(CLI, args, { ...options, env: { ...process.env, SOURCE_DATE_EPOCH: EPOCH, ...options.env } });
}

/**
 * The CLI without blocking this process: for tests that serve something (a loopback mirror) from the
 * test process itself, which a synchronous run would starve.
 */
export function cliAsync(args: string[], env: NodeJS.ProcessEnv = {}, options: { as?: string; cleanEnv?: boolean } = {}): Promise<RunResult> {
  // `as`: another user, through setpriv; `cleanEnv`: only `env`, none of this process's variables.
  const [command, ...rest] = options.as ? ['setpriv', `--reuid=${options.as}`, `--regid=${options.as}`, '--init-groups', CLI, ...args] : [CLI, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(command!, rest, { env: options.cleanEnv ? env : { ...process.env, SOURCE_DATE_EPOCH: EPOCH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status: status ?? -1, stdout, stderr }));
  });
}

export function cliOk(args: string[], options: SpawnSyncOptions & { env?: NodeJS.ProcessEnv } = {}): string {
  const r = cli(args, options);
  if (r.status !== 0) throw new Error(`fromscratch ${args.join(' ')} exited ${r.status}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A busybox root filesystem from Debian's busybox-static, made by the example script users run. */
export function busyboxRootfs(dir: string): string {
  must('bash', [join(ROOT, 'examples/busybox-rootfs.sh'), dir]);
  return dir;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Runs a Python 3 script (an independent tar implementation, for crafting and reading archives). */
export function python(script: string, args: string[] = [], input?: Buffer): string {
  return must('python3', ['-c', script, ...args], input ? { input } : {});
}

/** A layer entry for `addLayer`: name, kind, and the content (text, or a count of random bytes) or link target. */
export type LayerEntrySpec = [string, 'file' | 'dir' | 'hard' | 'sym', string | number];

/**
 * Appends a layer written by Python's tarfile (not our writer) to an OCI image with umoci, as a build
 * step would; `createdBy` goes into its history entry.
 */
export function addLayer(image: string, tar: string, entries: LayerEntrySpec[], createdBy?: string): void {
  python(
    `
import io, json, os, sys, tarfile
t = tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT)
for name, kind, arg in json.loads(sys.argv[2]):
    i = tarfile.TarInfo(name); i.mtime = 1600000200; i.mode = 0o644
    data = None
    if kind == 'dir': i.type = tarfile.DIRTYPE; i.mode = 0o755
    elif kind == 'hard': i.type = tarfile.LNKTYPE; i.linkname = arg
    elif kind == 'sym': i.type = tarfile.SYMTYPE; i.linkname = arg
    else:
        b = os.urandom(arg) if isinstance(arg, int) else arg.encode()
        i.size = len(b); data = io.BytesIO(b)
    t.addfile(i, data)
t.close()
`,
    [tar, JSON.stringify(entries)],
  );
  must('umoci', ['raw', 'add-layer', '--image', image, ...(createdBy ? ['--history.created_by', createdBy] : []), tar]);
}

/** Every name in a folder and below it, for "nothing was left behind" checks. */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, prefix: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      out.push(prefix + e.name);
      if (e.isDirectory()) walk(join(d, e.name), `${prefix}${e.name}/`);
    }
  };
  walk(dir, '');
  return out.sort();
}

/** Podman set up for these machines (vfs, runc, cgroupfs), with storage of its own per test file. */
export class Podman {
  readonly root: string;
  constructor() {
    this.root = tempDir('podman');
  }
  private base(): string[] {
    return [
      '--root', join(this.root, 'storage'), '--runroot', join(this.root, 'run'), '--storage-driver', 'vfs',
      '--runtime', 'runc', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file',
    ];
  }
  cmd(args: string[]): RunResult {
    return run('podman', [...this.base(), ...args]);
  }
  ok(args: string[]): string {
    return must('podman', [...this.base(), ...args]);
  }
  /**
   * `podman run --rm` with the rlimits these machines allow; no network unless asked ('host'). Podman 4.3
   * sometimes loses a container's exit code under load ("no such exit code"); such a run is repeated
   * once, since it says nothing about the image.
   */
  runImage(image: string, command: string[], extra: string[] = [], network = 'none'): RunResult {
    const args = ['run', '--rm', '--network', network, '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', ...extra, image, ...command];
    const first = this.cmd(args);
    return /getting exit code of container .*no such exit code/.test(first.stderr) ? this.cmd(args) : first;
  }
  cleanup(): void {
    run('podman', [...this.base(), 'system', 'reset', '--force']);
  }
}

/** A folder shared by the test files of one run (scripts/test.sh makes it), or a private one. */
export function sharedDir(): string {
  const shared = process.env['FROMSCRATCH_TEST_SHARED'];
  if (shared) return shared;
  return tempDir('shared');
}

/**
 * A debootstrap --variant=minbase chroot of a suite from the host's mirror, made once per test run, with
 * apt's lists updated so apt-get --simulate can run in it: the oracle for package sets.
 */
export function debootstrapChroot(suite: string, mirror: string): string {
  const dir = join(sharedDir(), `chroot-${suite}`);
  if (existsSync(join(dir, '.fromscratch-ready'))) return dir;
  rmSync(dir, { recursive: true, force: true });
  must('debootstrap', ['--variant=minbase', suite, dir, mirror]);
  copyFileSync('/etc/resolv.conf', join(dir, 'etc/resolv.conf'));
  must('chroot', [dir, 'apt-get', 'update', '-qq']);
  writeFileSync(join(dir, '.fromscratch-ready'), '');
  return dir;
}

/** A static file server on loopback; `override` replaces a path's body (null: 404). */
export interface Served {
  url: string;
  override: Map<string, Buffer | null>;
  requests: string[];
  close(): Promise<void>;
}

export async function serveDirectory(dir: string): Promise<Served> {
  const override = new Map<string, Buffer | null>();
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    requests.push(path);
    let body: Buffer | null | undefined = override.get(path);
    if (body === undefined) {
      const file = join(dir, path);
      body = !path.includes('..') && existsSync(file) && statSync(file).isFile() ? readFileSync(file) : null;
    }
    if (body === null) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    override,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Starts the CLI in a process group of its own (as `who` through setpriv when given), interrupts it as a
 * terminal's Ctrl-C would once its standard error matches `when`, and waits until `tmp` (its TMPDIR) is
 * empty again: what a `--scripts` build leaves behind when stopped (the sandbox removes its root a moment
 * after the CLI itself exits, so a walk meeting a folder being removed looks again). Returns the exit
 * status and the standard error.
 */
export async function interruptBuild(args: string[], who: string[], env: NodeJS.ProcessEnv, when: RegExp, tmp: string): Promise<{ status: number | null; stderr: string; left: string[] }> {
  const [command, ...rest] = [...who, CLI, ...args];
  const child = spawn(command!, rest, { env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  await new Promise<void>((resolve) => {
    child.stderr!.on('data', (d) => (stderr += d) && when.test(stderr) && resolve());
    child.on('close', () => resolve());
  });
  process.kill(-child.pid!, 'SIGINT');
  const status = await closed;
  const left = () => {
    try {
      return listTree(tmp);
    } catch {
      return ['(being removed)'];
    }
  };
  for (let i = 0; i < 100 && left().length; i++) await new Promise((r) => setTimeout(r, 200));
  return { status, stderr, left: left() };
}

/**
 * Whether `user` can run the CLI unprivileged with a user namespace of its own; otherwise why not (the
 * checkout is in a folder other users cannot enter, or the kernel forbids unprivileged user namespaces),
 * for --scripts tests that then build as root.
 */
export function unprivilegedProbe(user: string): { unprivileged: boolean; reachable: boolean; why: string } {
  const probe = run('setpriv', [`--reuid=${user}`, `--regid=${user}`, '--init-groups', 'unshare', '--user', '--map-root-user', 'true']);
  // A checkout in a private folder (a clone in `mktemp -d`, mode 0700) is out of other users' reach.
  const reachable = run('setpriv', [`--reuid=${user}`, `--regid=${user}`, '--init-groups', 'test', '-r', CLI]).status === 0;
  if (!reachable) return { unprivileged: false, reachable, why: `the checkout (${CLI}) is in a folder other users cannot enter; built as root instead` };
  if (probe.status !== 0) return { unprivileged: false, reachable, why: `the kernel forbids unprivileged user namespaces here (${probe.stderr.trim()}); built as root instead` };
  return { unprivileged: true, reachable, why: '' };
}
