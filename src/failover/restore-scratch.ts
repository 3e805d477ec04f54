import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Connection } from 'mysql2/promise';
import { mysqlErrno, MYSQL_ACCESS_DENIED } from '../shared/engine-errors.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { tailFile } from '../shared/files.js';
import { waitFor } from '../shared/retry.js';
import { connect } from './backup-db.js';

/*
 * A throw-away MariaDB server on a prepared backup: its own directory (a copy of the backup, never
 * the backup itself, which InnoDB's crash recovery would modify), its own socket, a spare port on
 * a loopback address, no binlog, no replication. Started and stopped by PID; `stop()` runs every
 * cleanup step even if one fails, and a scratch left by a killed verification is stopped by
 * `removeLeftovers` (backup-store.ts), which finds it by its command line.
 */

// Linux refuses unix socket paths over 107 bytes (sun_path is 108 with the NUL).
const MAX_SOCKET_PATH = 107;
// A prepared small datadir starts in 1-3 s here; crash recovery of a big one takes longer. 120 s
// bounds it without giving up on a large but healthy backup.
const START_TIMEOUT_MS = 120_000;
// A clean shutdown flushes the buffer pool (32 MB here): seconds. Then SIGKILL; the files are thrown away anyway.
const STOP_GRACE_MS = 20_000;

export interface Scratch {
  readonly dir: string;
  readonly address: string;
  readonly port: number;
  readonly socket: string;
  readonly errorLog: string;
  readonly pid: number;
  /** A root connection over the socket (the caller closes it). */
  connect(password: string): Promise<Connection>;
  /** Stops the server and removes the directory; idempotent. */
  stop(): Promise<void>;
  /** Stops the server cleanly and keeps the directory (a datadir built to be moved into the cluster). */
  shutdown(): Promise<void>;
  /** Lets this process exit with the server still running (`restore --keep`: the operator stops it by pid). */
  release(): void;
}

/** A free TCP port on `address`: bind port 0, read what the kernel chose, release it. */
export function sparePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, address, () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error(`no port on ${address}`))));
    });
  });
}

export function renderScratchCnf(p: {
  dataDir: string;
  socket: string;
  pidFile: string;
  tmpDir: string;
  errorLog: string;
  address: string;
  port: number;
  asRoot: boolean;
  /** A datadir for the cluster: binlog on, as this server id (restore --into-cluster sets its GTID state). */
  serverId?: number;
}): string {
  return [
    '# Scratch server of hastack restore --verify; removed with its directory.',
    '[mysqld]',
    ...(p.asRoot ? ['user=root'] : []),
    `datadir=${p.dataDir}`,
    `socket=${p.socket}`,
    `pid-file=${p.pidFile}`,
    `tmpdir=${p.tmpDir}`,
    `log-error=${p.errorLog}`,
    `bind-address=${p.address}`,
    `port=${p.port}`,
    'skip-name-resolve',
    // A copy of a replica must not start replicating; it writes no binlog unless it becomes a
    // node's datadir (the node's own binlog names, in the datadir as on the node).
    'skip-slave-start',
    ...(p.serverId === undefined ? ['skip-log-bin'] : ['log_bin=mysql-bin', 'log_bin_index=mysql-bin.index', 'binlog_format=ROW', 'gtid_domain_id=0']),
    'read_only=1',
    // Distinct from every node's server_id (1-based node positions), unless it is to be one.
    `server_id=${p.serverId ?? 4000000000}`,
    'innodb_buffer_pool_size=32M',
    'aria_pagecache_buffer_size=8M',
    'key_buffer_size=8M',
    'performance_schema=OFF',
    '',
  ].join('\n');
}

