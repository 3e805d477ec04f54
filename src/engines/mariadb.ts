import fs from 'node:fs';
import path from 'node:path';
import mysql from 'mysql2/promise';
import type { Connection, ConnectionOptions, RowDataPacket } from 'mysql2/promise';
import type { Secrets, ServiceInstance, Topology } from '../config/index.js';
import { servicesOf } from '../config/index.js';
import { EngineStartError, ErrorCode, HastackError, StateCorruptError, describeError } from '../shared/errors.js';
import { waitFor } from '../shared/retry.js';
import { readJsonState, tailFile } from '../shared/files.js';
import { appendLog } from '../shared/logfile.js';
import { checkSocketPath, hostPort, runToCompletion, withTimeout, writeFileAtomic } from './common.js';
import { databaseTlsOn, nodeTlsFiles, requireNodeTls, type NodeTlsFiles } from './tls.js';
import type { ProbeResult, ProcessSpec, ServiceContext, ServiceDriver } from './types.js';
import { SEED_CNF, copyLiveDatadir } from './mariadb-provision.js';
import { chooseSeedSource, isEmptyGtidList, shouldSeedFromBackup, type PrimaryBinlogFacts, type SeedCandidate } from './mariadb-seed.js';

/*
 * MariaDB in `replication` mode: one writable primary, read-only replicas, GTID, semi-sync
 * AFTER_SYNC. Which node is primary is not the topology's business after the first start: each
 * node keeps its role in `<svc.dir>/hastack-db.json`, and my.cnf (rendered on every start) follows
 * that file. So a restarted node comes back in the role it last had, and whoever changes roles (the
 * failover manager, `setReplicaOf`) records the change with `recordDbRole`.
 */

// ---------------------------------------------------------------------------------------------
// Files

export interface MariadbPaths {
  readonly conf: string;
  readonly dataDir: string;
  readonly socket: string;
  readonly pidFile: string;
  readonly tmpDir: string;
  readonly errorLog: string;
  readonly installLog: string;
  readonly stateFile: string;
}

export function mariadbPaths(svc: ServiceInstance): MariadbPaths {
  return {
    conf: path.join(svc.dir, 'my.cnf'),
    dataDir: path.join(svc.dir, 'data'),
    socket: path.join(svc.dir, 'mysqld.sock'),
    pidFile: path.join(svc.dir, 'mysqld.pid'),
    tmpDir: path.join(svc.dir, 'tmp'),
    errorLog: path.join(svc.dir, 'mariadb.err'),
    installLog: path.join(svc.dir, 'install-db.log'),
    stateFile: path.join(svc.dir, 'hastack-db.json'),
  };
}

/**
 * server_id from the node's position in the config (1-based): unique in the cluster and stable as
 * long as nodes are appended to hastack.yaml rather than reordered. Replication needs it unique;
 * GTIDs carry it, which is how `0-1-42` tells that db1 wrote transaction 42.
 */
export function serverIdOf(topo: Topology, node: string): number {
  const i = topo.nodes.findIndex((n) => n.name === node);
  if (i < 0) throw new HastackError(ErrorCode.INTERNAL, `node ${node} is not in the topology`);
  return i + 1;
}

export interface MyCnfParams {
  readonly id: string;
  readonly asRoot: boolean;
  readonly paths: MariadbPaths;
  readonly address: string;
  readonly port: number;
  readonly serverId: number;
  readonly bufferPoolMb: number;
  readonly role: DbRole;
  /** config.database.semiSync */
  readonly semiSync: boolean;
  /** Turn the primary side of semi-sync on at boot (see `semiSyncAtBoot`). */
  readonly semiSyncMasterAtBoot: boolean;
  readonly semiSyncTimeoutMs: number;
  /** database.tls: the server's certificate and the cluster CA (replicas connect over TLS). */
  readonly tls?: NodeTlsFiles;
}

/** The `[mysqld]` lines every hastack MariaDB server has, replication or Galera. */
export function serverBaseLines(p: { readonly asRoot: boolean; readonly paths: MariadbPaths; readonly address: string; readonly port: number }): string[] {
  const { paths } = p;
  return [
    '[mysqld]',
    // mariadbd refuses to run as root unless told to (ENGINE-NOTES).
    ...(p.asRoot ? ['user=root'] : []),
    `datadir=${paths.dataDir}`,
    // Every instance its own socket, pid file and tmpdir: several servers share this machine.
    `socket=${paths.socket}`,
    `pid-file=${paths.pidFile}`,
    `tmpdir=${paths.tmpDir}`,
    `log-error=${paths.errorLog}`,
    `bind-address=${p.address}`,
    `port=${p.port}`,
    // Grants use addresses; no resolver in the connection path (and no DNS stall on connect).
    'skip-name-resolve',
    'character-set-server=utf8mb4',
    'collation-server=utf8mb4_unicode_ci',
  ];
}

/**
 * database.tls: the server offers TLS with its node certificate; the cluster CA checks a client's
 * (a replica's) certificate. Clients may still connect in clear (the app on its own network);
 * what must be encrypted says so itself (REQUIRE X509, [sst] ssl-mode).
 */
export function serverTlsLines(tls: NodeTlsFiles | undefined): string[] {
  if (!tls) return [];
  return ['', '# TLS (database.tls, certificates of the cluster CA made by hastack)', `ssl_ca=${tls.ca}`, `ssl_cert=${tls.cert}`, `ssl_key=${tls.key}`];
}

