import { RpmTag, type RpmHeader } from './header.js';
import type { RpmDependency, RpmPackage, RpmRepository } from './package.js';
import { parseEvr, type RpmFlags } from './version.js';

/** rpm's dependency sense bits (include/rpm/rpmds.h). */
const SENSE_LESS = 1 << 1;
const SENSE_GREATER = 1 << 2;
const SENSE_EQUAL = 1 << 3;
/** Requires(pre), Requires(post) and the legacy PreReq: what must be installed before the package's scriptlets run. */
const SENSE_ORDERING = (1 << 6) | (1 << 9) | (1 << 10);

function flagsOf(sense: number): RpmFlags | undefined {
  const cmp = sense & (SENSE_LESS | SENSE_GREATER | SENSE_EQUAL);
  switch (cmp) {
    case SENSE_EQUAL: return 'EQ';
    case SENSE_LESS: return 'LT';
    case SENSE_GREATER: return 'GT';
    case SENSE_LESS | SENSE_EQUAL: return 'LE';
    case SENSE_GREATER | SENSE_EQUAL: return 'GE';
    default: return undefined;
  }
}

function dependencies(header: RpmHeader, names: number, flags: number, versions: number): RpmDependency[] {
  if (!header.has(names)) return [];
  const n = header.strings(names);
  const f = header.has(flags) ? header.numbers(flags) : [];
  const v = header.has(versions) ? header.strings(versions) : [];
  return n.map((name, i) => {
    const sense = f[i] ?? 0;
    const dep: RpmDependency = { name };
    const cmp = flagsOf(sense);
    const text = v[i] ?? '';
    if (cmp && text) {
      const evr = parseEvr(text);
      dep.flags = cmp;
      dep.epoch = evr.epoch;
      dep.version = evr.version;
      if (evr.release !== undefined) dep.release = evr.release;
    }
    if (sense & SENSE_ORDERING) dep.pre = true;
    return dep;
  });
}

/** Every file path of a header ("/usr/bin/sh"), as its dependency resolution sees them. */
export function headerFilePaths(header: RpmHeader): string[] {
  if (!header.has(RpmTag.BASENAMES)) return [];
  const dirs = header.strings(RpmTag.DIRNAMES);
  const index = header.numbers(RpmTag.DIRINDEXES);
  return header.strings(RpmTag.BASENAMES).map((base, i) => `${dirs[index[i]!] ?? ''}${base}`);
}

/**
 * An installed package as the resolver's model sees it, from its header (what rpm orders a transaction
 * by): identity, provides, requires with their ordering flags, conflicts, obsoletes and files.
 */
export function packageFromHeader(header: RpmHeader, repository: RpmRepository): RpmPackage {
  const text = (tag: number) => header.string(tag) ?? '';
  return {
    name: text(RpmTag.NAME),
    epoch: header.has(RpmTag.EPOCH) ? header.numbers(RpmTag.EPOCH)[0]! : 0,
    version: text(RpmTag.VERSION),
    release: text(RpmTag.RELEASE),
    arch: text(RpmTag.ARCH),
    summary: text(RpmTag.SUMMARY),
    location: { href: '' },
    checksum: { algorithm: 'sha256', hex: '' },
    size: { package: 0, installed: header.has(RpmTag.SIZE) ? header.numbers(RpmTag.SIZE)[0]! : 0, archive: 0 },
    headerRange: { start: 0, end: 0 },
    sourcerpm: text(RpmTag.SOURCERPM),
    license: text(RpmTag.LICENSE),
    group: text(RpmTag.GROUP),
    buildtime: header.has(RpmTag.BUILDTIME) ? header.numbers(RpmTag.BUILDTIME)[0]! : 0,
    provides: dependencies(header, RpmTag.PROVIDENAME, RpmTag.PROVIDEFLAGS, RpmTag.PROVIDEVERSION),
    requires: dependencies(header, RpmTag.REQUIRENAME, RpmTag.REQUIREFLAGS, RpmTag.REQUIREVERSION),
    conflicts: dependencies(header, RpmTag.CONFLICTNAME, RpmTag.CONFLICTFLAGS, RpmTag.CONFLICTVERSION),
    obsoletes: dependencies(header, RpmTag.OBSOLETENAME, RpmTag.OBSOLETEFLAGS, RpmTag.OBSOLETEVERSION),
    recommends: [],
    suggests: [],
    supplements: [],
    enhances: [],
    files: headerFilePaths(header),
    repository,
  };
}
