/*
 * RPM versions: rpmvercmp (rpm's lib/rpmvercmp.c semantics, written from its documented behaviour) and
 * epoch:version-release values as repository metadata and dependencies carry them.
 */

/** An epoch:version-release. `epoch` undefined means none was given (compared as 0); `release` undefined
 * means none was given (in a requirement it matches any release). */
export interface Evr {
  epoch?: number | undefined;
  version: string;
  release?: string | undefined;
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isAlpha = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const TILDE = 126;
const CARET = 94;

/**
 * rpm's version comparison: the strings split into runs of digits and runs of ASCII letters (anything else
 * separates); digits compare numerically and beat letters; `~` sorts before anything, even the end;
 * `^` sorts after the end but before any further segment. Returns -1, 0 or 1.
 */
export function rpmvercmp(a: string, b: string): -1 | 0 | 1 {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  const at = (s: string, k: number): number => (k < s.length ? s.charCodeAt(k) : 0);
  for (;;) {
    while (i < a.length && !isDigit(at(a, i)) && !isAlpha(at(a, i)) && at(a, i) !== TILDE && at(a, i) !== CARET) i++;
    while (j < b.length && !isDigit(at(b, j)) && !isAlpha(at(b, j)) && at(b, j) !== TILDE && at(b, j) !== CARET) j++;
    const ca = at(a, i);
    const cb = at(b, j);
    if (ca === TILDE || cb === TILDE) {
      if (ca !== TILDE) return 1;
      if (cb !== TILDE) return -1;
      i++;
      j++;
      continue;
    }
    if (ca === CARET || cb === CARET) {
      if (ca === 0) return -1;
      if (cb === 0) return 1;
      if (ca !== CARET) return 1;
      if (cb !== CARET) return -1;
      i++;
      j++;
      continue;
    }
    if (ca === 0 || cb === 0) break;
    const numeric = isDigit(ca);
    const klass = numeric ? isDigit : isAlpha;
    const si = i;
    const sj = j;
    while (i < a.length && klass(at(a, i))) i++;
    while (j < b.length && klass(at(b, j))) j++;
    // A digit run against a letter run: digits are newer.
    if (j === sj) return numeric ? 1 : -1;
    let segA = a.slice(si, i);
    let segB = b.slice(sj, j);
    if (numeric) {
      segA = segA.replace(/^0+/, '');
      segB = segB.replace(/^0+/, '');
      if (segA.length !== segB.length) return segA.length > segB.length ? 1 : -1;
    }
    if (segA !== segB) return segA < segB ? -1 : 1;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i < a.length ? 1 : -1;
}

/** Parses `[EPOCH:]VERSION[-RELEASE]` (the release is after the last `-`). */
export function parseEvr(text: string): Evr {
  let rest = text;
  let epoch: number | undefined;
  const colon = rest.indexOf(':');
  if (colon > 0 && /^\d+$/.test(rest.slice(0, colon))) {
    epoch = Number(rest.slice(0, colon));
    rest = rest.slice(colon + 1);
  }
  const dash = rest.lastIndexOf('-');
  if (dash > 0) return { epoch, version: rest.slice(0, dash), release: rest.slice(dash + 1) };
  return { epoch, version: rest };
}

/** Orders two EVRs completely (missing epoch = 0, a missing release sorts first). */
export function compareEvr(a: Evr, b: Evr): -1 | 0 | 1 {
  const ea = a.epoch ?? 0;
  const eb = b.epoch ?? 0;
  if (ea !== eb) return ea < eb ? -1 : 1;
  const v = rpmvercmp(a.version, b.version);
  if (v !== 0) return v;
  return rpmvercmp(a.release ?? '', b.release ?? '');
}

/** As compareEvr, but a release missing on either side matches any release (how requirements compare). */
export function compareEvrMatchingRelease(a: Evr, b: Evr): -1 | 0 | 1 {
  const ea = a.epoch ?? 0;
  const eb = b.epoch ?? 0;
  if (ea !== eb) return ea < eb ? -1 : 1;
  const v = rpmvercmp(a.version, b.version);
  if (v !== 0 || a.release === undefined || b.release === undefined) return v;
  return rpmvercmp(a.release, b.release);
}

/** dnf's printing: `[EPOCH:]VERSION-RELEASE`, the epoch only when it is not 0. */
export function formatEvr(evr: Evr): string {
  const e = evr.epoch ? `${evr.epoch}:` : '';
  return evr.release === undefined ? `${e}${evr.version}` : `${e}${evr.version}-${evr.release}`;
}

/** Comparison operators of a dependency, as primary.xml names them. */
export type RpmFlags = 'EQ' | 'LT' | 'GT' | 'LE' | 'GE';

const LESS = 1;
const GREATER = 2;
const EQUAL = 4;
const SENSE: Record<RpmFlags, number> = { EQ: EQUAL, LT: LESS, GT: GREATER, LE: LESS | EQUAL, GE: GREATER | EQUAL };

/**
 * Whether two versioned ranges overlap (rpm's rpmdsCompare, libsolv's pool_intersect_evrs): a provide
 * `name FLAGS evr` against a requirement `name FLAGS evr`, missing releases matching any release.
 */
export function rangesIntersect(provFlags: RpmFlags, prov: Evr, reqFlags: RpmFlags, req: Evr): boolean {
  const p = SENSE[provFlags];
  const r = SENSE[reqFlags];
  if ((p & r & (LESS | GREATER)) !== 0) return true;
  const c = compareEvrMatchingRelease(prov, req);
  if (c < 0) return (r & LESS) !== 0 || (p & GREATER) !== 0;
  if (c > 0) return (r & GREATER) !== 0 || (p & LESS) !== 0;
  return (p & r & EQUAL) !== 0;
}
