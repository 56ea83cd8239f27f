import { isAbsolute, join } from 'node:path';
import { UserError } from '../errors.js';
import type { DebianRequest } from '../packages/deb/ecosystem.js';
import type { EcosystemId } from '../packages/ecosystem.js';
import type { GroupPackageType, RpmRequest } from '../packages/rpm/request.js';
import type { Spec } from './schema.js';

/** The package flags of `build` and `lock`; each wins over the spec's value. */
export interface PackageFlags {
  // Debian
  suite?: string[];
  mirror?: string;
  components?: string[];
  preset?: DebianRequest['preset'];
  recommends?: boolean;
  // RPM
  rpmRepo?: string[];
  yumConf?: string;
  releasever?: string;
  group?: string[];
  groupTypes?: GroupPackageType[];
  weakDeps?: boolean;
  nodocs?: boolean;
  installLangs?: string[];
  // Both
  keyring?: string[];
  include?: string[];
  exclude?: string[];
  slim?: boolean;
  scripts?: boolean;
}

/** A build's packages: which ecosystem, and what is asked of it. */
export type PackageRequest = { ecosystem: 'deb'; request: DebianRequest } | { ecosystem: 'rpm'; request: RpmRequest };

const DEBIAN_FLAGS = { suite: '--suite', mirror: '--mirror', components: '--components', preset: '--preset', recommends: '--recommends' } as const;
const RPM_FLAGS = {
  rpmRepo: '--rpm-repo', yumConf: '--yum-conf', releasever: '--releasever', group: '--group', groupTypes: '--group-types',
  weakDeps: '--weak-deps', nodocs: '--nodocs', installLangs: '--install-langs',
} as const;

function given(flags: PackageFlags, names: Record<string, string>): string[] {
  return Object.entries(names).filter(([key]) => flags[key as keyof PackageFlags] !== undefined && flags[key as keyof PackageFlags] !== false).map(([, flag]) => flag);
}

/** A path the spec names, relative to the spec's folder. */
const fromSpec = (path: string, specDir: string) => (isAbsolute(path) ? path : join(specDir, path));

/**
 * The spec's `contents` and the flags as one request (flags win; lists of packages add up). The ecosystem
 * is the spec's (`contents.ecosystem`), or RPM when an RPM flag is given or the lockfile (`locked`) is
 * RPM's; flags of the other ecosystem are refused, naming them.
 */
export function packageRequest(spec: Spec, flags: PackageFlags, specDir: string, locked?: EcosystemId): PackageRequest {
  const c = spec.contents;
  const rpmFlags = given(flags, RPM_FLAGS);
  const debFlags = given(flags, DEBIAN_FLAGS);
  // A build from a lockfile alone installs the lockfile's ecosystem.
  const unsaid = c.ecosystem === undefined && Object.keys(c).length === 0;
  const rpm = c.ecosystem === 'rpm' || (unsaid && (rpmFlags.length > 0 || (locked === 'rpm' && debFlags.length === 0)));
  if (rpm && debFlags.length) throw new UserError(`${debFlags.join(', ')}: Debian options, but this build installs RPM packages (${c.ecosystem === 'rpm' ? "the spec's contents.ecosystem is rpm" : rpmFlags.join(', ')})`);
  if (!rpm && rpmFlags.length) throw new UserError(`${rpmFlags.join(', ')}: RPM options, but this build installs Debian packages (${c.ecosystem === 'deb' || Object.keys(c).length ? "the spec's contents are Debian's unless they say ecosystem: rpm" : 'give --rpm-repo or --yum-conf, or set contents.ecosystem: rpm in the spec'})`);
  const slim = Boolean(flags.slim) || Boolean(spec.slim);
  const scripts = Boolean(flags.scripts) || Boolean(spec.scripts);
  if (c.ecosystem === 'rpm' || rpm) {
    const r = c.ecosystem === 'rpm' ? c : { ecosystem: 'rpm' as const };
    const yumConf = flags.yumConf ?? (r['yum-conf'] !== undefined ? fromSpec(r['yum-conf'], specDir) : undefined);
    const keys = flags.keyring ?? r.keyring?.map((k) => fromSpec(k, specDir));
    const releasever = flags.releasever ?? r.releasever;
    const groupTypes = flags.groupTypes ?? r['group-types'];
    const installLangs = flags.installLangs ?? r['install-langs'];
    const request: RpmRequest = {
      repositories: flags.rpmRepo ?? r.repositories ?? [],
      ...(yumConf !== undefined ? { yumConf } : {}),
      ...(releasever !== undefined ? { releasever } : {}),
      ...(keys !== undefined ? { keys } : {}),
      groups: [...(r.groups ?? []), ...(flags.group ?? [])],
      ...(groupTypes !== undefined ? { groupTypes } : {}),
      include: [...(r.packages ?? []), ...(flags.include ?? [])],
      exclude: [...(r.exclude ?? []), ...(flags.exclude ?? [])],
      weakDeps: flags.weakDeps ?? r['weak-deps'] ?? false,
      nodocs: flags.nodocs ?? r.nodocs ?? false,
      ...(installLangs !== undefined ? { installLangs } : {}),
      slim,
      scripts,
    };
    return { ecosystem: 'rpm', request };
  }
  const d = c;
  const mirror = flags.mirror ?? d.repositories?.[0];
  const keyrings = flags.keyring ?? d.keyring;
  const components = flags.components ?? d.components;
  const request: DebianRequest = {
    suites: flags.suite ?? [...(d.suite ? [d.suite] : []), ...(d.suites ?? [])],
    ...(components !== undefined ? { components } : {}),
    ...(mirror !== undefined ? { mirror } : {}),
    ...(keyrings !== undefined ? { keyrings } : {}),
    preset: flags.preset ?? d.preset ?? 'minbase',
    include: [...(d.packages ?? []), ...(flags.include ?? [])],
    exclude: [...(d.exclude ?? []), ...(flags.exclude ?? [])],
    recommends: Boolean(flags.recommends) || Boolean(d.recommends),
    slim,
    scripts,
  };
  return { ecosystem: 'deb', request };
}
