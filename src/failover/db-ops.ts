import type { Connection, RowDataPacket } from 'mysql2/promise';
import type { ServiceInstance } from '../config/index.js';
import { adminConnection, closeConnection, closeToApp, DB_USERS, openToApp, parseSlaveStatus, setReplicaOf, type DbReplicationStatus } from '../engines/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { waitFor } from '../shared/retry.js';
import { ctxOf, recordRole, type FailoverEnv } from './context.js';
import type { FenceOutcome, SemiSyncFacts } from './decide.js';
import { gtidCovers, parseGtidPos } from './gtid.js';

/*
 * The MariaDB admin actions of the crash plan, each idempotent (a re-run after an interruption
 * finds the work done and moves on). Over the node's unix socket as root: the controller runs on
 * the same machine on the local substrate.
 */

// Loopback answers in ms; 1.5 s tells a dead or frozen server from a live one without stalling
// the runbook (a SIGKILLed server refuses at once, a frozen one hits this bound).
export const REACH_TIMEOUT_MS = 1_500;
// Every single admin statement here is instant; 5 s tolerates a busy 2-core machine.
const STATEMENT_MS = 5_000;

async function q(c: Connection, sql: string, values: unknown[] = [], timeout = STATEMENT_MS): Promise<RowDataPacket[]> {
  const [r] = await c.query<RowDataPacket[]>({ sql, values, timeout });
  return Array.isArray(r) ? r : [];
}

export async function withDb<T>(env: FailoverEnv, svc: ServiceInstance, fn: (c: Connection) => Promise<T>, timeoutMs = REACH_TIMEOUT_MS): Promise<T> {
  const c = await adminConnection(ctxOf(env, svc), timeoutMs);
  try {
    return await fn(c);
  } finally {
    await closeConnection(c);
  }
}

export interface DbReading {
  readonly readOnly: boolean;
  readonly applied: string;
  readonly binlog: string;
  readonly slave: DbReplicationStatus;
}

export async function readDb(c: Connection): Promise<DbReading> {
  const [v] = await q(c, 'SELECT @@read_only AS ro, @@gtid_current_pos AS cur, @@gtid_binlog_pos AS bin');
  const slave = parseSlaveStatus((await q(c, 'SHOW SLAVE STATUS'))[0]);
  return { readOnly: Number(v?.['ro']) === 1, applied: String(v?.['cur'] ?? ''), binlog: String(v?.['bin'] ?? ''), slave };
}

// ER_LOCK_WAIT_TIMEOUT
const LOCK_WAIT_TIMEOUT = 1205;

/**
 * read_only=1, bounded. It takes the global read lock, which waits for statements and commits in
 * flight; under order load it was seen blocked ~6 s (until an app statement timed out). So it
 * waits at most 1 s, then kills the app's sessions (their open transactions roll back, never
 * acknowledged; the clients retry with the same Idempotency-Key) and tries once more.
 *
 * `fence` (a primary being replaced: the guard's self-fence, the crash plan's fence): the server
 * is first shut to the app (closeToApp) and its app sessions killed, then read_only, then any
 * app session left is killed.
 * A session killed while its COMMIT waited for the semi-sync ACK leaves that commit here only
 * (it is in the binlog and becomes visible), so neither an open session nor a new connection, a
 * retry asking "did my order commit?" through any driver or endpoint, may read this server again.
 * A switchover (no `fence`) keeps the app's sessions: the old primary goes on serving reads.
 * Returns the binlog position once writes are off: every transaction it ever acknowledged.
 */
