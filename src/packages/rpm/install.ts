import type { SourcedEntry } from '../../entries/entry-set.js';
import { parentPath, symlinkTarget } from '../../entries/path.js';
import { fileEntry, symlinkEntry } from '../../entries/synthetic.js';
import { UserError } from '../../errors.js';
import type { InstallInput, Installed, UnpackedPackage } from '../ecosystem.js';
import { EffectContext } from '../effects/context.js';
import { updateCaTrust } from '../effects/ca-trust.js';
import { ldSoCache, type LibcBuild } from '../effects/ld-so-cache.js';
import { busyboxInstall } from '../effects/busybox.js';
import { rpmPlatform } from './architecture.js';
import { applySystemdPresets } from '../effects/systemd-presets.js';
import { mergePackageEntries, type PackageFiles } from '../file-conflicts.js';
import { AccountDatabase } from './effects/accounts.js';
import { applyAlternativesCommands } from './effects/alternatives.js';
import { imageFileTest, interpretScriptlet, type ScriptCommand, type Scriptlet } from './effects/scriptlet.js';
import { headerFiles, leftOut, RpmFileState } from './file-list.js';
import { RpmHeader, RpmTag } from './header.js';
import { packageFromHeader } from './header-package.js';
import { deviceNodes, releaseOf, sysconfigNetwork } from './image-system.js';
import { rpmDisplayName, type LockedRpm, type RpmLockFields } from './lockfile.js';
import { loadRpmRepoKeys } from './repository.js';
import type { RpmRequest } from './request.js';
import { installOrder } from './install-order.js';
import { mapOwners, rpmParentDirectories } from './rpm-file.js';
import { rpmdbPath, writeRpmDatabase } from './rpmdb-writer.js';
import { installRpmScripted } from './script-install.js';
import { verifyHeaderSignatures } from './signature.js';
import { RpmUniverse } from './universe.js';
import { slimLeftOut, slimRpmMacros } from './slim.js';

/** One package of the transaction: its lock entry, decoded contents and parsed headers. */
interface Member {
  locked: LockedRpm;
  display: string;
  unpacked: UnpackedPackage;
  header: RpmHeader;
  signature: RpmHeader;
}

function member(locked: LockedRpm, unpacked: UnpackedPackage): Member {
  const display = rpmDisplayName(locked);
  const blob = (name: string) => {
    const b = unpacked.meta.get(name);
    if (!b) throw new UserError(`${display}: the decoded package has no ${name} header (clear the cache's unpacked/rpm folder)`);
    return b;
  };
  return {
    locked, display, unpacked,
    header: RpmHeader.parse(blob('header'), `${display}: header`, { region: { tag: RpmTag.HEADERIMMUTABLE, exact: true }, strict: true }),
    signature: RpmHeader.parse(blob('signature'), `${display}: signature header`, { region: { tag: RpmTag.HEADERSIGNATURES, exact: true, optional: true } }),
  };
}

/**
 * gpgcheck: every package of a repository that asks for it carries a header signature by one of the
 * repository's keys. Checked here, from the header blobs the decoding verified against the file (and the
 * file against the repository's checksum), so that a cached decoding is checked as strictly as a new one.
 */
async function checkSignatures(members: readonly Member[], input: InstallInput<LockedRpm, RpmLockFields>): Promise<number> {
  let checked = 0;
  for (const repo of input.fields.repositories) {
    if (!repo.gpgcheck) continue;
    const ours = members.filter((m) => m.locked.repository === repo.baseurl);
    if (ours.length === 0) continue;
    const keys = await loadRpmRepoKeys({ id: repo.id, gpgkey: repo.gpgkey }, { store: input.store, offline: input.offline });
    if (keys.length === 0) throw new UserError(`repository "${repo.id}" has gpgcheck=1 but no gpgkey to check its packages with`);
    for (const m of ours) {
      await verifyHeaderSignatures(m.signature, { header: m.header, blob: Buffer.from(m.header.blob), offset: 0, length: 0 }, keys, m.display);
      checked++;
    }
  }
  return checked;
}

/** rpm's transaction order of the members, from their headers' requires and provides (pre-requires first). */
function transactionOrder(members: readonly Member[], arch: string): Member[] {
  const universe = new RpmUniverse(arch);
  const repository = { id: 'transaction', priority: 99, cost: 1000 };
  const byPackage = new Map(members.map((m) => [packageFromHeader(m.header, repository), m] as const));
  universe.add([...byPackage.keys()], []);
  return installOrder([...byPackage.keys()], universe).map((p) => byPackage.get(p)!);
}

