/**
 * Debian version ordering, as dpkg's `verrevcmp` defines it (deb-version(7)): `[epoch:]upstream[-revision]`,
 * compared part by part; within a part, runs of non-digits compare with '~' before everything (even the
 * end of the string) and letters before other characters, runs of digits numerically. Written by hand
 * because it is short and exact, and no maintained npm package implements it; tests check it against
 * `dpkg --compare-versions`.
 */
export interface DebVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

export function parseVersion(text: string): DebVersion {
  const trimmed = text.trim();
  const colon = trimmed.indexOf(':');
  const epoch = colon === -1 ? 0 : Number(trimmed.slice(0, colon));
  const rest = colon === -1 ? trimmed : trimmed.slice(colon + 1);
  const dash = rest.lastIndexOf('-');
  return {
    epoch: Number.isFinite(epoch) ? epoch : 0,
    upstream: dash === -1 ? rest : rest.slice(0, dash),
    revision: dash === -1 ? '' : rest.slice(dash + 1),
  };
}

function order(c: string | undefined): number {
  if (c === undefined) return 0;
  if (c === '~') return -1;
  const code = c.charCodeAt(0);
  if (c >= '0' && c <= '9') return 0;
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return code;
  return code + 256;
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

function compareFragment(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const ac = order(a[i]);
      const bc = order(b[j]);
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    while (isDigit(a[i]) && isDigit(b[j])) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigit(a[i])) return 1;
    if (isDigit(b[j])) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

/** Negative, zero or positive as a sorts before, equal to, or after b. */
export function compareVersions(a: string | DebVersion, b: string | DebVersion): number {
  const x = typeof a === 'string' ? parseVersion(a) : a;
  const y = typeof b === 'string' ? parseVersion(b) : b;
  if (x.epoch !== y.epoch) return x.epoch - y.epoch;
  const upstream = compareFragment(x.upstream, y.upstream);
  if (upstream) return upstream;
  return compareFragment(x.revision, y.revision);
}

export type VersionOperator = '<<' | '<=' | '=' | '>=' | '>>';

export function satisfiesVersion(version: string, op: VersionOperator, wanted: string): boolean {
  const c = compareVersions(version, wanted);
  switch (op) {
    case '<<': return c < 0;
    case '<=': return c <= 0;
    case '=': return c === 0;
    case '>=': return c >= 0;
    case '>>': return c > 0;
  }
}
