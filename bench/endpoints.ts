/**
 * `npm run bench -- endpoints`: the local endpoints (src/endpoints) against the anchor, the same
 * clients connected straight to the engine, in one run on the same machine.
 *
 *   latency      one connection, point selects (MariaDB, mysql2) and GET/SET (Redis, ioredis), direct
 *                and through the endpoint alternating in short rounds after an uncounted warm-up, so
 *                drift on a shared machine hits both alike: every operation timed, mean and median
 *                per operation and the ratios endpoint / direct.
 *   throughput   CONCURRENCY connections for PHASE_MS per path, in interleaved slices: ops/s and ratio.
 *   writer gap   MariaDB replication (db1 primary, db2 replica): inserts through `db-endpoint` every
 *                20 ms; db1 is SIGKILLed and db2 promoted by the bench at once (what hastack's
 *                failover does after its detection time, which is not counted here): the longest
 *                time without an acknowledged insert is the endpoint's own switch (probe round,
 *                HAProxy, the client's reconnect).
 *
 * Starts MariaDB on 127.0.221.1-2, Redis on .4 and the endpoints of the app node .5 through
 * the kit (kit/endpoints.ts), and stops them by process group at the end. Bounded by count and
 * time. The last line of output is one JSON object.
 */
import mysql from 'mysql2/promise';
import { Redis } from 'ioredis';
import { DB_USERS, adminConnection } from '../src/engines/index.js';
import { benchCounts } from '../kit/bench.js';
import { startEndpointBed } from '../kit/endpoints.js';

process.env.HASTACK_LOG_LEVEL ??= 'warn';

const {
  rounds: ROUNDS,
  roundOps: ROUND_OPS,
  concurrency: CONCURRENCY,
  phaseMs: PHASE_MS,
  tpRounds: TP_ROUNDS,
  gapWaitS: GAP_WAIT_S,
} = benchCounts({
  /** Latency: many short alternating rounds; on a shared 2-core machine one round swings 2×. */
  rounds: 20,
  roundOps: 300,
  /** Throughput: connections in flight (more than the 2 cores). */
  concurrency: 8,
  /** Per path in total, split over tpRounds interleaved slices. */
  phaseMs: 4_000,
  tpRounds: 4,
  /** The writer gap: how long to wait for writes to resume at most. */
  gapWaitS: 60,
});
const SQL = 'SELECT id, name, qty FROM bench_items WHERE id = ?';

const timings: string[] = [];
const bed = await startEndpointBed(
  'bench-endpoints',
  {
    // Replication, not Galera: the kit's harness starts replication sets (Galera's bootstrap is the supervisor's).
    database: { mode: 'replication', bufferPoolMb: 32 },
    endpoints: { enabled: true },
    nodes: [
      { name: 'db1', services: ['mariadb'] },
      { name: 'db2', services: ['mariadb'] },
      { name: 'r1', services: ['redis'] },
      // The app node: only its endpoints run (its app and lb are never started).
      { name: 'app1', services: ['app', 'lb'] },
    ],
  },
  timings,
);

type Op = () => Promise<unknown>;
const now = (): number => Number(process.hrtime.bigint()) / 1000;