export async function stopWrites(c: Connection, appUser: string, fence: boolean): Promise<{ binlog: string; killed: number; shut: boolean }> {
  const killed = new Set<number>();
  const killApp = async (): Promise<void> => {
    for (const r of await q(c, 'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ?', [appUser])) {
      await q(c, 'KILL CONNECTION ?', [Number(r['id'])]).catch(() => undefined);
      killed.add(Number(r['id']));
    }
  };
  const shut = fence && (await closeToApp(c));
  // A fence kills first, so read_only waits for nothing: the 1 s lock wait below was the whole of
  // a 1,020 ms self-fence (measured), which then ended past the lease's expiry.
  if (fence) await killApp();
  try {
    await q(c, 'SET SESSION lock_wait_timeout=1');
    await q(c, 'SET GLOBAL read_only=1');
  } catch (e) {
    if ((e as { errno?: number }).errno !== LOCK_WAIT_TIMEOUT) throw e;
    await killApp();
    await q(c, 'SET SESSION lock_wait_timeout=5');
    await q(c, 'SET GLOBAL read_only=1');
  }
  if (fence) await killApp();
  return { binlog: (await readDb(c)).binlog, killed: killed.size, shut };
}

/**
 * Fences a reachable old primary: shut to the app, read_only=1 (the app user has no global
 * privilege, so this stops its writes), its app sessions killed (stopWrites `fence`). The
 * caller has recorded it as replica first (a restart comes back read-only); not again here: on
 * hosts a record is an SSH round trip and a CLI start on the node's machine, ~2 s of the crash
 * plan on a busy one. Semi-sync's state is read after writes
 * stopped: a fallback to asynchronous before that shows as OFF.
 */
export async function fenceReachable(env: FailoverEnv, svc: ServiceInstance): Promise<FenceOutcome> {
  return withDb(
    env,
    svc,
    async (c) => {
      const { binlog } = await stopWrites(c, DB_USERS.app, true);
      const semi = await semiSyncState(c);
      return { binlog, semiSyncHeld: semi.active };
    },
    STATEMENT_MS,
  );
}

/**
 * Promotes a replica: stops receiving, waits until the SQL thread applied everything the IO
 * thread received (RESET SLAVE ALL drops unapplied relay logs: ENGINE-NOTES), checks it has
 * `mustCover` (the fenced old primary's binlog, when known), then drops the replication
 * config, records the role and turns writes on. Semi-sync stays off on it until a replica is
 * attached (on with no replica, every commit would stall for the timeout). Idempotent.
 *
 * `sourceDead`: the fence killed (or powered off) the old primary, so its replica can receive
 * nothing more. Then the IO thread is not stopped first: stuck reconnecting to a cut-off primary,
 * STOP SLAVE waits out its connect timeout (slave_net_timeout, ~2 s measured), and what it has
 * received is final anyway. Writes go on once everything received is applied; the replication
 * config is dropped afterwards by finishPromotion (the repoint step), off the write path.
 */
