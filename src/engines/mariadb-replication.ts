import type { Connection } from 'mysql2/promise';
import { replicaDelayS, type ServiceInstance } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { hostPort } from './common.js';
import { databaseTlsOn, nodeTlsFiles, type NodeTlsFiles } from './tls.js';
import type { ServiceContext } from '../registry/index.js';
import { ADMIN_TIMEOUT_MS, DB_USERS, rows, run, statusVars, withAdmin } from './mariadb-admin.js';
import { logInstallStep, MASTER_HEARTBEAT_PERIOD_S, MAX_USER_CONNECTIONS, mariadbPaths, type DbRole } from './mariadb-config.js';
import { readDbState, recordDbRole, writeDbState } from './mariadb-state.js';

/** Replication reads and wiring: GTID position, read_only, SHOW SLAVE STATUS, semi-sync, CHANGE MASTER TO (with TLS). */

export interface GtidPosition {
  /** @@gtid_current_pos: the last transaction this node has, written here or replicated. */
  readonly currentPos: string;
  /** @@gtid_binlog_pos: the last transaction in this node's binlog. */
  readonly binlogPos: string;
  /** @@gtid_slave_pos: the last transaction the replication SQL thread applied. */
  readonly slavePos: string;
}

export async function readGtidPosition(ctx: ServiceContext, timeoutMs = ADMIN_TIMEOUT_MS): Promise<GtidPosition> {
  return withAdmin(ctx, timeoutMs, async (c) => {
    const [r] = await rows(c, 'SELECT @@gtid_current_pos AS cur, @@gtid_binlog_pos AS bin, @@gtid_slave_pos AS slave');
    return { currentPos: String(r?.['cur'] ?? ''), binlogPos: String(r?.['bin'] ?? ''), slavePos: String(r?.['slave'] ?? '') };
  });
}

export async function readReadOnly(ctx: ServiceContext, timeoutMs = ADMIN_TIMEOUT_MS): Promise<boolean> {
  return withAdmin(ctx, timeoutMs, async (c) => {
    const [r] = await rows(c, 'SELECT @@read_only AS ro');
    return Number(r?.['ro']) === 1;
  });
}

export type ThreadState = 'running' | 'connecting' | 'stopped';

/** SHOW SLAVE STATUS, parsed. `configured: false` when this node replicates from nobody. */
export interface DbReplicationStatus {
  readonly configured: boolean;
  readonly masterHost: string;
  readonly masterPort: number;
  readonly ioThread: ThreadState;
  readonly sqlThread: ThreadState;
  /** null while the IO thread is not connected (MariaDB's NULL), not "0 s behind". */
  readonly secondsBehindMaster: number | null;
  /** SQL_Delay: MASTER_DELAY in seconds (database.delayedReplica), 0 for a plain replica. */
  readonly sqlDelayS: number;
  /** Received from the primary (Gtid_IO_Pos). */
  readonly gtidIoPos: string;
  readonly lastIoErrno: number;
  readonly lastIoError: string;
  readonly lastSqlErrno: number;
  readonly lastSqlError: string;
  readonly sqlState: string;
  /** Master_SSL_Allowed: the replica connects to its primary over TLS. */
  readonly ssl: boolean;
}

function threadState(v: unknown): ThreadState {
  const s = String(v ?? '');
  if (s === 'Yes') return 'running';
  if (s === 'Connecting' || s === 'Preparing') return 'connecting';
  return 'stopped';
}

