import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { UserError } from '../errors.js';
import { parseYaml } from '../yaml/located.js';
import { MB, type AnalyzeReport } from './analyze.js';

/**
 * Thresholds that fail a CI job, as dive's `.dive-ci` states them (same keys, same "disabled"), plus
 * the image size and the package count.
 */
export interface CiRules {
  /** Fail when efficiency is below this ratio (0-1). */
  lowestEfficiency?: number;
  /** Fail when at least this many bytes are wasted. */
  highestWastedBytes?: number;
  /** Fail when wasted bytes are at least this ratio (0-1) of the layers above the first (dive's "user" layers). */
  highestUserWastedPercent?: number;
  /** Fail when the image's content (uncompressed, all layers) is larger than this. */
  highestImageSize?: number;
  /** Fail when more packages than this are installed. */
  highestPackageCount?: number;
}

export type CiRuleName = keyof CiRules;

/** dive's defaults when no configuration is given. */
export const DEFAULT_CI_RULES: CiRules = { lowestEfficiency: 0.9, highestUserWastedPercent: 0.1 };

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3, t: 1e12, tb: 1e12, tib: 1024 ** 4 };

/** `20MB`, `1.5 GiB`, `4096`: decimal units as dive (humanize) reads them, binary ones with an `i`. */
export function parseBytes(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  return unit === undefined || !m ? undefined : Math.round(Number(m[1]) * unit);
}

/**
 * One rule's value: `disabled`, or what `read` makes of it (a number, or a message saying what is
 * wrong). One transform rather than a union, so an error says what was expected.
 */
const ruleValue = (read: (value: number | string) => number | string) =>
  z.union([z.number(), z.string()]).transform((value, ctx) => {
    if (value === 'disabled') return undefined;
    const out = read(value);
    if (typeof out === 'number') return out;
    ctx.addIssue({ code: 'custom', message: out });
    return z.NEVER;
  });
const ratio = ruleValue((v) => (typeof v === 'number' && v >= 0 && v <= 1 ? v : `${JSON.stringify(v)} is not a ratio between 0 and 1 (or "disabled")`));
const bytes = ruleValue((v) => {
  const n = typeof v === 'number' ? (Number.isSafeInteger(v) && v >= 0 ? v : undefined) : parseBytes(v);
  return n ?? `${JSON.stringify(v)} is not a size (e.g. 20MB, 1.5GiB, 4096) or "disabled"`;
});
const count = ruleValue((v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : `${JSON.stringify(v)} is not a whole number (or "disabled")`));

const rulesSchema = z.strictObject({
  lowestEfficiency: ratio.optional(),
  highestWastedBytes: bytes.optional(),
  highestUserWastedPercent: ratio.optional(),
  highestImageSize: bytes.optional(),
  highestPackageCount: count.optional(),
});
const configSchema = z.strictObject({ rules: rulesSchema });

const defined = (rules: Record<string, number | undefined>): CiRules =>
  Object.fromEntries(Object.entries(rules).filter(([, v]) => v !== undefined)) as CiRules;

/**
 * Reads a `.dive-ci`-style YAML file (`rules:` with the keys above). Rules the file names replace the
 * defaults; ones it leaves out keep them, as in dive.
 */
export async function loadCiRules(file: string): Promise<CiRules> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UserError(`CI configuration "${file}" cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const { value } = parseYaml(text, file, configSchema);
  const named = Object.keys(value.rules);
  const kept = Object.fromEntries(Object.entries(DEFAULT_CI_RULES).filter(([k]) => !named.includes(k)));
  return { ...kept, ...defined(value.rules) };
}

/** `--ci-rule NAME=VALUE` on the command line: the same names and values as the file. */
export function applyCiRule(rules: CiRules, assignment: string): CiRules {
  const eq = assignment.indexOf('=');
  const name = assignment.slice(0, eq);
  const raw = assignment.slice(eq + 1).trim();
  if (eq < 1 || !(name in rulesSchema.shape)) {
    throw new UserError(`--ci-rule "${assignment}": expected NAME=VALUE with NAME one of ${Object.keys(rulesSchema.shape).join(', ')}`);
  }
  const field = rulesSchema.shape[name as CiRuleName];
  const parsed = field.safeParse(raw === 'disabled' || Number.isNaN(Number(raw)) ? raw : Number(raw));
  if (!parsed.success) throw new UserError(`--ci-rule ${assignment}: ${parsed.error.issues[0]?.message ?? 'invalid value'}`);
  const next: CiRules = { ...rules };
  if (parsed.data === undefined) delete next[name as CiRuleName];
  else next[name as CiRuleName] = parsed.data;
  return next;
}

export interface CiResult {
  rule: CiRuleName;
  passed: boolean;
  /** Measured value and threshold, in words. */
  detail: string;
}

export interface CiOutcome {
  passed: boolean;
  results: CiResult[];
  /** Rules not checked (disabled, or about packages when the image has no package database). */
  skipped: CiRuleName[];
}

const pct = (r: number) => `${(r * 100).toFixed(1)}%`;

/** Checks a report against the rules; a threshold met or crossed fails (as dive: "at least"). */
export function checkCiRules(report: AnalyzeReport, rules: CiRules): CiOutcome {
  const results: CiResult[] = [];
  const skipped: CiRuleName[] = [];
  const check = (rule: CiRuleName, passed: boolean, detail: string) => results.push({ rule, passed, detail });
  const all: CiRuleName[] = ['lowestEfficiency', 'highestWastedBytes', 'highestUserWastedPercent', 'highestImageSize', 'highestPackageCount'];
  for (const rule of all) {
    const limit = rules[rule];
    if (limit === undefined || (rule === 'highestPackageCount' && !report.packageManager)) {
      skipped.push(rule);
      continue;
    }
    switch (rule) {
      case 'lowestEfficiency':
        check(rule, report.efficiency >= limit, `efficiency ${pct(report.efficiency)}, lowest allowed ${pct(limit)}`);
        break;
      case 'highestWastedBytes':
        check(rule, report.wastedBytes < limit, `wasted ${MB(report.wastedBytes)} (${report.wastedBytes} bytes), allowed below ${MB(limit)}`);
        break;
      case 'highestUserWastedPercent':
        check(rule, report.wastedPercent < limit, `wasted ${pct(report.wastedPercent)} of the layers above the first, allowed below ${pct(limit)}`);
        break;
      case 'highestImageSize':
        check(rule, report.totalBytes <= limit, `image contents ${MB(report.totalBytes)} (${report.totalBytes} bytes), at most ${MB(limit)} allowed`);
        break;
      case 'highestPackageCount':
        check(rule, report.packageCount <= limit, `${report.packageCount} packages installed, at most ${limit} allowed`);
        break;
    }
  }
  return { passed: results.every((r) => r.passed), results, skipped };
}

export function formatCiOutcome(outcome: CiOutcome): string {
  const lines = outcome.results.map((r) => `  ${r.passed ? 'PASS' : 'FAIL'}: ${r.rule}: ${r.detail}`);
  for (const rule of outcome.skipped) lines.push(`  SKIP: ${rule}`);
  const failed = outcome.results.filter((r) => !r.passed).length;
  lines.push(`Result: ${outcome.passed ? 'PASS' : 'FAIL'} [Total: ${outcome.results.length + outcome.skipped.length}] [Passed: ${outcome.results.length - failed}] [Failed: ${failed}] [Skipped: ${outcome.skipped.length}]`);
  return lines.join('\n');
}