export async function promote(
  env: FailoverEnv,
  svc: ServiceInstance,
  opts: { mustCover?: string; applyTimeoutMs: number; sourceDead?: boolean },
): Promise<{ gtid: string; waitedMs: number; recordMs: number; deferredReset: boolean }> {
  const t0 = Date.now();
  return withDb(
    env,
    svc,
    async (c) => {
      let r = await readDb(c);
      const configured = r.slave.configured;
      if (configured) {
        if (!opts.sourceDead) await q(c, 'STOP SLAVE IO_THREAD');
        r = await readDb(c);
        const received = r.slave.gtidIoPos;
        if (received !== '' && !gtidCovers(parseGtidPos(r.applied), parseGtidPos(received))) {
          const [w] = await q(c, 'SELECT MASTER_GTID_WAIT(?, ?) AS w', [received, opts.applyTimeoutMs / 1000], opts.applyTimeoutMs + STATEMENT_MS);
          if (Number(w?.['w']) !== 0) {
            throw new HastackError(
              ErrorCode.PROMOTION_FAILED,
              `${svc.id} did not apply what it received (${received}) within ${opts.applyTimeoutMs} ms; its SQL thread: ${r.slave.sqlState || r.slave.sqlThread}. Not promoting (that would drop the rest). Check "hastack status", then run the failover again`,
            );
          }
        }
        r = await readDb(c);
      }
      const waitedMs = Date.now() - t0;
      if (opts.mustCover && !gtidCovers(parseGtidPos(r.applied), parseGtidPos(opts.mustCover))) {
        throw new HastackError(
          ErrorCode.PROMOTION_FAILED,
          `${svc.id} has ${r.applied || 'nothing'} but the old primary's binlog ends at ${opts.mustCover}: promoting it would lose transactions. Start its replication again (START SLAVE) and retry once it caught up`,
        );
      }
      const deferredReset = configured && opts.sourceDead === true;
      if (configured && !deferredReset) {
        await q(c, 'STOP SLAVE');
        await q(c, 'RESET SLAVE ALL');
      }
      await q(c, 'SET GLOBAL rpl_semi_sync_master_enabled=0');
      // Its role recorded beside opening it to writes, not before: on real hosts the record is an
      // SSH call to its machine (seconds under load) that held up the first write. Should it
      // restart before the record lands, it comes back read-only (the record says replica): no
      // write is lost, and the step, not done, runs again.
      const r0 = Date.now();
      const recorded = recordRole(env, svc, 'primary').then(() => Date.now() - r0);
      const opened = (async () => {
        await openToApp(c);
        await q(c, 'SET GLOBAL read_only=0');
      })();
      // Both settled before the step ends, whichever fails: nothing left running behind it.
      const [rec, open] = await Promise.allSettled([recorded, opened]);
      if (open.status === 'rejected') throw open.reason;
      if (rec.status === 'rejected') throw rec.reason;
      return { gtid: r.applied, waitedMs, recordMs: rec.value, deferredReset };
    },
    STATEMENT_MS,
  );
}

// STOP SLAVE waits for an IO thread in a connect attempt to a dead primary: slave_net_timeout (2 s) and slack.
const FINISH_STATEMENT_MS = 10_000;

/**
 * The rest of a promotion with `sourceDead` (see promote): STOP SLAVE and RESET SLAVE ALL on the
 * new primary, so it replicates from nobody. Idempotent; returns how long STOP SLAVE took.
 */
export async function finishPromotion(env: FailoverEnv, svc: ServiceInstance): Promise<number | undefined> {
  return withDb(
    env,
    svc,
    async (c) => {
      if (!(await readDb(c)).slave.configured) return undefined;
      const t0 = Date.now();
      await q(c, 'STOP SLAVE', [], FINISH_STATEMENT_MS);
      const ms = Date.now() - t0;
      await q(c, 'RESET SLAVE ALL');
      return ms;
    },
    STATEMENT_MS,
  );
}

// A replica on loopback connects within a few hundred ms (MASTER_CONNECT_RETRY=1).
const ATTACH_TIMEOUT_MS = 15_000;

/**
 * Points a replica at the new primary and waits until both threads run; then turns semi-sync on
 * at the primary and checks it took (on before a replica is attached, it stalls: ENGINE-NOTES).
 * Idempotent: a replica already running from that primary is left as it is.
 */
export async function attachReplica(env: FailoverEnv, replica: ServiceInstance, primary: ServiceInstance): Promise<void> {
  const now = await withDb(env, replica, readDb, STATEMENT_MS);
  const already = now.slave.configured && now.slave.masterHost === primary.address && now.slave.masterPort === primary.port;
  if (!already) await setReplicaOf(ctxOf(env, replica), primary);
  const ok = await waitFor(
    async () => {
      const s = (await withDb(env, replica, readDb, STATEMENT_MS)).slave;
      if (s.lastIoErrno !== 0 && s.ioThread !== 'running') throw new HastackError(ErrorCode.REPOINT_FAILED, `io error ${s.lastIoErrno}: ${s.lastIoError}`);
      if (s.lastSqlErrno !== 0) throw new HastackError(ErrorCode.REPOINT_FAILED, `sql error ${s.lastSqlErrno}: ${s.lastSqlError}`);
      return s.ioThread === 'running' && s.sqlThread === 'running' ? s : undefined;
    },
    // 200 ms: the IO thread connects within a few hundred ms on loopback.
    { timeoutMs: ATTACH_TIMEOUT_MS, intervalMs: 200 },
  );
  if (!ok) {
    const s = (await withDb(env, replica, readDb, STATEMENT_MS)).slave;
    throw new HastackError(
      ErrorCode.REPOINT_FAILED,
      `${replica.id} does not replicate from ${primary.id} after ${ATTACH_TIMEOUT_MS} ms (io ${s.ioThread}${s.lastIoErrno ? ` error ${s.lastIoErrno}: ${s.lastIoError}` : ''}, sql ${s.sqlThread}${s.lastSqlErrno ? ` error ${s.lastSqlErrno}: ${s.lastSqlError}` : ''}); ` +
        'error 1236 means it has transactions the new primary lacks: rebuild it (stop its node, move its mariadb/data aside, start it: hastack copies it from a live node with mariabackup)',
    );
  }
  if (env.topo.config.database.semiSync) await enableSemiSync(env, primary, replica);
}

