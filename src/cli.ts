#!/usr/bin/env node
import './runtime.js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import type { CiRules } from './analyze/ci-rules.js';
import { importImage } from './commands/import.js';
import { formatInspect, inspectImage } from './commands/inspect.js';
import { errorMessage, UserError } from './errors.js';
import { removeAllTempsSync, withTempDir } from './fs/temp.js';
import { sourceDateEpoch } from './image/image.js';
import { parsePlatform } from './oci/platform.js';
import { keptCategories, SLIM_CATEGORIES } from './slim/rules.js';

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `K=V` pairs from repeated flags into a record. */
function keyValues(flag: string, values: string[] | undefined): Record<string, string> | undefined {
  if (!values) return undefined;
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new UserError(`${flag} "${v}" is not of the form KEY=VALUE`);
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

/** `--cmd '["a","b"]'` (exec form) or `--cmd 'a b'` (shell form, run by /bin/sh -c as a Dockerfile does). */
function commandLine(flag: string, value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  if (value.trimStart().startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      throw new UserError(`${flag} ${value}: not a valid JSON array`);
    }
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) throw new UserError(`${flag} ${value}: must be a JSON array of strings`);
    return parsed as string[];
  }
  return ['/bin/sh', '-c', value];
}

function owner(value: string): { uid: number; gid: number } {
  const m = /^(\d+):(\d+)$/.exec(value);
  if (!m) throw new InvalidArgumentError('expected UID:GID, for example 0:0');
  return { uid: Number(m[1]), gid: Number(m[2]) };
}

function env(value: string, previous: string[] = []): string[] {
  if (!/^[^=]+=/.test(value)) throw new InvalidArgumentError(`"${value}" is not of the form NAME=VALUE`);
  return [...previous, value];
}

const program = new Command()
  .name('fromscratch')
  .description('Build, inspect and rewrite container images without a daemon and without root.')
  .version(version)
  .showHelpAfterError()
  .addHelpText(
    'after',
    `
Image references (skopeo's syntax):
  oci:PATH[:TAG]                      OCI image layout folder (may hold many tagged images)
  oci-archive:FILE[:TAG]              the same layout as one tar file
  docker-archive:FILE[:NAME[:TAG]]    what docker save writes and docker/podman load read (:@N picks by index)

Environment:
  SOURCE_DATE_EPOCH   seconds since the epoch: image creation time, and the latest mtime any file gets
  TMPDIR              where temporary spools and staged layers go`,
  );

