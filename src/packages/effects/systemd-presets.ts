import { posix } from 'node:path';
import type { Entry } from '../../tar/entry.js';
import type { EffectContext } from './context.js';
import {
  emptyInstallSection, expandSpecifiers, fnmatch, isUnitName, parseInstallSection, replaceUnitInstance, splitWords, stripWhitespace,
  unitInstance, unitNameKind, unitTemplate, unitType, unitTypeMayAlias, unitTypeMayTemplate, UnitLoadError, type InstallSection, type SpecifierContext,
} from './systemd-units.js';

/**
 * `systemctl preset` and `preset-all` reproduced on an image's entries, as RPM scriptlets run them
 * (`%systemd_post` → `systemctl preset UNIT…` on a package's first install, `%systemd_user_post` →
 * `systemctl --global preset UNIT…`, and Fedora's and RHEL's systemd `%post` → `systemctl preset-all`,
 * Fedora's also `systemctl --global preset-all`). It follows systemd's src/shared/install.c as
 * `systemctl --root=ROOT` runs it: the unit lookup path, preset files name-sorted across their folders,
 * [Install] sections with their drop-ins, aliases and links followed, masks honoured, templates and
 * instances, Also= recursion, and whole-command failures where systemctl fails (it then changes nothing).
 */

export type SystemdScope = 'system' | 'global';
export type PresetMode = 'full' | 'enable-only' | 'disable-only';

export interface SystemdPresetOptions {
  /** Only these units (`systemctl preset UNIT…`); all of them (`preset-all`) when absent. */
  units?: string[];
  mode?: PresetMode;
  /** 'global': `systemctl --global`, the user units for every user (/etc/systemd/user). */
  scope?: SystemdScope;
  /**
   * The image's systemd was built with split-usr (Debian up to 12): /lib/systemd/system is searched before
   * /usr/lib/systemd/system, so links name /lib/…. RPM distributions build it without: false by default.
   */
  splitUsr?: boolean;
  /**
   * The image's systemd version, for what changed after 252 (EL 9's, the default): [Install] UpheldBy= is
   * read from 254 on and preset `ignore` lines from 255 on.
   */
  systemdVersion?: number;
}

export interface SystemdPresetResult {
  /** The symlinks created, image paths (no leading '/') → targets as systemctl writes them. */
  created: { path: string; target: string }[];
  /** Symlinks systemctl would remove (preset disable of units that were enabled, in 'full' or 'disable-only'). */
  removed: string[];
  /** Units enabled: those the presets enabled and their Also= units. */
  enabled: string[];
  /** systemctl's warnings it prints and goes on (unparsable lines, unknown keys...). */
  warnings: string[];
  /** Set when systemctl would fail as a whole (and so change nothing): its reason. */
  failed?: string;
}

const ORIGIN = 'systemd presets';
const LINK_MAX = 64;
/** Errors preset-all skips a unit for (unit_file_preset_all); any other fails the command. */
const PRESET_ALL_IGNORED = new Set(['EEXIST', 'ERFKILL', 'EADDRNOTAVAIL', 'EBADSLT', 'EIDRM', 'EUCLEAN', 'ELOOP', 'ENOENT', 'EUNATCH', 'EXDEV', 'UNSUPPORTED']);

/** Where units, presets and enablement links live for a scope (path-lookup.c, lookup_paths_init). */
interface LookupPaths {
  searchPath: string[];
  config: string;
  generators: string[];
  transient?: string;
  presetDirs: string[];
}

function lookupPaths(scope: SystemdScope, splitUsr: boolean): LookupPaths {
  if (scope === 'global') {
    return {
      searchPath: ['/etc/systemd/user', '/run/systemd/user', '/usr/local/share/systemd/user', '/usr/share/systemd/user', '/usr/local/lib/systemd/user', '/usr/lib/systemd/user'],
      config: '/etc/systemd/user',
      generators: [],
      presetDirs: ['/etc/systemd/user-preset', '/run/systemd/user-preset', '/usr/local/lib/systemd/user-preset', '/usr/lib/systemd/user-preset'],
    };
  }
  const generators = ['/run/systemd/generator.early', '/run/systemd/generator', '/run/systemd/generator.late'];
  return {
    searchPath: [
      '/etc/systemd/system.control', '/run/systemd/system.control', '/run/systemd/transient', generators[0]!,
      '/etc/systemd/system', '/etc/systemd/system.attached', '/run/systemd/system', '/run/systemd/system.attached', generators[1]!,
      '/usr/local/lib/systemd/system', ...(splitUsr ? ['/lib/systemd/system'] : []), '/usr/lib/systemd/system', generators[2]!,
    ],
    config: '/etc/systemd/system',
    generators,
    transient: '/run/systemd/transient',
    presetDirs: [
      '/etc/systemd/system-preset', '/run/systemd/system-preset', '/usr/local/lib/systemd/system-preset', '/usr/lib/systemd/system-preset',
      ...(splitUsr ? ['/lib/systemd/system-preset'] : []),
    ],
  };
}

