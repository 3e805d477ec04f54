import fs from 'node:fs';
import mysql from 'mysql2/promise';
import type { Connection, ConnectionOptions, RowDataPacket } from 'mysql2/promise';
import type { Secrets, ServiceInstance, ServiceReach, Topology } from '../config/index.js';
import { substrateTraits } from '../config/index.js';
import { hostPort, withTimeout } from './common.js';
import type { ServiceContext } from '../registry/index.js';
import { mariadbPaths } from './mariadb-config.js';

/** Admin connections to a node: bounded opens, the admin and remote-admin accounts, small query helpers. */

// A healthy server on loopback answers in milliseconds; 5 s tolerates a 2-core machine busy with
// a test storm, and still reports a frozen (SIGSTOPped) server within a few seconds.
export const ADMIN_TIMEOUT_MS = 5000;
// end() sends COM_QUIT so the server does not log an aborted connection; a frozen server never
// answers, so after 1 s the socket is destroyed instead.
const CLOSE_TIMEOUT_MS = 1000;

/** Users hastack creates. The app and replication users get no global write privilege. */
export const DB_USERS = { app: 'hastack', repl: 'repl', admin: 'hastack_admin', edge: 'hastack_edge' } as const;

async function openConnection(opts: ConnectionOptions, timeoutMs: number, what: string): Promise<Connection> {
  const p = mysql.createConnection({ ...opts, connectTimeout: timeoutMs, multipleStatements: false });
  const conn = await withTimeout(p, timeoutMs, what, () => {
    // Connected after all, too late: close it rather than leak it.
    p.then((c) => c.destroy()).catch(() => undefined);
  });
  // A connection that dies between queries emits 'error'; unheard, that would crash the process.
  conn.on('error', () => undefined);
  return conn;
}

export async function closeConnection(conn: Connection): Promise<void> {
  try {
    await withTimeout(conn.end(), CLOSE_TIMEOUT_MS, 'closing a MariaDB connection');
  } catch {
    conn.destroy();
  }
}

function errno(e: unknown): number | undefined {
  const n = (e as { errno?: unknown }).errno;
  return typeof n === 'number' ? n : undefined;
}

// ER_ACCESS_DENIED_ERROR
const ACCESS_DENIED = 1045;

/** An error the server sent (it is up), as opposed to a socket error (ECONNREFUSED has errno -111). */
export function isServerError(e: unknown): boolean {
  const n = errno(e);
  return n !== undefined && n > 0 && typeof (e as { sqlState?: unknown }).sqlState === 'string';
}

/**
 * How this machine reaches the node's server for admin work: its unix socket, which no network
 * partition cuts, when the node's files are here (the supervisor, or the agent on the node's own
 * host); otherwise (the CLI or the crash plan on another machine than a host's) TCP as
 * hastack_admin, which works once the primary was wired.
 */
export function mariadbReach(topo: Topology, svc: ServiceInstance): ServiceReach {
  const { socket } = mariadbPaths(svc);
  if (substrateTraits(topo.config).nodesAreMachines && !fs.existsSync(socket)) return { via: 'tcp', host: svc.address, port: svc.port };
  return { via: 'socket', path: socket };
}

/**
 * A root connection over this node's unix socket (the caller closes it, see `closeConnection`).
 * Uses the cluster's root password, and falls back to the empty password that
 * mariadb-install-db leaves on a brand-new server until `afterHealthy` sets the real one.
 */
export async function adminConnection(ctx: ServiceContext, timeoutMs = ADMIN_TIMEOUT_MS): Promise<Connection> {
  const reach = mariadbReach(ctx.topo, ctx.svc);
  if (reach.via === 'tcp') {
    // Another machine's node (the CLI on an operator's machine, the crash plan): its socket is
    // there, not here.
    return openConnection(remoteAdminOptions(ctx.secrets, ctx.svc), timeoutMs, `mariadb ${ctx.svc.id} (${hostPort(ctx.svc.address, ctx.svc.port)})`);
  }
  const base: ConnectionOptions = { socketPath: reach.path, user: 'root' };
  const what = `mariadb ${ctx.svc.id} (socket ${reach.path})`;
  try {
    return await openConnection({ ...base, password: ctx.secrets.dbRootPassword }, timeoutMs, what);
  } catch (e) {
    if (errno(e) !== ACCESS_DENIED) throw e;
    try {
      return await openConnection({ ...base, password: '' }, timeoutMs, what);
    } catch {
      throw e;
    }
  }
}

/** Runs `fn` on a fresh connection, bounded by `timeoutMs` overall, and always closes it. */
async function withConnection<T>(open: () => Promise<Connection>, timeoutMs: number, what: string, fn: (c: Connection) => Promise<T>): Promise<T> {
  const conn = await open();
  let timedOut = false;
  try {
    return await withTimeout(fn(conn), timeoutMs, what, () => {
      timedOut = true;
    });
  } finally {
    if (timedOut) conn.destroy();
    else await closeConnection(conn);
  }
}

export function withAdmin<T>(ctx: ServiceContext, timeoutMs: number, fn: (c: Connection) => Promise<T>): Promise<T> {
  return withConnection(() => adminConnection(ctx, timeoutMs), timeoutMs, `mariadb ${ctx.svc.id}`, fn);
}

/** The controller's way into another node: TCP as hastack_admin (exists once the primary is wired). */
export function remoteAdminOptions(secrets: Secrets, svc: ServiceInstance): ConnectionOptions {
  return { host: svc.address, port: svc.port, user: DB_USERS.admin, password: secrets.dbRootPassword };
}

export function withRemoteAdmin<T>(secrets: Secrets, svc: ServiceInstance, timeoutMs: number, fn: (c: Connection) => Promise<T>): Promise<T> {
  const opts = remoteAdminOptions(secrets, svc);
  const what = `mariadb ${svc.id} (${hostPort(svc.address, svc.port)})`;
  return withConnection(() => openConnection(opts, timeoutMs, what), timeoutMs, what, fn);
}

export async function rows(c: Connection, sql: string, values: unknown[] = [], timeoutMs = ADMIN_TIMEOUT_MS): Promise<RowDataPacket[]> {
  const [r] = await c.query<RowDataPacket[]>({ sql, values, timeout: timeoutMs });
  return r;
}

export async function run(c: Connection, sql: string, values: unknown[] = [], timeoutMs = ADMIN_TIMEOUT_MS): Promise<void> {
  await c.query({ sql, values, timeout: timeoutMs });
}

export async function statusVars(c: Connection, like: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const r of await rows(c, 'SHOW GLOBAL STATUS LIKE ?', [like])) out[String(r['Variable_name'])] = String(r['Value']);
  return out;
}

/**
 * Runs `fn` as this server's own business: not binlogged (a replica's local GTID would break strict
 * mode) and, on a Galera node, not replicated either. There `sql_log_bin=0` alone still replicates
 * the write set and spends a GTID of the cluster's domain that this node's binlog never holds
 * (measured: a restored node's own account statements left 0-1-247..252 out of its binlog, which
 * the binlog archive streamed from, a hole no restore could cross).
 */
export async function localOnly<T>(c: Connection, fn: () => Promise<T>): Promise<T> {
  const [w] = await rows(c, 'SELECT @@global.wsrep_on AS w');
  const galera = Number(w?.['w']) === 1;
  await run(c, 'SET SESSION sql_log_bin=0');
  if (galera) await run(c, 'SET SESSION wsrep_on=OFF');
  try {
    return await fn();
  } finally {
    if (galera) await run(c, 'SET SESSION wsrep_on=ON');
    await run(c, 'SET SESSION sql_log_bin=1');
  }
}
