import type { PoolConnection } from 'mysql2/promise';
import type { CausalToken } from './causal.js';
import { rowsOf, runSql } from './pools.js';
import type { DbMode } from './routing.js';
import type { SqlValue } from './types.js';

/** MASTER_GTID_WAIT on a replica: true once it has applied `pos`, false after `waitMs`. */
export async function waitForGtid(conn: PoolConnection, pos: string, waitMs: number): Promise<boolean> {
  // The statement timeout covers the wait plus a second for the round trip.
  const rows = rowsOf<{ w: number | null }>(await runSql(conn, 'SELECT MASTER_GTID_WAIT(?, ?) AS w', [pos, waitMs / 1000], waitMs + 1_000));
  return Number(rows[0]?.w) === 0;
}

/** wsrep_last_committed of the node behind `conn` (-1n when it reports none: not a Galera node). */
export async function lastCommitted(conn: PoolConnection, timeoutMs: number): Promise<bigint> {
  const rows = rowsOf<{ Value: string | null }>(await runSql(conn, "SHOW GLOBAL STATUS LIKE 'wsrep_last_committed'", [], timeoutMs));
  const v = String(rows[0]?.Value ?? '');
  return /^\d{1,19}$/.test(v) ? BigInt(v) : -1n;
}

// Between two looks at wsrep_last_committed: a Galera node applies a certified write set within
// milliseconds, so a short poll answers soon after, and ~100 status reads bound the wait's cost.
const SEQNO_POLL_MS = 5;

/**
 * Galera read-your-writes by position: true once the node behind `conn` has committed `seqno`,
 * false after `waitMs`. Waits only for this node to apply that write (write sets certified by the
 * cluster are applied by every member), never for the cluster: unlike `wsrep_sync_wait`, a dead
 * or cut-off member does not stall it.
 */
export async function waitForSeqno(conn: PoolConnection, seqno: bigint, waitMs: number): Promise<boolean> {
  const until = Date.now() + waitMs;
  for (;;) {
    // Each look is a status read: 1 s bounds it on a frozen node (the caller drops the connection).
    if ((await lastCommitted(conn, 1_000)) >= seqno) return true;
    if (Date.now() >= until) return false;
    await new Promise((resolve) => setTimeout(resolve, SEQNO_POLL_MS));
  }
}

/**
 * Galera's cluster-wide causal read (wsrep_sync_wait=1: the node first applies everything the
 * cluster committed before the read), the last resort when a seqno wait on the writer failed.
 * Set back to 0 before the connection returns to the pool; the caller drops the connection if
 * this throws.
 */
export async function syncWaitRead(conn: PoolConnection, sql: string, params: readonly SqlValue[], timeoutMs: number): Promise<unknown[]> {
  await runSql(conn, 'SET SESSION wsrep_sync_wait = 1', [], timeoutMs);
  const rows = rowsOf<unknown>(await runSql(conn, sql, params, timeoutMs));
  await runSql(conn, 'SET SESSION wsrep_sync_wait = 0', [], timeoutMs);
  return rows;
}

/**
 * Adds the write just committed on `conn` to the session token. @@last_gtid is this
 * connection's last binlogged transaction; when the statement changed nothing it may be empty
 * (or older), and @@gtid_binlog_pos, which includes every commit so far, is used instead.
 * Galera: wsrep_last_committed on the writer right after COMMIT is at least the write's own
 * seqno (commits are ordered), so a node that reached it has applied the write.
 */
export async function recordWrite(conn: PoolConnection, token: CausalToken, mode: DbMode): Promise<void> {
  if (mode === 'galera') {
    try {
      // 1 s: a status read; a failure only sends this session's next reads to the writer.
      token.observeSeqno(await lastCommitted(conn, 1_000));
    } catch {
      token.observeUnknownWrite();
    }
    return;
  }
  try {
    // 1 s: a variable read; the write already succeeded, so a failure here only costs the replica path.
    const rows = rowsOf<{ g: string | null; b: string | null }>(await runSql(conn, 'SELECT @@last_gtid AS g, @@global.gtid_binlog_pos AS b', [], 1_000));
    const g = rows[0]?.g ?? '';
    token.observeWrite(g !== '' ? g : (rows[0]?.b ?? ''));
  } catch {
    token.observeUnknownWrite();
  }
}
