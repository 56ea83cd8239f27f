import { posix } from 'node:path';
import type { Entry } from '../../tar/entry.js';
import type { RootView } from './systemd-root-view.js';
import {
  asInstallFailure, emptyInstallSection, expandSpecifiers, InstallFailure, isUnitName, parseInstallSection, replaceUnitInstance, unitInstance,
  unitNameKind, unitTemplate, unitType, unitTypeMayAlias, unitTypeMayTemplate, type InstallSection, type SpecifierContext, type SystemdScope,
  type UnitNameKind,
} from './systemd-units.js';

/**
 * Enabling and disabling units in an image as systemd's src/shared/install.c does for `systemctl --root`:
 * the lookup path, unit files found by name (an instance through its template), aliases and linked unit
 * files followed, masks, [Install] with its drop-ins, and the symlinks `enable` makes and `disable` removes.
 */

const LINK_MAX = 64;

/** Where units, presets and enablement links live for a scope (path-lookup.c, lookup_paths_init). */
export interface LookupPaths {
  searchPath: string[];
  config: string;
  generators: string[];
  transient?: string;
  presetDirs: string[];
}

export function lookupPaths(scope: SystemdScope, splitUsr: boolean): LookupPaths {
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

type InstallMode = 'regular' | 'linked' | 'alias' | 'masked';

/** One unit being installed (install.c's InstallInfo). */
export interface InstallInfo {
  name: string;
  path?: string;
  mode?: InstallMode;
  symlinkTarget?: string;
  install: InstallSection;
  auxiliary: boolean;
  /** Set when loading it for enabling failed: apply skips it (install_context_apply would stop there). */
  error?: InstallFailure;
}

/** Units to enable or disable, in the order they were added (an ordered hashmap in install.c). */
export class InstallContext {
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

export class Installer {
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
          const f = asInstallFailure(err);
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
        const f = asInstallFailure(err);
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
      info.error = asInstallFailure(err);
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
        this.warnings.push(`${info.name}: Alias=${alias}: ${asInstallFailure(err).message}`);
      }
    }
    const lists: [string[], string][] = [[info.install.wantedBy, '.wants/'], [info.install.requiredBy, '.requires/'], [info.install.upheldBy, '.upholds/']];
    for (const [list, suffix] of lists) {
      if (list.length === 0) continue;
      try {
        await this.wants(info, list, suffix);
      } catch (err) {
        this.warnings.push(`${info.name}: ${asInstallFailure(err).message}`);
      }
    }
  }

  /** install_info_symlink_wants for one list. */
  private async wants(info: InstallInfo, list: string[], suffix: string): Promise<void> {
    let name = info.name;
    let dstKinds: UnitNameKind[] = ['plain', 'instance', 'template'];
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
        this.warnings.push(`${info.name}: ${asInstallFailure(err).message}`);
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
        const f = asInstallFailure(err);
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
        this.warnings.push(`${info.name}: ${asInstallFailure(err).message}`);
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
      // A masked unit keeps its links; an alias's unit is marked under its own name, processed after it.
      if (info.mode !== 'regular') continue;
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
