/*
 * A reader of MariaDB's raw binlog files (what `mariadb-binlog --raw` archives), pure: which
 * transactions a file holds, by GTID, with their byte range and timestamp, and the GTID state at
 * the file's start (its Gtid_list event). That is all point-in-time recovery needs to choose what
 * to replay (`--start-position`/`--stop-position` byte ranges for `mariadb-binlog`), to drop the
 * duplicates of a stream restarted on another server, and to see a gap. A file still being
 * written ends with a partial event or an unfinished transaction: both are left out until complete.
 *
 * Event header (binlog v4, 19 bytes): timestamp u32, type u8, server_id u32, event_length u32,
 * next_position u32, flags u16, all little-endian.
 */

export interface Gtid {
  readonly domain: number;
  readonly server: number;
  readonly seq: number;
}

export interface BinlogTransaction extends Gtid {
  /** Byte offset of its GTID event (a `--start-position`). */
  readonly start: number;
  /** Byte offset just after its last event (a `--stop-position`). */
  readonly end: number;
  /** The newest event timestamp in it, Unix seconds (the statement times: within a second of the commit). */
  readonly ts: number;
}

export interface ParsedBinlog {
  /** The GTID state when the file began (Gtid_list event), per domain: the last seq number before it. */
  readonly startState: ReadonlyMap<number, Gtid> | undefined;
  readonly transactions: readonly BinlogTransaction[];
  /** Bytes of complete transactions and events read: a growing file's next parse resumes here (`resume`). */
  readonly completeTo: number;
  /** CRC32 bytes after each event (from the Format_description event), for a resumed parse. */
  readonly checksumLen: number;
}

/** Where a previous parse of the same growing file stopped. */
export interface ParseResume {
  readonly offset: number;
  readonly checksumLen: number;
}

const MAGIC = Buffer.from([0xfe, 0x62, 0x69, 0x6e]);
const HEADER = 19;
const QUERY_EVENT = 2;
const FORMAT_DESCRIPTION_EVENT = 15;
const XID_EVENT = 16;
const GTID_EVENT = 162;
const GTID_LIST_EVENT = 163;
// Gtid_log_event flags2: a DDL or other statement that is its own transaction (no XID, no COMMIT).
const FL_STANDALONE = 1;

export function formatGtid(g: Gtid): string {
  return `${g.domain}-${g.server}-${g.seq}`;
}

/** `0-1-5,1-2-7` → per-domain map; throws on anything else. */
export function parseGtidList(s: string): Map<number, Gtid> {
  const out = new Map<number, Gtid>();
  for (const part of s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '')) {
    const m = /^(\d+)-(\d+)-(\d+)$/.exec(part);
    if (!m) throw new Error(`"${part}" is not a GTID (domain-server-seq, like 0-1-42)`);
    const g = { domain: Number(m[1]), server: Number(m[2]), seq: Number(m[3]) };
    out.set(g.domain, g);
  }
  return out;
}

/** `buf` from byte `resume.offset` of the file on (a growing file read again from where it stopped), or the whole file. */
export function parseBinlog(buf: Buffer, resume?: ParseResume): ParsedBinlog {
  const transactions: BinlogTransaction[] = [];
  let startState: Map<number, Gtid> | undefined;
  const base = resume?.offset ?? 0;
  if (!resume && (buf.length < 4 || !buf.subarray(0, 4).equals(MAGIC))) return { startState, transactions, completeTo: 0, checksumLen: 0 };
  let pos = resume ? 0 : 4;
  let completeTo = pos;
  let checksumLen = resume?.checksumLen ?? 0;
  let open: { g: Gtid; start: number; ts: number; standalone: boolean } | undefined;
  while (pos + HEADER <= buf.length) {
    const ts = buf.readUInt32LE(pos);
    const type = buf.readUInt8(pos + 4);
    const len = buf.readUInt32LE(pos + 9);
    if (len < HEADER || pos + len > buf.length) break; // a partial event at the tail of a growing file
    const body = pos + HEADER;
    const end = pos + len;
    if (type === FORMAT_DESCRIPTION_EVENT) {
      // Its last byte before the (optional) CRC32 is the checksum algorithm: 1 = CRC32 (the default).
      const alg = buf.readUInt8(end - 5);
      checksumLen = alg === 1 ? 4 : 0;
    } else if (type === GTID_LIST_EVENT && startState === undefined) {
      const count = buf.readUInt32LE(body) & 0x0fffffff;
      startState = new Map();
      for (let i = 0; i < count; i++) {
        const o = body + 4 + i * 16;
        const g = { domain: buf.readUInt32LE(o), server: buf.readUInt32LE(o + 4), seq: Number(buf.readBigUInt64LE(o + 8)) };
        startState.set(g.domain, g);
      }
    } else if (type === GTID_EVENT) {
      const seq = Number(buf.readBigUInt64LE(body));
      const domain = buf.readUInt32LE(body + 8);
      const flags = buf.readUInt8(body + 12);
      open = { g: { domain, server: buf.readUInt32LE(pos + 5), seq }, start: pos, ts, standalone: (flags & FL_STANDALONE) !== 0 };
    } else if (open) {
      open.ts = Math.max(open.ts, ts);
      let ends = type === XID_EVENT;
      if (type === QUERY_EVENT) {
        if (open.standalone) ends = true;
        else {
          // Query post-header: thread_id 4, exec_time 4, db_len 1, error_code 2, status_vars_len 2.
          const dbLen = buf.readUInt8(body + 8);
          const varsLen = buf.readUInt16LE(body + 11);
          const text = buf.subarray(body + 13 + varsLen + dbLen + 1, end - checksumLen).toString('latin1');
          ends = text === 'COMMIT' || text === 'ROLLBACK';
        }
      }
      if (ends) {
        transactions.push({ ...open.g, start: base + open.start, end: base + end, ts: open.ts });
        open = undefined;
      }
    }
    pos = end;
    if (!open) completeTo = pos;
  }
  return { startState, transactions, completeTo: base + completeTo, checksumLen };
}
