import fs from 'node:fs';
import path from 'node:path';
import type { Topology } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { formatGtid, parseBinlog, type BinlogTransaction, type Gtid, type ParsedBinlog } from './binlog-parse.js';
import type { BackupKey } from './backup-crypt.js';
import { binlogNameOf, readBinlogFile, TAIL_SUFFIX, targetArchiveRoots } from './binlog-archive-seal.js';

const chunkOf = (n: string): boolean => /\.tail-\d+(\.enc)?$/.test(n);

/*
 * The binlog archive on disk and the timeline it holds. `<stateDir>/<node>/binlog-archive/` holds
 * one directory per stream ("segment"): `<seq>-<node>-s<server_id>/`, with the raw files exactly as
 * `mariadb-binlog --raw` wrote them under their server's names and a `segment.json`. A new segment
 * starts whenever the stream (re)starts, on the same primary or a new one, so two servers'
 * `mysql-bin.000003` never clash, and a file is never appended to by two streams.
 *
 * The timeline: segments in order; each new segment starts at a file whose Gtid_list says what
 * its server had then, so the timeline is cut back to that state (dropping what an old primary
 * archived but its successor never had: lost in a failover) and continued with the segment's
 * transactions. Duplicates (a stream restarted from an older file) disappear the same way.
 */

export const ARCHIVE_DIR = 'binlog-archive';
export const SEGMENT_FILE = 'segment.json';

export interface SegmentMeta {
  readonly seq: number;
  readonly node: string;
  readonly serverId: number;
  readonly startFile: string;
  readonly startedAt: string;
}

export interface ArchivedTransaction extends BinlogTransaction {
  readonly file: string;
}

export interface Segment {
  readonly dir: string;
  readonly meta: SegmentMeta;
  /** Its raw binlog files in order (their names sort in binlog order: mysql-bin.NNNNNN). */
  readonly files: readonly { readonly path: string; readonly parsed: ParsedBinlog }[];
}

export function archiveDir(topo: Topology, node: string): string {
  return path.join(topo.stateDir, node, ARCHIVE_DIR);
}

export function segmentName(meta: SegmentMeta): string {
  return `${String(meta.seq).padStart(6, '0')}-${meta.node}-s${meta.serverId}`;
}

function readSegment(dir: string, key: BackupKey | undefined): Segment | undefined {
  let meta: SegmentMeta;
  try {
    meta = JSON.parse(fs.readFileSync(path.join(dir, SEGMENT_FILE), 'utf8')) as SegmentMeta;
  } catch {
    return undefined; // being created: not a segment yet
  }
  const all = fs.readdirSync(dir).filter((n) => n !== SEGMENT_FILE && !n.startsWith('.'));
  // A target may hold a file only as chunks of it while it was streamed: read as one file.
  const whole = all.filter((n) => !chunkOf(n));
  const have = new Set(whole.map(binlogNameOf));
  const chunked = [...new Set(all.filter(chunkOf).map(binlogNameOf))].filter((n) => !have.has(n)).map((n) => `${n}${TAIL_SUFFIX}`);
  const names = [...whole, ...chunked].sort();
  return { dir, meta, files: names.map((n) => ({ path: path.join(dir, n), parsed: parseBinlog(readBinlogFile(path.join(dir, n), key)) })) };
}

/**
 * Every segment in every node's archive, then those only the directory targets (or the SSH targets'
 * copies fetched) hold (the archive's machine lost), oldest first (by start time, then sequence). Sealed files are decrypted in memory
 * with `key` (BACKUP_KEY_MISSING without it, BACKUP_TAMPERED when changed).
 */
export function readArchive(topo: Topology, key?: BackupKey, fetchedRoots: readonly string[] = []): Segment[] {
  const out: Segment[] = [];
  const seen = new Set<string>();
  // `fetchedRoots`: SSH targets' copies a restore fetched first (restore-fetch.ts), read last.
  for (const root of [...topo.nodes.map((n) => archiveDir(topo, n.name)), ...targetArchiveRoots(topo), ...fetchedRoots]) {
    let names: string[];
    try {
      names = fs.readdirSync(root);
    } catch {
      continue;
    }
    for (const name of names.filter((x) => /^\d{6}-/.test(x) && !seen.has(x))) {
      const s = readSegment(path.join(root, name), key);
      if (s) out.push(s);
      if (s) seen.add(name);
    }
  }
  return out.sort((a, b) => a.meta.startedAt.localeCompare(b.meta.startedAt) || a.meta.seq - b.meta.seq);
}

/** The next segment number in `root`. */
export function nextSegmentSeq(root: string): number {
  let max = 0;
  try {
    for (const n of fs.readdirSync(root)) {
      const m = /^(\d{6})-/.exec(n);
      if (m) max = Math.max(max, Number(m[1]));
    }
  } catch {
    // no archive yet
  }
  return max + 1;
}

export interface Timeline {
  readonly transactions: readonly ArchivedTransaction[];
  /** Transactions an earlier segment archived that the next one's server did not have (lost in a failover). */
  readonly dropped: readonly ArchivedTransaction[];
}

