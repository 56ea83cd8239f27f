/*
 * PEM blocks as p11-kit's trust module finds them (its pem.c), written out because which blocks count
 * decides which certificates a trust source holds, and general PEM readers differ from p11-kit's:
 * a block starts at "-----BEGIN TYPE-----" anywhere (not only at a line start), the first
 * "-----END " after it must name the same type or the scan stops there, headers end at the first
 * blank line, and a block whose base64 does not decode is passed over without ending the scan.
 */

export interface PemBlock {
  type: string;
  /** The decoded contents (empty for a block with nothing between its lines). */
  data: Buffer;
}

const BEGIN = '-----BEGIN ';
const END = '-----END ';
const SUFFIX = '-----';

/** Every decodable block of a PEM text, in order (p11_pem_parse). */
export function pemBlocks(content: Buffer): PemBlock[] {
  // latin1 keeps one character per byte, so offsets are byte offsets as in p11-kit.
  const text = content.toString('latin1');
  const blocks: PemBlock[] = [];
  let at = 0;
  for (;;) {
    const begin = text.indexOf(BEGIN, at);
    if (begin < 0) break;
    const typeStart = begin + BEGIN.length;
    const suffix = text.indexOf(SUFFIX, typeStart);
    if (suffix < 0 || text.slice(begin, suffix).includes('\n')) break;
    const type = text.slice(typeStart, suffix);
    const body = suffix + SUFFIX.length;
    const end = text.indexOf(END, body);
    if (end < 0 || !text.startsWith(`${END}${type}${SUFFIX}`, end)) break;
    if (end !== body) {
      const data = decodeBody(text.slice(body, end));
      if (data) blocks.push({ type, data });
    }
    at = end + SUFFIX.length;
  }
  return blocks;
}

/** The base64 of a block, after any headers (the text up to a line holding only white space). */
function decodeBody(body: string): Buffer | undefined {
  const blank = /\n[ \t\v\f\r]*\n/.exec(body);
  const b64 = (blank ? body.slice(blank.index + blank[0].length) : body).replace(/[ \t\n\v\f\r]+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 === 1) return undefined;
  return Buffer.from(b64, 'base64');
}