/** The folders a package's unit files are found in, for `unitsShippedBy`. */
const UNIT_DIRS: Record<SystemdScope, string[]> = {
  system: ['etc/systemd/system', 'usr/lib/systemd/system', 'lib/systemd/system', 'usr/local/lib/systemd/system'],
  global: ['etc/systemd/user', 'usr/lib/systemd/user', 'usr/share/systemd/user', 'usr/local/lib/systemd/user', 'usr/local/share/systemd/user'],
};

/**
 * The units a package ships: its files (paths as in the package or the image, with or without a leading
 * '/') directly in a unit folder whose names are unit names, sorted. Those are what its `%systemd_post`
 * (`%systemd_user_post` for 'global') usually names, for `applySystemdPresets(ctx, { units })`.
 */
export function unitsShippedBy(files: Iterable<string>, scope: SystemdScope = 'system'): string[] {
  const dirs = new Set(UNIT_DIRS[scope]);
  const found = new Set<string>();
  for (const file of files) {
    const path = posix.normalize(file.replace(/^\.?\/+/, ''));
    const dir = posix.dirname(path);
    const name = posix.basename(path);
    if (dirs.has(dir) && isUnitName(name)) found.add(name);
  }
  return [...found].sort();
}

/** A failure systemd reports with an errno; `code` is its name. */
class InstallFailure extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

function failure(err: unknown): InstallFailure {
  if (err instanceof InstallFailure) return err;
  if (err instanceof UnitLoadError) return new InstallFailure(err.code, err.message);
  throw err;
}

type Kind = 'file' | 'directory' | 'symlink' | 'other';

/**
 * The image as a file system with the changes of this run: paths are absolute ('/etc/…'), symlinks are
 * resolved inside the image root as `systemctl --root` resolves them (chase()).
 */
class RootView {
  private readonly byPath = new Map<string, Entry>();
  private readonly children = new Map<string, Set<string>>();

  constructor(entries: Iterable<Entry>, private readonly ctx: EffectContext) {
    for (const e of entries) this.put(e);
  }

  private put(e: Entry): void {
    this.byPath.set(e.path, e);
    const parent = posix.dirname(`/${e.path}`).slice(1);
    let set = this.children.get(parent);
    if (!set) this.children.set(parent, (set = new Set()));
    set.add(posix.basename(e.path));
  }

  private drop(path: string): void {
    this.byPath.delete(path);
    this.children.get(posix.dirname(`/${path}`).slice(1))?.delete(posix.basename(path));
  }

  private at(rel: string): Entry | undefined {
    return this.byPath.get(rel);
  }

  /**
   * chase(): the path with its symlinks followed inside the root ('..' at the root stays there), the last
   * component followed unless `noFollowLast`. A missing component ends the walk: the rest is appended as
   * written and `exists` is false. Undefined for a symlink loop or a file used as a folder.
   */
  chase(path: string, noFollowLast = false): { path: string; exists: boolean } | undefined {
    const pending = path.split('/').filter((c) => c !== '' && c !== '.');
    const done: string[] = [];
    let hops = 0;
    while (pending.length) {
      const c = pending.shift()!;
      if (c === '..') {
        done.pop();
        continue;
      }
      const e = this.at([...done, c].join('/'));
      if (!e) {
        // The rest does not exist: it is only normalised, as CHASE_NONEXISTENT leaves it.
        for (const x of [c, ...pending]) {
          if (x === '..') done.pop();
          else done.push(x);
        }
        return { path: `/${done.join('/')}`, exists: false };
      }
      if (e.type === 'symlink' && (pending.length || !noFollowLast)) {
        if (++hops > 40) return undefined;
        const target = e.linkname ?? '';
        if (target.startsWith('/')) done.length = 0;
        pending.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
        continue;
      }
      if (pending.length && e.type !== 'directory') return undefined;
      done.push(c);
    }
    return { path: `/${done.join('/')}`, exists: true };
  }

  /** The entry at a path whose folders are followed but not its last component (lstat). */
  lstat(path: string): Entry | undefined {
    const parent = this.chase(posix.dirname(path));
    if (!parent?.exists) return undefined;
    return this.at(posix.join(parent.path, posix.basename(path)).slice(1));
  }

  kind(e: Entry | undefined): Kind | undefined {
    if (!e) return undefined;
    if (e.type === 'file' || e.type === 'hardlink') return 'file';
    if (e.type === 'directory' || e.type === 'symlink') return e.type;
    return 'other';
  }

  /** A folder's entries (folder followed), byte-sorted: systemd reads them in readdir order, which a layer has not. */
  list(dir: string): { name: string; kind: Kind }[] {
    const at = this.chase(dir);
    if (!at?.exists || (at.path !== '/' && this.at(at.path.slice(1))?.type !== 'directory')) return [];
    const names = [...(this.children.get(at.path.slice(1)) ?? [])].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    return names.map((name) => ({ name, kind: this.kind(this.at(posix.join(at.path, name).slice(1)))! }));
  }

  private fileOf(e: Entry): Entry | undefined {
    return e.type === 'hardlink' ? this.at(e.linkname ?? '') : e;
  }

