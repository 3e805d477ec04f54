/**
 * A MariaDB primary and N replicas (GTID, semi-sync AFTER_SYNC) started through the real engine
 * driver, the way the supervisor starts them: prepare, spawn detached, poll the probe,
 * afterHealthy. For the db router's integration test and `bench/db`; no other service runs.
 * Every process started is killed by its process group in `stop()`, and the state dir removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { findService, loadOrCreateSecrets, parseConfig, resolveTopology, type Secrets, type ServiceInstance, type Topology } from '../../src/config/index.js';
import { adminConnection, checkEngines, engineDrivers, mariadbStartOrder } from '../../src/engines/index.js';
import type { ServiceContext } from '../../src/registry/index.js';
import { portOpen } from '../../src/shared/net.js';
import { waitFor } from '../../src/shared/retry.js';

export interface ReplicationSet {
  readonly topo: Topology;
  readonly secrets: Secrets;
  /** db1 (primary), db2, ... in topology order. */
  readonly nodes: readonly ServiceInstance[];
  /** A root connection over the node's socket (for STOP SLAVE and the like). Close it. */
  admin(node: string): Promise<mysql.Connection>;
  /** SIGKILL of one node's server (its process group); resolves once it exited. */
  kill(node: string): Promise<void>;
  stop(): Promise<void>;
}

/** Missing engine binaries, for `describe(..., { skip })`. */
export function missingMariadb(): string[] {
  return checkEngines()
    .filter((e) => ['mariadbd', 'mariadb-install-db', 'mariadb-backup'].includes(e.binary) && !e.found)
    .map((e) => `${e.binary} (package ${e.package})`);
}

export async function startReplicationSet(name: string, addressBase: string, count: number): Promise<ReplicationSet> {
  const stateRoot = fs.mkdtempSync(path.join(os.tmpdir(), `hx-${name}-`));
  const dbNodes = Array.from({ length: count }, (_, i) => ({ name: `db${i + 1}`, address: `${addressBase}.${i + 1}`, services: ['mariadb' as const] }));
  const config = parseConfig({
    cluster: name,
    addressBase,
    database: { bufferPoolMb: 32 },
    // The schema wants a whole cluster; this node is never started.
    nodes: [...dbNodes, { name: 'unused', address: `${addressBase}.100`, services: ['redis', 'app', 'lb'] }],
  });
  const topo = resolveTopology(config, { stateRoot, configDir: stateRoot });
  const secrets = loadOrCreateSecrets(topo.stateDir);
  const asRoot = process.getuid?.() === 0;
  const children: ChildProcess[] = [];
  const byNode = new Map<string, ChildProcess>();
  const killAll = (): void => {
    for (const c of children) {
      try {
        if (c.exitCode === null && c.pid !== undefined) process.kill(-c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  // Last resort if the process is interrupted before stop(): leave no engine behind.
  process.on('exit', killAll);

  const stop = async (): Promise<void> => {
    await Promise.all(
      children.map(async (c) => {
        if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return;
        const exited = new Promise<void>((r) => c.once('exit', () => r()));
        process.kill(-c.pid, 'SIGTERM');
        // 10 s: a clean InnoDB shutdown of a tiny datadir takes ~1 s; then SIGKILL.
        const t = setTimeout(() => killAll(), 10_000);
        await exited;
        clearTimeout(t);
      }),
    );
    process.off('exit', killAll);
    fs.rmSync(stateRoot, { recursive: true, force: true });
  };

  try {
    for (const svc of mariadbStartOrder(topo)) {
      if (await portOpen(svc.address, svc.port)) throw new Error(`${svc.address}:${svc.port} is already in use (a leftover from an earlier run? ss -ltnp)`);
      const ctx: ServiceContext = { topo, secrets, svc, asRoot };
      const driver = engineDrivers.mariadb;
      await driver.prepare(ctx);
      const spec = driver.command(ctx);
      const logFile = path.join(svc.dir, 'service.log');
      const fd = fs.openSync(logFile, 'a');
      const child = spawn(spec.command, [...spec.args], { cwd: spec.cwd, env: { ...process.env, ...spec.env }, detached: true, stdio: ['ignore', fd, fd] });
      fs.closeSync(fd);
      children.push(child);
      byNode.set(svc.node, child);
      // 60 s: a node is healthy in 1-3 s here (a replica's backup copy adds a few); the bound turns a hang into an error.
      const healthy = await waitFor(async () => (child.exitCode !== null ? 'exited' : (await driver.probe(ctx, 1000)).healthy ? 'healthy' : undefined), { timeoutMs: 60_000, intervalMs: 100 });
      if (healthy !== 'healthy') {
        const tail = fs.readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
        throw new Error(`${svc.id} did not become healthy (${String(healthy)}):\n${tail}`);
      }
      await driver.afterHealthy?.(ctx);
    }
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    topo,
    secrets,
    nodes: dbNodes.map((n) => findService(topo, n.name, 'mariadb') as ServiceInstance),
    admin: (node: string) => {
      const svc = findService(topo, node, 'mariadb');
      if (!svc) throw new Error(`no mariadb on ${node}`);
      return adminConnection({ topo, secrets, svc, asRoot });
    },
    kill: async (node: string) => {
      const c = byNode.get(node);
      if (!c || c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise<void>((r) => c.once('exit', () => r()));
      process.kill(-c.pid, 'SIGKILL');
      await exited;
    },
    stop,
  };
}