/** Memory and disk settings of every hastack MariaDB server: many servers share one machine. */
export function memoryLines(bufferPoolMb: number): string[] {
  return [
    '# Memory and disk: many servers share this machine',
    `innodb_buffer_pool_size=${bufferPoolMb}M`,
    // 16 MB redo (default 96 MB): small test and demo datasets; raise for heavy write loads.
    'innodb_log_file_size=16M',
    // The system tables are Aria/MyISAM and tiny; the 128 MB defaults are address space for nothing.
    'aria_pagecache_buffer_size=8M',
    'key_buffer_size=8M',
    'performance_schema=OFF',
  ];
}

/** my.cnf for one node. Pure; rendered on every start (the file is ours, nothing rewrites it). */
export function renderMyCnf(p: MyCnfParams): string {
  const { paths } = p;
  const lines = [
    `# Rendered by hastack on every start of ${p.id}; edits here are overwritten.`,
    `# Role at this start: ${p.role} (from ${path.basename(paths.stateFile)}).`,
    ...serverBaseLines(p),
    '',
    '# Replication: GTID, row-based, every node binlogs (so any replica can become primary)',
    `server_id=${p.serverId}`,
    // Connections between nodes leave from 127.0.0.1 on loopback; report our own address instead
    // so SHOW SLAVE HOSTS on the primary names the replica's node.
    `report_host=${p.address}`,
    `report_port=${p.port}`,
    'log_bin=mysql-bin',
    'log_bin_index=mysql-bin.index',
    'relay_log=relay-bin',
    'relay_log_index=relay-bin.index',
    'binlog_format=ROW',
    'log_slave_updates=1',
    // Strict mode turns a diverged replica into an error instead of silently different data.
    'gtid_strict_mode=1',
    'gtid_domain_id=0',
    // Rotate at 64 MB and keep 3 days: enough for a replica down over a weekend to catch up by GTID;
    // beyond that it is rebuilt from a backup.
    'max_binlog_size=64M',
    'binlog_expire_logs_seconds=259200',
    // Heartbeats every slave_net_timeout/2 = 2.5 s: a replica notices a frozen primary in 5 s
    // instead of the default 60 s, and reconnects at once (MASTER_CONNECT_RETRY=1).
    'slave_net_timeout=5',
    // Only the primary takes writes. Users with ALL ON *.* or SUPER ignore this (ENGINE-NOTES), which
    // is why the app user has privileges on its database only.
    `read_only=${p.role === 'primary' ? 0 : 1}`,
    '',
    '# Durability: a commit is on disk (redo log and binlog) before it is acknowledged',
    'innodb_flush_log_at_trx_commit=1',
    'sync_binlog=1',
  ];
  if (p.semiSync) {
    lines.push(
      '',
      '# Semi-sync AFTER_SYNC: the primary acknowledges a commit only once a replica has it.',
      'rpl_semi_sync_master_wait_point=AFTER_SYNC',
      `rpl_semi_sync_master_timeout=${p.semiSyncTimeoutMs}`,
      // Off at the very first boot: on with no replica attached yet, the primary stalls every
      // commit for the timeout and then silently falls back to async (ENGINE-NOTES). It is turned
      // on at runtime once a replica is attached, and at boot from then on.
      `rpl_semi_sync_master_enabled=${p.semiSyncMasterAtBoot ? 1 : 0}`,
      // On every node, primary included: a primary demoted later must acknowledge as a replica.
      'rpl_semi_sync_slave_enabled=1',
    );
  }
  lines.push(
    '',
    ...memoryLines(p.bufferPoolMb),
    ...serverTlsLines(p.tls),
    '',
    '[client]',
    // `mariadb --defaults-file=<this file> -uroot -p` reaches this server; there is no default socket.
    `socket=${paths.socket}`,
    '',
  );
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Role state

export type DbRole = 'primary' | 'replica';

/** What `<svc.dir>/hastack-db.json` holds. */
export interface DbNodeState {
  readonly role: DbRole;
  /** True once `afterHealthy` completed on this node: no longer its very first boot. */
  readonly wired: boolean;
  /**
   * Set when the datadir was provisioned from a mariabackup of a live node: the backup's GTID, which
   * afterHealthy makes this replica's gtid_slave_pos before pointing it at the primary. Cleared once
   * that CHANGE MASTER is done, so a re-run never rewinds a replica that has applied more since.
   */
  readonly seedGtid?: string;
}

const DB_STATE_FIX =
  'It says whether this node restarts writable, and hastack will not guess (a fenced old primary must not come back as a second primary). ' +
  'Find the primary ("hastack status"); write {"role":"replica","wired":true} into this file if this node is not it ({"role":"primary","wired":true} if it is), then start it again';

/**
 * The node's recorded state, strictly: undefined only when the file does not exist; a
 * StateCorruptError when it exists but does not parse or names no role. Starting a node reads
 * this one.
 */
export function readDbStateStrict(svc: ServiceInstance): DbNodeState | undefined {
  const v = readJsonState<Partial<DbNodeState>>(
    mariadbPaths(svc).stateFile,
    (x) => {
      const r = (x as Partial<DbNodeState> | null)?.role;
      return r === 'primary' || r === 'replica' ? undefined : `no valid role (${JSON.stringify(r)})`;
    },
    DB_STATE_FIX,
  );
  if (!v) return undefined;
  return { role: v.role as DbRole, wired: v.wired === true, ...(typeof v.seedGtid === 'string' ? { seedGtid: v.seedGtid } : {}) };
}

/** The recorded state for reports and orderings: undefined when missing or unreadable. Never decides a start. */
export function readDbState(svc: ServiceInstance): DbNodeState | undefined {
  try {
    return readDbStateStrict(svc);
  } catch {
    return undefined;
  }
}

function writeDbState(svc: ServiceInstance, s: DbNodeState): void {
  fs.mkdirSync(svc.dir, { recursive: true, mode: 0o700 });
  writeFileAtomic(mariadbPaths(svc).stateFile, JSON.stringify({ ...s, updatedAt: new Date().toISOString() }, null, 2) + '\n');
}

/**
 * Records the role this node must have at its next start (read_only, semi-sync). Works while the
 * server is down: to fence a dead old primary before promoting another node, record 'replica' on
 * it first, so that a restart does not bring back a second writable primary.
 */
export function recordDbRole(ctx: ServiceContext, role: DbRole): void {
  const prev = readDbState(ctx.svc);
  // An unreadable previous state must not stop a fence: a node with a datadir has been wired.
  const wired = prev?.wired ?? fs.existsSync(mariadbPaths(ctx.svc).dataDir);
  writeDbState(ctx.svc, { role, wired, ...(prev?.seedGtid !== undefined ? { seedGtid: prev.seedGtid } : {}) });
}

/**
 * Semi-sync on at boot only on a primary that has been wired before and has replicas in the
 * topology: its replicas reconnect within about a second (MASTER_CONNECT_RETRY=1), and until then
 * a commit waits for them rather than being acknowledged with no copy elsewhere. At the very first
 * boot (no replica yet) it stays off, and with no replica in the topology at all it would only stall.
 */
export function semiSyncAtBoot(topo: Topology, state: DbNodeState): boolean {
  return topo.config.database.semiSync && state.role === 'primary' && state.wired && servicesOf(topo, 'mariadb').length > 1;
}

// ---------------------------------------------------------------------------------------------
// Connections and queries

// A healthy server on loopback answers in milliseconds; 5 s tolerates a 2-core machine busy with
// a test storm, and still reports a frozen (SIGSTOPped) server within a few seconds.
export const ADMIN_TIMEOUT_MS = 5000;
// end() sends COM_QUIT so the server does not log an aborted connection; a frozen server never
// answers, so after 1 s the socket is destroyed instead.
const CLOSE_TIMEOUT_MS = 1000;

/** Users hastack creates. The app and replication users get no global write privilege. */
export const DB_USERS = { app: 'hastack', repl: 'repl', admin: 'hastack_admin' } as const;

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
function isServerError(e: unknown): boolean {
  const n = errno(e);
  return n !== undefined && n > 0 && typeof (e as { sqlState?: unknown }).sqlState === 'string';
}

/**
 * A root connection over this node's unix socket (the caller closes it, see `closeConnection`).
 * Uses the cluster's root password, and falls back to the empty password that
 * mariadb-install-db leaves on a brand-new server until `afterHealthy` sets the real one.
 */
export async function adminConnection(ctx: ServiceContext, timeoutMs = ADMIN_TIMEOUT_MS): Promise<Connection> {
  const { socket } = mariadbPaths(ctx.svc);
  if (ctx.topo.config.substrate === 'hosts' && !fs.existsSync(socket)) {
    // Another machine's node (the CLI on an operator's machine, the crash plan): its socket is
    // there, not here; TCP as hastack_admin reaches it once the primary was wired.
    return openConnection(remoteAdminOptions(ctx.secrets, ctx.svc), timeoutMs, `mariadb ${ctx.svc.id} (${hostPort(ctx.svc.address, ctx.svc.port)})`);
  }
  const base: ConnectionOptions = { socketPath: socket, user: 'root' };
  const what = `mariadb ${ctx.svc.id} (socket ${socket})`;
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

async function run(c: Connection, sql: string, values: unknown[] = [], timeoutMs = ADMIN_TIMEOUT_MS): Promise<void> {
  await c.query({ sql, values, timeout: timeoutMs });
}

export async function statusVars(c: Connection, like: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const r of await rows(c, 'SHOW GLOBAL STATUS LIKE ?', [like])) out[String(r['Variable_name'])] = String(r['Value']);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Admin reads

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
  const parts = [`replica of ${hostPort(s.masterHost, s.masterPort)}`, `io ${s.ioThread}`, `sql ${s.sqlThread}`];
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

async function slaveStatusOn(c: Connection): Promise<DbReplicationStatus> {
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

async function semiSyncOn(c: Connection): Promise<SemiSyncStatus> {
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
  });
}

async function changeMasterTo(c: Connection, ctx: ServiceContext, primary: ServiceInstance): Promise<void> {
  await run(
    c,
    // MASTER_CONNECT_RETRY=1: after the primary restarts, the replica is back within a second,
    // which is what lets semi-sync resume instead of stalling commits.
    'CHANGE MASTER TO MASTER_HOST=?, MASTER_PORT=?, MASTER_USER=?, MASTER_PASSWORD=?, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1',
    [primary.address, primary.port, DB_USERS.repl, ctx.secrets.dbReplPassword],
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
async function switchReplicaToTls(ctx: ServiceContext): Promise<void> {
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
async function setReplicaFromSeed(ctx: ServiceContext, primary: ServiceInstance, seedGtid: string, timeoutMs = ADMIN_TIMEOUT_MS): Promise<void> {
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

// ---------------------------------------------------------------------------------------------
// Bootstrap (afterHealthy)

/** An account host the server matches under skip-name-resolve: localhost, an address or a pattern of one. Pure. */
export function isAddressHost(host: string): boolean {
  return host === 'localhost' || host.includes(':') || /^[\d.%_/]+$/.test(host);
}

/** Root on every usable host entry gets the cluster password; the rest go. Never binlogged. */
export async function secureLocalAccounts(c: Connection, rootPassword: string): Promise<void> {
  // Per node: replicating these would put a local GTID on a replica and break strict mode.
  await run(c, 'SET SESSION sql_log_bin=0');
  try {
    for (const r of await rows(c, "SELECT User AS u, Host AS h FROM mysql.user WHERE User IN ('root', '')")) {
      const user = String(r['u']);
      const host = String(r['h']);
      // root@127.0.0.1 matters: on loopback every local TCP client arrives from 127.0.0.1.
      if (user === 'root' && isAddressHost(host)) await run(c, 'ALTER USER ?@? IDENTIFIED BY ?', [user, host, rootPassword]);
      // Anonymous users, and root@<machine name> that mariadb-install-db adds: with
      // skip-name-resolve the server ignores name entries, and ALTER USER on one fails (ER_CANNOT_USER).
      else await run(c, 'DROP USER ?@?', [user, host]);
    }
  } finally {
    await run(c, 'SET SESSION sql_log_bin=1');
  }
}

async function hasGlobalPrivilege(c: Connection, user: string, privilege: string, host = '%'): Promise<boolean> {
  const r = await rows(c, 'SELECT 1 FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ? AND PRIVILEGE_TYPE = ?', [`'${user}'@'${host}'`, privilege]);
  return r.length > 0;
}

async function ensureUser(c: Connection, user: string, password: string, writeMs: number, requireX509 = false, host = '%'): Promise<void> {
  const r = await rows(c, 'SELECT 1 FROM mysql.user WHERE User = ? AND Host = ?', [user, host]);
  if (r.length === 0) await run(c, `CREATE USER ?@? IDENTIFIED BY ?${requireX509 ? ' REQUIRE X509' : ''}`, [user, host, password], writeMs);
}

/**
 * The host parts of the database admin account: the cluster's nodes, this machine's loopback (on
 * the local substrate every client arrives from 127.0.0.1), the netns bridge's host side (the
 * supervisor and the CLI), and `database.adminFrom`. Never `%`: the admin password alone must not
 * open the database to the network. Pure.
 */
export function adminHosts(topo: Topology): string[] {
  const hosts = new Set<string>(['localhost', '127.0.0.1', '::1']);
  for (const n of topo.nodes) hosts.add(n.address);
  if (topo.config.substrate === 'netns') hosts.add(`${topo.config.netns.addressBase}.254`);
  for (const a of topo.config.database.adminFrom) hosts.add(a);
  return [...hosts];
}

/** Every host entry of the admin account (for a password change: all of them at once). */
export async function adminAccountHosts(c: Connection): Promise<string[]> {
  return (await rows(c, 'SELECT Host AS h FROM mysql.user WHERE User = ?', [DB_USERS.admin])).map((r) => String(r['h']));
}

/**
 * Creates the database and users on the primary. Binlogged, so the replicas get them too. Writes
 * only what is missing: at a later `up` the primary boots with semi-sync on before its replicas
 * start, and any write there would wait the semi-sync timeout.
 */
export async function bootstrapPrimary(c: Connection, topo: Topology, secrets: Secrets): Promise<void> {
  const db = topo.config.database.name;
  // A binlogged write may wait up to the semi-sync timeout for a replica that is not up yet.
  const writeMs = topo.config.database.semiSyncTimeoutMs + ADMIN_TIMEOUT_MS;
  const write = (sql: string, values: unknown[]): Promise<void> => run(c, sql, values, writeMs);
  const schema = await rows(c, 'SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [db]);
  if (schema.length === 0) await write('CREATE DATABASE IF NOT EXISTS ?? CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci', [db]);

  // The app user: everything on its database, nothing global, so read_only applies to it.
  await ensureUser(c, DB_USERS.app, secrets.dbAppPassword, writeMs);
  const appGrant = await rows(
    c,
    "SELECT 1 FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ? AND TABLE_SCHEMA = ? AND PRIVILEGE_TYPE = 'INSERT'",
    [`'${DB_USERS.app}'@'%'`, db],
  );
  if (appGrant.length === 0) await write("GRANT ALL PRIVILEGES ON ??.* TO ?@'%'", [db, DB_USERS.app]);
  // SLAVE MONITOR (SHOW SLAVE STATUS) lets the app's db router skip a replica whose replication
  // stopped. It only reads status: it neither bypasses read_only (that takes SUPER or READ_ONLY
  // ADMIN) nor administers anything.
  if (!(await hasGlobalPrivilege(c, DB_USERS.app, 'SLAVE MONITOR'))) await write("GRANT SLAVE MONITOR ON *.* TO ?@'%'", [DB_USERS.app]);

  // Replication: read the binlog (REPLICATION SLAVE) and see positions (REPLICATION CLIENT, called
  // BINLOG MONITOR since 10.5). Semi-sync needs nothing more: the replica asks for it on connect.
  // database.tls: a replica must show a certificate of the cluster's CA (REQUIRE X509), set when
  // the user is made. Never added to an existing user: replicas attached without TLS would be
  // refused on their next reconnect, before their own restart moves them to TLS.
  await ensureUser(c, DB_USERS.repl, secrets.dbReplPassword, writeMs, databaseTlsOn(topo));
  if (!(await hasGlobalPrivilege(c, DB_USERS.repl, 'REPLICATION SLAVE'))) {
    await write("GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO ?@'%'", [DB_USERS.repl]);
  }

  // The controller's TCP account (root is socket-only per node): failover, status, backups. One
  // entry per address it may come from (adminHosts), none for the rest of the network; entries
  // no longer wanted (a node gone, the '%' of older releases) go.
  const wanted = adminHosts(topo);
  for (const host of wanted) {
    await ensureUser(c, DB_USERS.admin, secrets.dbRootPassword, writeMs, false, host);
    if (!(await hasGlobalPrivilege(c, DB_USERS.admin, 'SUPER', host))) await write('GRANT ALL PRIVILEGES ON *.* TO ?@? WITH GRANT OPTION', [DB_USERS.admin, host]);
  }
  for (const host of await adminAccountHosts(c)) if (!wanted.includes(host)) await write('DROP USER ?@?', [DB_USERS.admin, host]);
}

// Probing the other nodes when deciding a new node's role: a live server answers in ms on loopback.
const PEER_TIMEOUT_MS = 1500;

interface PeerView {
  readonly svc: ServiceInstance;
  readonly role: DbRole;
  /** IO and SQL threads both running. */
  readonly replicating: boolean;
}

/** The other mariadb services that answer (over TCP as hastack_admin), with their roles. */
async function peerViews(ctx: ServiceContext): Promise<PeerView[]> {
  const peers = servicesOf(ctx.topo, 'mariadb').filter((s) => s.id !== ctx.svc.id);
  const answers = await Promise.all(
    peers.map((s) =>
      withRemoteAdmin(ctx.secrets, s, PEER_TIMEOUT_MS, async (c): Promise<PeerView> => {
        const [r] = await rows(c, 'SELECT @@read_only AS ro');
        const slave = await slaveStatusOn(c);
        return { svc: s, role: dbRoleOf(Number(r?.['ro']) === 1, slave), replicating: slave.ioThread === 'running' && slave.sqlThread === 'running' };
      }).catch(() => undefined),
    ),
  );
  return answers.filter((v): v is PeerView => v !== undefined);
}

/** The other mariadb services that answer as writable primaries. */
async function writablePeers(ctx: ServiceContext): Promise<ServiceInstance[]> {
  return (await peerViews(ctx)).filter((v) => v.role === 'primary').map((v) => v.svc);
}

/** The single writable primary a replica attaches to, or an error saying what to do. */
async function theWritablePrimary(ctx: ServiceContext): Promise<ServiceInstance> {
  const primaries = await writablePeers(ctx);
  if (primaries.length !== 1) {
    const names = primaries.map((p) => p.id).join(', ');
    throw new HastackError(
      ErrorCode.SETUP_FAILED,
      primaries.length === 0
        ? `${ctx.svc.id} is a replica but no writable primary answers among the other mariadb nodes; start the primary first (its afterHealthy creates the ${DB_USERS.admin} account this needs)`
        : `${ctx.svc.id} found several writable primaries (${names}); fence all but one (read_only=1) before starting replicas`,
    );
  }
  return primaries[0] as ServiceInstance;
}

/**
 * The role of a node that has no state file yet (its first start): the topology's initial primary,
 * unless another node already answers as a writable primary (a node re-created after a failover
 * must not come up as a second primary).
 */
async function initialRole(ctx: ServiceContext): Promise<DbRole> {
  if (ctx.svc.node !== ctx.topo.initialDbPrimary) return 'replica';
  if ((await writablePeers(ctx)).length > 0) return 'replica';
  // Primary only with proof that no other node is or was one: a peer that has run before (its
  // state file is on this machine) but does not answer as primary may be the primary, down or
  // behind a partition. Then this node's missing state is for a human, not a default.
  const ran = servicesOf(ctx.topo, 'mariadb').filter((s) => s.id !== ctx.svc.id && fs.existsSync(mariadbPaths(s).stateFile));
  if (ran.length > 0) {
    throw new StateCorruptError(
      mariadbPaths(ctx.svc).stateFile,
      `missing, while ${ran.map((s) => s.id).join(', ')} ran before and none answers as a writable primary`,
      DB_STATE_FIX,
    );
  }
  return 'primary';
}

// A replica on loopback connects and catches up with a bootstrap-sized binlog in about a second;
// 30 s bounds catching up on a larger backlog without hanging `up`.
const REPLICA_START_TIMEOUT_MS = 30_000;
// The semi-sync handshake happens when the IO thread connects: seen within a few hundred ms.
const SEMI_SYNC_TIMEOUT_MS = 5000;

function replicationErrorHint(errnoValue: number): string {
  // 1236: the primary's binlog lacks what the replica asks for (purged, or the replica diverged).
  if (errnoValue === 1236) {
    return (
      'the primary no longer has the transactions this replica needs, or this node has transactions the primary lacks; rebuild it: ' +
      'stop it, move its datadir aside and start it again (with the primary\'s binlogs purged it is then provisioned from a mariabackup of a live node)'
    );
  }
  if (errnoValue === 1045) return 'the replication user was refused; check that the primary was wired (its afterHealthy ran) with the same secrets.json';
  return 'read the error above and the mariadb.err of both nodes';
}

async function waitReplicaRunning(ctx: ServiceContext): Promise<DbReplicationStatus> {
  let last: DbReplicationStatus | undefined;
  const ok = await waitFor(
    async () => {
      const s = await replicationStatus(ctx);
      last = s;
      if (s.ioThread === 'running' && s.sqlThread === 'running') return s;
      // A stopped thread with an error will not recover by waiting.
      if (s.ioThread === 'stopped' && s.lastIoErrno !== 0) return s;
      if (s.sqlThread === 'stopped' && s.lastSqlErrno !== 0) return s;
      return undefined;
    },
    // 200 ms: the IO thread connects within a few hundred ms on loopback.
    { timeoutMs: REPLICA_START_TIMEOUT_MS, intervalMs: 200 },
  );
  const s = ok ?? last;
  if (!s || s.ioThread !== 'running' || s.sqlThread !== 'running') {
    const err = s?.lastSqlErrno ? s.lastSqlErrno : s?.lastIoErrno ?? 0;
    throw new HastackError(
      ErrorCode.SETUP_FAILED,
      `${ctx.svc.id} does not replicate: ${s ? describeReplication(s, '') : 'no status'}; ${replicationErrorHint(err)}`,
      { details: { node: ctx.svc.node } },
    );
  }
  return s;
}

function primaryServiceAt(topo: Topology, host: string, port: number): ServiceInstance | undefined {
  return servicesOf(topo, 'mariadb').find((s) => s.address === host && s.port === port);
}

/**
 * Turns semi-sync on at the primary once this replica is attached, and checks that it took:
 * enabled before a replica is attached, the primary stalls then silently falls back (ENGINE-NOTES).
 */
async function enableSemiSync(ctx: ServiceContext, primary: ServiceInstance): Promise<SemiSyncStatus> {
  await withRemoteAdmin(ctx.secrets, primary, ADMIN_TIMEOUT_MS, (c) => run(c, 'SET GLOBAL rpl_semi_sync_master_enabled=1'));
  const check = async (): Promise<SemiSyncStatus | undefined> => {
    const m = await withRemoteAdmin(ctx.secrets, primary, ADMIN_TIMEOUT_MS, semiSyncOn);
    const mine = await semiSyncStatus(ctx);
    return m.active && m.clients >= 1 && mine.replicaActive ? m : undefined;
  };
  // 100 ms polls: the handshake is immediate when the IO thread is already connected.
  let ok = await waitFor(check, { timeoutMs: SEMI_SYNC_TIMEOUT_MS / 2, intervalMs: 100 });
  if (!ok) {
    // The replica only asks for semi-sync when its IO thread connects: reconnect it once.
    await withAdmin(ctx, ADMIN_TIMEOUT_MS, async (c) => {
      await run(c, 'STOP SLAVE IO_THREAD');
      await run(c, 'START SLAVE IO_THREAD');
    });
    ok = await waitFor(check, { timeoutMs: SEMI_SYNC_TIMEOUT_MS, intervalMs: 100 });
  }
  if (!ok) {
    throw new HastackError(
      ErrorCode.SETUP_FAILED,
      `semi-sync did not turn on between primary ${primary.id} and replica ${ctx.svc.id}: commits would be acknowledged with no copy on a replica; ` +
        `check rpl_semi_sync_* in both my.cnf files and their mariadb.err, or set database.semiSync: false to run asynchronously`,
    );
  }
  return ok;
}

/** True when the server at `svc` answers at all (a MySQL error is an answer; a refused connection is not). */
async function serverAnswers(secrets: Secrets, svc: ServiceInstance): Promise<boolean> {
  try {
    await withRemoteAdmin(secrets, svc, PEER_TIMEOUT_MS, (c) => run(c, 'SELECT 1'));
    return true;
  } catch (e) {
    return isServerError(e);
  }
}

/**
 * Wires a replica: points it at the writable primary if it replicates from nobody, waits until both
 * threads run, then turns semi-sync on at the primary. A replica already configured for a primary
 * that is not running (a later `up` after a failover, where the topology's initial primary, now a
 * replica, starts first) is left to reconnect by itself (MASTER_CONNECT_RETRY=1): the primary turns
 * semi-sync on at its own boot, and waiting here would block `up` before the primary starts.
 */
async function attachReplica(ctx: ServiceContext): Promise<void> {
  let status = await replicationStatus(ctx);
  const seedGtid = readDbState(ctx.svc)?.seedGtid;
  if (seedGtid !== undefined) {
    await setReplicaFromSeed(ctx, await theWritablePrimary(ctx), seedGtid);
  } else if (!status.configured) {
    await setReplicaOf(ctx, await theWritablePrimary(ctx));
  } else {
    const configured = primaryServiceAt(ctx.topo, status.masterHost, status.masterPort);
    if (!configured) {
      throw new HastackError(
        ErrorCode.SETUP_FAILED,
        `${ctx.svc.id} replicates from ${hostPort(status.masterHost, status.masterPort)}, which is no mariadb service of this cluster; point it at one with setReplicaOf`,
      );
    }
    if (!(await serverAnswers(ctx.secrets, configured))) return;
    if (databaseTlsOn(ctx.topo) && !status.ssl) {
      await switchReplicaToTls(ctx);
    } else if (status.ioThread === 'stopped' && status.sqlThread === 'stopped' && status.lastIoErrno === 0 && status.lastSqlErrno === 0) {
      // Configured but stopped without an error (someone ran STOP SLAVE): resume.
      await withAdmin(ctx, ADMIN_TIMEOUT_MS, (c) => run(c, 'START SLAVE'));
    }
  }
  status = await waitReplicaRunning(ctx);
  if (!ctx.topo.config.database.semiSync) return;
  const primary = primaryServiceAt(ctx.topo, status.masterHost, status.masterPort);
  if (primary) await enableSemiSync(ctx, primary);
}

/**
 * The mariadb services in the order `up` should start them: the node whose state file records
 * it as primary first (after a failover that is no longer the topology's initial primary), then
 * the others in topology order. Reads the state files, so it is meant for the local substrate.
 */
export function mariadbStartOrder(topo: Topology): ServiceInstance[] {
  const all = servicesOf(topo, 'mariadb');
  const recorded = all.filter((s) => readDbState(s)?.role === 'primary');
  const first = recorded.length === 1 ? recorded[0] : all.find((s) => s.node === topo.initialDbPrimary);
  return first ? [first, ...all.filter((s) => s !== first)] : all;
}

// ---------------------------------------------------------------------------------------------
// The driver

// mariadb-install-db takes under a second here; 120 s bounds a pathological disk, not a normal one.
const INSTALL_TIMEOUT_MS = 120_000;

export async function installDatadir(ctx: ServiceContext, paths: MariadbPaths): Promise<void> {
  // Installed beside and renamed into place: an interrupted install leaves `data.installing-*`
  // (removed on the next prepare), never a half-made datadir that a later start would trust.
  const tmp = `${paths.dataDir}.installing-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  // --defaults-file must come first (ENGINE-NOTES); --datadir after it overrides the file's.
  const args = [
    `--defaults-file=${paths.conf}`,
    `--datadir=${tmp}`,
    // Root gets a password-less login until afterHealthy sets the cluster's root password: the
    // `socket` method would tie root to the OS user, which differs between root and non-root runs.
    // (A password cannot be set at install: the bootstrap runs with grant tables off.)
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
    ...(ctx.asRoot ? ['--user=root'] : []),
  ];
  appendLog(paths.installLog, `--- ${new Date().toISOString()} mariadb-install-db ${args.join(' ')}\n`);
  const code = await runToCompletion('mariadb-install-db', args, { logFile: paths.installLog, timeoutMs: INSTALL_TIMEOUT_MS });
  if (code !== 0) {
    fs.rmSync(tmp, { recursive: true, force: true });
    // The installer prints generic advice; the reason is in the server's error log.
    const tail = `${tailFile(paths.installLog, 8)}\n--- ${paths.errorLog}:\n${tailFile(paths.errorLog, 12) || '(empty)'}`;
    throw new EngineStartError(`mariadb-install-db for ${ctx.svc.id}`, `exit code ${code}`, tail, paths.installLog);
  }
  fs.renameSync(tmp, paths.dataDir);
}

/** One line in the service's install log: the driver has no event log, and this is the file `up` shows on failure. */
function logInstallStep(paths: MariadbPaths, line: string): void {
  appendLog(paths.installLog, `--- ${new Date().toISOString()} ${line}\n`);
}

interface SeedPlan {
  readonly source: ServiceInstance;
  readonly primary: ServiceInstance;
  readonly facts: PrimaryBinlogFacts;
}

/** What the primary's binlogs still hold (see `shouldSeedFromBackup`). */
async function primaryBinlogFacts(ctx: ServiceContext, primary: ServiceInstance): Promise<PrimaryBinlogFacts> {
  return withRemoteAdmin(ctx.secrets, primary, ADMIN_TIMEOUT_MS, async (c) => {
    const logs = await rows(c, 'SHOW BINARY LOGS');
    const binlogBytes = logs.reduce((n, r) => n + Number(r['File_size'] ?? 0), 0);
    const first = logs[0]?.['Log_name'];
    if (first === undefined) return { historyComplete: false, binlogBytes };
    // Every binlog starts with a Gtid_list event naming what earlier (now possibly purged) files
    // held: empty in the oldest file means nothing before it ever existed.
    const events = await rows(c, 'SHOW BINLOG EVENTS IN ? LIMIT 4', [String(first)]);
    const list = events.find((e) => e['Event_type'] === 'Gtid_list');
    return { historyComplete: list !== undefined && isEmptyGtidList(String(list['Info'] ?? '')), binlogBytes };
  });
}

/**
 * Whether this new replica is seeded from a backup, and of which node. Undefined (install a fresh
 * datadir) when no single writable primary answers, which is the very first `up`, or when the
 * primary's binlogs can replay everything quickly (see `shouldSeedFromBackup`).
 */
async function planSeed(ctx: ServiceContext): Promise<SeedPlan | undefined> {
  const views = await peerViews(ctx);
  const primaries = views.filter((v) => v.role === 'primary');
  // Several writable primaries: attachReplica refuses later with what to do.
  if (primaries.length !== 1) return undefined;
  const primary = (primaries[0] as PeerView).svc;
  const facts = await primaryBinlogFacts(ctx, primary);
  if (!shouldSeedFromBackup(facts)) return undefined;
  const cands: SeedCandidate[] = views.map((v) => ({ id: v.svc.id, role: v.role, replicating: v.replicating, localDatadir: fs.existsSync(mariadbPaths(v.svc).dataDir) }));
  const chosen = chooseSeedSource(cands);
  const source = views.find((v) => v.svc.id === chosen?.id)?.svc;
  if (!source) {
    throw new HastackError(
      ErrorCode.SETUP_FAILED,
      `${ctx.svc.id} must be provisioned from a backup (primary ${primary.id}: ${facts.historyComplete ? 'binlogs too long to replay' : 'older binlogs purged'}) ` +
        `but no live mariadb node has its datadir on this machine; restore a prepared mariabackup into ${mariadbPaths(ctx.svc).dataDir} and start it again`,
    );
  }
  return { source, primary, facts };
}

/**
 * Provisions this node's datadir from a mariabackup of a live node: backup (the source's datadir
 * is read directly, so it must be on this machine), prepare, record the backup's GTID as the seed
 * (afterHealthy turns it into gtid_slave_pos), then the rename that makes it the datadir. Users and
 * grants come with the mysql schema in the copy. Interrupted, it leaves `data.provisioning-*`,
 * which the next prepare removes before starting over.
 */
async function provisionFromBackup(ctx: ServiceContext, paths: MariadbPaths, plan: SeedPlan): Promise<void> {
  const t0 = Date.now();
  const tmp = `${paths.dataDir}.provisioning-${process.pid}`;
  const { source } = plan;
  logInstallStep(
    paths,
    `seed: no datadir and primary ${plan.primary.id} ${plan.facts.historyComplete ? `has ${plan.facts.binlogBytes} bytes of binlog to replay` : 'purged older binlogs'}: ` +
      `provisioning from a mariabackup of ${source.id}`,
  );
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    const gtid = await copyLiveDatadir({
      source: { id: source.id, address: source.address, port: source.port, conf: mariadbPaths(source).conf },
      user: DB_USERS.admin,
      password: ctx.secrets.dbRootPassword,
      targetDir: tmp,
      workDir: ctx.svc.dir,
      logFile: paths.installLog,
      log: (line) => logInstallStep(paths, line),
      forWhom: ctx.svc.id,
    });
    // Recorded before the rename: a crash in between leaves no datadir, and the next prepare starts over.
    writeDbState(ctx.svc, { role: 'replica', wired: false, seedGtid: gtid });
    fs.renameSync(tmp, paths.dataDir);
    logInstallStep(paths, `seed: datadir in place from ${source.id} at gtid ${gtid} in ${Date.now() - t0} ms`);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    logInstallStep(paths, `seed: failed: ${describeError(e)}`);
    throw e;
  }
}

export const mariadbDriver: ServiceDriver = {
  async prepare(ctx) {
    const { topo, svc } = ctx;
    const paths = mariadbPaths(svc);
    checkSocketPath(paths.socket);
    fs.mkdirSync(paths.tmpDir, { recursive: true, mode: 0o700 });
    for (const f of fs.readdirSync(svc.dir)) {
      if (f.startsWith('data.installing-') || f.startsWith('data.provisioning-') || f === SEED_CNF) fs.rmSync(path.join(svc.dir, f), { recursive: true, force: true });
    }
    let state = readDbStateStrict(svc);
    if (!state) {
      // No state but a datadir: the node ran before and lost its record; its role is unknown.
      if (fs.existsSync(paths.dataDir)) throw new StateCorruptError(paths.stateFile, 'missing, while the node has a datadir', DB_STATE_FIX);
      state = { role: await initialRole(ctx), wired: false };
      writeDbState(svc, state);
    }
    const db = topo.config.database;
    writeFileAtomic(
      paths.conf,
      renderMyCnf({
        id: svc.id,
        asRoot: ctx.asRoot,
        paths,
        address: svc.address,
        port: svc.port,
        serverId: serverIdOf(topo, svc.node),
        bufferPoolMb: db.bufferPoolMb,
        role: state.role,
        semiSync: db.semiSync,
        semiSyncMasterAtBoot: semiSyncAtBoot(topo, state),
        semiSyncTimeoutMs: db.semiSyncTimeoutMs,
        ...(databaseTlsOn(topo) ? { tls: requireNodeTls(topo, svc.node) } : {}),
      }),
      // Readable by the server when it runs as another user than hastack (no secrets in it).
      0o644,
    );
    if (!fs.existsSync(paths.dataDir)) {
      // Only a replica is seeded: a node that is to be primary has no one to copy from.
      const seed = state.role === 'replica' ? await planSeed(ctx) : undefined;
      if (seed) {
        await provisionFromBackup(ctx, paths, seed);
      } else {
        // A seed recorded for a datadir that is gone no longer applies to the fresh one.
        if (state.seedGtid !== undefined) writeDbState(svc, { role: state.role, wired: state.wired });
        await installDatadir(ctx, paths);
      }
    }
  },

  command(ctx): ProcessSpec {
    // --defaults-file must be the first argument, or mariadbd ignores it (ENGINE-NOTES).
    return { command: 'mariadbd', args: [`--defaults-file=${mariadbPaths(ctx.svc).conf}`], cwd: ctx.svc.dir };
  },

  /**
   * Healthy = the server answers queries over its socket. A replica whose primary is gone, or whose
   * replication stopped on an error, is still healthy (the detail says what is wrong): restarting
   * it would not fix replication, and it is the candidate the failover manager needs alive.
   */
  async probe(ctx, timeoutMs): Promise<ProbeResult> {
    try {
      return await withAdmin(ctx, timeoutMs, async (c) => {
        const [v] = await rows(c, 'SELECT @@read_only AS ro, @@gtid_current_pos AS pos');
        const readOnly = Number(v?.['ro']) === 1;
        const pos = String(v?.['pos'] ?? '');
        const slave = await slaveStatusOn(c);
        if (dbRoleOf(readOnly, slave) === 'primary') {
          const ss = await semiSyncOn(c);
          const semi = ss.enabled ? `semi-sync ${ss.active ? 'on' : 'FALLEN BACK to async'}, ${ss.clients} semi-sync replica(s)` : 'semi-sync off';
          return { healthy: true, role: 'primary', detail: `writable, gtid ${pos || 'empty'}, ${semi}` };
        }
        const detail = describeReplication(slave, pos) + (readOnly ? '' : ' (WRITABLE although it replicates: set read_only=1)');
        return { healthy: true, role: 'replica', detail };
      });
    } catch (e) {
      return { healthy: false, role: 'mariadb', detail: describeError(e) };
    }
  },

  async afterHealthy(ctx) {
    const state = readDbState(ctx.svc) ?? { role: await initialRole(ctx), wired: false };
    await withAdmin(ctx, ADMIN_TIMEOUT_MS, (c) => secureLocalAccounts(c, ctx.secrets.dbRootPassword));
    if (state.role === 'primary') {
      // Up to 7 writes, each of which may wait the semi-sync timeout (see bootstrapPrimary).
      const budget = 7 * (ctx.topo.config.database.semiSyncTimeoutMs + ADMIN_TIMEOUT_MS);
      await withAdmin(ctx, budget, (c) => bootstrapPrimary(c, ctx.topo, ctx.secrets));
    } else {
      await attachReplica(ctx);
    }
    writeDbState(ctx.svc, { role: readDbState(ctx.svc)?.role ?? state.role, wired: true });
  },

  logFiles(ctx) {
    const p = mariadbPaths(ctx.svc);
    return [p.errorLog, p.installLog];
  },
};