  /** null_or_empty: an empty regular file or a character device 1:3. */
  nullOrEmpty(e: Entry): boolean {
    const f = this.fileOf(e);
    if (!f) return false;
    if (f.type === 'char') return f.devmajor === 1 && f.devminor === 3;
    return f.type === 'file' && f.size === 0;
  }

  /** null_or_empty_path_with_root: /dev/null counts even when the image has no /dev/null. */
  nullOrEmptyPath(path: string): boolean | undefined {
    if (posix.normalize(path) === '/dev/null') return true;
    const at = this.chase(path);
    if (!at?.exists) return undefined;
    const e = this.at(at.path.slice(1));
    return e ? this.nullOrEmpty(e) : false;
  }

  /** A regular file's content (an entry's own, not through the context's script-path mapping). */
  async read(e: Entry): Promise<string> {
    const f = this.fileOf(e);
    if (!f?.open || f.size === 0) return '';
    const chunks: Buffer[] = [];
    for await (const c of f.open()) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Adds a symlink (and the folders it needs) to the view and to the image. */
  symlink(path: string, target: string): void {
    const parent = this.chase(posix.dirname(path));
    if (!parent) throw new InstallFailure('ENOTDIR', `cannot create ${path}: a parent is not a folder`);
    if (!parent.exists) {
      let at = '';
      for (const c of parent.path.split('/').filter(Boolean)) {
        at = `${at}/${c}`;
        if (!this.at(at.slice(1))) {
          const dir: Entry = { path: at.slice(1), type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: this.ctx.epoch, size: 0 };
          this.put(dir);
          this.ctx.dir(dir.path, ORIGIN);
        }
      }
    }
    const at = posix.join(parent.path, posix.basename(path)).slice(1);
    this.put({ path: at, type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: this.ctx.epoch, size: 0, linkname: target });
    this.ctx.symlink(at, target, ORIGIN);
  }

  unlink(path: string): void {
    this.drop(path.slice(1));
    // Links this module added before can be taken back; a packaged one is reported for the caller.
    const i = this.ctx.added.findIndex((e) => e.path === path.slice(1));
    if (i >= 0) this.ctx.added.splice(i, 1);
  }
}

type InstallMode = 'regular' | 'linked' | 'alias' | 'masked';

/** One unit being installed (install.c's InstallInfo). */
interface InstallInfo {
  name: string;
  path?: string;
  mode?: InstallMode;
  symlinkTarget?: string;
  install: InstallSection;
  auxiliary: boolean;
  /** Set when its discovery failed: apply stops there, as install_context_apply does. */
  error?: InstallFailure;
}

/** Units to enable or disable, in the order they were added (an ordered hashmap in install.c). */
class InstallContext {
  readonly todo = new Map<string, InstallInfo>();
  readonly done = new Map<string, InstallInfo>();

  find(name: string): InstallInfo | undefined {
    return this.done.get(name) ?? this.todo.get(name);
  }

  add(name: string, path: string | undefined, auxiliary: boolean): InstallInfo {
    if (!isUnitName(name)) throw new InstallFailure('EINVAL', `"${name}" is not a valid unit name`);
    const known = this.find(name);
    if (known) {
      known.auxiliary = known.auxiliary && auxiliary;
      return known;
    }
    const info: InstallInfo = { name, path, install: emptyInstallSection(), auxiliary };
    this.todo.set(name, info);
    return info;
  }
}

interface Rule {
  pattern: string;
  action: 'enable' | 'disable' | 'ignore';
  instances?: string[];
}

class Installer {
  readonly lp: LookupPaths;
  readonly warnings: string[] = [];
  readonly created: { path: string; target: string }[] = [];
  readonly removed: string[] = [];

  constructor(readonly view: RootView, readonly scope: SystemdScope, splitUsr: boolean, readonly version: number) {
    this.lp = lookupPaths(scope, splitUsr);
  }

  private inSearchPath(path: string): boolean {
    return this.lp.searchPath.includes(posix.dirname(path));
  }

  private underSearchPath(path: string): boolean {
    return this.lp.searchPath.some((d) => path === d || path.startsWith(`${d}/`));
  }

  private isConfig(path: string): boolean {
    return posix.dirname(path) === this.lp.config || posix.dirname(path) === this.lp.config.replace(/^\/etc/, '/run');
  }

  /** Preset files: `*.preset` across the folders, a name in an earlier folder hiding it in later ones, name-sorted. */
  async readPresets(): Promise<Rule[]> {
    const files = new Map<string, string>();
    for (const dir of this.lp.presetDirs) {
      for (const { name, kind } of this.view.list(dir)) {
        if (name.startsWith('.') || !name.endsWith('.preset') || kind === 'directory' || files.has(name)) continue;
        files.set(name, `${dir}/${name}`);
      }
    }
    const rules: Rule[] = [];
    for (const name of [...files.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))) {
      const path = files.get(name)!;
      const at = this.view.chase(path);
      const e = at?.exists ? this.view.lstat(at.path) : undefined;
      if (!e || this.view.kind(e) !== 'file') continue;
      const lines = (await this.view.read(e)).split(/\r\n|\r|\n/);
      lines.forEach((raw, i) => {
        const rule = this.parsePresetLine(stripWhitespace(raw));
        if (rule === undefined) return;
        if (rule === 'bad') this.warnings.push(`${path}:${i + 1}: cannot parse line "${stripWhitespace(raw)}", ignoring`);
        else rules.push(rule);
      });
    }
    return rules;
  }