program
  .command('import')
  .description('make a one-layer image from a directory or a tar archive (plain, gzip, xz, zstd), like docker import')
  .argument('[source]', "a directory, a tar file, or '-' for standard input")
  .argument('[destination]', 'image reference to write, e.g. oci:out:latest')
  .option('--empty', 'make an image with no layers at all (FROM scratch); give no source')
  .option('--empty-layer', 'make an image with one empty layer (as `tar c --files-from /dev/null | docker import -`); give no source')
  .option('--owner <uid:gid>', 'give every file this numeric owner (e.g. 0:0 when a non-root user imports a folder)', owner)
  .option('--entrypoint <command>', 'entrypoint: a JSON array, or a string run by /bin/sh -c')
  .option('--cmd <command>', 'default command: a JSON array, or a string run by /bin/sh -c')
  .option('--env <NAME=VALUE>', 'environment variable (repeatable)', env)
  .option('--workdir <dir>', 'working directory')
  .option('--user <user[:group]>', 'user the container runs as')
  .option('--label <KEY=VALUE>', 'config label (repeatable)', collect)
  .option('--annotation <KEY=VALUE>', 'manifest annotation (repeatable)', collect)
  .option('--platform <os/arch[/variant]>', 'platform of the image (default: this host)')
  .option('--history <comment>', 'history comment for the layer')
  .addOption(new Option('--compression <kind>', 'layer compression').choices(['gzip', 'zstd', 'none']).default('gzip'))
  .option('--compression-level <n>', 'gzip 1-9 (default 6), zstd 1-19 (default 3)', (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 19) throw new InvalidArgumentError('expected a whole number from 1 to 19');
    return n;
  })
  .action(async (source: string | undefined, destination: string | undefined, o: Record<string, unknown>) => {
    if (destination === undefined) {
      // commander fills the first argument first: with --empty the one argument given is the destination.
      destination = source;
      source = undefined;
    }
    const empty = Boolean(o['empty']);
    const emptyLayer = Boolean(o['emptyLayer']);
    if (empty && emptyLayer) throw new UserError('--empty and --empty-layer exclude each other');
    if ((empty || emptyLayer) && source !== undefined) throw new UserError(`--empty${emptyLayer ? '-layer' : ''} takes no source (got "${source}")`);
    if (!empty && !emptyLayer && source === undefined) throw new UserError('import needs a SOURCE (a directory, a tar file or -) and a DESTINATION');
    if (destination === undefined) throw new UserError('import needs a DESTINATION image reference, e.g. oci:out:latest');
    const epoch = sourceDateEpoch();
    const result = await importImage({
      source: empty ? { empty: true } : emptyLayer ? { emptyLayer: true } : source!,
      destination,
      owner: o['owner'] as { uid: number; gid: number } | undefined,
      entrypoint: commandLine('--entrypoint', o['entrypoint'] as string | undefined),
      cmd: commandLine('--cmd', o['cmd'] as string | undefined),
      env: o['env'] as string[] | undefined,
      workdir: o['workdir'] as string | undefined,
      user: o['user'] as string | undefined,
      labels: keyValues('--label', o['label'] as string[] | undefined),
      annotations: keyValues('--annotation', o['annotation'] as string[] | undefined),
      platform: o['platform'] ? parsePlatform(o['platform'] as string) : undefined,
      history: o['history'] as string | undefined,
      compression: o['compression'] as 'gzip' | 'zstd' | 'none',
      compressionLevel: o['compressionLevel'] as number | undefined,
      sourceDateEpoch: epoch,
    });
    for (const path of result.skipped) process.stderr.write(`fromscratch: skipped socket ${path}\n`);
    process.stdout.write(`${result.digest}\n`);
  });

