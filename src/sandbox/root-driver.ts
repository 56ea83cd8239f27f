import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { scanTarArchive, type TarScan } from '../entries/tar-source.js';
import { UserError } from '../errors.js';
import { registerTemp, releaseTemp } from '../fs/temp.js';
import { sandboxIdMap, spawnInSandbox, SandboxUnavailableError, type IdMap } from './user-namespace.js';

/*
 * `--scripts` builds run a package manager (dpkg, rpm) over a root made inside a user-namespace sandbox,
 * driven by a shell script that runs as the sandbox's pid 1. What the drivers share is written once here:
 * the script's frame (cleanup, the running system's device nodes and /proc, the spec's accounts, the root
 * streamed out as a tar on fd 4) and the run itself (a folder of its own, the log, failures, cleanup).
 */

/**
 * The start of a driver script: `$root` must be set. fd 4 becomes the tar of the finished root, all other
 * output goes to stderr; `step` writes the `fromscratch-step:` lines the log shows; on any exit the
 * sandbox's mounts are undone and the root removed (files of subordinate ids: only the sandbox can).
 */
export const DRIVER_FRAME = String.raw`exec 4>&1 1>&2
mounted=
made=
cleanup() {
  status=$?
  trap - EXIT INT TERM HUP
  for m in $mounted; do umount "$root/$m" 2>/dev/null || umount -l "$root/$m" 2>/dev/null || true; done
  # Files owned by subordinate ids can only be removed from inside: the caller could not.
  rm -rf "$root"
  rmdir "$(dirname "$root")" 2>/dev/null || true
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
step() { echo "fromscratch-step: $*"; }
`;

/**
 * What scripts expect of a running system: device nodes (bound from the host: no mknod in a user
 * namespace), /dev/fd and friends, and a /proc of the sandbox's own pid namespace. `$made` lists what was
 * made, `$mounted` what must be unmounted.
 */
export const DRIVER_RUNNING_SYSTEM = String.raw`mkdir -p "$root/dev" "$root/proc"
for node in null zero full random urandom tty; do
  [ -e "/dev/$node" ] || continue
  : > "$root/dev/$node"
  mount --bind "/dev/$node" "$root/dev/$node"
  mounted="dev/$node $mounted"
  made="$made dev/$node"
done
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
made="$made dev/fd dev/stdin dev/stdout dev/stderr"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mounted="proc $mounted"
`;

/** The spec's users and groups (`$job/passwd`, `group`, `homes`), shadowed with the image's own pwconv. */
export const DRIVER_ACCOUNTS = String.raw`if [ -s "$job/passwd" ] || [ -s "$job/group" ]; then
  step "accounts: adding the spec's users and groups"
  mkdir -p "$root/etc"
  cat "$job/group" >> "$root/etc/group"
  cat "$job/passwd" >> "$root/etc/passwd"
  if [ -x "$root/usr/sbin/pwconv" ]; then chroot "$root" /usr/sbin/pwconv; chroot "$root" /usr/sbin/grpconv; fi
  while read -r home uid gid; do
    mkdir -p "$root/$home"
    chown "$uid:$gid" "$root/$home"
  done < "$job/homes"
fi
`;

/** The end of a driver script: the finished root, as a tar, on fd 4 (file capabilities kept). */
export const DRIVER_STREAM_OUT = String.raw`step "stream the root out"
tar --numeric-owner --xattrs --xattrs-include=security.capability -cf - -C "$root" . >&4
`;

/**
 * The sandbox for running `scripts` (the packages' maintainer scripts, scriptlets) of an image for `arch`,
 * checked before anything is downloaded: real scripts run only on this machine's architecture (`host`, in
 * the ecosystem's names), and the sandbox must be able to start.
 */
export async function nativeSandbox(arch: string, host: string, scripts: string): Promise<IdMap> {
  if (arch !== host) {
    throw new UserError(`--scripts runs the packages' ${scripts}, so it builds only for this machine's architecture (${host}), not ${arch}; build ${arch} without --scripts, or on a ${arch} machine`);
  }
  return sandboxIdMap();
}

