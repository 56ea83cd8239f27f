import { stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import type { SourcedEntry } from '../../entries/entry-set.js';
import { canonicalizeEntries } from '../../entries/entry-set.js';
import { normalizeEntryPath } from '../../entries/path.js';
import { dirEntry, fileEntry } from '../../entries/synthetic.js';
import { UserError } from '../../errors.js';
import { hostPlatform } from '../../oci/platform.js';
import { debianArch } from './architecture.js';
import { nativeSandbox, runRootDriver } from '../../sandbox/root-driver.js';
import type { IdMap } from '../../sandbox/user-namespace.js';
import { writeTar } from '../../tar/writer.js';
import type { Paragraph } from './control.js';
import { debEffectContext } from './effects/deb-context.js';
import { aptSources, type UsedRepository } from './effects/image-apt-sources.js';
import type { UnpackedPackage } from './dpkg-database.js';
import { installOrder } from './install-order.js';
import { mergedUsrEntries } from './merged-usr.js';
import { slimDpkgConfig, slimEntries } from './slim.js';
import { DRIVER } from './script-install-driver.js';

/** One resolved package: its control file, its .deb, and its data as entries (merged-/usr paths). */
export interface ScriptPackage {
  name: string;
  control: Paragraph;
  deb: string;
  entries: SourcedEntry[];
}

export interface ScriptInstallOptions {
  packages: ScriptPackage[];
  /** For the apt sources the image gets (what apt's own scripts do not write). */
  installed: UnpackedPackage[];
  repositories: UsedRepository[];
  usrDirs: string[];
  arch: string;
  epoch: number;
  slim?: boolean;
  accounts?: { users: string[]; groups: string[]; homes: { path: string; uid: number; gid: number }[] };
  /** Spec paths, laid over what the scripts made. */
  paths?: SourcedEntry[];
  /** Where the finished root's contents are spooled. */
  spoolDir: string;
  log: (line: string) => void;
}

/** Checks what can be checked before any work: the host's architecture, the sandbox's prerequisites. */
export async function checkScriptInstall(arch: string): Promise<IdMap> {
  return nativeSandbox(arch, debianArch(hostPlatform()), 'maintainer scripts');
}

/** The environment scripts run in: nothing of the caller's, no prompts, and a fixed clock for tools that honour it. */
function sandboxEnv(epoch: number): Record<string, string> {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/root',
    LC_ALL: 'C.UTF-8',
    DEBIAN_FRONTEND: 'noninteractive',
    DEBCONF_NONINTERACTIVE_SEEN: 'true',
    SOURCE_DATE_EPOCH: String(epoch),
  };
}

const locked = (line: string) => line.replace(/^([^:]*):[^:]*:/, '$1:*:');

/** The root the sandbox starts from: the essential packages unpacked, the .debs and the job's lists. */
function startingRoot(options: ScriptInstallOptions, debSizes: Map<string, number>): SourcedEntry[] {
  const { essential, batches } = installOrder(options.packages);
  const byName = new Map(options.packages.map((p) => [p.name, p]));
  const inRoot = (name: string) => `/tmp/fromscratch/debs/${name}.deb`;
  const mtime = options.epoch;
  const job = (path: string, content: string, mode = 0o644): SourcedEntry => ({ ...fileEntry(`tmp/fromscratch/${path}`, content, { mtime, mode }), origin: 'script install' });

  // As unpacking one after another would leave them: a shared directory stays as first made, a file as last written.
  const unpacked = new Map<string, SourcedEntry>();
  for (const name of essential) {
    for (const e of byName.get(name)!.entries) {
      if (e.type === 'directory' && unpacked.get(e.path)?.type === 'directory') continue;
      unpacked.set(e.path, e);
    }
  }
  let files = [...unpacked.values()];
  if (options.slim) files = slimEntries(files).entries;
  const used = (dir: string) => files.some((e) => e.path.startsWith(`usr/${dir}/`));
  const own = (path: string, mode = 0o755) => ({ ...dirEntry(path, { mtime, mode }), origin: 'script install' });
  const debs = options.packages.map((p): SourcedEntry => ({
    path: `tmp/fromscratch/debs/${p.name}.deb`, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime, size: debSizes.get(p.name)!,
    open: () => createReadStream(p.deb), origin: p.deb,
  }));
  const homes = (options.accounts?.homes ?? []).map((h) => `${h.path} ${h.uid} ${h.gid}\n`).join('');
  const all: SourcedEntry[] = [
    ...mergedUsrEntries(options.usrDirs, mtime, used).map((e) => ({ ...e, origin: 'merged /usr' })),
    ...files,
    // dpkg's database starts empty; policy-rc.d keeps daemons from starting (exit 101: "action forbidden").
    ...['var/lib/dpkg/status', 'var/lib/dpkg/available'].filter((p) => !unpacked.has(p)).map((p) => ({ ...fileEntry(p, '', { mtime }), origin: 'dpkg database' })),
    ...(unpacked.has('var/lib/dpkg/info') ? [] : [own('var/lib/dpkg/info')]),
    { ...fileEntry('usr/sbin/policy-rc.d', '#!/bin/sh\nexit 101\n', { mtime, mode: 0o755 }), origin: 'script install (policy-rc.d)' },
    ...(options.slim ? [slimDpkgConfig(mtime)] : []),
    ...(unpacked.has('tmp') ? [] : [own('tmp', 0o1777)]),
    own('tmp/fromscratch', 0o700),
    own('tmp/fromscratch/debs', 0o700),
    ...debs,
    job('essential', `${essential.map(inRoot).join(' ')}\n`),
    job('batches', batches.map((b) => `${b.map(inRoot).join(' ')}\n`).join('')),
    // Locked passwords, as the effects write them: pwconv/grpconv move the "*" to the shadow files.
    job('passwd', (options.accounts?.users ?? []).map((l) => `${locked(l)}\n`).join('')),
    job('group', (options.accounts?.groups ?? []).map((l) => `${locked(l)}\n`).join('')),
    job('homes', homes),
  ];
  options.log(`scripts: ${essential.length} essential packages, then ${batches.flat().length} more in ${batches.length} dpkg runs`);
  return canonicalizeEntries(all).map((e) => ({ ...e, origin: 'sandbox input' }));
}

