import type { Connection, RowDataPacket } from 'mysql2/promise';
import type { ServiceInstance } from '../config/index.js';
import { DB_USERS } from '../engines/index.js';
import { sleep } from '../shared/retry.js';
import type { FailoverEnv } from './context.js';
import { readDb, withDb } from './db-ops.js';

/*
 * The switchover's pause of the app's writes (the PgBouncer PAUSE idea, done by the engine and the
 * app's database router together): the old primary is set read-only, and every app write from
 * then on is refused with nothing applied; the router holds such writes (src/clients/db) until its
 * probe finds the new primary, then sends them there. No app session is killed.
 *
 * What made the pause long before (1.0-1.1 s, 16-19 sessions killed per switchover under 4 order
 * writers): `read_only=1` takes the global read lock, which waits for the write statements in
 * flight, while it blocks the next statement of every transaction that already wrote. An order
 * transaction blocked there keeps its row lock on the stock row, which another order's statement
 * in flight waits for: a cycle no engine detects, broken only by lock_wait_timeout (1 s), then by
 * killing the app's connections (an order killed during COMMIT had an unknown outcome).
 *
 * Here, while read_only=1 waits, a second connection interrupts (KILL QUERY, not the connection)
 * the app statements that wait for the read lock (on MariaDB 10.4+ the backup lock): such a
 * statement has not started (the lock is taken before any table is opened), the server answers ER_QUERY_INTERRUPTED on a live
 * connection, and the router rolls the transaction back and runs it again on the new primary
 * (retry-policy.ts: an interrupted statement is replayed; an interrupted COMMIT would not be, and
 * a COMMIT waits for the commit lock, a state never interrupted here). The rollback frees the row
 * locks, the statements in flight finish, and read_only=1 goes through in milliseconds.
 */

// How often the second connection looks for app statements blocked by the pending read lock.
// 20 ms: the lock waits for nothing else once they are gone; each look is one processlist query.
const UNBLOCK_EVERY_MS = 20;
// The global read lock's own bound. 5 s: with the blocked statements interrupted it is taken in
// ms; a longer wait means a statement that will not finish (a huge write), and then the
// switchover gives up (writes back on the old primary) rather than kill it mid-commit.
const READ_LOCK_WAIT_S = 5;
// The processlist states of a statement waiting for the read lock: MariaDB 10.4+ takes it as the
// backup lock (seen on 10.11), older servers as the global read lock.
const BLOCKED_STATES = ['Waiting for backup lock', 'Waiting for global read lock'];
// A COMMIT waiting there is never interrupted (an interrupted COMMIT has an unknown outcome for the
// app): once read_only is set it runs and is refused (read-only: nothing applied, replayed).
const WAITERS_SQL = 'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ? AND COMMAND = ? AND STATE IN (?, ?) ' + "AND INFO NOT REGEXP '^[[:space:]]*(COMMIT|XA)'";

export interface WritePause {
  /** The binlog position once writes are off: every transaction the old primary acknowledged. */
  readonly binlog: string;
  /** App statements interrupted while read_only=1 waited (each one rolled back and replayed by the app). */
  readonly interrupted: number;
  /** ms from asking for read_only=1 to having it. */
  readonly tookMs: number;
}

async function q(c: Connection, sql: string, values: unknown[] = [], timeout = 5_000): Promise<RowDataPacket[]> {
  const [r] = await c.query<RowDataPacket[]>({ sql, values, timeout });
  return Array.isArray(r) ? r : [];
}

/** read_only=1 on `svc` without killing an app session (see above). Throws if the lock is not had in READ_LOCK_WAIT_S. */
export async function pauseWrites(env: FailoverEnv, svc: ServiceInstance): Promise<WritePause> {
  const t0 = Date.now();
  return withDb(
    env,
    svc,
    (lockConn) =>
      withDb(
        env,
        svc,
        async (watchConn) => {
          let done = false;
          let interrupted = 0;
          const unblock = (async () => {
            while (!done) {
              const blocked = await q(watchConn, WAITERS_SQL, [DB_USERS.app, 'Query', ...BLOCKED_STATES]);
              // Checked again after the look: once read_only is set, a blocked statement runs (and is refused) on its own.
              for (const r of blocked) {
                if (done) break;
                await q(watchConn, 'KILL QUERY ?', [Number(r['id'])]).catch(() => undefined);
                interrupted++;
              }
              if (!done) await sleep(UNBLOCK_EVERY_MS);
            }
          })();
          try {
            await q(lockConn, `SET SESSION lock_wait_timeout=${READ_LOCK_WAIT_S}`);
            await q(lockConn, 'SET GLOBAL read_only=1', [], (READ_LOCK_WAIT_S + 2) * 1_000);
          } finally {
            done = true;
            await unblock.catch(() => undefined);
          }
          const tookMs = Date.now() - t0;
          return { binlog: (await readDb(lockConn)).binlog, interrupted, tookMs };
        },
        10_000,
      ),
    10_000,
  );
}
