import mysql from 'mysql2/promise';
import type { Connection, ConnectionOptions, RowDataPacket } from 'mysql2/promise';
import type { Secrets, ServiceInstance } from '../config/index.js';
import { closeConnection, galeraHealth, remoteAdminOptions, statusVars } from '../engines/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import type { TableStats } from './backup-manifest.js';

/*
 * The few SQL exchanges backup and restore need. The cluster's nodes are reached over TCP as the
 * hastack admin account (the controller's account, see DB_USERS); the scratch server of a restore
 * over its own socket as root.
 */

// A server on loopback answers in milliseconds; 10 s is for the small admin queries.
const QUERY_TIMEOUT_MS = 10_000;
// COUNT(*) and CHECKSUM TABLE read a whole table: ~1 s per 100 MB here. 10 min bounds a table of
// tens of GB; on a replica held still this is also how far it may fall behind, so it is a ceiling,
// not an expectation.
const SCAN_TIMEOUT_MS = 10 * 60_000;

export async function connect(opts: ConnectionOptions, what: string): Promise<Connection> {
  try {
    const c = await mysql.createConnection({ ...opts, connectTimeout: 5000, multipleStatements: false });
    // A connection dying between queries emits 'error'; unheard, that would end the process.
    c.on('error', () => undefined);
    return c;
  } catch (e) {
    throw new HastackError(ErrorCode.DB_UNAVAILABLE, `cannot connect to ${what}: ${describeError(e)}`, { cause: e });
  }
}

export async function withDb<T>(opts: ConnectionOptions, what: string, fn: (c: Connection) => Promise<T>): Promise<T> {
  const c = await connect(opts, what);
  try {
    return await fn(c);
  } finally {
    await closeConnection(c);
  }
}

export async function query(c: Connection, sql: string, values: unknown[] = [], timeoutMs = QUERY_TIMEOUT_MS): Promise<RowDataPacket[]> {
  const [r] = await c.query<RowDataPacket[]>({ sql, values, timeout: timeoutMs });
  return r;
}

export interface DbNodeView {
  readonly svc: ServiceInstance;
  /** galera: a node of a Galera cluster (every node takes writes). */
  readonly role: 'primary' | 'replica' | 'galera';
  /** A replica whose IO and SQL threads both run, not delayed, or a synced Galera node: it holds (almost) everything the primary has. */
  readonly replicating: boolean;
}

/** Role of one node as it answers now (writable and replicating from nobody = primary). */
export async function viewNode(secrets: Secrets, svc: ServiceInstance): Promise<DbNodeView> {
  return withDb(remoteAdminOptions(secrets, svc), `mariadb ${svc.id}`, async (c) => {
    const [ro] = await query(c, 'SELECT @@read_only AS ro');
    const [s] = await query(c, 'SHOW SLAVE STATUS');
    const configured = String(s?.['Master_Host'] ?? '') !== '';
    const readOnly = Number(ro?.['ro']) === 1;
    return {
      svc,
      role: !readOnly && !configured ? 'primary' : 'replica',
      // A delayed replica (database.delayedReplica, SQL_Delay) holds the past on purpose: never a backup's source.
      replicating: configured && s?.['Slave_IO_Running'] === 'Yes' && s?.['Slave_SQL_Running'] === 'Yes' && Number(s['SQL_Delay'] ?? 0) === 0,
    };
  });
}

/** A Galera node as it answers: a synced member of the Primary component (it holds every write set so far), and the component's size. */
export async function galeraState(secrets: Secrets, svc: ServiceInstance): Promise<{ synced: boolean; size: number }> {
  return withDb(remoteAdminOptions(secrets, svc), `mariadb ${svc.id}`, async (c) => {
    const v = await statusVars(c, 'wsrep_%');
    const h = galeraHealth(v);
    return { synced: h.primary && h.synced, size: Number(v['wsrep_cluster_size'] ?? 0) };
  });
}

export const galeraSynced = async (secrets: Secrets, svc: ServiceInstance): Promise<boolean> => (await galeraState(secrets, svc)).synced;

/** Base tables of `db`, in name order. */
export async function tableNames(c: Connection, db: string): Promise<string[]> {
  const r = await query(c, "SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME", [db]);
  return r.map((x) => String(x['t']));
}

/** Row count and CHECKSUM TABLE of one table. */
export async function statsOf(c: Connection, db: string, name: string): Promise<TableStats> {
  const [cnt] = await query(c, 'SELECT COUNT(*) AS n FROM ??.??', [db, name], SCAN_TIMEOUT_MS);
  const [sum] = await query(c, 'CHECKSUM TABLE ??.??', [db, name], SCAN_TIMEOUT_MS);
  const checksum = sum?.['Checksum'];
  return { name, rows: Number(cnt?.['n'] ?? 0), checksum: checksum === null || checksum === undefined ? null : String(checksum) };
}

/** Base tables of `db` with row counts and CHECKSUM TABLE, in name order. */
export async function tableStats(c: Connection, db: string): Promise<TableStats[]> {
  const out: TableStats[] = [];
  for (const name of await tableNames(c, db)) out.push(await statsOf(c, db, name));
  return out;
}
