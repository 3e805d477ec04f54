/**
 * `npm run bench -- db`: read throughput through hastack's db router with 0, 1 and 2 replicas,
 * against the anchor, the same reads sent straight to one server with a plain mysql2 pool, in one
 * run on the same machine.
 *
 *   throughput   CONCURRENCY reads in flight for PHASE_MS (or PHASE_OPS reads) per setup, in
 *                TP_ROUNDS interleaved slices: the
 *                anchor (mysql2 → primary), then the router's read path over the primary alone,
 *                primary + 1 replica, primary + 2 replicas; and a second anchor, mysql2 pools to
 *                both replicas alternating (spreading without the router). Queries served by
 *                each node (the router's own count) and totals; each node's share of the reads.
 *   overhead     one read at a time, router (read path, primary only) and anchor alternating in
 *                rounds, so drift on a shared machine hits both alike: mean per query and ratio.
 *
 * On this 2-core machine the three servers, the bench and the client share two cores, so totals
 * cannot grow with replicas; the shares show where reads went, the ratio what routing costs.
 * Starts its own MariaDB primary + 2 replicas on 127.0.55.1-3 through the engine driver and stops
 * them by process group at the end. Bounded by count and time (about a minute with start-up).
 * The last line of output is one JSON object.
 */
import mysql from 'mysql2/promise';
import { DbClient, type DbNode } from '../src/clients/db/index.js';
import { createLogger } from '../src/shared/log.js';
import { waitFor } from '../src/shared/retry.js';
import { startReplicationSet, type ReplicationSet } from '../kit/db-replication.js';
import { testRange } from '../kit/addresses.js';
import { benchCounts } from '../kit/bench.js';

process.env.HASTACK_LOG_LEVEL ??= 'warn';

const BASE = testRange('bench-db').base;
const {
  rows: ROWS,
  concurrency: CONCURRENCY,
  phaseMs: PHASE_MS,
  phaseOps: PHASE_OPS,
  tpRounds: TP_ROUNDS,
  rounds: ROUNDS,
  roundOps: ROUND_OPS,
} = benchCounts({
  /** Rows to read: small enough to stay in the buffer pool, so we measure routing, not disk. */
  rows: 1_000,
  /** Reads in flight: more than the 2 cores, fewer than the router's pool of 10 per node. */
  concurrency: 8,
  /** Per setup in total, split over tpRounds interleaved slices. */
  phaseMs: 4_000,
  phaseOps: 40_000,
  tpRounds: 4,
  /** Overhead: alternating rounds of sequential reads. Many short rounds: on a shared 2-core machine single rounds swing 2× with the others' load; the median of many is steadier. */
  rounds: 12,
  roundOps: 500,
});
const SQL = 'SELECT id, name, qty FROM bench_items WHERE id = ?';

interface Phase {
  readonly name: string;
  readonly ops: number;
  readonly ms: number;
  /** CPU time of this (client) process, user + system, in µs: what routing costs, whatever the machine's load. */
  readonly cpuUs: number;
  readonly byNode: Readonly<Record<string, number>>;
}

type ReadFn = (id: number) => Promise<unknown>;

async function drive(read: ReadFn, ms: number, maxOps: number): Promise<{ ops: number; ms: number; cpuUs: number }> {
  const start = Date.now();
  const cpu0 = process.cpuUsage();
  const deadline = start + ms;
  let issued = 0;
  const worker = async (): Promise<void> => {
    while (Date.now() < deadline && issued < maxOps) {
      issued++;
      await read(1 + (issued % ROWS));
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, () => worker()));
  const cpu = process.cpuUsage(cpu0);
  return { ops: issued, ms: Date.now() - start, cpuUs: cpu.user + cpu.system };
}

async function sequentialMeanUs(read: ReadFn, ops: number, from: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) await read(1 + ((from + i) % ROWS));
  return Number(process.hrtime.bigint() - t0) / 1000 / ops;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};

function row(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
}

let set: ReplicationSet | undefined;
const clients: { close(): Promise<void> }[] = [];

async function cleanup(): Promise<void> {
  for (const c of clients.splice(0)) await c.close().catch(() => undefined);
  await set?.stop();
  set = undefined;
}

