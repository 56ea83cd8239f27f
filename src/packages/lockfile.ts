import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../fs/temp.js';
import type { EcosystemId } from './ecosystem.js';

/**
 * A lockfile pins one architecture's package set: the envelope (version, ecosystem, architecture) is the
 * same for every ecosystem, the rest is the ecosystem's (Debian: codename, suites and .deb records; a yum
 * build: repositories and .rpm records). Lockfiles written before the `ecosystem` field existed are
 * Debian's.
 */
export interface Lockfile<Locked, LockFields> {
  ecosystem: EcosystemId;
  arch: string;
  fields: LockFields;
  packages: Locked[];
}

export interface LockSchema<Locked, LockFields> {
  package: z.ZodType<Locked>;
  fields: z.ZodType<LockFields>;
}

const envelope = z.object({
  lockfileVersion: z.literal(1),
  ecosystem: z.enum(['deb', 'rpm', 'apk']).default('deb'),
  arch: z.string(),
  packages: z.array(z.unknown()),
});

function firstIssue(error: z.ZodError, prefix: readonly PropertyKey[] = []): string {
  const issue = error.issues[0]!;
  const path = [...prefix, ...issue.path].map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
  return `${path || '(top level)'}: ${issue.message}`;
}

/** The lockfile of `ecosystem` in a parsed document, or a message naming what is wrong with it. */
export function parseLockfile<Locked, LockFields>(doc: unknown, ecosystem: EcosystemId, schema: LockSchema<Locked, LockFields>): Lockfile<Locked, LockFields> | string {
  const outer = envelope.safeParse(doc);
  if (!outer.success) return firstIssue(outer.error);
  if (outer.data.ecosystem !== ecosystem) return `a lockfile of the ${outer.data.ecosystem} ecosystem, but this build installs ${ecosystem} packages`;
  const { lockfileVersion: _v, ecosystem: _e, arch: _a, packages: _p, ...rest } = doc as Record<string, unknown>;
  const fields = schema.fields.safeParse(rest);
  if (!fields.success) return firstIssue(fields.error);
  const packages: Locked[] = [];
  for (const [i, p] of outer.data.packages.entries()) {
    const parsed = schema.package.safeParse(p);
    if (!parsed.success) return firstIssue(parsed.error, ['packages', i]);
    packages.push(parsed.data);
  }
  return { ecosystem, arch: outer.data.arch, fields: fields.data, packages };
}

/** The ecosystem a lockfile is for (Debian's when it predates the field), or undefined when it cannot be read. */
export async function lockfileEcosystem(path: string): Promise<EcosystemId | undefined> {
  try {
    const parsed = envelope.safeParse(JSON.parse(await readFile(path, 'utf8')));
    return parsed.success ? parsed.data.ecosystem : undefined;
  } catch {
    return undefined;
  }
}

export async function readLockfile<Locked, LockFields>(path: string, ecosystem: EcosystemId, schema: LockSchema<Locked, LockFields>): Promise<Lockfile<Locked, LockFields>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UserError(`lockfile "${path}" cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (make one with fromscratch lock)`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new UserError(`lockfile "${path}": not valid JSON (${(err as Error).message})`);
  }
  const lock = parseLockfile(doc, ecosystem, schema);
  if (typeof lock === 'string') throw new UserError(`lockfile "${path}": ${lock}`);
  return lock;
}

/** The document of a lockfile: envelope first, then the ecosystem's fields, then the packages. */
export function lockfileDocument<Locked extends { name: string }, LockFields>(lock: Lockfile<Locked, LockFields>): Record<string, unknown> {
  return { lockfileVersion: 1, ecosystem: lock.ecosystem, arch: lock.arch, ...lock.fields, packages: lock.packages };
}

/** Writes a lockfile: packages sorted by name, stable key order, so it diffs well in review. */
export async function writeLockfile<Locked extends { name: string }, LockFields>(path: string, lock: Lockfile<Locked, LockFields>): Promise<void> {
  const packages = [...lock.packages].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  await writeFileAtomic(path, `${JSON.stringify(lockfileDocument({ ...lock, packages }), null, 2)}\n`);
}