/** Runs `op` n times in a row; each operation's time (µs) is pushed to `into` (if given). */
async function sequential(op: Op, n: number, into?: number[]): Promise<void> {
  for (let i = 0; i < n; i++) {
    const t = now();
    await op();
    into?.push(now() - t);
  }
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

async function parallel(ops: readonly Op[], ms: number): Promise<number> {
  let done = 0;
  const end = Date.now() + ms;
  await Promise.all(
    ops.map(async (op) => {
      while (Date.now() < end) {
        await op();
        done++;
      }
    }),
  );
  return done;
}

try {
  const db1 = bed.ctxOf('db1', 'mariadb').svc;
  const admin = await adminConnection(bed.ctxOf('db1', 'mariadb'));
  const dbName = bed.topo.config.database.name;
  await admin.query(`CREATE TABLE IF NOT EXISTS \`${dbName}\`.bench_items (id INT PRIMARY KEY, name VARCHAR(40), qty INT)`);
  await admin.query(`CREATE TABLE IF NOT EXISTS \`${dbName}\`.bench_writes (id BIGINT AUTO_INCREMENT PRIMARY KEY, at BIGINT)`);
  await admin.query(`INSERT IGNORE INTO \`${dbName}\`.bench_items SELECT seq, CONCAT('item', seq), seq FROM \`${dbName}\`.seq_1_to_1000`);
  await admin.end();
  const dbEp = bed.endpoint('app1', 'db-endpoint');
  const redisEp = bed.endpoint('app1', 'redis-endpoint');
  const r1 = bed.ctxOf('r1', 'redis').svc;
  const dbConn = (host: string, port: number) =>
    mysql.createConnection({ host, port, user: DB_USERS.app, password: bed.secrets.dbAppPassword, database: dbName, connectTimeout: 10_000 });
  const redisConn = async (host: string, port: number): Promise<Redis> => {
    const r = new Redis({ host, port, password: bed.secrets.redisPassword, lazyConnect: true, maxRetriesPerRequest: 1 });
    r.on('error', () => undefined);
    await r.connect();
    return r;
  };
  const paths = {
    db: { direct: [db1.address, db1.port] as const, endpoint: [dbEp.address, dbEp.port] as const },
    redis: { direct: [r1.address, r1.port] as const, endpoint: [redisEp.address, redisEp.port] as const },
  };
  let k = 0;
  const dbOp =
    (c: mysql.Connection): Op =>
    () =>
      c.execute(SQL, [1 + (k++ % 1000)]);
  const redisOp =
    (r: Redis): Op =>
    () =>
      k++ % 2 === 0 ? r.set(`bench:${k % 100}`, 'v') : r.get(`bench:${k % 100}`);

  // ---- latency: the same client library, one connection per path, every operation timed
  const lat = { db: { direct: [] as number[], endpoint: [] as number[] }, redis: { direct: [] as number[], endpoint: [] as number[] } };
  {
    const c = { direct: await dbConn(...paths.db.direct), endpoint: await dbConn(...paths.db.endpoint) };
    const r = { direct: await redisConn(...paths.redis.direct), endpoint: await redisConn(...paths.redis.endpoint) };
    // Warm-up, not counted: prepared statements, JIT, the engines' and HAProxy's first buffers.
    for (const p of ['direct', 'endpoint'] as const) {
      await sequential(dbOp(c[p]), ROUND_OPS);
      await sequential(redisOp(r[p]), ROUND_OPS);
    }
    for (let i = 0; i < ROUNDS; i++) {
      for (const p of i % 2 === 0 ? (['direct', 'endpoint'] as const) : (['endpoint', 'direct'] as const)) {
        await sequential(dbOp(c[p]), ROUND_OPS, lat.db[p]);
        await sequential(redisOp(r[p]), ROUND_OPS, lat.redis[p]);
      }
    }
    await Promise.all([c.direct.end(), c.endpoint.end()]);
    r.direct.disconnect();
    r.endpoint.disconnect();
  }

  // ---- throughput
  const tp = { db: { direct: 0, endpoint: 0 }, redis: { direct: 0, endpoint: 0 } };
  const slice = PHASE_MS / TP_ROUNDS;
  for (let i = 0; i < TP_ROUNDS; i++) {
    for (const p of i % 2 === 0 ? (['direct', 'endpoint'] as const) : (['endpoint', 'direct'] as const)) {
      const cs = await Promise.all(Array.from({ length: CONCURRENCY }, () => dbConn(...paths.db[p])));
      tp.db[p] += await parallel(cs.map(dbOp), slice);
      await Promise.all(cs.map((c) => c.end()));
      const rs = await Promise.all(Array.from({ length: CONCURRENCY }, () => redisConn(...paths.redis[p])));
      tp.redis[p] += await parallel(rs.map(redisOp), slice);
      for (const r of rs) r.disconnect();
    }
  }
  const perS = (n: number): number => n / (PHASE_MS / 1000);

  // ---- writer gap: inserts through db-endpoint every 20 ms, the writer killed, the replica promoted
  const acks: number[] = [];
  let stop = false;
  const writer = (async () => {
    let c: mysql.Connection | undefined;
    while (!stop) {
      try {
        c ??= await dbConn(...paths.db.endpoint);
        await c.execute('INSERT INTO bench_writes (at) VALUES (?)', [Date.now()]);
        acks.push(Date.now());
      } catch {
        c?.destroy();
        c = undefined;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    c?.destroy();
  })();
  await new Promise((r) => setTimeout(r, 2_000));
  const admin2 = await adminConnection(bed.ctxOf('db2', 'mariadb'));
  await bed.engines.kill('db1/mariadb');
  // From when db1 is gone (an insert acknowledged while the kill was under way came from db1).
  const killedAt = Date.now();
  await admin2.query('STOP SLAVE');
  await admin2.query('RESET SLAVE ALL');
  await admin2.query('SET GLOBAL read_only = 0');
  await admin2.end();
  // Until 3 s of writes after the kill, at most GAP_WAIT_S.
  const until = Date.now() + GAP_WAIT_S * 1000;
  while (Date.now() < until && !acks.some((a) => a > killedAt + 3_000)) await new Promise((r) => setTimeout(r, 100));
  stop = true;
  await writer;
  const before = acks.filter((a) => a <= killedAt).at(-1) ?? killedAt;
  const afterAck = acks.find((a) => a > killedAt);
  const gapMs = afterAck === undefined ? Number.NaN : afterAck - before;

  const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;
  const rows = [
    ['MariaDB point select, one connection, mean (µs/op)', mean(lat.db.direct), mean(lat.db.endpoint)],
    ['MariaDB point select, one connection, median (µs/op)', median(lat.db.direct), median(lat.db.endpoint)],
    ['Redis GET/SET, one connection, mean (µs/op)', mean(lat.redis.direct), mean(lat.redis.endpoint)],
    ['Redis GET/SET, one connection, median (µs/op)', median(lat.redis.direct), median(lat.redis.endpoint)],
    [`MariaDB point select, ${CONCURRENCY} connections (ops/s)`, perS(tp.db.direct), perS(tp.db.endpoint)],
    [`Redis GET/SET, ${CONCURRENCY} connections (ops/s)`, perS(tp.redis.direct), perS(tp.redis.endpoint)],
  ] as const;
  console.log('| measure | direct | through the endpoint | ratio |');
  console.log('| --- | --- | --- | --- |');
  for (const [name, d, e] of rows) console.log(`| ${name} | ${d.toFixed(1)} | ${e.toFixed(1)} | ${ratio(e, d)} |`);
  console.log(`| writer SIGKILL + immediate promotion: longest gap between acknowledged inserts through db-endpoint | | ${gapMs} ms | |`);
  for (const t of timings) console.log(`# ${t}`);
  // The keys are the means (every operation counted, stalls included); the medians beside
  // them are the typical operation, which a neighbour's CPU burst on this shared machine moves less.
  console.log(
    JSON.stringify({
      bench: 'endpoints',
      dbLatencyRatioVsDirect: ratio(mean(lat.db.endpoint), mean(lat.db.direct)),
      dbThroughputRatioVsDirect: ratio(tp.db.endpoint, tp.db.direct),
      redisLatencyRatioVsDirect: ratio(mean(lat.redis.endpoint), mean(lat.redis.direct)),
      redisThroughputRatioVsDirect: ratio(tp.redis.endpoint, tp.redis.direct),
      writerSwitchGapMs: gapMs,
      dbLatencyMedianRatioVsDirect: ratio(median(lat.db.endpoint), median(lat.db.direct)),
      redisLatencyMedianRatioVsDirect: ratio(median(lat.redis.endpoint), median(lat.redis.direct)),
    }),
  );
} finally {
  await bed.stop();
}
