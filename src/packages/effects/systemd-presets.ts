import { posix } from 'node:path';
import type { EffectContext } from './context.js';
import { InstallContext, Installer } from './systemd-install.js';
import { RootView } from './systemd-root-view.js';
import {
  asInstallFailure, fnmatch, InstallFailure, isUnitName, replaceUnitInstance, splitWords, stripWhitespace, unitInstance, unitNameKind,
  unitTemplate, type SystemdScope,
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

export type { SystemdScope };
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

/** Errors preset-all skips a unit for (unit_file_preset_all); any other fails the command. */
const PRESET_ALL_IGNORED = new Set(['EEXIST', 'ERFKILL', 'EADDRNOTAVAIL', 'EBADSLT', 'EIDRM', 'EUCLEAN', 'ELOOP', 'ENOENT', 'EUNATCH', 'EXDEV', 'UNSUPPORTED']);

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

interface Rule {
  pattern: string;
  action: 'enable' | 'disable' | 'ignore';
  instances?: string[];
}

/** Preset files: `*.preset` across the folders, a name in an earlier folder hiding it in later ones, name-sorted. */
async function readPresets(installer: Installer): Promise<Rule[]> {
  const { view } = installer;
  const files = new Map<string, string>();
  for (const dir of installer.lp.presetDirs) {
    for (const { name, kind } of view.list(dir)) {
      if (name.startsWith('.') || !name.endsWith('.preset') || kind === 'directory' || files.has(name)) continue;
      files.set(name, `${dir}/${name}`);
    }
  }
  const rules: Rule[] = [];
  for (const name of [...files.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))) {
    const path = files.get(name)!;
    const at = view.chase(path);
    const e = at?.exists ? view.lstat(at.path) : undefined;
    if (!e || view.kind(e) !== 'file') continue;
    (await view.read(e)).split(/\r\n|\r|\n/).forEach((raw, i) => {
      const line = stripWhitespace(raw);
      const rule = parsePresetLine(line, installer.version);
      if (rule === 'bad') installer.warnings.push(`${path}:${i + 1}: cannot parse line "${line}", ignoring`);
      else if (rule) rules.push(rule);
    });
  }
  return rules;
}

/** One line of a preset file, as read_presets takes it; 'bad' for a line systemctl warns about and skips. */
function parsePresetLine(line: string, systemdVersion: number): Rule | 'bad' | undefined {
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
    // Words after the name are instances, which only a template can have.
    if (!isUnitName(pattern!, 'template')) return 'bad';
    return { pattern: pattern!, action: 'enable', instances };
  }
  const disable = word('disable');
  if (disable !== undefined) return { pattern: disable, action: 'disable' };
  const ignore = systemdVersion >= 255 ? word('ignore') : undefined;
  if (ignore !== undefined) return { pattern: ignore, action: 'ignore' };
  return 'bad';
}

/** query_presets: the first rule that matches; no rule enables. A template's instance rule names its instances. */
function queryPreset(name: string, rules: Rule[]): { action: Rule['action']; instances?: string[] } {
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

/** preset_prepare_one: sorts one unit into the units to enable or to disable by the presets. */
async function prepare(installer: Installer, plus: InstallContext, minus: InstallContext, name: string, rules: Rule[]): Promise<void> {
  if (plus.find(name) || minus.find(name)) return;
  const info = await installer.discover(new InstallContext(), name, false, false);
  if (info.name !== name) return; // an alias: its unit is preset under its own name
  const preset = queryPreset(name, rules);
  if (preset.action === 'enable') {
    for (const n of preset.instances ?? [name]) await installer.discover(plus, n, true, true);
  } else if (preset.action === 'disable') await installer.discover(minus, name, false, false);
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

  const rules = await readPresets(installer);
  const plus = new InstallContext();
  const minus = new InstallContext();
  const names = options.units ? options.units.map(mangle) : installer.allUnits();
  for (const name of names) {
    try {
      if (!isUnitName(name)) throw new InstallFailure('EUCLEAN', `"${name}" is not a valid unit name`);
      await prepare(installer, plus, minus, name, rules);
    } catch (err) {
      const f = asInstallFailure(err);
      if (options.units || !PRESET_ALL_IGNORED.has(f.code)) return fail(`${name}: ${f.message}`);
      if (f.code === 'UNSUPPORTED') installer.warnings.push(`${name}: ${f.message}, unit skipped`);
    }
  }
  if (mode !== 'enable-only') {
    await installer.removeDisabled(minus);
    for (const path of installer.removed) ctx.remove(path);
  }
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