/** Copies `preparedDir` into `dir/data` and starts a server on it. Throws (after cleaning up) when it does not start. */
export async function startScratch(opts: {
  preparedDir: string;
  dir: string;
  address: string;
  signal?: AbortSignal;
  /** Fills the data directory instead of copying `preparedDir` (an encrypted backup is decrypted into it: backup-seal.ts). */
  fill?: (dataDir: string) => Promise<void>;
  /** See renderScratchCnf. */
  serverId?: number;
}): Promise<Scratch> {
  const { dir } = opts;
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const dataDir = path.join(dir, 'data');
  const tmpDir = path.join(dir, 'tmp');
  fs.mkdirSync(tmpDir, { recursive: true });
  let socket = path.join(dir, 'mysqld.sock');
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) socket = path.join(os.tmpdir(), `hastack-verify-${process.pid}.sock`);
  const errorLog = path.join(dir, 'mariadb.err');
  const pidFile = path.join(dir, 'mysqld.pid');
  const conf = path.join(dir, 'my.cnf');
  let child: ChildProcess | undefined;
  let exited = false;
  let stopped: Promise<void> | undefined;
  let halted: Promise<boolean> | undefined;
  // true when the server shut down cleanly (SIGTERM within the grace), or was not running.
  const halt = (): Promise<boolean> =>
    (halted ??= (async () => {
      if (!child?.pid || exited) return true;
      child.kill('SIGTERM');
      if (await waitFor(async () => (exited ? true : undefined), { timeoutMs: STOP_GRACE_MS, intervalMs: 100 })) return true;
      child.kill('SIGKILL');
      await waitFor(async () => (exited ? true : undefined), { timeoutMs: 5000, intervalMs: 50 });
      return false;
    })());
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await halt();
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(socket, { force: true });
    })());
  try {
    if (opts.fill) await opts.fill(dataDir);
    else fs.cpSync(opts.preparedDir, dataDir, { recursive: true });
    const port = await sparePort(opts.address);
    const cnf = { dataDir, socket, pidFile, tmpDir, errorLog, address: opts.address, port, asRoot: process.getuid?.() === 0 };
    fs.writeFileSync(conf, renderScratchCnf(opts.serverId === undefined ? cnf : { ...cnf, serverId: opts.serverId }), { mode: 0o644 });
    const out = fs.openSync(path.join(dir, 'service.log'), 'a');
    // --defaults-file must be the first argument (ENGINE-NOTES).
    child = spawn('mariadbd', [`--defaults-file=${conf}`], { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    child.once('exit', () => (exited = true));
    child.once('error', () => (exited = true));
    const pid = child.pid ?? 0;
    const scratch: Scratch = {
      dir,
      address: opts.address,
      port,
      socket,
      errorLog,
      pid,
      connect: (password) => connect({ socketPath: socket, user: 'root', password }, `the scratch server (socket ${socket})`),
      stop,
      shutdown: async () => {
        if (!(await halt())) throw new HastackError(ErrorCode.TIMEOUT, `the restored server did not shut down cleanly within ${STOP_GRACE_MS / 1000} s; run the restore again`);
        fs.rmSync(socket, { force: true });
      },
      release: () => child?.unref(),
    };
    const up = await waitFor(
      async () => {
        if (exited) return 'exited';
        // Up when the socket accepts a connection; access denied also means up.
        try {
          const c = await connect({ socketPath: socket, user: 'root', password: '' }, 'scratch');
          c.destroy();
          return 'up';
        } catch (e) {
          return mysqlErrno(e) === MYSQL_ACCESS_DENIED ? 'up' : undefined;
        }
      },
      // 250 ms: startup takes seconds; finer polling only burns CPU on a 2-core machine.
      { timeoutMs: START_TIMEOUT_MS, intervalMs: 250, signal: opts.signal },
    );
    if (up !== 'up') {
      const why = up === 'exited' ? 'the server exited' : `the server did not accept connections within ${START_TIMEOUT_MS / 1000} s`;
      throw new HastackError(ErrorCode.ENGINE_START_FAILED, `MariaDB cannot start on this backup: ${why}. Its error log:\n${tailFile(errorLog, 12) || '(empty)'}`);
    }
    return scratch;
  } catch (e) {
    // Read the log before the directory goes.
    await stop();
    throw e;
  }
}
