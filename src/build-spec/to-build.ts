import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { dirEntry, fileEntry, symlinkEntry } from '../entries/synthetic.js';
import type { CopiedEntries } from '../image/copy-from.js';
import { parseReference } from '../transport/reference.js';
import type { SourcedEntry } from '../entries/entry-set.js';
import { UserError } from '../errors.js';
import type { ContainerConfig } from '../oci/config.js';
import type { Spec } from './schema.js';

export interface SpecAccounts {
  /** passwd lines to add. */
  users: string[];
  /** group lines to add. */
  groups: string[];
  /** Home folders to create, owned by their users. */
  homes: { path: string; uid: number; gid: number }[];
}

/** Users and groups of the spec as passwd/group lines (apko's model: explicit uids and gids). */
export function specAccounts(spec: Spec): SpecAccounts {
  const out: SpecAccounts = { users: [], groups: [], homes: [] };
  const gids = new Set<number>();
  for (const g of spec.accounts?.groups ?? []) {
    out.groups.push(`${g.groupname}:x:${g.gid}:`);
    gids.add(g.gid);
  }
  for (const u of spec.accounts?.users ?? []) {
    const gid = u.gid ?? u.uid;
    // A user's primary group is made for it when the spec does not list one with that gid.
    if (!gids.has(gid)) {
      out.groups.push(`${u.username}:x:${gid}:`);
      gids.add(gid);
    }
    const home = u.homedir ?? `/home/${u.username}`;
    out.users.push(`${u.username}:x:${u.uid}:${gid}:${u.username}:${home}:${u.shell ?? '/usr/sbin/nologin'}`);
    out.homes.push({ path: home.replace(/^\/+/, ''), uid: u.uid, gid });
  }
  return out;
}

function octal(mode: number | string | undefined, fallback: number): number {
  if (mode === undefined) return fallback;
  return typeof mode === 'number' ? mode : parseInt(mode, 8);
}

/** The spec's `paths` as layer entries; `file` sources are read relative to the spec's folder. */
export async function specPaths(spec: Spec, specDir: string, mtime: number): Promise<SourcedEntry[]> {
  const out: SourcedEntry[] = [];
  for (const [i, p] of (spec.paths ?? []).entries()) {
    const origin = `paths[${i}] (${p.path})`;
    const path = p.path.replace(/^\/+/, '');
    const owner = { uid: p.uid ?? 0, gid: p.gid ?? 0, mtime };
    if (p.type === 'directory') out.push({ ...dirEntry(path, { ...owner, mode: octal(p.permissions, 0o755) }), origin });
    else if (p.type === 'empty-file') out.push({ ...fileEntry(path, '', { ...owner, mode: octal(p.permissions, 0o644) }), origin });
    else if (p.type === 'symlink') {
      if (!p.source) throw new UserError(`${origin}: a symlink needs a source (its target)`);
      out.push({ ...symlinkEntry(path, p.source, owner), origin });
    } else {
      if (!p.source) throw new UserError(`${origin}: a file needs a source (a local file)`);
      const file = isAbsolute(p.source) ? p.source : join(specDir, p.source);
      let data: Buffer;
      try {
        if (!(await stat(file)).isFile()) throw new Error('not a file');
        data = await readFile(file);
      } catch (err) {
        throw new UserError(`${origin}: source "${file}" cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
      out.push({ ...fileEntry(path, data, { ...owner, mode: octal(p.permissions, 0o644) }), origin });
    }
  }
  return out;
}

/** An image reference with its path taken relative to the spec's folder (`oci:./stage` next to the spec). */
function relativeToSpec(reference: string, specDir: string, where: string): string {
  let ref;
  try {
    ref = parseReference(reference);
  } catch (err) {
    throw new UserError(`${where}: ${(err as Error).message}`);
  }
  if (isAbsolute(ref.path)) return reference;
  const transport = reference.slice(0, reference.indexOf(':'));
  return `${transport}:${join(specDir, ref.path)}${reference.slice(transport.length + 1 + ref.path.length)}`;
}

/**
 * The spec's `copy` list as entries (content spooled to `spoolDir`, which must outlive the build) and
 * the parent folders of their destinations. `locate` names a YAML value in errors (`spec.yaml:9: copy[0].source`).
 */
export async function specCopies(spec: Spec, specDir: string, spoolDir: string, mtime: number, locate: (path: readonly PropertyKey[]) => string): Promise<CopiedEntries> {
  const requests = (spec.copy ?? []).map((c, i) => ({
    from: relativeToSpec(c.from, specDir, locate(['copy', i, 'from'])),
    source: c.source,
    path: c.path,
    ...(c.uid !== undefined ? { uid: c.uid } : {}),
    ...(c.gid !== undefined ? { gid: c.gid } : {}),
    ...(c.permissions !== undefined ? { mode: octal(c.permissions, 0) } : {}),
    where: locate(['copy', i]),
    whereFrom: locate(['copy', i, 'from']),
    whereSource: locate(['copy', i, 'source']),
  }));
  // Loaded when a spec copies: reading images brings in the transports.
  const { copyFromImages } = await import('../image/copy-from.js');
  return copyFromImages(requests, spoolDir, mtime);
}

/** The image config the spec asks for, on top of Debian's defaults. */
export function specConfig(spec: Spec, defaults: ContainerConfig): ContainerConfig {
  const config: ContainerConfig = { ...defaults };
  const asArray = (c: string | string[]) => (Array.isArray(c) ? c : ['/bin/sh', '-c', c]);
  if (spec.entrypoint !== undefined) {
    const e = typeof spec.entrypoint === 'object' && !Array.isArray(spec.entrypoint) ? spec.entrypoint.command : spec.entrypoint;
    config.Entrypoint = asArray(e);
    // An entrypoint replaces Debian's default `bash` command unless the spec gives a cmd too.
    if (spec.cmd === undefined) delete config.Cmd;
  }
  if (spec.cmd !== undefined) config.Cmd = asArray(spec.cmd);
  if (spec.environment) {
    const env = new Map((config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e] as const));
    for (const [k, v] of Object.entries(spec.environment)) env.set(k, `${k}=${v}`);
    config.Env = [...env.values()];
  }
  if (spec['work-dir']) config.WorkingDir = spec['work-dir'];
  const runAs = spec.accounts?.['run-as'];
  if (runAs !== undefined) config.User = String(runAs);
  if (spec.labels && Object.keys(spec.labels).length) config.Labels = { ...spec.labels };
  return config;
}
