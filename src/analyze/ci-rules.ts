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
  /** Fail when more bytes than this are wasted. */
  highestWastedBytes?: number;
  /** Fail when wasted bytes are more than this ratio (0-1) of the layers above the first (dive's "user" layers). */
  highestUserWastedPercent?: number;
  /** Fail when the image's content (uncompressed, all layers) is larger than this. */
  highestImageSize?: number;
  /** Fail when more packages than this are installed. */
  highestPackageCount?: number;
}

export type CiRuleName = keyof CiRules;

/** dive's defaults when no configuration is given. */
export const DEFAULT_CI_RULES: CiRules = { lowestEfficiency: 0.9, highestUserWastedPercent: 0.1 };

// humanize's units, as dive reads sizes: decimal ones, and binary ones with an `i`.
const UNITS: Record<string, number> = { '': 1, b: 1 };
for (const [i, prefix] of ['k', 'm', 'g', 't', 'p'].entries()) {
  UNITS[prefix] = UNITS[`${prefix}b`] = 1000 ** (i + 1);
  UNITS[`${prefix}i`] = UNITS[`${prefix}ib`] = 1024 ** (i + 1);
}

/** `20MB`, `1.5 GiB`, `20Mi`, `1,000`, `4096`: a size as dive (go-humanize's ParseBytes) reads it. */
export function parseBytes(text: string): number | undefined {
  const m = /^\s*(\d[\d,]*(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  return unit === undefined || !m ? undefined : Math.round(Number(m[1]!.replaceAll(',', '')) * unit);
}

/** Values dive takes as "no such rule": disabled, off, false, or nothing at all. */
function isOff(value: unknown): boolean {
  return value === null || value === undefined || value === false || (typeof value === 'string' && ['disabled', 'off', 'false', ''].includes(value.trim().toLowerCase()));
}

/**
 * One rule's value: off (undefined), or what `read` makes of it — a number, or a message saying what is
 * wrong. dive reads every value as a string, so "0.95" is as good as 0.95.
 */
const ruleValue = (read: (value: number | string) => number | string) =>
  z.unknown().transform((value, ctx) => {
    if (isOff(value)) return undefined;
    let out: number | string = `${JSON.stringify(value)} is not a value for this rule`;
    if (typeof value === 'number') out = read(value);
    else if (typeof value === 'string') out = read(/^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value.trim());
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
const RULE_NAMES = Object.keys(rulesSchema.shape) as CiRuleName[];

/** dive's configuration also takes its keys in kebab case (`highest-wasted-bytes`). */
function ruleName(key: string): string {
  return key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

// Other top-level keys are left alone, as dive (which shares the file with its other settings) does.
const configSchema = z.looseObject({
  rules: z.preprocess((v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [ruleName(k), x])) : (v ?? {})), rulesSchema).optional(),
});

const defined = (rules: Record<string, number | undefined>): CiRules =>
  Object.fromEntries(Object.entries(rules).filter(([, v]) => v !== undefined)) as CiRules;

/**
 * Reads a `.dive-ci`-style YAML file (`rules:` with the keys above). Rules the file names replace the
 * defaults (`disabled` turns one off); ones it leaves out keep them, as in dive.
 */
export async function loadCiRules(file: string): Promise<CiRules> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UserError(`CI configuration "${file}" cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const rules = parseYaml(text, file, configSchema).value.rules ?? {};
  const named = Object.keys(rules);
  const kept = Object.fromEntries(Object.entries(DEFAULT_CI_RULES).filter(([k]) => !named.includes(k)));
  return { ...kept, ...defined(rules) };
}

/** `--ci-rule NAME=VALUE` on the command line: the same names and values as the file. */
export function applyCiRule(rules: CiRules, assignment: string): CiRules {
  const eq = assignment.indexOf('=');
  const name = ruleName(assignment.slice(0, eq)) as CiRuleName;
  const raw = assignment.slice(eq + 1).trim();
  if (eq < 1 || !RULE_NAMES.includes(name)) {
    throw new UserError(`--ci-rule "${assignment}": expected NAME=VALUE with NAME one of ${RULE_NAMES.join(', ')}`);
  }
  if (raw === '') throw new UserError(`--ci-rule "${assignment}": no value (to turn the rule off, give "disabled")`);
  const parsed = rulesSchema.shape[name].safeParse(raw);
  if (!parsed.success) throw new UserError(`--ci-rule ${assignment}: ${parsed.error.issues[0]?.message ?? 'invalid value'}`);
  const next: CiRules = { ...rules };
  if (parsed.data === undefined) delete next[name];
  else next[name] = parsed.data;
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

const pct = (r: number) => (Number.isFinite(r) ? `${(r * 100).toFixed(1)}%` : 'bytes (the layers above the first hold none)');

/** Wasted bytes over the content of the layers above the first; infinite when those hold nothing. */
function userWasted(report: AnalyzeReport): number {
  const user = report.totalBytes - (report.layers[0]?.fileBytes ?? 0);
  return user > 0 ? report.wastedBytes / user : report.wastedBytes > 0 ? Infinity : 0;
}

/**
 * Checks a report against the rules as dive's code does (its README says "at least", its code fails
 * only a threshold crossed): efficiency below the lowest, waste above the highest; image size and package
 * count above theirs. Waste with no content at all above the first layer is an infinite share, as in dive.
 */
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
        check(rule, report.wastedBytes <= limit, `wasted ${MB(report.wastedBytes)} (${report.wastedBytes} bytes), at most ${MB(limit)} (${limit} bytes) allowed`);
        break;
      case 'highestUserWastedPercent':
        check(rule, userWasted(report) <= limit, `wasted ${pct(userWasted(report))} of the layers above the first, at most ${pct(limit)} allowed`);
        break;
      case 'highestImageSize':
        check(rule, report.totalBytes <= limit, `image contents ${MB(report.totalBytes)} (${report.totalBytes} bytes), at most ${MB(limit)} (${limit} bytes) allowed`);
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