  private parsePresetLine(line: string): Rule | 'bad' | undefined {
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return undefined;
    const word = (w: string): string | undefined => {
      if (!line.startsWith(w)) return undefined;
      const rest = line.slice(w.length);
      if (rest === '') return '';
      return /^[ \t\n\r]/.test(rest) ? rest.replace(/^[ \t\n\r]+/, '') : undefined;
    };
    const enable = word('enable');
    if (enable !== undefined) {
      // A bare "enable" leaves systemd without a pattern (systemctl 252 crashes on it): skipped here.
      const words = splitWords(enable, false) ?? [];
      if (words.length === 0) return 'bad';
      const [pattern, ...instances] = words;
      if (instances.length === 0) return { pattern: pattern!, action: 'enable' };
      if (!isUnitName(pattern!, 'template')) return 'bad';
      return { pattern: pattern!, action: 'enable', instances };
    }
    const disable = word('disable');
    if (disable !== undefined) return { pattern: disable, action: 'disable' };
    const ignore = this.version >= 255 ? word('ignore') : undefined;
    if (ignore !== undefined) return { pattern: ignore, action: 'ignore' };
    return 'bad';
  }

  /** query_presets: the first rule that matches; no rule enables. */
  queryPreset(name: string, rules: Rule[]): { action: Rule['action']; instances?: string[] } {
    for (const rule of rules) {
      if (rule.instances && unitTemplate(name) === rule.pattern) {
        if (unitNameKind(name) === 'template') {
          const names = rule.instances.map((i) => replaceUnitInstance(name, i));
          if (names.every((n): n is string => n !== undefined)) return { action: rule.action, instances: names };
        } else if (rule.instances.includes(unitInstance(name)!)) return { action: rule.action };
      }
      if (fnmatch(rule.pattern, name)) return { action: rule.action };
    }
    return { action: 'enable' };
  }

  /** unit_file_load (+ readlink): what is at `path`, loading [Install] when `load`. */
  private async loadOrReadlink(ctx: InstallContext | undefined, info: InstallInfo, path: string, load: boolean): Promise<void> {
    const type = unitType(info.name);
    if (isUnitName(info.name, 'template', 'instance') && !unitTypeMayTemplate(type)) {
      throw new InstallFailure('EINVAL', `${path}: unit type ${type} cannot be templated`);
    }
    const e = this.view.lstat(path);
    if (!e) throw new InstallFailure('ENOENT', `${path} does not exist`);
    const kind = this.view.kind(e);
    if (kind === 'symlink') return this.readlink(info, path, e);
    if (kind === 'directory') throw new InstallFailure('EISDIR', `${path} is a folder`);
    if (this.view.nullOrEmpty(e)) {
      info.mode = 'masked';
      return;
    }
    if (kind !== 'file') throw new InstallFailure(load ? 'EBADFD' : 'ENOTTY', `${path} is not a regular file`);
    if (load) await this.parse(ctx, info, e, path);
    info.mode = 'regular';
  }

  private async parse(ctx: InstallContext | undefined, info: InstallInfo, e: Entry, path: string): Promise<void> {
    const text = await this.view.read(e);
    parseInstallSection(text, path, { name: info.name, scope: this.scope }, info.install, this.warnings, (also) => {
      ctx?.add(also, undefined, true);
    }, this.version);
  }

  /** unit_file_resolve_symlink: an alias inside the search path, a linked file outside, or a mask. */
  private readlink(info: InstallInfo, path: string, e: Entry): void {
    const raw = e.linkname ?? '';
    const joined = raw.startsWith('/') ? raw : posix.join(posix.dirname(path), raw);
    const simplified = this.view.chase(joined, true);
    if (!simplified) throw new InstallFailure('ELOOP', `cannot resolve the symlink ${path} → ${raw}`);
    const target = simplified.path;
    const inside = this.underSearchPath(target);
    if (inside) validateAlias(path, target);
    info.symlinkTarget = target;
    const masked = this.view.nullOrEmptyPath(target);
    info.mode = masked ? 'masked' : inside ? 'alias' : 'linked';
  }