program
  .command('inspect')
  .description('show an image: manifest digest, media types, platform, config, and per layer digest, diffID, chainID, sizes and history')
  .argument('<reference>', 'image reference, e.g. oci:out:latest')
  .option('--json', 'print JSON')
  .option('--platform <os/arch[/variant]>', 'which image of a multi-platform index (default: this host)')
  .action(async (reference: string, o: { json?: boolean; platform?: string }) => {
    const report = await inspectImage(reference, o.platform ? { platform: parsePlatform(o.platform) } : {});
    process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatInspect(report)}\n`);
  });

const list = (v: string, previous: string[] = []) => [...previous, ...v.split(',').map((x) => x.trim()).filter(Boolean)];

/** The package-selection flags `build` and `lock` share, for both ecosystems. */
function withPackageOptions(command: Command): Command {
  return command
    .option('--suite <suite>', 'Debian: release to build (bookworm, trixie...); repeat or comma-separate to add bookworm-updates, bookworm-security', list)
    .option('--mirror <url>', "Debian: archive mirror (default: from the host's apt configuration, or FROMSCRATCH_MIRROR)")
    .option('--components <list>', 'Debian: archive components (default main)', list)
    .addOption(new Option('--preset <preset>', 'Debian: starting package set, as debootstrap/mmdebstrap define them, or busybox (default minbase)').choices(['essential', 'required', 'minbase', 'none', 'busybox']))
    .option('--recommends', 'Debian: install Recommends too')
    .option('--rpm-repo <url>', 'RPM: a yum/dnf repository (the folder holding repodata/); repeatable', collect)
    .option('--yum-conf <file>', 'RPM: read the enabled repositories of this yum.conf/dnf.conf and its reposdir, as mkimage-yum.sh -y')
    .option('--releasever <version>', "RPM: $releasever in the repositories' URLs")
    .option('--group <id>', 'RPM: install a comps group (e.g. core); repeatable', collect)
    .addOption(new Option('--group-types <types>', 'RPM: group package types to take (default mandatory,default,conditional)').argParser((v, prev: string[] = []) => [...prev, ...groupTypes(v)]))
    .option('--weak-deps', 'RPM: install weak dependencies (Recommends, Supplements) too')
    .option('--nodocs', 'RPM: leave out %doc files (tsflags=nodocs)')
    .option('--install-langs <langs>', "RPM: only these languages' files (rpm's %_install_langs), e.g. en,de", list)
    .option('--keyring <file>', "OpenPGP keys the archive (Debian: InRelease; RPM: repomd.xml and every package) must be signed by (repeatable; Debian's default: the host's)", collect)
    .option('--include <packages>', 'packages to add (comma-separated, repeatable; Debian: name or name=version; RPM: as dnf takes them)', list)
    .option('--exclude <packages>', 'packages never to install (comma-separated, repeatable)', list)
    .option('--arch <archs>', "architecture(s) in the ecosystem's names (amd64 / x86_64...), comma-separated or repeated; several make an OCI index with one image per platform (default: this host's)", list)
    .option('--offline', 'use only the cache')
    .option('--slim', 'leave out docs (but copyright and license files), man pages, info and locales, as Debian\'s -slim images and febootstrap-minimize')
    .option('--scripts', "run the packages' maintainer scripts or scriptlets (in an unprivileged user-namespace sandbox) instead of reproducing their effects; this machine's architecture only");
}

const GROUP_TYPES = ['mandatory', 'default', 'optional', 'conditional'] as const;

function groupTypes(value: string): (typeof GROUP_TYPES)[number][] {
  return value.split(',').map((t) => t.trim()).filter(Boolean).map((t) => {
    const known = GROUP_TYPES.find((g) => g === t);
    if (!known) throw new InvalidArgumentError(`"${t}" is not a group package type (${GROUP_TYPES.join(', ')})`);
    return known;
  });
}

/** The flags commander parsed for `build` and `lock`, typed. */
interface BuildCliOptions {
  suite?: string[]; mirror?: string; components?: string[]; preset?: 'essential' | 'required' | 'minbase' | 'none' | 'busybox'; recommends?: boolean;
  rpmRepo?: string[]; yumConf?: string; releasever?: string; group?: string[]; groupTypes?: (typeof GROUP_TYPES)[number][];
  weakDeps?: boolean; nodocs?: boolean; installLangs?: string[];
  keyring?: string[]; include?: string[]; exclude?: string[]; arch?: string[]; offline?: boolean; slim?: boolean; scripts?: boolean;
  lockfile?: string; label?: string[]; annotation?: string[]; compression?: 'gzip' | 'zstd' | 'none'; json?: boolean;
}

function buildFlags(o: BuildCliOptions): import('./commands/build.js').BuildFlags {
  const { label, annotation, json: _json, ...flags } = o;
  const labels = keyValues('--label', label);
  const annotations = keyValues('--annotation', annotation);
  return { ...flags, ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) };
}

/** `[spec] target` where the spec may be left out. */
function specAndTarget(first: string | undefined, second: string | undefined, what: string): [string | undefined, string] {
  const [spec, target] = second === undefined ? [undefined, first] : [first, second];
  if (target === undefined) throw new UserError(`${what} is missing`);
  return [spec, target];
}

withPackageOptions(
  program
    .command('build')
    .description('build a base image from a package archive (Debian or Ubuntu with apt; RPM-based with yum/dnf repositories), without root or a daemon')
    .argument('[spec]', 'a YAML build spec (see examples/); flags override it')
    .argument('[destination]', 'image reference to write, e.g. oci:debian:bookworm'),
)
  .option('--lockfile <file>', 'install exactly the packages this lockfile pins (made by fromscratch lock)')
  .option('--label <KEY=VALUE>', 'config label, over the spec\'s labels (repeatable)', collect)
  .option('--annotation <KEY=VALUE>', 'manifest annotation, over the spec\'s annotations (repeatable)', collect)
  .addOption(new Option('--compression <kind>', 'layer compression').choices(['gzip', 'zstd', 'none']).default('gzip'))
  .option('--json', 'print a JSON summary')
  .action(async (first: string | undefined, second: string | undefined, o: BuildCliOptions) => {
    const { buildCommand } = await import('./commands/build.js');
    const [specFile, destination] = specAndTarget(first, second, 'build needs a DESTINATION image reference, e.g. oci:debian:bookworm;');
    const started = Date.now();
    const { plainProgress, terminalProgress } = await import('./progress/progress.js');
    const display = o.json ? undefined : process.stderr.isTTY ? terminalProgress(process.stderr) : plainProgress((t) => process.stderr.write(t));
    const result = await buildCommand(specFile, destination, buildFlags(o), display ? { log: (line) => display.line(line), progress: (s) => display.status(s) } : {});
    display?.end();
    if (o.json) process.stdout.write(`${JSON.stringify({ ...result, seconds: (Date.now() - started) / 1000 }, null, 2)}\n`);
    else process.stdout.write(`${result.digest}\n`);
  });

withPackageOptions(
  program
    .command('lock')
    .description('resolve a build and write the pinned package set (name, version, arch, checksum, URL path) to a lockfile')
    .argument('[spec]', 'a YAML build spec; flags override it')
    .argument('[lockfile]', 'where to write, e.g. fromscratch.lock.json'),
).action(async (first: string | undefined, second: string | undefined, o: BuildCliOptions) => {
  const { lockCommand } = await import('./commands/build.js');
  const [specFile, lockfile] = specAndTarget(first, second, 'lock needs a LOCKFILE to write, e.g. fromscratch.lock.json;');
  const lock = await lockCommand(specFile, lockfile, buildFlags(o), { log: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(`${lockfile}: ${lock.packages.length} packages\n`);
});

program
  .command('analyze')
  .description('why an image is as big as it is: per layer sizes and changes, bytes later layers delete or overwrite, and what to do about them')
  .argument('<reference>', 'image reference, e.g. oci:app:latest')
  .option('--json', 'print JSON')
  .option('--platform <os/arch[/variant]>', 'which image of a multi-platform index (default: this host)')
  .option('--ci', "check the image against CI rules (dive's .dive-ci keys); exit 1 when one fails")
  .option('--ci-config <file>', 'YAML file with `rules:` (default: .dive-ci in the current folder, if there); implies --ci')
  .option('--ci-rule <name=value>', 'set one rule, e.g. lowestEfficiency=0.95 or highestImageSize=200MB (repeatable); implies --ci', (v: string, prev: string[] = []) => [...prev, v])
  .option('--html <file>', 'also write a self-contained HTML page: a zoomable treemap of the filesystem, the layers, the waste and the packages')
  .action(async (reference: string, o: { json?: boolean; platform?: string; ci?: boolean; ciConfig?: string; ciRule?: string[]; html?: string }) => {
    const { analyze } = await import('./analyze/analyze.js');
    const { formatAnalyze } = await import('./analyze/format.js');
    const ci = o.ci || o.ciConfig !== undefined || o.ciRule !== undefined;
    // Rules are read before the image, so a bad rule fails fast.
    let rules: CiRules | undefined;
    if (ci) {
      const { applyCiRule, DEFAULT_CI_RULES, loadCiRules } = await import('./analyze/ci-rules.js');
      const config = o.ciConfig ?? (existsSync('.dive-ci') ? '.dive-ci' : undefined);
      rules = config === undefined ? DEFAULT_CI_RULES : await loadCiRules(config);
      for (const r of o.ciRule ?? []) rules = applyCiRule(rules, r);
    }
    const analysis = await analyze(reference, { ...(o.platform ? { platform: parsePlatform(o.platform) } : {}), tree: o.html !== undefined });
    const { report, tree } = analysis;
    if (o.html !== undefined && tree) {
      const { humanBytes, writeHtmlReport } = await import('./analyze/html-report.js');
      process.stderr.write(`analyze: wrote ${o.html} (${humanBytes(await writeHtmlReport({ report, tree }, o.html))})\n`);
    }
    const { checkCiRules, formatCiOutcome } = await import('./analyze/ci-rules.js');
    const outcome = rules && checkCiRules(report, rules);
    if (o.json) process.stdout.write(`${JSON.stringify(outcome ? { ...report, ci: outcome } : report, null, 2)}\n`);
    else process.stdout.write(`${formatAnalyze(report)}\n${outcome ? `\nCI rules:\n${formatCiOutcome(outcome)}\n` : ''}`);
    if (outcome && !outcome.passed) {
      const failed = outcome.results.filter((r) => !r.passed).map((r) => `${r.rule} (${r.detail})`);
      throw new UserError(`analyze: ${reference} fails the CI rules: ${failed.join('; ')}`);
    }
  });

program
  .command('squash')
  .description('merge all layers of an image, or those above layer N, into one (whiteouts applied, hardlinks and symlinks kept)')
  .argument('<source>', 'image reference to read, e.g. oci:app:latest')
  .argument('<destination>', 'image reference to write, e.g. oci:app:squashed')
  .option('--from <N>', 'keep layers 0..N as they are and squash the ones above', (v: string) => {
    if (!/^\d+$/.test(v)) throw new UserError(`--from "${v}" is not a layer number`);
    return Number(v);
  })
  .option('--from-layer <digest>', 'the same, naming layer N by its digest or diffID')
  .option('--message <text>', 'history comment of the squashed layer')
  .addOption(new Option('--compression <kind>', 'compression of the new layer').choices(['gzip', 'zstd', 'none']).default('gzip'))
  .action(async (source: string, destination: string, o: { from?: number; fromLayer?: string; message?: string; compression: 'gzip' | 'zstd' | 'none' }) => {
    const { squashImage } = await import('./image/squash.js');
    const { withImage, writeImage } = await import('./transport/transports.js');
    const epoch = sourceDateEpoch();
    const result = await withImage(source, (image) =>
      withTempDir('squash', async (work) => {
        const before = image.layers.reduce((n, l) => n + l.descriptor.size, 0);
        const squashed = await squashImage(image, source, {
          ...(o.from !== undefined ? { from: o.from } : {}),
          ...(o.fromLayer !== undefined ? { fromLayer: o.fromLayer } : {}),
          ...(o.message !== undefined ? { message: o.message } : {}),
          ...(epoch !== undefined ? { sourceDateEpoch: epoch } : {}),
          compression: { compression: o.compression },
        }, work);
        const digest = await writeImage(destination, squashed.image);
        const after = squashed.image.layers.reduce((n, l) => n + l.descriptor.size, 0);
        process.stderr.write(`squash: ${squashed.squashed} layers into one (${squashed.kept} kept below, ${squashed.whiteouts} whiteouts re-emitted); ${(before / 1e6).toFixed(1)} MB → ${(after / 1e6).toFixed(1)} MB compressed\n`);
        return digest;
      }),
    );
    process.stdout.write(`${result}\n`);
  });

program
  .command('slim')
  .description("remove docs, man pages, locales, package caches... from every layer of an image (febootstrap-minimize, debuerreotype's slim), keeping copyright files, the layers and their history")
  .argument('<source>', 'image reference to read, e.g. oci:app:latest')
  .argument('<destination>', 'image reference to write, e.g. oci:app:slim')
  .option('--keep <categories>', 'categories to leave in the image (comma-separated, repeatable)', list)
  .option('--remove <categories>', 'categories to remove that are kept by default (comma-separated, repeatable)', list)
  .option('--platform <os/arch[/variant]>', 'which image of a multi-platform index (default: this host)')
  .addOption(new Option('--compression <kind>', 'compression of the layers written again').choices(['gzip', 'zstd', 'none']).default('gzip'))
  .option('--json', 'print a JSON summary on standard output')
  .addHelpText('after', () => slimHelp())
  .action(async (source: string, destination: string, o: { keep?: string[]; remove?: string[]; platform?: string; compression: 'gzip' | 'zstd' | 'none'; json?: boolean }) => {
    const { slimImage } = await import('./slim/slim-image.js');
    const { withImage, writeImage } = await import('./transport/transports.js');
    const keep = keptCategories({ ...(o.keep ? { keep: o.keep } : {}), ...(o.remove ? { remove: o.remove } : {}) });
    const epoch = sourceDateEpoch();
    const summary = await withImage(
      source,
      (image) =>
        withTempDir('slim', async (work) => {
          const result = await slimImage(image, source, { keep, compression: { compression: o.compression }, ...(epoch !== undefined ? { sourceDateEpoch: epoch } : {}) }, work);
          const digest = await writeImage(destination, result.image);
          const before = image.layers.reduce((n, l) => n + l.descriptor.size, 0);
          const after = result.image.layers.reduce((n, l) => n + l.descriptor.size, 0);
          const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
          const width = Math.max(...Object.keys(result.categories).map((c) => c.length));
          for (const [category, bytes] of Object.entries(result.categories)) {
            process.stderr.write(`slim: ${category.padEnd(width)} ${String(bytes).padStart(11)} bytes (${mb(bytes)}), ${result.entries[category]} entries\n`);
          }
          const rewritten = result.layers.filter((l) => l.rewritten).length;
          process.stderr.write(`slim: ${'total'.padEnd(width)} ${String(result.savedBytes).padStart(11)} bytes (${mb(result.savedBytes)}); ${rewritten} of ${result.layers.length} layers written again, ${result.droppedWhiteouts} whiteouts dropped; ${mb(before)} → ${mb(after)} compressed\n`);
          if (result.dpkg) {
            const config = result.dpkg.config ? `; ${result.dpkg.config} keeps them out of packages installed later` : '';
            process.stderr.write(`slim: dpkg: ${result.dpkg.removedLines} removed paths taken out of ${result.dpkg.editedFiles} .list/.md5sums files${config}\n`);
          }
          for (const note of result.notes) process.stderr.write(`slim: ${note}\n`);
          return {
            digest, savedBytes: result.savedBytes, categories: result.categories, entries: result.entries,
            compressedBefore: before, compressedAfter: after, droppedWhiteouts: result.droppedWhiteouts,
            layers: result.layers.map((l) => ({ index: l.index, before: l.before.digest, after: l.after.digest, rewritten: l.rewritten, droppedEntries: l.droppedEntries })),
            ...(result.dpkg ? { dpkg: result.dpkg } : {}),
          };
        }),
      o.platform ? { platform: parsePlatform(o.platform) } : {},
    );
    process.stdout.write(o.json ? `${JSON.stringify(summary, null, 2)}\n` : `${summary.digest}\n`);
  });

/** The category table under `slim --help`. */
function slimHelp(): string {
  const lines = ['', 'Categories (removed by default unless marked "kept"):'];
  for (const c of SLIM_CATEGORIES) lines.push(`  ${c.name.padEnd(17)}${c.removedByDefault ? '' : '(kept) '}${c.description}`);
  return lines.join('\n');
}

program
  .command('schema')
  .description('print the JSON Schema of build specs (for editors; also in schema/fromscratch.schema.json)')
  .action(async () => {
    const { specJsonSchema } = await import('./build-spec/schema.js');
    process.stdout.write(`${JSON.stringify(specJsonSchema(), null, 2)}\n`);
  });

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    removeAllTempsSync();
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
    process.stderr.write(`fromscratch: interrupted (${signal}); nothing was written\n`);
    process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
  });
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  removeAllTempsSync();
  // On a terminal, a live progress line may be showing: clear it so the error stands alone.
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
  process.stderr.write(`fromscratch: error: ${errorMessage(err)}\n`);
  if (!(err instanceof UserError) && process.env['FROMSCRATCH_DEBUG']) process.stderr.write(`${(err as Error).stack}\n`);
  process.exitCode = 1;
}
