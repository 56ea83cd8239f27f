/**
 * PAX extended header records (`"%d %s=%s\n"`, POSIX.1-2001). Values are kept as raw bytes: xattr values
 * such as security.capability are binary, and tar-stream / node-tar decode PAX values as UTF-8 text,
 * which corrupts them; that is why this codec is hand-written.
 */
export type PaxRecords = Map<string, Buffer>;

export function encodePax(records: PaxRecords): Buffer {
  const parts: Buffer[] = [];
  // Sorted keys keep the header bytes independent of insertion order.
  for (const key of [...records.keys()].sort()) {
    const value = records.get(key)!;
    const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
    // The length prefix counts itself: find the fixed point.
    let length = body.length + 1;
    while (String(length).length + body.length !== length) length = String(length).length + body.length;
    parts.push(Buffer.from(String(length), 'ascii'), body);
  }
  return Buffer.concat(parts);
}

export function decodePax(data: Buffer, where: string): PaxRecords {
  const records: PaxRecords = new Map();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // some writers pad with NULs
    const space = data.indexOf(0x20, pos);
    const length = space === -1 ? NaN : Number(data.toString('ascii', pos, space));
    if (!Number.isInteger(length) || length <= 0 || pos + length > data.length || data[pos + length - 1] !== 0x0a) {
      throw new Error(`${where}: malformed PAX record at byte ${pos}`);
    }
    const record = data.subarray(space + 1, pos + length - 1);
    const eq = record.indexOf(0x3d);
    if (eq === -1) throw new Error(`${where}: PAX record without '=' at byte ${pos}`);
    records.set(record.toString('utf8', 0, eq), Buffer.from(record.subarray(eq + 1)));
    pos += length;
  }
  return records;
}
