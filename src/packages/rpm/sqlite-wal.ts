/*
 * SQLite's write-ahead log, replayed onto the database file: rpm keeps its sqlite database in WAL mode, and an
 * image snapshotted while rpm had it open holds committed transactions in `rpmdb.sqlite-wal` only. sql.js
 * opens a database from a buffer and cannot be handed the WAL beside it (its file system is not exported),
 * so the committed frames are copied onto the pages here, as SQLite's own recovery does when it opens a
 * database whose WAL has no shared-memory index: https://www.sqlite.org/fileformat2.html#walformat
 */

const WAL_HEADER = 32;
const FRAME_HEADER = 24;
const MAGIC_LITTLE_ENDIAN_SUMS = 0x377f0682;
const MAGIC_BIG_ENDIAN_SUMS = 0x377f0683;

/** SQLite's WAL checksum: pairs of 32-bit words, in the byte order the magic number names. */
function checksum(data: Uint8Array, bigEndian: boolean, s: [number, number]): [number, number] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let [s0, s1] = s;
  for (let i = 0; i < data.length; i += 8) {
    s0 = (s0 + view.getUint32(i, !bigEndian) + s1) >>> 0;
    s1 = (s1 + view.getUint32(i + 4, !bigEndian) + s0) >>> 0;
  }
  return [s0, s1];
}

export interface WalReplay {
  /** The database as SQLite would see it with the WAL applied. */
  database: Uint8Array;
  /** How many committed frames were applied (0: the WAL was empty, reset or held no commit). */
  frames: number;
}

/**
 * The database with the WAL's committed transactions applied. A WAL that is empty, truncated, or whose
 * header checksum fails is ignored as SQLite ignores it; frames after the last valid commit frame (an
 * unfinished transaction) are left out.
 */
export function applyWal(database: Uint8Array, wal: Uint8Array): WalReplay {
  if (wal.length < WAL_HEADER) return { database, frames: 0 };
  const view = new DataView(wal.buffer, wal.byteOffset, wal.byteLength);
  const magic = view.getUint32(0);
  if (magic !== MAGIC_LITTLE_ENDIAN_SUMS && magic !== MAGIC_BIG_ENDIAN_SUMS) return { database, frames: 0 };
  const bigEndian = magic === MAGIC_BIG_ENDIAN_SUMS;
  const pageSize = view.getUint32(8);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return { database, frames: 0 };
  let sum = checksum(wal.subarray(0, 24), bigEndian, [0, 0]);
  if (sum[0] !== view.getUint32(24) || sum[1] !== view.getUint32(28)) return { database, frames: 0 };
  const salt = [view.getUint32(16), view.getUint32(20)];

  // The valid frames, each checksummed over everything before it; the last commit frame ends what counts.
  const frames: { page: number; at: number }[] = [];
  let committed = 0;
  let pagesAfterCommit = 0;
  for (let at = WAL_HEADER; at + FRAME_HEADER + pageSize <= wal.length; at += FRAME_HEADER + pageSize) {
    if (view.getUint32(at + 8) !== salt[0] || view.getUint32(at + 12) !== salt[1]) break;
    sum = checksum(wal.subarray(at, at + 8), bigEndian, sum);
    sum = checksum(wal.subarray(at + FRAME_HEADER, at + FRAME_HEADER + pageSize), bigEndian, sum);
    if (sum[0] !== view.getUint32(at + 16) || sum[1] !== view.getUint32(at + 20)) break;
    const page = view.getUint32(at);
    if (page === 0) break;
    frames.push({ page, at: at + FRAME_HEADER });
    const commit = view.getUint32(at + 4);
    if (commit !== 0) {
      committed = frames.length;
      pagesAfterCommit = commit;
    }
  }
  if (committed === 0) return { database, frames: 0 };
  const out = new Uint8Array(pagesAfterCommit * pageSize);
  out.set(database.subarray(0, Math.min(database.length, out.length)));
  for (const { page, at } of frames.slice(0, committed)) {
    if (page <= pagesAfterCommit) out.set(wal.subarray(at, at + pageSize), (page - 1) * pageSize);
  }
  return { database: out, frames: committed };
}