  /** unit_file_search: the unit's file in the lookup path (or its template's), then its drop-ins. */
  async search(ctx: InstallContext | undefined, info: InstallInfo, load: boolean): Promise<void> {
    if (info.mode) return;
    if (info.path) {
      await this.loadOrReadlink(ctx, info, info.path, load);
      return;
    }
    const template = isUnitName(info.name, 'instance') ? unitTemplate(info.name) : undefined;
    let found = false;
    for (const name of template ? [info.name, template] : [info.name]) {
      for (const dir of this.lp.searchPath) {
        const path = `${dir}/${name}`;
        try {
          await this.loadOrReadlink(ctx, info, path, load);
          info.path = path;
          found = true;
          break;
        } catch (err) {
          const f = failure(err);
          if (!['ENOENT', 'ENOTDIR', 'EACCES'].includes(f.code)) throw f;
        }
      }
      if (found) break;
    }
    if (!found) throw new InstallFailure('ENOENT', `cannot find unit ${info.name}${template ? ` or ${template}` : ''}`);
    if (info.mode === 'masked' || !load) return;
    // Drop-ins (NAME.d/*.conf, then TEMPLATE.d/*.conf) add to [Install] when the unit is loaded.
    const dirs = this.lp.searchPath.map((d) => `${d}/${info.name}.d`);
    if (template) dirs.push(...this.lp.searchPath.map((d) => `${d}/${template}.d`));
    const confs = new Map<string, string>();
    for (const dir of dirs) {
      for (const { name, kind } of this.view.list(dir)) {
        if (!name.startsWith('.') && name.endsWith('.conf') && kind !== 'directory' && !confs.has(name)) confs.set(name, `${dir}/${name}`);
      }
    }
    for (const name of [...confs.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))) {
      const path = confs.get(name)!;
      const at = this.view.chase(path);
      const e = at?.exists ? this.view.lstat(at.path) : undefined;
      if (!e) throw new InstallFailure('ENOENT', `cannot load the drop-in ${path}`);
      if (this.view.nullOrEmpty(e)) continue;
      if (this.view.kind(e) !== 'file') throw new InstallFailure('EBADFD', `the drop-in ${path} is not a regular file`);
      await this.parse(ctx, info, e, path);
    }
  }

  /** install_info_traverse: the unit, its aliases and links followed to the file that is installed. */
  async traverse(ctx: InstallContext, start: InstallInfo, load: boolean, followConfig: boolean): Promise<InstallInfo> {
    await this.search(ctx, start, load);
    let info = start;
    for (let hops = 0; info.mode === 'alias' || info.mode === 'linked'; hops++) {
      if (hops >= LINK_MAX) throw new InstallFailure('ELOOP', `too many links from ${start.name}`);
      if (!followConfig && info.path && this.isConfig(info.path)) {
        throw new InstallFailure('ELOOP', `refusing to operate on the linked unit file ${info.path}`);
      }
      const target = info.symlinkTarget!;
      let name = posix.basename(target);
      if (info.mode === 'linked' || name === info.name) {
        await this.follow(ctx, info, load);
        continue;
      }
      // An alias to another name: install that unit instead (with this one's instance, for a template).
      if (isUnitName(info.name, 'instance') && isUnitName(name, 'template')) {
        const instanced = replaceUnitInstance(name, unitInstance(info.name)!);
        if (instanced === info.name) {
          await this.follow(ctx, info, load);
          continue;
        }
        if (instanced) name = instanced;
      }
      info = ctx.add(name, undefined, false);
      try {
        await this.search(ctx, info, load);
      } catch (err) {
        const f = failure(err);
        throw f.code === 'ENOENT' ? new InstallFailure('ENOLINK', `${start.name} is an alias of ${name}, which does not exist`) : f;
      }
    }
    return info;
  }

  private async follow(ctx: InstallContext, info: InstallInfo, load: boolean): Promise<void> {
    info.path = info.symlinkTarget;
    info.symlinkTarget = undefined;
    info.mode = undefined;
    await this.loadOrReadlink(ctx, info, info.path!, load);
  }

  /** install_info_discover (and _and_check): add the name and find its file; failures stay recorded on it. */
  async discover(ctx: InstallContext, name: string, load: boolean, check: boolean): Promise<InstallInfo> {
    const info = ctx.add(name, undefined, false);
    let found: InstallInfo;
    try {
      found = await this.traverse(ctx, info, load, true);
    } catch (err) {
      info.error = failure(err);
      throw info.error;
    }
    if (check) {
      if (found.mode === 'masked') throw new InstallFailure('ERFKILL', `unit ${found.path} is masked`);
      if (found.path && (this.lp.generators.includes(posix.dirname(found.path)) || posix.dirname(found.path) === this.lp.transient)) {
        throw new InstallFailure('EADDRNOTAVAIL', `unit ${found.path} is transient or generated`);
      }
    }
    return found;
  }

  /** preset_prepare_one: sorts one unit into the enable or the disable set by the presets. */
  async prepare(plus: InstallContext, minus: InstallContext, name: string, rules: Rule[]): Promise<void> {
    if (plus.find(name) || minus.find(name)) return;
    const info = await this.discover(new InstallContext(), name, false, false);
    if (info.name !== name) return; // an alias: its unit is preset under its own name
    const preset = this.queryPreset(name, rules);
    if (preset.action === 'enable') {
      for (const n of preset.instances ?? [name]) await this.discover(plus, n, true, true);
    } else if (preset.action === 'disable') await this.discover(minus, name, false, false);
  }

  /** create_symlink: an existing equivalent link is kept; another one is replaced only when `force`. */
  private createSymlink(target: string, path: string, force: boolean): void {
    const e = this.view.lstat(path);
    if (e) {
      if (e.type !== 'symlink') throw new InstallFailure('EEXIST', `${path} already exists`);
      const dest = e.linkname ?? '';
      if (this.equivalent(path, dest, target)) return;
      if (!force) throw new InstallFailure('EEXIST', `${path} already exists and is a symlink to ${dest}`);
    }
    this.view.symlink(path, target);
    this.created.push({ path: path.slice(1), target });
  }

  /** chroot_unit_symlinks_equivalent: the same path, or the same name inside the lookup path. */
  private equivalent(at: string, a: string, b: string): boolean {
    const abs = (t: string): string => posix.normalize(t.startsWith('/') ? t : posix.join(posix.dirname(at), t));
    const [x, y] = [abs(a), abs(b)];
    if (x === y) return true;
    const [rx, ry] = [this.view.chase(x), this.view.chase(y)];
    if (rx?.exists && ry?.exists && rx.path === ry.path) return true;
    return posix.basename(x) === posix.basename(y) && this.underSearchPath(x) && this.underSearchPath(y);
  }

  private specifiers(info: InstallInfo): SpecifierContext {
    return { name: info.name, scope: this.scope, defaultInstance: info.install.defaultInstance };
  }

  /** install_info_apply: the unit's link (if outside the lookup path), its aliases and its .wants/.requires/.upholds. */
  private async applyOne(info: InstallInfo): Promise<void> {
    const path = info.path!;
    const config = this.lp.config;
    if (!this.inSearchPath(path)) this.createSymlink(path, `${config}/${info.name}`, false);
    for (const alias of info.install.aliases) {
      try {
        const dst = verifyAlias(info.name, expandSpecifiers(alias, this.specifiers(info)));
        if (dst === undefined) continue;
        const aliasPath = `${config}/${dst}`;
        const resolved = this.view.chase(aliasPath);
        this.createSymlink(path, aliasPath, resolved !== undefined && !resolved.exists);
      } catch (err) {
        this.warnings.push(`${info.name}: Alias=${alias}: ${failure(err).message}`);
      }
    }
    const lists: [string[], string][] = [[info.install.wantedBy, '.wants/'], [info.install.requiredBy, '.requires/'], [info.install.upheldBy, '.upholds/']];
    for (const [list, suffix] of lists) {
      if (list.length === 0) continue;
      try {
        await this.wants(info, list, suffix);
      } catch (err) {
        this.warnings.push(`${info.name}: ${failure(err).message}`);
      }
    }
  }

  /** install_info_symlink_wants for one list. */
  private async wants(info: InstallInfo, list: string[], suffix: string): Promise<void> {
    let name = info.name;
    let dstKinds: ('plain' | 'instance' | 'template')[] = ['plain', 'instance', 'template'];
    if (isUnitName(info.name, 'template')) {
      if (info.install.defaultInstance) {
        const instance = replaceUnitInstance(info.name, info.install.defaultInstance);
        if (!instance) throw new InstallFailure('EINVAL', `bad default instance ${info.install.defaultInstance}`);
        const probe: InstallInfo = { name: instance, install: emptyInstallSection(), auxiliary: false };
        await this.search(undefined, probe, false);
        if (probe.mode === 'masked') throw new InstallFailure('ERFKILL', `unit ${probe.path} is masked`);
        name = instance;
      } else dstKinds = ['instance', 'template'];
    }
    for (const raw of list) {
      let dst: string;
      try {
        dst = expandSpecifiers(raw, this.specifiers(info));
      } catch (err) {
        this.warnings.push(`${info.name}: ${failure(err).message}`);
        continue;
      }
      // Presets skip a destination of the wrong kind (a template without DefaultInstance wanted by a plain target).
      if (!isUnitName(dst, ...dstKinds)) continue;
      this.createSymlink(info.path!, `${this.lp.config}/${dst}${suffix}${name}`, true);
    }
  }

  /** install_context_apply: every unit to enable, Also= units included as they are found. */
  async apply(plus: InstallContext, enabled: string[]): Promise<void> {
    for (;;) {
      const next = plus.todo.values().next();
      if (next.done) return;
      const info = next.value;
      plus.todo.delete(info.name);
      plus.done.set(info.name, info);
      try {
        if (info.error) throw info.error;
        await this.traverse(plus, info, true, false);
      } catch (err) {
        const f = failure(err);
        if (info.auxiliary) {
          this.warnings.push(`failed to enable the auxiliary unit ${info.name}, ignoring: ${f.message}`);
          continue;
        }
        // systemctl gives up on the units after this one in its readdir order, which depends on the file
        // system it runs on; here the unit is skipped and the others are enabled, as when it came last.
        this.warnings.push(`failed to enable ${info.name}, skipped: ${f.message}`);
        continue;
      }
      if (info.mode !== 'regular') continue;
      enabled.push(info.name);
      try {
        await this.applyOne(info);
      } catch (err) {
        // The unit's own link failed: none of its other links are made (install_info_apply).
        this.warnings.push(`${info.name}: ${failure(err).message}`);
      }
    }
  }

  /** install_context_mark_for_removal + remove_marked_symlinks for the units to disable. */
  async removeDisabled(minus: InstallContext): Promise<void> {
    const marked = new Set<string>();
    for (;;) {
      const next = minus.todo.values().next();
      if (next.done) break;
      const info = next.value;
      minus.todo.delete(info.name);
      minus.done.set(info.name, info);
      try {
        await this.traverse(minus, info, true, true);
      } catch {
        marked.add(info.name);
        continue;
      }
      if (info.mode === 'masked' || info.mode !== 'regular') continue;
      marked.add(info.name);
    }
    if (marked.size === 0) return;
    for (let again = true; again;) {
      again = false;
      for (const link of this.linksUnder(this.lp.config)) {
        const name = posix.basename(link);
        let found = marked.has(name) || marked.has(unitTemplate(name) ?? '');
        if (!found) {
          const dest = this.view.chase(link);
          if (!dest) continue;
          found = marked.has(dest.path) || marked.has(posix.basename(dest.path));
        }
        if (!found) continue;
        this.view.unlink(link);
        this.removed.push(link.slice(1));
        if (!marked.has(link)) {
          marked.add(link);
          again = true;
        }
      }
    }
  }

  /** Symlinks with unit names in a folder tree, folders not followed through symlinks. */
  private linksUnder(dir: string): string[] {
    const out: string[] = [];
    for (const { name, kind } of this.view.list(dir)) {
      if (kind === 'directory') out.push(...this.linksUnder(`${dir}/${name}`));
      else if (kind === 'symlink' && isUnitName(name)) out.push(`${dir}/${name}`);
    }
    return out;
  }

  /** Every unit name in the lookup path, as preset-all enumerates them. */
  allUnits(): string[] {
    const names: string[] = [];
    for (const dir of this.lp.searchPath) {
      for (const { name, kind } of this.view.list(dir)) if ((kind === 'file' || kind === 'symlink') && isUnitName(name)) names.push(name);
    }
    return names;
  }
}