/** The scriptlets rpm runs for a package on install, in its order. */
function scriptlets(m: Member, which: readonly ('%pre' | '%post' | '%posttrans')[]): Scriptlet[] {
  const tags = { '%pre': [RpmTag.PREIN, RpmTag.PREINPROG], '%post': [RpmTag.POSTIN, RpmTag.POSTINPROG], '%posttrans': [RpmTag.POSTTRANS, RpmTag.POSTTRANSPROG] } as const;
  const out: Scriptlet[] = [];
  for (const name of which) {
    const [body, prog] = tags[name];
    if (!m.header.has(body) && !m.header.has(prog)) continue;
    const interpreter = m.header.has(prog) ? m.header.strings(prog) : ['/bin/sh'];
    out.push({ pkg: m.locked.name, name, interpreter, body: m.header.string(body) ?? '' });
  }
  return out;
}

/**
 * What one package installs: its decoded entries less what is left out (%doc with nodocs, other
 * languages, slim's categories), a hardlink set's content moved to its first kept name as rpm writes it,
 * and the file states the database records.
 */
function installedFiles(m: Member, request: RpmRequest): { entries: SourcedEntry[]; states: number[]; folders: string[] } {
  const files = headerFiles(m.header, m.display);
  const dirnames = m.header.has(RpmTag.DIRNAMES) ? m.header.strings(RpmTag.DIRNAMES) : [];
  const dirindexes = m.header.has(RpmTag.DIRINDEXES) ? m.header.numbers(RpmTag.DIRINDEXES) : [];
  const left = leftOut(files, dirnames, dirindexes, { nodocs: request.nodocs, ...(request.installLangs ? { installLangs: request.installLangs } : {}) });
  const slim = request.slim ? slimLeftOut(files) : new Set<number>();
  const out = new Set<string>();
  const states = files.map((f, i) => {
    if (left[i] || slim.has(i)) {
      out.add(f.path);
      return RpmFileState.NOTINSTALLED;
    }
    return RpmFileState.NORMAL;
  });
  const folders: string[] = [];
  const entries: SourcedEntry[] = [];
  const moved = new Map<string, string>();
  for (const e of m.unpacked.entries) {
    if (!out.has(e.path)) {
      const target = e.type === 'hardlink' ? moved.get(e.linkname ?? '') : undefined;
      if (target === undefined) entries.push({ ...e, origin: `${m.display}: ${e.origin}` });
      else if (target === e.path) continue;
      else entries.push({ ...e, linkname: target, origin: `${m.display}: ${e.origin}` });
      continue;
    }
    if (e.type !== 'file') continue;
    // A left-out name holding a hardlink set's content: the first kept name of the set takes it (rpm
    // still makes the left-out name's folder, lib/fsm.cc).
    const kept = m.unpacked.entries.find((l) => l.type === 'hardlink' && l.linkname === e.path && !out.has(l.path));
    if (!kept) continue;
    folders.push(parentPath(e.path));
    moved.set(e.path, kept.path);
    const { linkname: _link, ...rest } = kept;
    entries.push({ ...e, ...rest, type: 'file', size: e.size, origin: `${m.display}: ${kept.origin}` });
  }
  return { entries: entries.filter((e) => !(e.type === 'hardlink' && e.linkname === e.path)), states, folders };
}

/**
 * rpm's file conflicts: a path two packages both install must be the same file (type, mode, owner and
 * digest, or the same symlink target), else the transaction fails naming both; a folder where another
 * package has a symlink to a folder keeps the symlink (filesystem's /bin → usr/bin).
 */
function rpmConflict(path: string, earlier: { entry: SourcedEntry; pkg: FileOwner }, later: { entry: SourcedEntry; pkg: FileOwner }): 'replace' | 'keep' {
  const a = earlier.entry;
  const b = later.entry;
  if (a.type === 'symlink' && b.type === 'directory') return 'keep';
  if (a.type === 'directory' && b.type === 'symlink') return 'replace';
  const same = a.type === b.type && a.mode === b.mode && a.uname === b.uname && a.gname === b.gname && a.size === b.size
    && (a.type !== 'file' || (earlier.pkg.digests.get(path) !== undefined && earlier.pkg.digests.get(path) === later.pkg.digests.get(path)));
  if (same) return 'keep';
  throw new UserError(`file /${path} from install of ${later.pkg.display} conflicts with file from package ${earlier.pkg.display}`);
}

interface FileOwner {
  display: string;
  digests: Map<string, string>;
}

/** The folder symlinks the packages ship (filesystem's /lib → usr/lib, /bin → usr/bin), as entry paths. */
function folderLinks(entries: readonly SourcedEntry[]): Map<string, string> {
  const links = new Map<string, string>();
  for (const e of entries) {
    if (e.type !== 'symlink' || !e.linkname) continue;
    try {
      links.set(e.path, symlinkTarget(e.path, e.linkname));
    } catch {
      // A link out of the root leads nowhere a package file could land.
    }
  }
  return links;
}