/** Parses one row of SHOW SLAVE STATUS (or its absence). Pure. */
export function parseSlaveStatus(row: Readonly<Record<string, unknown>> | undefined): DbReplicationStatus {
  const host = String(row?.['Master_Host'] ?? '');
  const sbm = row?.['Seconds_Behind_Master'];
  return {
    configured: host !== '',
    masterHost: host,
    masterPort: Number(row?.['Master_Port'] ?? 0),
    ioThread: threadState(row?.['Slave_IO_Running']),
    sqlThread: threadState(row?.['Slave_SQL_Running']),
    secondsBehindMaster: sbm === null || sbm === undefined || sbm === '' ? null : Number(sbm),
    sqlDelayS: Number(row?.['SQL_Delay'] ?? 0),
    gtidIoPos: String(row?.['Gtid_IO_Pos'] ?? ''),
    lastIoErrno: Number(row?.['Last_IO_Errno'] ?? 0),
    lastIoError: String(row?.['Last_IO_Error'] ?? ''),
    lastSqlErrno: Number(row?.['Last_SQL_Errno'] ?? 0),
    lastSqlError: String(row?.['Last_SQL_Error'] ?? ''),
    sqlState: String(row?.['Slave_SQL_Running_State'] ?? ''),
    ssl: String(row?.['Master_SSL_Allowed'] ?? '') === 'Yes',
  };
}

/** One line about a replica, for `hastack status`. Pure. */
export function describeReplication(s: DbReplicationStatus, gtidPos: string): string {
  if (!s.configured) return 'read-only, replicating from nobody (fenced, or waiting to be pointed at a primary)';
  const parts = [
    `${s.sqlDelayS > 0 ? `DELAYED replica (applies ${s.sqlDelayS} s late; never promoted, never read from)` : 'replica'} of ${hostPort(s.masterHost, s.masterPort)}`,
    `io ${s.ioThread}`,
    `sql ${s.sqlThread}`,
  ];
  parts.push(s.secondsBehindMaster === null ? 'lag unknown' : `${s.secondsBehindMaster} s behind`);
  parts.push(`gtid ${gtidPos || 'empty'}`);
  if (s.lastIoErrno !== 0) parts.push(`io error ${s.lastIoErrno}: ${s.lastIoError}`);
  if (s.lastSqlErrno !== 0) parts.push(`sql error ${s.lastSqlErrno}: ${s.lastSqlError}`);
  return parts.join(', ');
}

/** Primary if writable and replicating from nobody; anything else is treated as a replica. Pure. */
export function dbRoleOf(readOnly: boolean, s: DbReplicationStatus): DbRole {
  return !readOnly && !s.configured ? 'primary' : 'replica';
}

export async function slaveStatusOn(c: Connection): Promise<DbReplicationStatus> {
  return parseSlaveStatus((await rows(c, 'SHOW SLAVE STATUS'))[0]);
}

export async function replicationStatus(ctx: ServiceContext, timeoutMs = ADMIN_TIMEOUT_MS): Promise<DbReplicationStatus> {
  return withAdmin(ctx, timeoutMs, slaveStatusOn);
}

/** The primary side of semi-sync on one node. */
export interface SemiSyncStatus {
  /** @@rpl_semi_sync_master_enabled */
  readonly enabled: boolean;
  /** Rpl_semi_sync_master_status: commits currently wait for a replica's ack. */
  readonly active: boolean;
  /** Rpl_semi_sync_master_clients: replicas connected with semi-sync. */
  readonly clients: number;
  /** Commits acknowledged by a replica / acknowledged after a timeout without one. */
  readonly yesTx: number;
  readonly noTx: number;
  /** Rpl_semi_sync_slave_status: this node, as a replica, acknowledges to its primary. */
  readonly replicaActive: boolean;
}

export async function semiSyncOn(c: Connection): Promise<SemiSyncStatus> {
  const [v] = await rows(c, 'SELECT @@rpl_semi_sync_master_enabled AS en');
  const s = await statusVars(c, 'Rpl_semi_sync_%');
  return {
    enabled: Number(v?.['en']) === 1,
    active: s['Rpl_semi_sync_master_status'] === 'ON',
    clients: Number(s['Rpl_semi_sync_master_clients'] ?? 0),
    yesTx: Number(s['Rpl_semi_sync_master_yes_tx'] ?? 0),
    noTx: Number(s['Rpl_semi_sync_master_no_tx'] ?? 0),
    replicaActive: s['Rpl_semi_sync_slave_status'] === 'ON',
  };
}

