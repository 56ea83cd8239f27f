import type { Readable } from 'node:stream';
import { intAttr, readXml, type XmlElement, type XmlPosition } from './metadata-xml.js';
import { RELATION_KINDS, StringPool, type RelationKind, type RpmDependency, type RpmPackage, type RpmRepository } from './package.js';
import type { RpmFlags } from './version.js';

const FLAGS = new Set<string>(['EQ', 'LT', 'GT', 'LE', 'GE']);
const isFlags = (s: string): s is RpmFlags => FLAGS.has(s);
const RELATION_ELEMENTS = new Map<string, RelationKind>(RELATION_KINDS.map((k) => [`rpm:${k}`, k]));

/** Elements whose text a package keeps (everything else, descriptions included, is skipped). */
const TEXT_ELEMENTS = new Set(['name', 'arch', 'summary', 'checksum', 'rpm:license', 'rpm:group', 'rpm:sourcerpm', 'file']);

export interface PrimaryOptions {
  /** Named in errors (the metadata file's href or path). */
  file: string;
  repository: RpmRepository;
  /** Shared across the repositories of one universe. */
  strings?: StringPool;
  /** Called per package as it is read (to index it without holding a second list). */
  onPackage?: (pkg: RpmPackage) => void;
}

/** A package as it is being read: the fields the XML has given so far (identity, checksum and href may not have come yet). */
type PackageInProgress = Partial<Pick<RpmPackage, 'name' | 'arch' | 'epoch' | 'version' | 'release' | 'checksum'>>
  & Pick<RpmPackage, 'summary' | 'size' | 'headerRange' | 'sourcerpm' | 'license' | 'group' | 'buildtime' | 'files'>
  & { href?: string; base?: string | undefined; relations: Record<RelationKind, RpmDependency[]> };

function emptyRelations(): Record<RelationKind, RpmDependency[]> {
  return { provides: [], requires: [], conflicts: [], obsoletes: [], recommends: [], suggests: [], supplements: [], enhances: [] };
}

/**
 * Reads a repository's primary.xml (already decompressed) as a stream: one RpmPackage per `<package>`,
 * with strings shared through the pool. Malformed XML or a package missing its name, version, arch,
 * checksum or location is a UserError naming the file and line.
 */
export async function parsePrimary(stream: Readable, options: PrimaryOptions): Promise<RpmPackage[]> {
  const strings = options.strings ?? new StringPool();
  const s = (v: string) => strings.intern(v);
  const packages: RpmPackage[] = [];
  let current: PackageInProgress | undefined;
  let relation: RelationKind | undefined;

  const dependency = (el: XmlElement, position: XmlPosition): RpmDependency => {
    const name = el.attr('name');
    if (!name) position.fail('<rpm:entry> has no name');
    const dep: RpmDependency = { name: s(name) };
    const flags = el.attr('flags');
    if (flags !== undefined) {
      if (!isFlags(flags)) position.fail(`<rpm:entry name="${name}"> has unknown flags "${flags}"`);
      dep.flags = flags;
      const epoch = el.attr('epoch');
      if (epoch !== undefined) dep.epoch = intAttr(el, 'epoch', position);
      const ver = el.attr('ver');
      if (ver !== undefined) dep.version = s(ver);
      const rel = el.attr('rel');
      if (rel !== undefined) dep.release = s(rel);
    }
    const pre = el.attr('pre');
    if (pre === '1' || pre === 'true') dep.pre = true;
    return dep;
  };

  await readXml(stream, options.file, (position: XmlPosition) => ({
    wantText: (path) => current !== undefined && TEXT_ELEMENTS.has(path[path.length - 1] ?? '') && (path.length === 3 || path[path.length - 1] !== 'checksum'),
    open(el, path) {
      if (path.length === 1) {
        if (el.name !== 'metadata') position.fail(`expected <metadata>, found <${el.name}>`);
        return;
      }
      if (el.name === 'package' && path.length === 2) {
        current = {
          summary: '', size: { package: 0, installed: 0, archive: 0 }, headerRange: { start: 0, end: 0 },
          sourcerpm: '', license: '', group: '', buildtime: 0, relations: emptyRelations(), files: [],
        };
        return;
      }
      if (!current) return;
      switch (el.name) {
        case 'version':
          current.epoch = intAttr(el, 'epoch', position, 0);
          current.version = el.attr('ver');
          current.release = el.attr('rel');
          if (current.version === undefined || current.release === undefined) position.fail('<version> needs ver and rel');
          break;
        case 'checksum':
          current.checksum = { algorithm: s(el.attr('type') ?? ''), hex: '' };
          break;
        case 'time':
          current.buildtime = intAttr(el, 'build', position, 0);
          break;
        case 'size':
          current.size = { package: intAttr(el, 'package', position, 0), installed: intAttr(el, 'installed', position, 0), archive: intAttr(el, 'archive', position, 0) };
          break;
        case 'location':
          current.href = el.attr('href');
          current.base = el.attr('xml:base');
          break;
        case 'rpm:header-range':
          current.headerRange = { start: intAttr(el, 'start', position, 0), end: intAttr(el, 'end', position, 0) };
          break;
        case 'rpm:entry':
          if (relation) current.relations[relation].push(dependency(el, position));
          break;
        default: {
          const kind = RELATION_ELEMENTS.get(el.name);
          if (kind) relation = kind;
        }
      }
    },
    text(text, path) {
      if (!current) return;
      const name = path[path.length - 1];
      switch (name) {
        case 'name': current.name = s(text.trim()); break;
        case 'arch': current.arch = s(text.trim()); break;
        case 'summary': current.summary = text.trim(); break;
        case 'checksum': if (current.checksum) current.checksum.hex = text.trim().toLowerCase(); break;
        case 'rpm:license': current.license = s(text.trim()); break;
        case 'rpm:group': current.group = s(text.trim()); break;
        case 'rpm:sourcerpm': current.sourcerpm = s(text.trim()); break;
        case 'file': current.files.push(s(text.trim())); break;
      }
    },
    close(name, path) {
      if (RELATION_ELEMENTS.has(name)) relation = undefined;
      if (name !== 'package' || path.length !== 2 || !current) return;
      const c = current;
      current = undefined;
      if (!c.name) position.fail('a <package> has no <name>');
      if (!c.arch) position.fail(`package ${c.name} has no <arch>`);
      if (c.version === undefined || c.release === undefined) position.fail(`package ${c.name} has no <version>`);
      if (!c.checksum || !/^[0-9a-f]+$/.test(c.checksum.hex)) position.fail(`package ${c.name} has no valid <checksum>`);
      if (!c.href) position.fail(`package ${c.name} has no <location href>`);
      const pkg: RpmPackage = {
        name: c.name, epoch: c.epoch ?? 0, version: s(c.version), release: s(c.release), arch: c.arch, summary: c.summary,
        location: c.base ? { href: c.href, base: c.base } : { href: c.href },
        checksum: c.checksum, size: c.size, headerRange: c.headerRange, sourcerpm: c.sourcerpm, license: c.license,
        group: c.group, buildtime: c.buildtime, ...c.relations, files: c.files, repository: options.repository,
      };
      packages.push(pkg);
      options.onPackage?.(pkg);
    },
  }));
  return packages;
}
