import path from 'node:path';
import type { ServiceInstance, Topology } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { appendLog } from '../shared/logfile.js';
import { type NodeTlsFiles } from './tls.js';

/** Paths and my.cnf: where a node keeps its files and the server options rendered on every start. */

/** A replication node's role (recorded in `hastack-db.json`, see mariadb-state). */
export type DbRole = 'primary' | 'replica';

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

/** my.cnf's max_user_connections, and what a lifted fence sets it back to (mariadb-replication's openToApp). */
export const MAX_USER_CONNECTIONS = 100_000;
/** slave_net_timeout (s): see renderMyCnf. */
export const SLAVE_NET_TIMEOUT_S = 2;
/** MASTER_HEARTBEAT_PERIOD (s): a quarter of slave_net_timeout, so a lost heartbeat or two is not a lost primary. */
export const MASTER_HEARTBEAT_PERIOD_S = 0.5;

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
    // A replica notices a silent primary (frozen, or cut off by a partition) after 2 s without a
    // byte instead of the default 60 s: it is one of the failover's observers (its IO thread drops
    // to Connecting), and the write gap of a partitioned primary starts with this wait. The
    // primary sends a heartbeat every 0.5 s when idle (MASTER_HEARTBEAT_PERIOD, set with CHANGE
    // MASTER TO), so 2 s is four missed heartbeats, not an idle link. It reconnects at once
    // (MASTER_CONNECT_RETRY=1).
    `slave_net_timeout=${SLAVE_NET_TIMEOUT_S}`,
    // Parallel apply: one SQL thread fell 15-40 s behind four writers here, and a failover must
    // wait for the candidate to apply its whole relay log before it takes writes. Optimistic mode
    // applies transactions in parallel and retries one that conflicts, in commit order
    // (gtid_strict_mode holds). 4 threads: the app's writers; more buys nothing on two cores.
    'slave_parallel_threads=4',
    'slave_parallel_mode=optimistic',
    // Only the primary takes writes. Users with ALL ON *.* or SUPER ignore this (ENGINE-NOTES), which
    // is why the app user has privileges on its database only.
    `read_only=${p.role === 'primary' ? 0 : 1}`,
    // No limit in practice (max_connections bounds every account), but not 0: started with 0 the
    // server refuses to change it at runtime (ER_OPTION_PREVENTS_STATEMENT, measured), and a
    // primary that fences itself sets it to -1, which shuts out every account without CONNECTION
    // ADMIN (the app's) at once: nobody reads the commits its fence cut off from their ACK.
    `max_user_connections=${MAX_USER_CONNECTIONS}`,
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

/** One line of a node's install-db.log (datadir creation, seeding, replica attach steps). */
export function logInstallStep(paths: MariadbPaths, line: string): void {
  appendLog(paths.installLog, `--- ${new Date().toISOString()} ${line}\n`);
}
