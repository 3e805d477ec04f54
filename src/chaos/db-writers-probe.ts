import os from 'node:os';
import type { RowDataPacket } from 'mysql2/promise';
import { servicesOf, type Secrets, type ServiceInstance, type Topology } from '../config/index.js';
import { adminConnection, closeConnection } from '../engines/index.js';
import { sleep } from '../shared/retry.js';
import { galeraState, type WriterRound, type WriterState } from './db-writers.js';

// 250 ms between rounds: a failover's fence → promote takes longer than that (the fence kills a
// node, the promotion then applies the relay log), so an overlap of both primaries shows in at
// least one round, and 2-3 nodes × 4 socket connections a second is no load.
const ROUND_MS = 250;
// A live server answers over its socket in ms; past 1 s it is frozen or dead, and takes no write.
const SAMPLE_TIMEOUT_MS = 1_000;
/** Every load loop is bounded in count: an hour of rounds, far beyond any run's length. */
const MAX_ROUNDS = 14_400;

async function sample(topo: Topology, secrets: Secrets, svc: ServiceInstance): Promise<WriterState> {
  const galera = topo.config.database.mode === 'galera';
  const ctx = { topo, secrets, svc, asRoot: os.userInfo().uid === 0 };
  try {
    const c = await adminConnection(ctx, SAMPLE_TIMEOUT_MS);
    try {
      const [ro] = await c.query<RowDataPacket[]>({ sql: 'SELECT @@read_only AS ro', timeout: SAMPLE_TIMEOUT_MS });
      const readOnly = Number(ro?.[0]?.['ro']) === 1;
      if (!galera) return readOnly ? 'read-only' : 'writable';
      const [st] = await c.query<RowDataPacket[]>({ sql: "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_cluster_status')", timeout: SAMPLE_TIMEOUT_MS });
      const v = new Map(st.map((r) => [String(r['Variable_name']), String(r['Value'])]));
      return galeraState(readOnly, v.get('wsrep_ready') ?? '', v.get('wsrep_cluster_status') ?? '');
    } finally {
      await closeConnection(c);
    }
  } catch {
    return 'down';
  }
}

/**
 * Samples every MariaDB node's writability in rounds until stopped, over the nodes' unix sockets
 * (the harness's view from outside the cluster: a network partition does not hide a node from
 * it). `stop()` ends the loop and returns the rounds.
 */
export function watchDbWriters(topo: Topology, secrets: Secrets, clock: () => number): { stop: () => Promise<WriterRound[]> } {
  const dbs = servicesOf(topo, 'mariadb');
  const rounds: WriterRound[] = [];
  let stopped = false;
  const loop = (async (): Promise<void> => {
    for (let i = 0; i < MAX_ROUNDS && !stopped && dbs.length > 1; i++) {
      const at = clock();
      const states = await Promise.all(dbs.map((s) => sample(topo, secrets, s)));
      rounds.push({ at, nodes: Object.fromEntries(dbs.map((s, k) => [s.node, states[k] ?? 'down'])) });
      await sleep(ROUND_MS);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return rounds;
    },
  };
}
