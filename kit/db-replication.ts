/**
 * A MariaDB primary and N replicas (GTID, semi-sync AFTER_SYNC) started through the real engine
 * driver by the kit's harness (kit/engines.ts), the way the supervisor starts them. For the db router's integration test and `bench/db`; no other service runs.
 * Every process started is killed by its process group in `stop()`, and the state dir removed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { findService, loadOrCreateSecrets, parseConfig, resolveTopology, type Secrets, type ServiceInstance, type Topology } from '../src/config/index.js';
import { adminConnection, checkEngines, mariadbStartOrder } from '../src/engines/index.js';
import { testRange, type TestId } from './addresses.js';
import { assertFree, EngineHarness } from './engines.js';

export interface ReplicationSet {
  readonly topo: Topology;
  readonly secrets: Secrets;
  /** db1 (primary), db2, ... in topology order. */
  readonly nodes: readonly ServiceInstance[];
  /** A root connection over the node's socket (for STOP SLAVE and the like). Close it. */
  admin(node: string): Promise<mysql.Connection>;
  /** `fn` on a root connection to `node`, closed after. */
  withAdmin<T>(node: string, fn: (c: mysql.Connection) => Promise<T>): Promise<T>;
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

/** `count` nodes at .1, .2, ... of the test's row in kit/addresses.ts, under its cluster name. */
export async function startReplicationSet(id: TestId, count: number): Promise<ReplicationSet> {
  const { cluster: name, base: addressBase } = testRange(id);
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
  const engines = new EngineHarness();
  const stop = async (): Promise<void> => {
    await engines.stopAll();
    fs.rmSync(stateRoot, { recursive: true, force: true });
  };

  try {
    for (const svc of mariadbStartOrder(topo)) {
      await assertFree([svc]);
      // 60 s: a node is healthy in 1-3 s here (a replica's backup copy adds a few); the bound turns a hang into an error.
      await engines.start({ topo, secrets, svc, asRoot }, { healthyTimeoutMs: 60_000 });
    }
  } catch (e) {
    await stop();
    throw e;
  }

  const admin = (node: string): Promise<mysql.Connection> => {
    const svc = findService(topo, node, 'mariadb');
    if (!svc) throw new Error(`no mariadb on ${node}`);
    return adminConnection({ topo, secrets, svc, asRoot });
  };
  return {
    topo,
    secrets,
    nodes: dbNodes.map((n) => findService(topo, n.name, 'mariadb') as ServiceInstance),
    admin,
    withAdmin: async (node, fn) => {
      const c = await admin(node);
      try {
        return await fn(c);
      } finally {
        await c.end();
      }
    },
    kill: (node: string) => engines.kill(`${node}/mariadb`),
    stop,
  };
}