/** unit_validate_alias_symlink: whether a symlink in the lookup path is a valid alias of its target. */
function validateAlias(path: string, target: string): void {
  const src = posix.basename(path);
  const dst = posix.basename(target);
  const srcKind = unitNameKind(src);
  if (!srcKind) throw new InstallFailure('EINVAL', `${path}: not a valid unit name`);
  if (!unitTypeMayAlias(unitType(src))) throw new InstallFailure('EINVAL', `${path}: symlinks are not allowed for units of this type`);
  if (srcKind !== 'plain' && !unitTypeMayTemplate(unitType(src))) throw new InstallFailure('EINVAL', `${path}: templates are not allowed for ${unitType(src)} units`);
  // A link to the same name elsewhere in the lookup path: systemd refuses it as a "linked unit file".
  if (src === dst) throw new InstallFailure('ELOOP', `${path}: refusing to operate on a unit linked to itself`);
  const dstKind = unitNameKind(dst);
  if (!dstKind) throw new InstallFailure('EXDEV', `${path} points to "${dst}", which is not a valid unit name`);
  if (!(dstKind === srcKind || (srcKind === 'instance' && dstKind === 'template'))) throw new InstallFailure('EXDEV', `${path}: the target's name type does not match`);
  if (dstKind === 'instance' && unitInstance(src) !== unitInstance(dst)) throw new InstallFailure('EXDEV', `${path}: the target's instance does not match`);
  if (unitType(src) !== unitType(dst)) throw new InstallFailure('EXDEV', `${path}: the target has another unit type`);
}