async function main(): Promise<void> {
  const log = createLogger('bench-db');
  const t0 = Date.now();
  set = await startReplicationSet('bench-db', 3);
  const startedMs = Date.now() - t0;
  const [db1, db2, db3] = set.nodes.map((s): DbNode => ({ id: s.node, address: s.address, port: s.port }));
  if (!db1 || !db2 || !db3) throw new Error('expected three MariaDB nodes');
  const creds = { user: 'hastack', password: set.secrets.dbAppPassword, database: set.topo.config.database.name, log, poolSize: CONCURRENCY };
  const router = (nodes: DbNode[]): DbClient => {
    const c = new DbClient(nodes, creds);
    clients.push(c);
    return c;
  };

  // Data: ROWS rows, written through the router, then wait until both replicas applied them.
  const all = router([db1, db2, db3]);
  await all.execute('CREATE TABLE IF NOT EXISTS bench_items (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, qty INT NOT NULL)');
  for (let i = 1; i <= ROWS; i += 250) {
    const ids = Array.from({ length: Math.min(250, ROWS - i + 1) }, (_, k) => i + k);
    await all.execute(
      `INSERT IGNORE INTO bench_items (id, name, qty) VALUES ${ids.map(() => '(?, ?, ?)').join(', ')}`,
      ids.flatMap((id) => [id, `item-${id}`, id % 97]),
    );
  }
  const caughtUp = await waitFor(async () => ((await all.refreshRoutes()).readers.length === 2 ? true : undefined), { timeoutMs: 20_000, intervalMs: 100 });
  if (!caughtUp) throw new Error(`replicas did not become readers: ${all.routes?.summary ?? '?'}`);

  const poolTo = (n: DbNode): mysql.Pool => {
    const p = mysql.createPool({ host: n.address, port: n.port, user: creds.user, password: creds.password, database: creds.database, connectionLimit: CONCURRENCY });
    clients.push({ close: () => p.end() });
    return p;
  };
  const anchor = poolTo(db1);
  const direct: ReadFn = (id) => anchor.query(SQL, [id]);
  // A second anchor: plain mysql2 pools to both replicas, alternating, i.e. spreading without the
  // router. It tells the cost of running reads on two server processes on this machine apart from
  // the router's own cost.
  const spreadPools = [poolTo(db2), poolTo(db3)];
  let spreadTurn = 0;
  const directSpread: ReadFn = (id) => (spreadPools[spreadTurn++ % 2] as mysql.Pool).query(SQL, [id]);

  // Throughput: every setup gets a slice in each round, in rotated order, so load from the rest
  // of the machine drifting during the run hits all setups alike; totals are summed over rounds.
  const setups: [string, DbNode[] | undefined][] = [
    ['anchor: mysql2 pool → db1', undefined],
    ['anchor: mysql2 → db2+db3', undefined],
    ['router, 0 replicas', [db1]],
    ['router, 1 replica', [db1, db2]],
    ['router, 2 replicas', [db1, db2, db3]],
  ];
  const routers = new Map<string, DbClient>();
  const readers = new Map<string, ReadFn>();
  for (const [name, nodes] of setups) {
    if (nodes === undefined) {
      readers.set(name, name.includes('db2+db3') ? directSpread : direct);
      continue;
    }
    const c = router(nodes);
    routers.set(name, c);
    const reader = c.reader();
    readers.set(name, (id) => reader.query(SQL, [id]));
  }
  const totals = new Map<string, { ops: number; ms: number; cpuUs: number }>(setups.map(([n]) => [n, { ops: 0, ms: 0, cpuUs: 0 }]));
  for (const [name] of setups) await drive(readers.get(name) as ReadFn, 500, 2_000); // warm-up: pools, first probe round
  const startCounts = new Map([...routers].map(([n, c]) => [n, c.stats().readsByNode]));
  for (let r = 0; r < TP_ROUNDS; r++) {
    for (let k = 0; k < setups.length; k++) {
      const [name] = setups[(r + k) % setups.length] as [string, DbNode[] | undefined];
      const got = await drive(readers.get(name) as ReadFn, PHASE_MS / TP_ROUNDS, PHASE_OPS / TP_ROUNDS);
      const t = totals.get(name) as { ops: number; ms: number; cpuUs: number };
      t.ops += got.ops;
      t.ms += got.ms;
      t.cpuUs += got.cpuUs;
    }
  }
  const phases: Phase[] = setups.map(([name, nodes]) => {
    const t = totals.get(name) as { ops: number; ms: number; cpuUs: number };
    if (nodes === undefined) return { name, ...t, byNode: name.includes('db2+db3') ? { db2: Math.ceil(t.ops / 2), db3: Math.floor(t.ops / 2) } : { db1: t.ops } };
    const before = startCounts.get(name) ?? {};
    const after = routers.get(name)?.stats().readsByNode ?? {};
    return { name, ...t, byNode: Object.fromEntries(nodes.map((n) => [n.id, (after[n.id] ?? 0) - (before[n.id] ?? 0)])) };
  });

  // Overhead per query: sequential, alternating.
  const solo = routers.get('router, 0 replicas')?.reader();
  if (!solo) throw new Error('no single-node router');
  const viaRouter: ReadFn = (id) => solo.query(SQL, [id]);
  const routerUs: number[] = [];
  const directUs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const order: [ReadFn, number[]][] =
      r % 2 === 0
        ? [
            [viaRouter, routerUs],
            [direct, directUs],
          ]
        : [
            [direct, directUs],
            [viaRouter, routerUs],
          ];
    for (const [fn, into] of order) into.push(await sequentialMeanUs(fn, ROUND_OPS, r * ROUND_OPS));
  }
  const routerMeanUs = median(routerUs);
  const directMeanUs = median(directUs);
  const routerOverheadRatio = Math.round((routerMeanUs / directMeanUs) * 100) / 100;
  // The same cost as this process's CPU per read under load (router, primary only, vs the db1 anchor):
  // unlike wall time it does not swing with what else runs on the machine.
  const cpuOf = (name: string): number => {
    const t = totals.get(name);
    return t === undefined ? 0 : t.cpuUs / Math.max(1, t.ops);
  };
  const routerCpuOverheadRatio = Math.round((cpuOf('router, 0 replicas') / Math.max(1, cpuOf('anchor: mysql2 pool → db1'))) * 100) / 100;

  const nodesOrder = ['db1', 'db2', 'db3'];
  const widths = [28, 9, 10, 9, 9, 9, 22, 14];
  const cpuPerRead = (p: Phase): number => Math.round(p.cpuUs / Math.max(1, p.ops));
  const share = (p: Phase, n: string): string => (p.byNode[n] === undefined ? '-' : `${Math.round(((p.byNode[n] ?? 0) / Math.max(1, p.ops)) * 100)}%`);
  const lines = [
    `db read benchmark: MariaDB primary db1 + replicas db2, db3 (${BASE}.1-3, GTID, semi-sync), ${ROWS} rows, point SELECT by primary key,`,
    `${CONCURRENCY} reads in flight, ${PHASE_MS / 1000} s per setup in ${TP_ROUNDS} interleaved slices (at most ${PHASE_OPS} reads); servers, client and bench share 2 cores. Start-up ${(startedMs / 1000).toFixed(1)} s.`,
    '',
    row(['setup', 'reads/s', 'reads', 'db1', 'db2', 'db3', 'share db1/db2/db3', 'client CPU/read'], widths),
    ...phases.map((p) =>
      row(
        [
          p.name,
          String(Math.round((p.ops / p.ms) * 1000)),
          String(p.ops),
          ...nodesOrder.map((n) => (p.byNode[n] === undefined ? '-' : String(p.byNode[n]))),
          nodesOrder.map((n) => share(p, n)).join(' / '),
          `${cpuPerRead(p)} µs`,
        ],
        widths,
      ),
    ),
    '',
    `per-query cost, one read at a time (median of ${ROUNDS} alternating rounds of ${ROUND_OPS}): router read path ${routerMeanUs.toFixed(0)} µs, direct mysql2 ${directMeanUs.toFixed(0)} µs, ratio ${routerOverheadRatio}×; client CPU per read under load, router (primary only) vs anchor: ${routerCpuOverheadRatio}×`,
    `throughput vs the db1 anchor: ${phases
      .slice(1)
      .map((p) => `${p.name.replace('router, ', '')} ${(p.ops / p.ms / ((phases[0]?.ops ?? 1) / (phases[0]?.ms ?? 1))).toFixed(2)}×`)
      .join(', ')}`,
  ];
  for (const l of lines) console.log(l);
  for (const [name, c] of routers) if (c.stats().retries > 0) console.log(`${name}: ${c.stats().retries} retried attempts`);
  const two = phases.find((p) => p.name === 'router, 2 replicas') as Phase;
  const json = {
    bench: 'db',
    concurrency: CONCURRENCY,
    routerOverheadRatio,
    routerCpuOverheadRatio,
    routerMeanUs: Math.round(routerMeanUs),
    directMeanUs: Math.round(directMeanUs),
    readShareByNode: Object.fromEntries(nodesOrder.map((n) => [n, Math.round(((two.byNode[n] ?? 0) / Math.max(1, two.ops)) * 1000) / 1000])),
    clientCpuUsPerRead: Object.fromEntries(phases.map((p) => [p.name, cpuPerRead(p)])),
    readsPerSecond: Object.fromEntries(phases.map((p) => [p.name, Math.round((p.ops / p.ms) * 1000)])),
    readsByNode: Object.fromEntries(phases.map((p) => [p.name, p.byNode])),
  };
  console.log(JSON.stringify(json));
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void cleanup().finally(() => process.exit(130));
  });
}

main()
  .catch((e: unknown) => {
    console.error(`bench db: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