/**
 * A path with its folders followed through the packages' folder symlinks: rpm writes /lib/x through
 * filesystem's /lib → usr/lib link into usr/lib/x. The last name is followed only for a folder's path
 * (otherwise it may be a link itself).
 */
function throughFolderLinks(path: string, links: ReadonlyMap<string, string>, followLast = false): string {
  const parts = path.split('/');
  let at = '';
  for (let i = 0; i < parts.length - (followLast ? 0 : 1); i++) {
    at = at ? `${at}/${parts[i]}` : parts[i]!;
    for (let hops = 0; links.has(at) && hops < 40; hops++) at = links.get(at)!;
  }
  if (followLast) return at;
  return at ? `${at}/${parts[parts.length - 1]}` : path;
}

/** A package's entries and file digests with their paths through the folder links. */
function relocated(display: string, entries: readonly SourcedEntry[], digests: ReadonlyMap<string, string>, links: ReadonlyMap<string, string>): PackageFiles<FileOwner> {
  const moved = new Map<string, string>();
  const out = entries.map((e) => {
    const path = throughFolderLinks(e.path, links);
    const digest = digests.get(e.path);
    if (digest !== undefined) moved.set(path, digest);
    const linkname = e.type === 'hardlink' && e.linkname ? throughFolderLinks(e.linkname, links) : e.linkname;
    return path === e.path && linkname === e.linkname ? e : { ...e, path, ...(linkname !== undefined ? { linkname } : {}) };
  });
  return { pkg: { display, digests: moved }, entries: out };
}

/** ldconfig's machine (by Debian's name, as the ld.so.cache writer knows them) for RPM's architectures. */
const LDCONFIG_MACHINE: Record<string, string> = { x86_64: 'amd64', aarch64: 'arm64', i686: 'i386', armv7hl: 'armhf' };

/**
 * The glibc of an RPM distribution: built without a vendor string (`ldconfig (GNU libc) …`), searching
 * its $slibdir and $libdir (/lib64 and /usr/lib64 on 64-bit machines) after /etc/ld.so.conf's folders.
 */
function rpmLibc(header: RpmHeader, arch: string): LibcBuild {
  const version = header.string(RpmTag.VERSION) ?? '';
  const lib = ['x86_64', 'aarch64', 'ppc64le', 's390x', 'riscv64'].includes(arch) ? 'lib64' : 'lib';
  return { generator: `ldconfig (GNU libc) release release version ${version}`, machine: LDCONFIG_MACHINE[arch] ?? arch, systemDirs: [`/${lib}`, `/usr/${lib}`] };
}

/** The text of a file the packages ship, or undefined. */
async function readText(ctx: EffectContext, path: string): Promise<string | undefined> {
  const content = await ctx.readThrough(path);
  return content?.toString('utf8');
}

/**
 * The RPM install: the packages in rpm's transaction order, their files with rpm's choices (left-out
 * docs and languages, ghosts not created, hardlink sets, unowned parent folders, owners by name through
 * the image's own accounts), the scriptlets' effects reproduced declaratively, and rpm's database.
 */
