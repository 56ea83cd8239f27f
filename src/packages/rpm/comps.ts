import type { Readable } from 'node:stream';
import { readXml, type XmlPosition } from './metadata-xml.js';

export const PACKAGE_REQ_TYPES = ['mandatory', 'default', 'optional', 'conditional'] as const;
export type PackageReqType = (typeof PACKAGE_REQ_TYPES)[number];
const isReqType = (s: string): s is PackageReqType => (PACKAGE_REQ_TYPES as readonly string[]).includes(s);

export interface PackageReq {
  name: string;
  type: PackageReqType;
  /** For a conditional package: installed only when this package is. */
  requires?: string | undefined;
  /** Only the machine's own architecture (basearchonly="true"). */
  basearchonly?: boolean | undefined;
}

export interface CompsGroup {
  id: string;
  name: string;
  description: string;
  default: boolean;
  uservisible: boolean;
  packages: PackageReq[];
}

export interface CompsEnvironment {
  id: string;
  name: string;
  description: string;
  groups: string[];
  options: string[];
}

export interface CompsCategory {
  id: string;
  name: string;
  description: string;
  groups: string[];
}

export interface Comps {
  groups: CompsGroup[];
  environments: CompsEnvironment[];
  categories: CompsCategory[];
}

/**
 * Reads a comps (group) file as a stream. Names and descriptions are the untranslated ones (no xml:lang).
 * A packagereq without a type is mandatory, as dnf's libcomps reads it.
 */
export async function parseComps(stream: Readable, file: string): Promise<Comps> {
  const comps: Comps = { groups: [], environments: [], categories: [] };
  let group: CompsGroup | undefined;
  let env: CompsEnvironment | undefined;
  let category: CompsCategory | undefined;
  let req: PackageReq | undefined;
  let translated = false;
  await readXml(stream, file, (position: XmlPosition) => ({
    wantText: (path) => path.length >= 3 && !translated,
    open(el, path) {
      if (path.length === 1 && el.name !== 'comps') position.fail(`expected <comps>, found <${el.name}>`);
      translated = el.attr('xml:lang') !== undefined;
      if (path.length === 2) {
        const blank = { id: '', name: '', description: '' };
        if (el.name === 'group') group = { ...blank, default: false, uservisible: true, packages: [] };
        else if (el.name === 'environment') env = { ...blank, groups: [], options: [] };
        else if (el.name === 'category') category = { ...blank, groups: [] };
        return;
      }
      if (el.name === 'packagereq' && group) {
        const type = el.attr('type') ?? 'mandatory';
        if (!isReqType(type)) position.fail(`<packagereq> has unknown type "${type}"`);
        req = { name: '', type };
        const requires = el.attr('requires');
        if (requires) req.requires = requires;
        if (el.attr('basearchonly') === 'true') req.basearchonly = true;
      }
    },
    text(text, path) {
      const value = text.trim();
      const name = path[path.length - 1];
      const top = group ?? env ?? category;
      if (!top) return;
      if (path.length === 3 && (name === 'id' || name === 'name' || name === 'description')) {
        top[name] = value;
      } else if (group && path.length === 3 && (name === 'default' || name === 'uservisible')) {
        group[name] = value === 'true';
      } else if (name === 'packagereq' && req) {
        req.name = value;
      } else if (name === 'groupid') {
        if (env && path[2] === 'optionlist') env.options.push(value);
        else if (env) env.groups.push(value);
        else if (category) category.groups.push(value);
      }
    },
    close(name, path) {
      translated = false;
      if (name === 'packagereq' && req && group) {
        if (!req.name) position.fail('an empty <packagereq>');
        group.packages.push(req);
        req = undefined;
      }
      if (path.length !== 2) return;
      const top = group ?? env ?? category;
      if (top && !top.id) position.fail(`a <${name}> has no <id>`);
      if (group) comps.groups.push(group);
      if (env) comps.environments.push(env);
      if (category) comps.categories.push(category);
      group = env = category = undefined;
    },
  }));
  return comps;
}

/** Merges the comps of several repositories: a group seen again adds its packages (as libcomps unions). */
export function mergeComps(all: Comps[]): Comps {
  const groups = new Map<string, CompsGroup>();
  const out: Comps = { groups: [], environments: [], categories: [] };
  for (const c of all) {
    for (const g of c.groups) {
      const known = groups.get(g.id);
      if (!known) {
        const copy = { ...g, packages: [...g.packages] };
        groups.set(g.id, copy);
        out.groups.push(copy);
      } else {
        for (const p of g.packages) if (!known.packages.some((k) => k.name === p.name)) known.packages.push(p);
      }
    }
    out.environments.push(...c.environments.filter((e) => !out.environments.some((k) => k.id === e.id)));
    out.categories.push(...c.categories.filter((e) => !out.categories.some((k) => k.id === e.id)));
  }
  return out;
}