/** The package and action dpkg last reported failing, and the stage the driver was in. */
function failure(tail: string): string {
  const failed = [...tail.matchAll(/error processing (?:archive|package) (\S+) \((--[a-z]+)\)/g)].pop();
  const script = [...tail.matchAll(/(?:installed |new )?(\S+) package (pre-installation|post-installation|pre-removal|post-removal) script subprocess returned error exit status (\d+)/g)].pop();
  const stage = [...tail.matchAll(/^fromscratch-step: (.*)$/gm)].pop()?.[1];
  if (script) return `the ${script[2]} script of ${script[1]} failed (exit status ${script[3]})`;
  if (failed) return `dpkg ${failed[2]} of ${failed[1]!.replace(/^\/tmp\/fromscratch\/debs\//, '')} failed`;
  return stage ? `failed during "${stage}"` : 'failed';
}

/**
 * Installs the packages by running dpkg and their maintainer scripts inside a user-namespace sandbox
 * (mmdebstrap's unshare mode): the essential set is unpacked from our entries and `dpkg --install`ed
 * over itself, the rest follows in dependency order, then the finished root comes back as a tar stream
 * and becomes the image's entries (with the spec's accounts, paths and the apt sources laid over).
 */
export async function installWithScripts(options: ScriptInstallOptions): Promise<SourcedEntry[]> {
  const ids = await checkScriptInstall(options.arch);
  if (!options.packages.some((p) => p.name === 'dpkg')) {
    throw new UserError('--scripts runs dpkg inside the image, so dpkg (and the essential set) must be in it: use --preset essential, required or minbase, or --include dpkg');
  }
  const debSizes = new Map<string, number>();
  for (const p of options.packages) debSizes.set(p.name, (await stat(p.deb)).size);
  const input = startingRoot(options, debSizes);

  const started = Date.now();
  const scan = await runRootDriver({
    script: DRIVER,
    args: () => [],
    input: writeTar(input),
    ids,
    env: () => sandboxEnv(options.epoch),
    spoolDir: options.spoolDir,
    onLine: (line) => {
      if (line.startsWith('fromscratch-step: ')) options.log(`scripts: ${line.slice(18)}`);
    },
    failure: (tail, exit) => `--scripts: ${failure(tail)}${exit.signal ? ` (killed by ${exit.signal})` : ` (exit status ${exit.code})`}; the last lines:\n${tail}`,
  });
  options.log(`scripts: dpkg ran the maintainer scripts in ${((Date.now() - started) / 1000).toFixed(1)} s; ${scan.entries.length} entries`);
  return overlay(scan.entries, options);
}

/** The spec's paths and the image's apt sources over the finished root. */
function overlay(entries: SourcedEntry[], options: ScriptInstallOptions): SourcedEntry[] {
  const ctx = debEffectContext(entries.map((e) => ({ ...e, path: normalizeEntryPath(e.path) })), options.installed, options.epoch, options.arch);
  aptSources(ctx, options.repositories);
  const spec = options.paths ?? [];
  const replaced = new Set(spec.map((e) => normalizeEntryPath(e.path)));
  return [...ctx.result().filter((e) => e.path !== '' && !replaced.has(e.path)), ...spec];
}