/** The spec's accounts as the driver's job files: passwd and group lines (passwords locked), homes. */
export async function writeAccountFiles(job: string, accounts: { users: string[]; groups: string[]; homes: { path: string; uid: number; gid: number }[] } | undefined): Promise<void> {
  const locked = (line: string) => line.replace(/^([^:]*):[^:]*:/, '$1:*:');
  await writeFile(join(job, 'passwd'), (accounts?.users ?? []).map((l) => `${locked(l)}\n`).join(''));
  await writeFile(join(job, 'group'), (accounts?.groups ?? []).map((l) => `${locked(l)}\n`).join(''));
  await writeFile(join(job, 'homes'), (accounts?.homes ?? []).map((h) => `${h.path} ${h.uid} ${h.gid}\n`).join(''));
}

export interface RootDriverRun {
  /** The driver script. */
  script: string;
  /** The driver's arguments after the root (given the run's own folder, for job files). */
  args: (outer: string) => string[];
  /** Files the driver reads, written into the run's folder before it starts. */
  prepare?: (outer: string) => Promise<void>;
  /** A tar of the starting root for the driver's standard input, if it takes one. */
  input?: AsyncIterable<Uint8Array>;
  ids: IdMap;
  env: (outer: string) => Record<string, string>;
  /** Where the finished root's file contents are spooled. */
  spoolDir: string;
  /** Each line of the driver's stderr (`fromscratch-step:` lines and the package manager's output). */
  onLine: (line: string) => void;
  /** The error message for a driver that failed, from the last lines of its output. */
  failure: (tail: string, exit: { code: number | null; signal: NodeJS.Signals | null }) => string;
  tailLines?: number;
}

/**
 * Runs a driver in the sandbox over a root in a temporary folder of its own (files of subordinate ids in
 * it can only be removed from inside the sandbox) and reads the finished root it streams out.
 */
export async function runRootDriver(run: RootDriverRun): Promise<TarScan> {
  const outer = await mkdtemp(join(tmpdir(), 'fromscratch-sandbox-'));
  registerTemp(outer);
  const root = join(outer, 'root');
  const driver = join(outer, 'driver.sh');
  let partial = '';
  try {
    await writeFile(driver, run.script);
    await run.prepare?.(outer);
    const sandbox = await spawnInSandbox(['/bin/sh', driver, root, ...run.args(outer)], run.ids, {
      env: run.env(outer),
      onStderr: (chunk) => {
        const lines = (partial + chunk.toString('utf8')).split('\n');
        partial = lines.pop()!;
        for (const line of lines) run.onLine(line);
      },
    });
    // The driver stops reading once tar has the whole archive; a broken pipe after that is no error.
    const feeding = run.input ? pipeline(Readable.from(run.input), sandbox.stdin).catch((err: unknown) => err) : (sandbox.stdin.end(), Promise.resolve(undefined));
    const scanning = scanTarArchive(sandbox.stdout as AsyncIterable<Buffer>, 'the sandbox root', run.spoolDir).then(
      (scan) => scan,
      (err: unknown) => {
        // Nobody reads the rest: let the driver's tar fail rather than block, so the sandbox exits and cleans up.
        sandbox.child.stdout?.destroy();
        return err as Error;
      },
    );
    const [fed, scan, exit] = await Promise.all([feeding, scanning, sandbox.exited]);
    // Our own failure to produce the input explains the driver's failure, not the other way round.
    if (fed instanceof Error && !/EPIPE|ERR_STREAM_DESTROYED/.test(`${(fed as NodeJS.ErrnoException).code} ${fed.message}`)) throw fed;
    if (exit.code !== 0) throw new UserError(run.failure(sandbox.stderrTail(run.tailLines ?? 30), exit));
    if (scan instanceof Error) throw scan;
    return scan;
  } finally {
    // The driver removes the root itself; only a killed one leaves something, which only the sandbox can remove.
    if (existsSync(root)) await removeInSandbox(root, run.ids);
    await rm(outer, { recursive: true, force: true });
    releaseTemp(outer);
  }
}

async function removeInSandbox(path: string, ids: IdMap): Promise<void> {
  try {
    const sandbox = await spawnInSandbox(['rm', '-rf', path], ids, { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
    sandbox.stdin.end();
    sandbox.stdout.resume();
    await sandbox.exited;
  } catch (err) {
    if (!(err instanceof SandboxUnavailableError)) throw err;
  }
}