/**
 * unit_file_verify_alias: the name an Alias= value creates for the unit `name` (an instance filled into a
 * template alias), undefined for an alias to itself; a `X.wants/NAME` value is the legacy form.
 */
function verifyAlias(name: string, dst: string): string | undefined {
  const slash = dst.lastIndexOf('/');
  if (slash >= 0) {
    const dir = dst.slice(0, slash);
    const base = dst.slice(slash + 1);
    const m = /^(.*)\.(wants|requires)$/.exec(dir);
    const owner = m?.[1];
    if (!owner || !isUnitName(owner)) throw new InstallFailure('EXDEV', `invalid path "${dst}" in Alias=`);
    const propagate = isUnitName(owner, 'template');
    const template = unitTemplate(base);
    const compatible = (base === name && isUnitName(base, 'plain', 'instance'))
      || (isUnitName(base, 'instance') && isUnitName(name, 'template') && template === name)
      || (propagate && isUnitName(base, 'template') && isUnitName(name, 'template') && template === name);
    if (!compatible) throw new InstallFailure('EXDEV', `invalid symlink "${dst}" for ${name}`);
    return dst;
  }
  let updated = dst;
  if (isUnitName(dst, 'template') && isUnitName(name, 'instance')) updated = replaceUnitInstance(dst, unitInstance(name)!) ?? dst;
  if (updated === name) return undefined;
  validateAlias(updated, name);
  return updated;
}

