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

/**
 * Galera read-your-writes: with wsrep_sync_wait=1 the node first applies everything the cluster
 * committed before the read. Set back to 0 before the connection returns to the pool (other
 * reads need no causality wait); the caller drops the connection if this throws.
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
 * Galera: the read side uses wsrep_sync_wait, which needs no position, only "wrote".
 */
export async function recordWrite(conn: PoolConnection, token: CausalToken, mode: DbMode): Promise<void> {
  if (mode === 'galera') {
    token.observeUnknownWrite();
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