/** Pure: the archive's history, see the header. */
export function buildTimeline(segments: readonly Pick<Segment, 'files'>[]): Timeline {
  let txns: ArchivedTransaction[] = [];
  const dropped: ArchivedTransaction[] = [];
  for (const seg of segments) {
    const start = seg.files[0]?.parsed.startState;
    if (start !== undefined) {
      const keep: ArchivedTransaction[] = [];
      // A domain the segment's start does not list says nothing about it (a node whose binlog began
      // after a state transfer or a provisioning lists nothing before its first file): kept.
      for (const t of txns) {
        const s = start.get(t.domain);
        (s === undefined || t.seq <= s.seq ? keep : dropped).push(t);
      }
      txns = keep;
    }
    const last = lastByDomain(txns);
    for (const f of seg.files) {
      for (const t of f.parsed.transactions) {
        if (t.seq <= (last.get(t.domain)?.seq ?? 0)) continue;
        txns.push({ ...t, file: f.path });
        last.set(t.domain, t);
      }
    }
  }
  // A transaction dropped and archived again by the next segment is not lost.
  const kept = new Set(txns.map((t) => formatGtid(t)));
  return { transactions: txns, dropped: dropped.filter((t) => !kept.has(formatGtid(t))) };
}

export function lastByDomain(txns: readonly Gtid[]): Map<number, Gtid> {
  const m = new Map<number, Gtid>();
  for (const t of txns) m.set(t.domain, t);
  return m;
}

export type StopAt = { readonly kind: 'latest' } | { readonly kind: 'time'; readonly unixS: number } | { readonly kind: 'gtid'; readonly gtid: Gtid };

/** One `mariadb-binlog` run: a byte range of one archived file. */
export interface ReplayRun {
  readonly file: string;
  readonly start: number;
  readonly end: number;
  readonly count: number;
}

export interface ReplayPlan {
  readonly runs: readonly ReplayRun[];
  readonly applied: number;
  /** The last transaction replayed (undefined: the base backup alone). */
  readonly last?: ArchivedTransaction;
  /** The newest archived transaction (what "latest" reaches). */
  readonly newest?: ArchivedTransaction;
}

/**
 * Pure: the transactions after the base backup's GTID state up to `stop`, as byte ranges per file.
 * Throws when the archive does not continue the backup without a gap (a restore that silently
 * stopped early would look like success).
 */
export function planReplay(timeline: Timeline, base: ReadonlyMap<number, Gtid>, stop: StopAt): ReplayPlan {
  const after = timeline.transactions.filter((t) => t.seq > (base.get(t.domain)?.seq ?? 0));
  const expect = new Map<number, number>([...base].map(([d, g]) => [d, g.seq]));
  const chosen: ArchivedTransaction[] = [];
  for (const t of after) {
    if (stop.kind === 'time' && t.ts > stop.unixS) break;
    if (stop.kind === 'gtid' && t.domain === stop.gtid.domain && t.seq > stop.gtid.seq) break;
    const want = (expect.get(t.domain) ?? 0) + 1;
    if (t.seq !== want) {
      throw new HastackError(
        ErrorCode.NOT_FOUND,
        `the binlog archive has a gap: after ${t.domain}-*-${want - 1} the next archived transaction is ${formatGtid(t)}; a restore can reach only ${t.domain}-*-${want - 1} (restore to it with --to-gtid, or take a new backup)`,
      );
    }
    expect.set(t.domain, t.seq);
    chosen.push(t);
  }
  if (stop.kind === 'gtid') {
    const reached = expect.get(stop.gtid.domain) ?? 0;
    if (reached < stop.gtid.seq) {
      throw new HastackError(ErrorCode.NOT_FOUND, `GTID ${formatGtid(stop.gtid)} is not in the binlog archive (it reaches ${stop.gtid.domain}-*-${reached})`);
    }
  }
  const runs: ReplayRun[] = [];
  for (const t of chosen) {
    const prev = runs.at(-1);
    if (prev && prev.file === t.file && prev.end <= t.start) runs[runs.length - 1] = { ...prev, end: t.end, count: prev.count + 1 };
    else runs.push({ file: t.file, start: t.start, end: t.end, count: 1 });
  }
  return { runs, applied: chosen.length, ...(chosen.at(-1) ? { last: chosen.at(-1) } : {}), ...(after.at(-1) ? { newest: after.at(-1) } : {}) };
}

/**
 * Pure: the oldest segments no restore can need (every transaction at or before the oldest
 * backup's GTID, so never replayed), as a prefix: a later segment's start state only cuts earlier
 * ones, so dropping a prefix leaves the rest of the timeline as it was. Never `current`.
 */
export function prunableSegments<S extends Pick<Segment, 'dir' | 'files'>>(
  segments: readonly S[],
  oldestBackup: ReadonlyMap<number, Gtid> | undefined,
  current: string | undefined,
): S[] {
  if (oldestBackup === undefined) return [];
  const out: S[] = [];
  for (const s of segments.slice(0, -1)) {
    if (s.dir === current) break;
    const needed = s.files.some((f) => f.parsed.transactions.some((t) => t.seq > (oldestBackup.get(t.domain)?.seq ?? 0)));
    if (needed) break;
    out.push(s);
  }
  return out;
}