/** `systemctl preset foo` means foo.service: names without a unit suffix get one (unit_name_mangle). */
function mangle(name: string): string {
  if (isUnitName(name)) return name;
  const dot = name.lastIndexOf('.');
  const suffixed = dot > 0 && isUnitName(`x${name.slice(dot)}`) ? name : `${name}.service`;
  return suffixed;
}

/**
 * Applies the image's systemd presets as `systemctl --root=IMAGE preset-all` (or `preset UNIT…` with
 * `units`) does in a fresh image: creates the enablement symlinks (absolute targets, e.g.
 * `etc/systemd/system/multi-user.target.wants/sshd.service` → `/usr/lib/systemd/system/sshd.service`)
 * through the effect context, and notes what it enabled. Where systemctl would fail as a whole (a unit it
 * cannot load, an unknown unit named in `units`), nothing is created and `failed` says why, as a
 * scriptlet's `systemctl … || :` leaves the image.
 */
export async function applySystemdPresets(ctx: EffectContext, options: SystemdPresetOptions = {}): Promise<SystemdPresetResult> {
  const scope = options.scope ?? 'system';
  const mode = options.mode ?? 'full';
  const view = new RootView(ctx.result(), ctx);
  const installer = new Installer(view, scope, options.splitUsr ?? false, options.systemdVersion ?? 252);
  const command = `systemctl${scope === 'global' ? ' --global' : ''} ${options.units ? `preset ${options.units.join(' ')}` : 'preset-all'}`;
  const result: SystemdPresetResult = { created: installer.created, removed: installer.removed, enabled: [], warnings: installer.warnings };
  const fail = (why: string): SystemdPresetResult => {
    result.failed = why;
    ctx.notes.push(`${command}: ${why}; as systemctl, nothing enabled`);
    return result;
  };

  const rules = await installer.readPresets();
  const plus = new InstallContext();
  const minus = new InstallContext();
  const names = options.units ? options.units.map(mangle) : installer.allUnits();
  for (const name of names) {
    try {
      if (!isUnitName(name)) throw new InstallFailure('EUCLEAN', `"${name}" is not a valid unit name`);
      await installer.prepare(plus, minus, name, rules);
    } catch (err) {
      const f = failure(err);
      if (options.units || !PRESET_ALL_IGNORED.has(f.code)) return fail(`${name}: ${f.message}`);
      if (f.code === 'UNSUPPORTED') installer.warnings.push(`${name}: ${f.message}, unit skipped`);
    }
  }
  if (mode !== 'enable-only') await installer.removeDisabled(minus);
  if (mode !== 'disable-only') await installer.apply(plus, result.enabled);

  if (result.enabled.length) ctx.notes.push(`${command}: enabled ${result.enabled.join(', ')}`);
  if (result.removed.length) ctx.notes.push(`${command}: removed ${result.removed.map((p) => `/${p}`).join(', ')}`);
  return result;
}

/** One `systemctl preset` a scriptlet runs, as `applySystemdPresets` options. */
export interface PresetCall {
  scope: SystemdScope;
  /** Absent for preset-all. */
  units?: string[];
  mode: PresetMode;
}

/**
 * The `systemctl preset` calls in an RPM scriptlet, as %systemd_post and %systemd_user_post expand
 * (`systemctl --no-reload preset UNIT…`, `systemctl --global preset UNIT…`, or through
 * `/usr/lib/systemd/systemd-update-helper install-system-units|install-user-units UNIT…`) and as
 * systemd's own %post runs `systemctl preset-all`. Words with shell expansions are left out.
 */
export function presetCallsIn(script: string): PresetCall[] {
  const calls: PresetCall[] = [];
  for (const line of script.replace(/\\\n/g, ' ').split(/[\n;&|]+/)) {
    const words = (splitWords(line, true) ?? []).filter((w) => !/[$`*?]/.test(w) && !/^\d*[<>]/.test(w));
    const helper = words.findIndex((w) => w.endsWith('systemd-update-helper'));
    if (helper >= 0 && /^install-(system|user)-units$/.test(words[helper + 1] ?? '')) {
      const units = words.slice(helper + 2).filter((w) => !w.startsWith('-'));
      calls.push({ scope: words[helper + 1] === 'install-user-units' ? 'global' : 'system', units, mode: 'full' });
      continue;
    }
    const at = words.findIndex((w) => w === 'systemctl' || w.endsWith('/systemctl'));
    if (at < 0) continue;
    const args = words.slice(at + 1);
    const verb = args.find((w) => !w.startsWith('-'));
    if (verb !== 'preset' && verb !== 'preset-all') continue;
    const presetMode = args.find((w) => w.startsWith('--preset-mode='))?.slice('--preset-mode='.length);
    const call: PresetCall = {
      scope: args.includes('--global') ? 'global' : 'system',
      mode: presetMode === 'enable-only' || presetMode === 'disable-only' ? presetMode : 'full',
    };
    if (verb === 'preset') call.units = args.slice(args.indexOf(verb) + 1).filter((w) => !w.startsWith('-'));
    calls.push(call);
  }
  return calls;
}

