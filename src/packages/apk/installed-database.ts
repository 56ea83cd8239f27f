import { UserError } from '../../errors.js';
import { dependencyChains, notDependedOn, type InstalledPackage } from '../installed.js';

/** apk's installed-package database (apk-tools 2's text format; apk-tools 3 keeps writing it). */
export const APK_INSTALLED_PATH = 'lib/apk/db/installed';
/** The packages the user asked for (`apk add`): what apk keeps installed, with all they need. */
export const APK_WORLD_PATH = 'etc/apk/world';

/*
 * Both files are parsed by hand: the database is paragraphs of one-letter `X:value` lines (P name, V
 * version, A arch, I installed bytes, D depends, p provides, i install_if, k provider priority, F folder and
 * R file below it; M/Z/a... file metadata, not needed here), and world a list of dependencies; no npm library reads either.
 */

interface ApkPackage {
  name: string;
  version: string;
  architecture: string;
  installedBytes: number;
  depends: string[];
  provides: string[];
  installIf: string[];
  priority: number;
  /** Paths it installed (F: folder lines, R: file lines below them), relative. */
  files: string[];
}

/**
 * The capability a dependency names: `so:libc.musl-x86_64.so.1`, `cmd:sh`, `busybox` from
 * `busybox>=1.36`, `curl` from world's `curl@edge`; undefined for a conflict (`!name`).
 */
function dependencyName(dep: string): string | undefined {
  if (dep.startsWith('!')) return undefined;
  return /^[^<>=~@]+/.exec(dep)?.[0];
}

function parseInstalled(text: string, where: string): ApkPackage[] {
  const out: ApkPackage[] = [];
  let current: Partial<ApkPackage> & { line?: number; folder?: string } = {};
  const finish = () => {
    if (current.line === undefined) return;
    if (!current.name) throw new UserError(`${where}: line ${current.line}: a package entry without a P: (name) line`);
    out.push({
      name: current.name,
      version: current.version ?? '',
      architecture: current.architecture ?? '',
      installedBytes: current.installedBytes ?? 0,
      depends: current.depends ?? [],
      provides: current.provides ?? [],
      installIf: current.installIf ?? [],
      priority: current.priority ?? 0,
      files: current.files ?? [],
    });
    current = {};
  };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (line === '') {
      finish();
      continue;
    }
    if (line[1] !== ':') throw new UserError(`${where}: line ${i + 1}: not a "X:value" line: ${JSON.stringify(line.slice(0, 80))}`);
    current.line ??= i + 1;
    const value = line.slice(2);
    const list = () => value.split(/\s+/).filter(Boolean);
    switch (line[0]) {
      case 'P': current.name = value; break;
      case 'V': current.version = value; break;
      case 'A': current.architecture = value; break;
      case 'I': {
        if (!/^\d+$/.test(value)) throw new UserError(`${where}: line ${i + 1}: installed size ${JSON.stringify(value)} is not a number`);
        current.installedBytes = Number(value);
        break;
      }
      case 'D': current.depends = list(); break;
      case 'p': current.provides = list(); break;
      case 'i': current.installIf = list(); break;
      case 'k': current.priority = Number(value) || 0; break;
      case 'F': current.folder = value; break;
      case 'R': (current.files ??= []).push(current.folder ? `${current.folder}/${value}` : value); break;
    }
  }
  finish();
  return out;
}

/**
 * The installed packages of an Alpine image's apk database, each with its size and why it is installed.
 * With the image's world file, the packages it names are the `top-level` ones and every other package gets
 * the shortest chain of dependencies from one of them (or `orphan`: nothing in world needs it, so apk drops
 * it at its next change); without it, the packages nothing depends on are the `top-level` ones. Dependencies
 * on `so:`, `cmd:`, `pc:` and other provided names resolve to the installed package providing them; a
 * package apk added through install_if (docs, completions) hangs off the packages that triggered it.
 *
 * @param installed the text of lib/apk/db/installed
 * @param world the text of etc/apk/world, when the image has one
 * @param where names the database in messages (`IMAGE: /lib/apk/db/installed`)
 */
export function apkInstalledPackages(installed: string, world: string | undefined, where: string): InstalledPackage[] {
  return readApkDatabase(installed, world, where).packages;
}

/** The installed packages, and which package installed each file (relative paths). */
export function readApkDatabase(installed: string, world: string | undefined, where: string): { packages: InstalledPackage[]; owners: Map<string, string> } {
  const packages = parseInstalled(installed, where);
  const owners = new Map<string, string>();
  for (const p of packages) for (const f of p.files) owners.set(f, p.name);
  return { packages: withWhy(packages, world), owners };
}

function withWhy(packages: ApkPackage[], world: string | undefined): InstalledPackage[] {
  const byName = new Map(packages.map((p) => [p.name, p]));
  // Who provides each name: the package of that name, else the provider of highest priority, then file order.
  const providers = new Map<string, ApkPackage[]>();
  for (const p of packages) {
    for (const what of p.provides.map(dependencyName)) {
      if (what) providers.set(what, [...(providers.get(what) ?? []), p]);
    }
  }
  for (const list of providers.values()) list.sort((a, b) => b.priority - a.priority);
  const providerOf = (dep: string): string | undefined => {
    const what = dependencyName(dep);
    if (what === undefined) return undefined;
    return byName.has(what) ? what : providers.get(what)?.[0]?.name;
  };

  const deps = new Map<string, string[]>(packages.map((p) => [p.name, []]));
  const addEdge = (from: string, to: string) => {
    const list = deps.get(from)!;
    if (from !== to && !list.includes(to)) list.push(to);
  };
  for (const p of packages) {
    for (const d of p.depends) {
      const q = providerOf(d);
      if (q) addEdge(p.name, q);
    }
    // install_if: installed because all of these are; each of them explains it.
    const triggers = p.installIf.map(providerOf);
    if (triggers.length > 0 && triggers.every((t) => t !== undefined)) for (const t of triggers) addEdge(t!, p.name);
  }

  const names = [...byName.keys()].sort();
  if (world === undefined) {
    const why = dependencyChains(names, deps, notDependedOn(names, deps).map((n) => [n, 'top-level'] as const), 'dependency cycle');
    return names.map((n) => describe(byName.get(n)!, why));
  }
  const wanted = world.split(/\s+/).filter(Boolean).map(providerOf).filter((n): n is string => n !== undefined);
  const why = dependencyChains(names, deps, [...new Set(wanted)].sort().map((n) => [n, 'top-level'] as const), 'orphan');
  return names.map((n) => describe(byName.get(n)!, why));
}

function describe(p: ApkPackage, why: ReadonlyMap<string, string[]>): InstalledPackage {
  return { name: p.name, version: p.version, architecture: p.architecture, installedBytes: p.installedBytes, why: why.get(p.name)! };
}
