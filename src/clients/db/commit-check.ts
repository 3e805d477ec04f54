import { randomUUID } from 'node:crypto';
import type { PoolConnection } from 'mysql2/promise';
import { rowsOf, runSql } from './pools.js';
import type { DbMode } from './routing.js';

/*
 * Checking a COMMIT whose answer was lost (`TransactionOptions.verifyCommit`). The transaction
 * writes one marker row (a fresh UUID per attempt) just before COMMIT. When the connection drops
 * after COMMIT was sent, the router asks the primary (the same node, or the one promoted
 * meanwhile) whether the marker is there:
 * - there: the transaction committed; the caller gets its result, nothing runs twice;
 * - not there: it did not commit (the server rolls back a transaction whose connection went, and
 *   a promoted replica that lacks it never acknowledged it): it is run again, with a new marker.
 * The read locks the marker's key (LOCK IN SHARE MODE), so a COMMIT still in progress on that
 * node is waited for rather than read as absent; on Galera the read first waits for the node to
 * apply everything the cluster certified (wsrep_sync_wait). If no primary answers within the
 * retry budget, the outcome stays unknown (DB_COMMIT_UNKNOWN).
 *
 * Replication: a marker on the primary is not yet a landed commit. A session killed while its
 * COMMIT waited for the semi-sync ACK (a primary fencing itself kills the app's sessions) is
 * committed on that node with no replica holding it; the failover then promotes a replica without
 * it. Read as "committed", it was acknowledged and lost (partition-db-primary, 1 order in 3 runs).
 * So a marker found there counts only once a later commit on the same connection is acknowledged
 * (another marker row): semi-sync acknowledges binlog positions in order, so the replica then
 * holds the marker too. On a fencing or cut-off primary that commit fails or times out, and the
 * check is asked again of the next primary.
 */

export const MARKS_TABLE = 'hastack_commit_marks';

// Markers older than a day are deleted (bounded) when a client first uses the table: a lost
// COMMIT is checked within seconds, so an old marker is never read again.
const KEEP_MARKS_HOURS = 24;
const PRUNE_LIMIT = 10_000;

export function newMark(): string {
  return randomUUID();
}

/** Creates the marker table if needed (DDL: outside any transaction) and prunes old markers. */
export async function prepareMarks(conn: PoolConnection, timeoutMs: number): Promise<void> {
  await runSql(
    conn,
    `CREATE TABLE IF NOT EXISTS ${MARKS_TABLE} (id CHAR(36) NOT NULL PRIMARY KEY, at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)) ENGINE=InnoDB`,
    [],
    timeoutMs,
  );
  await runSql(conn, `DELETE FROM ${MARKS_TABLE} WHERE at < NOW(3) - INTERVAL ${KEEP_MARKS_HOURS} HOUR LIMIT ${PRUNE_LIMIT}`, [], timeoutMs);
}

/** Inside the transaction, just before COMMIT. */
export async function writeMark(conn: PoolConnection, mark: string, timeoutMs: number): Promise<void> {
  await runSql(conn, `INSERT INTO ${MARKS_TABLE} (id) VALUES (?)`, [mark], timeoutMs);
}

/**
 * A fresh marker row committed on `conn`. Under semi-sync it is acknowledged only once a replica
 * holds every earlier commit of that primary too: what the connection saw before is then durable.
 */
export async function ackedBarrier(conn: PoolConnection, timeoutMs: number): Promise<void> {
  await writeMark(conn, newMark(), timeoutMs);
}

/** True when the transaction that wrote `mark` committed on the node `conn` is connected to (and, on replication, no replica lacks it). */
export async function markCommitted(conn: PoolConnection, mark: string, mode: DbMode, timeoutMs: number): Promise<boolean> {
  if (mode === 'galera') await runSql(conn, 'SET SESSION wsrep_sync_wait = 1', [], timeoutMs);
  const rows = rowsOf<{ id: string }>(await runSql(conn, `SELECT id FROM ${MARKS_TABLE} WHERE id = ? LOCK IN SHARE MODE`, [mark], timeoutMs));
  if (mode === 'galera') await runSql(conn, 'SET SESSION wsrep_sync_wait = 0', [], timeoutMs);
  if (rows.length === 0) return false;
  if (mode === 'replication') await ackedBarrier(conn, timeoutMs);
  return true;
}
