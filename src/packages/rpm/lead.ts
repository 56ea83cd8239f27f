import { UserError } from '../../errors.js';
import type { ByteReader } from '../../stream/byte-reader.js';

/**
 * The 96-byte lead that opens every package file (rpm's lib/rpmlead.cc), kept for compatibility with
 * rpm < 3: magic ed ab ee db, major and minor version, type (0 binary, 1 source), architecture number,
 * a name, OS number, signature type (5: a header-style signature header follows), 16 reserved bytes.
 * Like rpm, only its magic, version and signature type are trusted; the name and numbers are not used.
 */
export interface RpmLead {
  major: number;
  minor: number;
  type: 'binary' | 'source';
  name: string;
}

const LEAD_SIZE = 96;
const LEAD_MAGIC = Buffer.from([0xed, 0xab, 0xee, 0xdb]);
const HEADER_SIGNATURE_TYPE = 5;

export async function readLead(reader: ByteReader, where: string): Promise<RpmLead> {
  const lead = await reader.read(LEAD_SIZE);
  if (lead.length < 4 || !lead.subarray(0, 4).equals(LEAD_MAGIC)) throw new UserError(`${where}: not an rpm package (no lead magic)`);
  if (lead.length < LEAD_SIZE) throw new UserError(`${where}: truncated rpm lead (${lead.length} of ${LEAD_SIZE} bytes)`);
  const major = lead[4]!;
  if (major !== 3 && major !== 4) throw new UserError(`${where}: unsupported rpm package format version ${major}`);
  const signatureType = lead.readUInt16BE(78);
  if (signatureType !== HEADER_SIGNATURE_TYPE) throw new UserError(`${where}: unsupported rpm signature type ${signatureType} in the lead`);
  const type = lead.readUInt16BE(6);
  if (type !== 0 && type !== 1) throw new UserError(`${where}: unknown rpm package type ${type} in the lead`);
  const nul = lead.subarray(10, 76).indexOf(0);
  return { major, minor: lead[5]!, type: type === 0 ? 'binary' : 'source', name: lead.toString('latin1', 10, nul < 0 ? 76 : 10 + nul) };
}
