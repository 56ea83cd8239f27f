import * as asn1js from 'asn1js';
import { pemBlocks } from './p11-kit-pem.js';
import { bool, CKA, CKC_X_509, CKO, isKnownAttribute, ulong, VALUE_NAMES, type Attributes } from './pkcs11.js';

/*
 * p11-kit's persist format (`.p11-kit` files, "[p11-kit-object-v1]" sections of `name: value` lines
 * and PEM blocks), as its trust module reads it (persist.c, lexer.c). No library reads it; it is
 * written out here following p11-kit's rules, including the ones that decide what a damaged file
 * gives: the first bad line ends the reading and the whole file is then not a persist file (p11-kit
 * goes on to read it as DER, then as PEM).
 */

const HEADER = 'p11-kit-object-v1';

/** Whether a file is in the persist format: it holds "[p11-kit-object-v1]" anywhere. */
export function isPersist(content: Buffer): boolean {
  return content.includes(`[${HEADER}]`);
}

export type PersistReading = { objects: Attributes[] } | { error: string };

/** The objects of a persist file, or what p11-kit would complain about (the line it stopped at). */
export function readPersist(content: Buffer): PersistReading {
  const text = content.toString('latin1');
  const objects: Attributes[] = [];
  let current: Attributes | undefined;
  let skip = false;
  let at = 0;
  let line = 0;
  const fail = (what: string) => ({ error: `line ${line}: ${what}` });
  while (at < text.length) {
    line++;
    if (text.startsWith('-----BEGIN ', at)) {
      const endLine = text.indexOf('\n-----END ', at);
      if (endLine < 0) return fail('invalid pem block: no ending line');
      const newline = text.indexOf('\n', endLine + 1);
      const end = newline < 0 ? text.length : newline + 1;
      const block = content.subarray(at, end);
      line += countNewlines(text, at, end) - 1;
      at = end;
      if (skip) continue;
      if (!current) return fail('pem block before p11-kit section header');
      const error = addPem(current, block);
      if (error) return fail(error);
      continue;
    }
    const newline = text.indexOf('\n', at);
    const raw = text.slice(at, newline < 0 ? text.length : newline);
    at = newline < 0 ? text.length : newline + 1;
    const stripped = raw.replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, '');
    if (stripped === '' || stripped.startsWith('#')) continue;
    if (stripped.startsWith('[')) {
      if (!stripped.endsWith(']')) return fail('invalid section header: missing braces');
      if (current) objects.push(current);
      current = undefined;
      skip = stripped.slice(1, -1) !== HEADER;
      if (!skip) current = new Map();
      continue;
    }
    const colon = stripped.indexOf(':');
    if (colon < 0) return fail('invalid field line: no colon');
    if (skip) continue;
    const name = stripped.slice(0, colon).replace(/[ \t\n\v\f\r]+$/, '');
    const value = stripped.slice(colon + 1).replace(/^[ \t\n\v\f\r]+/, '');
    if (!current) return fail('attribute before p11-kit section header');
    const type = attributeType(name);
    if (type === undefined) return fail(`${name}: invalid or unsupported attribute`);
    const parsed = parseValue(value);
    if (!parsed) return fail(`${name}: invalid value`);
    current.set(type, parsed);
  }
  if (current) objects.push(current);
  return { objects };
}

function countNewlines(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = text.indexOf('\n', from); i >= 0 && i < to; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** A field name: a decimal attribute type, or a name p11-kit resolves to a type it knows. */
function attributeType(name: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  const type = VALUE_NAMES.get(name);
  return type !== undefined && isKnownAttribute(type) ? type : undefined;
}

/** A value, tried as p11-kit tries it: a constant's name, a "quoted" string, a boolean, a number, an OID. */
function parseValue(value: string): Buffer | undefined {
  const constant = VALUE_NAMES.get(value);
  if (constant !== undefined) return ulong(constant);
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) return urlDecode(value.slice(1, -1));
  if (value === 'true' || value === 'false') return bool(value === 'true');
  const number = strtoul(value);
  if (number !== undefined) return ulong(number);
  return parseOid(value);
}

/** %XX escapes; every other byte stands for itself (p11_url_decode, which also drops NUL bytes). */
function urlDecode(s: string): Buffer | undefined {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
      out.push(parseInt(hex, 16));
      i += 2;
    } else if (c !== 0) out.push(c);
  }
  return Buffer.from(out);
}

/** C's strtoul in base 10 as p11-kit checks it: the whole value must be read (an empty value is 0). */
function strtoul(s: string): bigint | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d*)$/.exec(s);
  if (!m) return undefined;
  const [, sign = '', digits = ''] = m;
  if (digits === '') return s === '' ? 0n : undefined;
  const max = (1n << 64n) - 1n;
  const v = BigInt(digits) > max ? max : BigInt(digits);
  return sign === '-' ? BigInt.asUintN(64, -v) : v;
}

/**
 * A dotted OID as p11-kit accepts it (its check leaves out the digit 8, so an OID with an 8 in it is
 * refused, as p11-kit refuses it), encoded as a DER OBJECT IDENTIFIER.
 */
function parseOid(s: string): Buffer | undefined {
  if (s.length < 4 || !/^[0-79.]+$/.test(s) || s.includes('..') || s.startsWith('.') || s.startsWith('0') || s.endsWith('.')) return undefined;
  const arcs = s.split('.');
  if (arcs.length < 3) return undefined;
  const first = Number(arcs[0]);
  if (first > 2 || (first < 2 && Number(arcs[1]) >= 40)) return undefined;
  return Buffer.from(new asn1js.ObjectIdentifier({ value: s }).toBER(false));
}

/**
 * A PEM block inside a section: a CERTIFICATE makes the object an X.509 certificate with that value,
 * a PUBLIC KEY gives its public key info; neither replaces an attribute the section already set.
 */
function addPem(attrs: Attributes, block: Buffer): string | undefined {
  const blocks = pemBlocks(block);
  const first = blocks[0];
  if (!first) return 'invalid pem block';
  const merge = (type: number, value: Buffer) => {
    if (!attrs.has(type)) attrs.set(type, value);
  };
  if (first.type === 'CERTIFICATE') {
    merge(CKA.CLASS, ulong(CKO.CERTIFICATE));
    merge(CKA.CERTIFICATE_TYPE, ulong(CKC_X_509));
    merge(CKA.VALUE, first.data);
  } else if (first.type === 'PUBLIC KEY') merge(CKA.PUBLIC_KEY_INFO, first.data);
  else return 'unsupported pem block in store';
  return undefined;
}