export async function installRpm(input: InstallInput<LockedRpm, RpmLockFields>, request: RpmRequest): Promise<Installed> {
  const { epoch, log, arch } = input;
  const members = input.packages.map((p, i) => member(p, input.unpacked[i]!));
  const signed = await checkSignatures(members, input);
  if (signed) log(`verify: ${signed} package signatures checked against their repositories' keys`);
  // --scripts: rpm itself installs the verified files and runs the scriptlets, in the sandbox.
  if (request.scripts) return installRpmScripted(input, request);
  const ordered = transactionOrder(members, arch);

  const files = ordered.map((m) => ({ m, ...installedFiles(m, request) }));
  log(`unpack: ${files.reduce((n, f) => n + f.entries.length, 0)} entries from ${ordered.length} packages`);

  // The files as rpm lays them down, conflicts settled, through folder links, with the folders rpm makes.
  const links = folderLinks(files.flatMap((f) => f.entries));
  const merged = mergePackageEntries(files.map((f) => relocated(f.m.display, f.entries, f.m.unpacked.digests, links)), rpmConflict);
  merged.push(...rpmParentDirectories(merged, epoch, files.flatMap((f) => f.folders.map((d) => throughFolderLinks(d, links, true)))));

  // Scriptlets, in transaction order: what they do to accounts, alternatives, ld.so.cache, systemd and the CA trust.
  const ctx = new EffectContext(merged, new Map(ordered.map((m) => [m.locked.name, m] as const)), epoch, arch);
  const accounts = await AccountDatabase.load(ctx);
  const commands: ScriptCommand[] = [];
  const fileTest = imageFileTest(ctx);
  for (const m of ordered) {
    for (const s of scriptlets(m, ['%pre', '%post', '%posttrans'])) {
      const result = interpretScriptlet(s, { getent: (db, key) => accounts.getent(db, key), fileTest, perform: (c) => (c.kind === 'account' || c.kind === 'sysusers' ? accounts.perform(c) : 0) });
      commands.push(...result.commands);
      for (const note of result.notes) ctx.notes.push(note);
    }
  }
  await accounts.write({ ...(input.accounts ? { users: input.accounts.users, groups: input.accounts.groups } : {}) });
  for (const home of input.accounts?.homes ?? []) ctx.dir(home.path, 'spec accounts (home)', 0o755, home.uid, home.gid);
  const alternatives = applyAlternativesCommands(ctx, commands);
  await updateCaTrust(ctx);
  for (const c of commands) {
    // Packages installed before systemctl do nothing (the helpers check it is there), as in a real transaction.
    if (c.kind === 'systemd-preset' && ctx.exists('usr/bin/systemctl')) await applySystemdPresets(ctx, { scope: c.scope === 'user' ? 'global' : 'system', mode: c.mode, ...(c.units.length ? { units: c.units } : {}) });
  }
  for (const c of commands) {
    if (c.kind === 'busybox-install') await busyboxInstall(ctx, c, { platform: rpmPlatform(arch), arch }, input.work, `${c.origin.pkg} ${c.origin.scriptlet}`);
  }
  // Services an alternative names with --initscript follow the best alternative (chkconfig's alternatives
  // enables the winner's and disables the others' through their presets).
  if (ctx.exists('usr/bin/systemctl') && alternatives.preset.length) await applySystemdPresets(ctx, { units: alternatives.preset });
  for (const unit of alternatives.disable) ctx.notes.push(`alternatives: ${unit} would be disabled (nothing enables it in a new image)`);
  // glibc's file trigger runs ldconfig at the end of every transaction that installs libraries.
  const glibc = ordered.find((m) => m.locked.name === 'glibc');
  if (glibc) await ldSoCache(ctx, rpmLibc(glibc.header, arch));
  const system = ctx.result();

  // Owners by name, through the accounts the image ends with (rpm: unknown names become root, with a warning).
  const passwd = (await readText(ctx, 'etc/passwd')) ?? '';
  const group = (await readText(ctx, 'etc/group')) ?? '';
  const owned = mapOwners(system, passwd, group);
  for (const u of owned.unknownUsers) ctx.notes.push(`warning: user ${u} does not exist - using root`);
  for (const g of owned.unknownGroups) ctx.notes.push(`warning: group ${g} does not exist - using root`);
  for (const note of ctx.notes) log(`install: ${note}`);

  // rpm's database, where the image's rpm looks for it.
  const macroFiles = await Promise.all(owned.entries.filter((e) => e.type === 'file' && /^(usr\/lib\/rpm\/(macros$|macros\.d\/|platform\/|[^/]+\/macros$)|etc\/rpm\/)/.test(e.path)).map(async (e) => ({ path: e.path, content: (await readText(ctx, e.path)) ?? '' })));
  const location = rpmdbPath(macroFiles);
  const database = await writeRpmDatabase(ordered.map((m, i) => ({ header: m.header.blob, signature: m.signature.blob, fileStates: files[i]!.states, name: m.display })), { installTime: epoch, tid: epoch, arch });
  const db: SourcedEntry[] = [{ ...fileEntry(location.path, database, { mtime: epoch, mode: 0o644 }), origin: 'rpm database' }];
  if (location.link && !owned.entries.some((e) => e.path === location.link!.path)) db.push({ ...symlinkEntry(location.link.path, location.link.target, { mtime: epoch }), origin: 'rpm database' });
  log(`install: rpm database: ${ordered.length} packages in /${location.path}`);

  const release = (await readText(ctx, 'etc/system-release')) ?? (await readText(ctx, 'etc/redhat-release'));
  const { name, version } = release ? releaseOf(release) : { name: 'RPM-based image', version: undefined };
  // From the lock, not the request, so that a build from the lockfile is the same image.
  const repositories = input.fields.repositories.map((r) => r.id).join(' ');
  const entries = [...owned.entries, ...db, ...deviceNodes(epoch), sysconfigNetwork(epoch), ...(request.slim ? [slimRpmMacros(epoch)] : [])];
  return {
    // The folders of what the build adds (/dev, /etc/sysconfig) where no package made them, as mkdir -p would.
    entries: [...entries, ...rpmParentDirectories(entries, epoch)],
    description: name,
    createdBy: `fromscratch build ${repositories}`,
    ...(version !== undefined ? { annotations: { 'org.opencontainers.image.version': version } } : {}),
  };
}