/** The master side of semi-sync, for the facts (decide.ts `SemiSyncFacts`). */
export async function readSemiSync(c: Connection): Promise<SemiSyncFacts> {
  const [v] = await q(c, 'SELECT @@rpl_semi_sync_master_enabled AS en');
  const s = await semiSyncState(c);
  return { enabled: Number(v?.['en']) === 1, active: s.active, clients: s.clients };
}

async function semiSyncState(c: Connection): Promise<{ active: boolean; clients: number; replicaOn: boolean }> {
  const s: Record<string, string> = {};
  for (const r of await q(c, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_%'")) s[String(r['Variable_name'])] = String(r['Value']);
  return { active: s['Rpl_semi_sync_master_status'] === 'ON', clients: Number(s['Rpl_semi_sync_master_clients'] ?? 0), replicaOn: s['Rpl_semi_sync_slave_status'] === 'ON' };
}

// The semi-sync handshake happens when the IO thread connects: a few hundred ms.
const SEMI_SYNC_TIMEOUT_MS = 5_000;

export async function enableSemiSync(env: FailoverEnv, primary: ServiceInstance, replica: ServiceInstance): Promise<void> {
  await withDb(env, primary, (c) => q(c, 'SET GLOBAL rpl_semi_sync_master_enabled=1'), STATEMENT_MS);
  const check = async (): Promise<true | undefined> => {
    const p = await withDb(env, primary, semiSyncState, STATEMENT_MS);
    const r = await withDb(env, replica, semiSyncState, STATEMENT_MS);
    return p.active && p.clients >= 1 && r.replicaOn ? true : undefined;
  };
  if (await waitFor(check, { timeoutMs: SEMI_SYNC_TIMEOUT_MS / 2, intervalMs: 100 })) return;
  // The replica asks for semi-sync only when its IO thread connects: reconnect it once.
  await withDb(
    env,
    replica,
    async (c) => {
      await q(c, 'STOP SLAVE IO_THREAD');
      await q(c, 'START SLAVE IO_THREAD');
    },
    STATEMENT_MS,
  );
  if (await waitFor(check, { timeoutMs: SEMI_SYNC_TIMEOUT_MS, intervalMs: 100 })) return;
  throw new HastackError(
    ErrorCode.REPOINT_FAILED,
    `semi-sync did not turn on between ${primary.id} and ${replica.id}: commits are acknowledged without a copy on the replica; check both mariadb.err files`,
  );
}

/** MASTER_GTID_WAIT on a replica until it has applied `pos` (switchover). */
export async function waitApplied(env: FailoverEnv, svc: ServiceInstance, pos: string, timeoutMs: number): Promise<boolean> {
  if (pos === '') return true;
  return withDb(
    env,
    svc,
    async (c) => {
      const [w] = await q(c, 'SELECT MASTER_GTID_WAIT(?, ?) AS w', [pos, timeoutMs / 1000], timeoutMs + STATEMENT_MS);
      return Number(w?.['w']) === 0;
    },
    STATEMENT_MS,
  );
}