export async function semiSyncStatus(ctx: ServiceContext, timeoutMs = ADMIN_TIMEOUT_MS): Promise<SemiSyncStatus> {
  return withAdmin(ctx, timeoutMs, semiSyncOn);
}

// ---------------------------------------------------------------------------------------------
// Admin writes

// ER_OPTION_PREVENTS_STATEMENT: a server started before my.cnf had max_user_connections.
const OPTION_PREVENTS_STATEMENT = 1290;

/**
 * Shuts every account without CONNECTION ADMIN out of this server (the app's, its endpoints',
 * the replicas' `repl`): new connections fail with ER_TOO_MANY_USER_CONNECTIONS (1203); open ones
 * stay until killed. The fence of a primary that lost its lease: the commits whose sessions it
 * kills while they wait for the semi-sync ACK are in its binlog and become visible here, never
 * on the new primary, so no client may read them and take them for acknowledged. Not persisted:
 * a restart opens the server again, read-only and replicating from nobody (no reader, no writer).
 * Returns false on a server started without max_user_connections in its my.cnf (it cannot).
 */
export async function closeToApp(c: Connection): Promise<boolean> {
  try {
    await run(c, 'SET GLOBAL max_user_connections = -1');
    return true;
  } catch (e) {
    if ((e as { errno?: unknown }).errno === OPTION_PREVENTS_STATEMENT) return false;
    throw e;
  }
}

/** Undoes `closeToApp`: a replica attached again, a promotion, a fence lifted. Idempotent. */
export async function openToApp(c: Connection): Promise<void> {
  const [r] = await rows(c, 'SELECT @@global.max_user_connections AS m');
  if (Number(r?.['m']) < 0) await run(c, 'SET GLOBAL max_user_connections = ?', [MAX_USER_CONNECTIONS]);
}

/**
 * Makes this node a read-only replica of `primary` (GTID, semi-sync acknowledging) and records the
 * role for its next start. Returns once the threads were started; `afterHealthy` and the failover
 * manager check that they run. A node that was itself a primary continues from its own last
 * transaction: strict GTID mode then refuses to connect (error 1236) if it has transactions the
 * new primary lacks, and such a node must be rebuilt from a backup.
 */
export async function setReplicaOf(ctx: ServiceContext, primary: ServiceInstance, timeoutMs = ADMIN_TIMEOUT_MS): Promise<void> {
  if (primary.kind !== 'mariadb' || primary.id === ctx.svc.id) {
    throw new HastackError(ErrorCode.BAD_REQUEST, `cannot make ${ctx.svc.id} a replica of ${primary.id}: pick another mariadb service`);
  }
  // Recorded first: if we crash half-way, the next start is read-only, the safe side.
  recordDbRole(ctx, 'replica');
  await withAdmin(ctx, timeoutMs, async (c) => {
    // Read-only before anything else, so no client write lands while the role changes.
    await run(c, 'SET GLOBAL read_only=1');
    await run(c, 'STOP SLAVE');
    const [g] = await rows(c, 'SELECT @@gtid_current_pos AS cur, @@gtid_slave_pos AS slave');
    const cur = String(g?.['cur'] ?? '');
    if (cur !== String(g?.['slave'] ?? '')) {
      // Its newest transactions were written here as primary and live only in its binlog; without
      // this it would ask the new primary for them again (slave_pos) and apply them twice.
      await run(c, 'SET GLOBAL gtid_slave_pos = ?', [cur]);
    }
    await changeMasterTo(c, ctx, primary);
    await run(c, 'START SLAVE');
    // A fenced old primary serves reads again once it replicates (the router still checks lag).
    await openToApp(c);
  });
}

