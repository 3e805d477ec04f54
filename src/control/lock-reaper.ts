import type { Connection, RowDataPacket } from 'mysql2/promise';
import { servicesOf, type Secrets, type ServiceInstance, type Topology } from '../config/index.js';
import { adminConnection, closeConnection, DB_USERS } from '../engines/index.js';
import { describeError } from '../shared/errors.js';
import { appendEvent } from '../shared/events.js';

/**
 * The lock reaper (issue 22, `pause-app`): an app session that sits idle inside a transaction
 * while other sessions wait for its row locks is killed, so its transaction rolls back and the
 * waiters go on.
 *
 * Why: an app server frozen (SIGSTOP, a hung VM), cut off or powered off between two statements of
 * a transaction keeps its row locks; the server sees no disconnect (a frozen process holds its
 * socket, a dead machine sends no FIN) until TCP gives up, hours later. Measured here before this
 * existed: one frozen app server of `ideal` held the stock rows of an order (SELECT ... FOR UPDATE)
 * for its whole 10 s freeze while 17 orders of the other app servers waited on them, and the
 * clients' orders timed out. InnoDB's own `innodb_lock_wait_timeout` picks the wrong victim (the
 * waiters), and MariaDB's `idle_transaction_timeout` kills every idle transaction, including an
 * app's legitimately slow one that blocks nobody. Here only a session that is both idle (no
 * statement running, `Sleep`) for `database.idleLockHolderKillMs` and waited on by another is
 * killed, and only the app's account: never replication, backups or an operator's session.
 *
 * What the killed session's app sees, if it is alive after all: its next statement fails with a
 * lost connection, before COMMIT, so nothing it believed committed is undone; hastack's database
 * client replays such a transaction (it never reached commit), and the load balancer had already
 * sent the request elsewhere if the backend was frozen (src/lb/stall.ts).
 *
 * One admin connection per database node, kept open (`adminConnection`: the node's unix socket
 * where its files are on this machine, which no partition cuts; TCP as hastack_admin otherwise):
 * the same code runs in the supervisor (local, netns) and the controller on hosts. A node that
 * cannot be reached is skipped for that round; its connection is opened again at the next.
 */

/** One transaction other transactions wait for, as the server reports it. */
export interface LockHolder {
  readonly id: number;
  readonly user: string;
  readonly host: string;
  readonly command: string;
  /** Time since the session's last statement ended (`PROCESSLIST.TIME_MS`). */
  readonly idleMs: number;
  /** Transactions waiting for its locks. */
  readonly waiters: number;
}

/** How often each node is looked at. A victim is killed within idleMs + this of going idle. */
export const REAPER_INTERVAL_MS = 250;

const HOLDERS_SQL = `SELECT b.trx_mysql_thread_id AS id, p.USER AS user, p.HOST AS host, p.COMMAND AS command, p.TIME_MS AS idle_ms,
  COUNT(DISTINCT w.requesting_trx_id) AS waiters
FROM information_schema.INNODB_LOCK_WAITS w
JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id
JOIN information_schema.PROCESSLIST p ON p.ID = b.trx_mysql_thread_id
GROUP BY b.trx_mysql_thread_id, p.USER, p.HOST, p.COMMAND, p.TIME_MS`;

/** Pure: the holders to kill: the app's own sessions, idle for at least `idleMs`, waited on. */
export function reaperVictims(holders: readonly LockHolder[], idleMs: number, appUser: string = DB_USERS.app): LockHolder[] {
  return holders.filter((h) => h.user === appUser && h.command === 'Sleep' && h.idleMs >= idleMs && h.waiters > 0);
}

/** Reads the lock holders of one server, kills the victims; returns those killed. */
export async function reapOnce(c: Connection, idleMs: number): Promise<LockHolder[]> {
  const [found] = await c.query<RowDataPacket[]>({ sql: HOLDERS_SQL, timeout: 2_000 });
  const holders = found.map((r): LockHolder => ({
    id: Number(r['id']),
    user: String(r['user'] ?? ''),
    host: String(r['host'] ?? ''),
    command: String(r['command'] ?? ''),
    idleMs: Math.round(Number(r['idle_ms'] ?? 0)),
    waiters: Number(r['waiters'] ?? 0),
  }));
  const killed: LockHolder[] = [];
  for (const v of reaperVictims(holders, idleMs)) {
    try {
      // KILL CONNECTION, not QUERY: the session is idle; only closing it rolls its transaction back.
      await c.query({ sql: `KILL CONNECTION ${Math.trunc(v.id)}`, timeout: 2_000 });
      killed.push(v);
    } catch (e) {
      // ER_NO_SUCH_THREAD: it ended (committed, or its client went) between the look and the kill.
      if ((e as { errno?: unknown }).errno !== 1094) throw e;
    }
  }
  return killed;
}

export interface LockReaper {
  stop(): Promise<void>;
}

/**
 * Starts the reaper on every database node of `topo`, one loop per node (a node that hangs never
 * delays the others); undefined when turned off (`database.idleLockHolderKillMs: 0`).
 */
export function startLockReaper(topo: Topology, secrets: Secrets): LockReaper | undefined {
  const idleMs = topo.config.database.idleLockHolderKillMs;
  const nodes = servicesOf(topo, 'mariadb');
  if (idleMs === 0 || nodes.length === 0) return undefined;
  const loops = nodes.map((svc) => nodeLoop(topo, secrets, svc, idleMs));
  return { stop: async () => void (await Promise.all(loops.map((l) => l.stop()))) };
}

function nodeLoop(topo: Topology, secrets: Secrets, svc: ServiceInstance, idleMs: number): LockReaper {
  let conn: Connection | undefined;
  let lastError: string | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> = Promise.resolve();
  const event = (message: string, data: Record<string, unknown>): void =>
    void appendEvent(topo.stateDir, { type: 'step', message: `lock reaper: ${message}`, data: { op: 'lock-reaper', node: svc.node, ...data } });

  const round = async (): Promise<void> => {
    try {
      conn ??= await adminConnection({ topo, secrets, svc, asRoot: process.getuid?.() === 0 }, 1_000);
      for (const k of await reapOnce(conn, idleMs)) {
        event(`killed ${k.user}@${k.host} on ${svc.node} (session ${k.id}): idle ${k.idleMs} ms inside a transaction ${k.waiters} other(s) waited for; it rolled back`, {
          session: k.id,
          host: k.host,
          idleMs: k.idleMs,
          waiters: k.waiters,
        });
      }
      lastError = undefined;
    } catch (e) {
      conn?.destroy();
      conn = undefined;
      // Said once per cause; a node that is down (a fault, a restart) is not news every round.
      const why = describeError(e);
      if (why !== lastError && !/ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ECONNRESET|ENOENT|PROTOCOL_CONNECTION_LOST|Connection lost|closed state/.test(why))
        event(`${svc.node} not looked at: ${why}`, { error: why });
      lastError = why;
    }
  };
  const tick = (): void => {
    ticking = round().finally(() => {
      if (!stopped) timer = setTimeout(tick, REAPER_INTERVAL_MS);
    });
  };
  timer = setTimeout(tick, REAPER_INTERVAL_MS);
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await ticking;
      if (conn) await closeConnection(conn);
      conn = undefined;
    },
  };
}