async function changeMasterTo(c: Connection, ctx: ServiceContext, primary: ServiceInstance): Promise<void> {
  await run(
    c,
    // MASTER_CONNECT_RETRY=1: after the primary restarts, the replica is back within a second,
    // which is what lets semi-sync resume instead of stalling commits. MASTER_HEARTBEAT_PERIOD:
    // an idle primary still speaks every 0.5 s, so slave_net_timeout (2 s) means "silent", and a
    // silent primary shows on the replica's IO thread within 2 s (mariadb-config).
    // MASTER_DELAY: 0, or database.delayedReplica's delay on that node (it receives at once and
    // applies each transaction that many seconds after the primary committed it).
    'CHANGE MASTER TO MASTER_HOST=?, MASTER_PORT=?, MASTER_USER=?, MASTER_PASSWORD=?, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=?, MASTER_DELAY=?',
    [primary.address, primary.port, DB_USERS.repl, ctx.secrets.dbReplPassword, MASTER_HEARTBEAT_PERIOD_S, replicaDelayS(ctx.topo.config, ctx.svc.node)],
  );
  // The replica's files, named as they are on its machine (this may run on the controller's).
  if (databaseTlsOn(ctx.topo)) await run(c, ...masterSslClause(nodeTlsFiles(ctx.topo, ctx.svc.node)));
}

/**
 * database.tls: the replica's binlog stream over TLS, the primary's certificate checked against
 * the cluster's CA and its address (MASTER_SSL_VERIFY_SERVER_CERT: the certificate's SAN is the
 * node address, measured to pass here), and the replica's own certificate shown to the primary.
 */
function masterSslClause(tls: NodeTlsFiles): [string, unknown[]] {
  return ['CHANGE MASTER TO MASTER_SSL=1, MASTER_SSL_CA=?, MASTER_SSL_CERT=?, MASTER_SSL_KEY=?, MASTER_SSL_VERIFY_SERVER_CERT=1', [tls.ca, tls.cert, tls.key]];
}

/** A replica attached before database.tls was on: the same primary, now over TLS (position kept: GTID). */
export async function switchReplicaToTls(ctx: ServiceContext): Promise<void> {
  await withAdmin(ctx, ADMIN_TIMEOUT_MS, async (c) => {
    await run(c, 'STOP SLAVE');
    await run(c, ...masterSslClause(nodeTlsFiles(ctx.topo, ctx.svc.node)));
    await run(c, 'START SLAVE');
  });
}

/**
 * Points a replica provisioned from a backup (see `provisionFromBackup`) at `primary`, starting
 * after the backup's GTID `seedGtid`. Unlike setReplicaOf it sets gtid_slave_pos to the seed rather
 * than to the node's own position: its binlog is empty, and the mysql.gtid_slave_pos table copied
 * with the backup holds the source's older position, either of which would re-apply transactions
 * the datadir already has.
 */
export async function setReplicaFromSeed(ctx: ServiceContext, primary: ServiceInstance, seedGtid: string, timeoutMs = ADMIN_TIMEOUT_MS): Promise<void> {
  const paths = mariadbPaths(ctx.svc);
  logInstallStep(paths, `seed: gtid_slave_pos=${seedGtid}, CHANGE MASTER TO ${primary.id} (${hostPort(primary.address, primary.port)}) MASTER_USE_GTID=slave_pos`);
  recordDbRole(ctx, 'replica');
  await withAdmin(ctx, timeoutMs, async (c) => {
    await run(c, 'SET GLOBAL read_only=1');
    await run(c, 'STOP SLAVE');
    // A backup of a replica may carry its source's replication settings: start from none.
    await run(c, 'RESET SLAVE ALL');
    await run(c, 'SET GLOBAL gtid_slave_pos = ?', [seedGtid]);
    await changeMasterTo(c, ctx, primary);
    // Forget the seed before the SQL thread runs: from here on gtid_slave_pos is what the replica
    // applied, and a re-run (afterHealthy interrupted) must resume from it, not rewind to the seed.
    const prev = readDbState(ctx.svc);
    writeDbState(ctx.svc, { role: 'replica', wired: prev?.wired ?? false });
    await run(c, 'START SLAVE');
  });
}
