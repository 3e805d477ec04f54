/**
 * The app tier's clients, migrations, app host and worker against real engines, started by this
 * test as plain processes: Redis (no Sentinel: the direct mode of the Redis client), two
 * memcached, two MariaDB (db1 writable, db2 read-only: no replication, enough to test discovery).
 * Then the example ERP runs on the real app host and worker.
 *
 * Namespace: addresses 127.0.60.1-8, state in a fresh temp directory. Every process started here
 * is killed by its PID in `after`, and the directory removed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Before any logger is created: keep the test output readable.
process.env.HASTACK_LOG_LEVEL ??= 'warn';

import { Queue } from 'bullmq';
import { findService, loadOrCreateSecrets, parseConfig, resolveTopology, type ServiceKind, type Topology } from '../../src/config/index.js';
import type { ServiceContext } from '../../src/registry/index.js';
import { createLogger } from '../../src/shared/log.js';
import { sleep, waitFor } from '../../src/shared/retry.js';
import type { Closeable } from '../../src/shared/lifecycle.js';
import { CacheClient, CacheRing } from '../../src/clients/cache/index.js';
import { createDbClient } from '../../src/clients/db/index.js';
import { QUEUE_PREFIX, redisOptions } from '../../src/clients/redis/index.js';
import { applyMigrations, loadApp, openAppRuntime, startAppServer } from '../../src/app/index.js';
import { startWorker } from '../../src/worker/index.js';
import { portOpen } from '../../src/shared/net.js';
import { testRange } from '../../kit/addresses.js';
import { EngineHarness } from '../../kit/engines.js';

const R = testRange('app');
const BASE = R.base;
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hx-app-'));
const asRoot = process.getuid?.() === 0;
const log = createLogger('apptest');

const config = parseConfig({
  cluster: R.cluster,
  addressBase: BASE,
  // 200 ms down-after: the enqueue timeout (2 × down-after + 2 s) stays short for the outage test.
  redis: { downAfterMs: 200 },
  app: { module: 'examples/erp' },
  nodes: [
    { name: 'redis1', address: `${BASE}.1`, services: ['redis'] },
    { name: 'cache1', address: `${BASE}.2`, services: ['memcached'] },
    { name: 'cache2', address: `${BASE}.3`, services: ['memcached'] },
    { name: 'db1', address: `${BASE}.4`, services: ['mariadb'] },
    { name: 'db2', address: `${BASE}.5`, services: ['mariadb'] },
    { name: 'app1', address: `${BASE}.6`, services: ['app'] },
    { name: 'worker1', address: `${BASE}.7`, services: ['worker'] },
    { name: 'lb1', address: `${BASE}.8`, services: ['lb'] },
  ],
});
const topo: Topology = resolveTopology(config, { stateRoot: tmp, configDir: packageRoot });
const secrets = loadOrCreateSecrets(topo.stateDir);
const DB = topo.config.database.name;

function ctxOf(node: string, kind: ServiceKind): ServiceContext {
  const svc = findService(topo, node, kind);
  assert.ok(svc, `${node}/${kind} is in the topology`);
  return { topo, secrets, svc, asRoot };
}

// ---- engines, as plain child processes -------------------------------------------------------

const engines = new EngineHarness();

function spawnEngine(name: string, command: string, args: readonly string[]): void {
  engines.spawn(name, command, args, { logFile: path.join(tmp, `${name}.log`) });
}

/** SIGKILL ends it (and frees its name for a restart); SIGSTOP/SIGCONT pause and resume it. */
function signal(name: string, sig: NodeJS.Signals): void {
  if (sig === 'SIGKILL') void engines.kill(name);
  else engines.signal(name, sig);
}

async function waitPort(host: string, port: number): Promise<void> {
  const ok = await waitFor(async () => ((await portOpen(host, port)) ? true : undefined), { timeoutMs: 20_000, intervalMs: 100 });
  assert.ok(ok, `${host}:${port} came up`);
}

async function waitGone(host: string, port: number): Promise<void> {
  await waitFor(async () => ((await portOpen(host, port)) ? undefined : true), { timeoutMs: 10_000, intervalMs: 50 });
}

function startRedis(): void {
  const dir = path.join(tmp, 'redis');
  fs.mkdirSync(dir, { recursive: true });
  spawnEngine('redis', 'redis-server', [
    '--bind',
    `${BASE}.1`,
    '--port',
    '6379',
    '--requirepass',
    secrets.redisPassword,
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--maxmemory-policy',
    'noeviction',
  ]);
}

function startMemcached(name: 'cache1' | 'cache2'): void {
  const address = name === 'cache1' ? `${BASE}.2` : `${BASE}.3`;
  spawnEngine(name, 'memcached', ['-l', address, '-p', '11211', '-U', '0', '-m', '16', ...(asRoot ? ['-u', 'root'] : [])]);
}

function dbSocket(name: 'db1' | 'db2'): string {
  return path.join(tmp, name, 'sock');
}

function rootSql(name: 'db1' | 'db2', sql: string): string {
  const r = spawnSync('mariadb', ['--no-defaults', '-S', dbSocket(name), '-u', 'root', '-N', '-B', '-e', sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${name}: ${sql}: ${r.stderr}`);
  return r.stdout.trim();
}

async function startMariadb(name: 'db1' | 'db2', address: string, readOnly: boolean): Promise<void> {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  const install = spawnSync(
    'mariadb-install-db',
    ['--no-defaults', `--datadir=${dir}/data`, `--user=${os.userInfo().username}`, '--auth-root-authentication-method=socket', '--skip-test-db'],
    { encoding: 'utf8' },
  );
  assert.equal(install.status, 0, install.stderr);
  const cnf = path.join(dir, 'my.cnf');
  fs.writeFileSync(
    cnf,
    [
      '[mariadbd]',
      `datadir=${dir}/data`,
      `socket=${dbSocket(name)}`,
      `pid-file=${dir}/pid`,
      `tmpdir=${dir}`,
      `bind-address=${address}`,
      'port=3306',
      ...(asRoot ? ['user=root'] : []),
      'innodb_buffer_pool_size=32M',
      'skip-log-bin',
      `read_only=${readOnly ? 1 : 0}`,
      `log-error=${dir}/error.log`,
      '',
    ].join('\n'),
  );
  spawnEngine(name, 'mariadbd', [`--defaults-file=${cnf}`]);
  const up = await waitFor(async () => (spawnSync('mariadb', ['--no-defaults', '-S', dbSocket(name), '-u', 'root', '-e', 'SELECT 1']).status === 0 ? true : undefined), {
    timeoutMs: 30_000,
    intervalMs: 100,
  });
  assert.ok(up, `${name} answers`);
  // What the engine driver does for the app: its database and user.
  rootSql(
    name,
    `CREATE DATABASE IF NOT EXISTS ${DB}; CREATE USER IF NOT EXISTS 'hastack'@'%' IDENTIFIED BY '${secrets.dbAppPassword}'; GRANT ALL ON ${DB}.* TO 'hastack'@'%';` +
      `CREATE TABLE IF NOT EXISTS ${DB}.roletest (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(40));`,
  );
}

function setReadOnly(name: 'db1' | 'db2', on: boolean): void {
  rootSql(name, `SET GLOBAL read_only = ${on ? 1 : 0}`);
}

before(async () => {
  startRedis();
  startMemcached('cache1');
  startMemcached('cache2');
  await Promise.all([startMariadb('db1', `${BASE}.4`, false), startMariadb('db2', `${BASE}.5`, true)]);
  await Promise.all([waitPort(`${BASE}.1`, 6379), waitPort(`${BASE}.2`, 11211), waitPort(`${BASE}.3`, 11211)]);
});

const started: Closeable[] = [];

after(async () => {
  for (const c of started.splice(0)) await c.close().catch(() => undefined);
  await Promise.all(engines.names().map((name) => engines.kill(name)));
  fs.rmSync(tmp, { recursive: true, force: true });
});

// ---- memcached ring ------------------------------------------------------------------------------

describe('cache client against two memcached', () => {
  const nodes = [
    { address: `${BASE}.2`, port: 11211 },
    { address: `${BASE}.3`, port: 11211 },
  ];
  const ring = new CacheRing(nodes.map((n) => `${n.address}:${n.port}`));
  const keysOn = (node: string): string[] => Array.from({ length: 200 }, (_, i) => `k${i}`).filter((k) => ring.nodeFor(k) === node);

  it('stores, reads and deletes JSON values on both nodes', async () => {
    // A generous op timeout: this checks what is stored, not how fast; the default 50 ms budget
    // (which the frozen-node test below relies on) can run out on a loaded 2-core machine.
    const cache = new CacheClient(nodes, { log, opTimeoutMs: 2_000 });
    try {
      for (const node of ring.nodes) {
        const key = keysOn(node)[0] ?? '';
        assert.equal(await cache.set(key, { node, n: 1 }, 30), true);
        assert.deepEqual(await cache.get(key), { node, n: 1 });
        assert.equal(await cache.delete(key), true);
        assert.equal(await cache.get(key), undefined);
      }
      assert.equal(await cache.set('spaces are hashed', [1, 2], 30), true);
      assert.deepEqual(await cache.get('spaces are hashed'), [1, 2]);
    } finally {
      await cache.close();
    }
  });

  it('a killed node is a miss, never an error; its keys move to the other node and come back after restart', async () => {
    const cache = new CacheClient(nodes, { log, probeMinMs: 200 });
    try {
      const dead = `${BASE}.3:11211`;
      const keys = keysOn(dead).slice(0, 5);
      signal('cache2', 'SIGKILL');
      await waitGone(`${BASE}.3`, 11211);
      for (const k of keys) assert.equal(await cache.get(k), undefined);
      assert.equal(cache.health().find((h) => h.node === dead)?.up, false, 'ejected after consecutive failures');
      // While it is out, its keys live on the other node.
      assert.equal(await cache.set(keys[0] ?? '', 'moved', 30), true);
      assert.equal(await cache.get(keys[0] ?? ''), 'moved');
      startMemcached('cache2');
      await waitPort(`${BASE}.3`, 11211);
      const back = await waitFor(async () => (cache.health().every((h) => h.up) ? true : undefined), { timeoutMs: 5_000, intervalMs: 50 });
      assert.ok(back, 'the restarted node is re-admitted');
      assert.equal(await cache.set(keys[1] ?? '', 'home', 30), true);
      assert.equal(await cache.get(keys[1] ?? ''), 'home');
      assert.ok(cache.stats().failures >= 2);
    } finally {
      await cache.close();
    }
  });

  it('a frozen node costs one bounded timeout per op, then nothing', async () => {
    const cache = new CacheClient(nodes, { log });
    try {
      const frozen = `${BASE}.2:11211`;
      const keys = keysOn(frozen).slice(0, 4);
      signal('cache1', 'SIGSTOP');
      try {
        const t0 = Date.now();
        assert.equal(await cache.get(keys[0] ?? ''), undefined);
        assert.ok(Date.now() - t0 < 500, `a stalled get took ${Date.now() - t0} ms`);
        assert.equal(await cache.set(keys[1] ?? '', 1, 30), false);
        const t1 = Date.now();
        assert.equal(await cache.get(keys[2] ?? ''), undefined);
        assert.ok(Date.now() - t1 < 50, 'after ejection the frozen node is skipped');
      } finally {
        signal('cache1', 'SIGCONT');
      }
    } finally {
      await cache.close();
    }
  });
});

// ---- database client -----------------------------------------------------------------------------

describe('db client against a writable and a read-only MariaDB', () => {
  it('writes to the writable node and follows a role change', async () => {
    // No background probe rounds: the ping, not the watcher, is what must notice the second flip.
    const db = createDbClient(topo, secrets, log, { retryBudgetMs: 3_000, probeIntervalMs: 60_000 });
    try {
      const where = async (): Promise<string> => (await db.query<{ d: string }>('SELECT @@datadir AS d'))[0]?.d ?? '';
      assert.match(await where(), /db1/);
      assert.equal(db.primary, 'db1');
      // Demote db1, promote db2: the next write is refused read-only, and the client re-probes.
      setReadOnly('db1', true);
      setReadOnly('db2', false);
      await db.execute(`INSERT INTO roletest (note) VALUES ('after-flip')`);
      assert.equal(db.primary, 'db2');
      assert.equal(rootSql('db2', `SELECT COUNT(*) FROM ${DB}.roletest WHERE note = 'after-flip'`), '1');
      // Back again: no write fails this time; the health ping notices the demotion.
      setReadOnly('db2', true);
      setReadOnly('db1', false);
      const ping = await db.ping(1_000);
      assert.equal(ping.ok, false);
      assert.match(ping.detail, /db2 turned read-only/);
      assert.match(await where(), /db1/);
    } finally {
      setReadOnly('db1', false);
      setReadOnly('db2', true);
      await db.close();
    }
  });

  it('re-runs a transaction whose connection died before COMMIT, applying it once', async () => {
    const db = createDbClient(topo, secrets, log, { retryBudgetMs: 3_000 });
    try {
      let attempts = 0;
      await db.transaction(async (tx) => {
        attempts++;
        await tx.execute(`INSERT INTO roletest (note) VALUES ('killed-once')`);
        if (attempts === 1) {
          const [me] = await tx.query<{ id: number }>('SELECT CONNECTION_ID() AS id');
          rootSql('db1', `KILL ${me?.id ?? 0}`);
        }
        await tx.query('SELECT 1');
      });
      assert.equal(attempts, 2);
      assert.equal(rootSql('db1', `SELECT COUNT(*) FROM ${DB}.roletest WHERE note = 'killed-once'`), '1');
    } finally {
      await db.close();
    }
  });

  it('reports DB_UNAVAILABLE within its budget when no node is writable', async () => {
    const db = createDbClient(topo, secrets, log, { retryBudgetMs: 600 });
    setReadOnly('db1', true);
    try {
      const t0 = Date.now();
      await assert.rejects(db.execute(`INSERT INTO roletest (note) VALUES ('nowhere')`), (e: unknown) => (e as { code?: string }).code === 'DB_UNAVAILABLE');
      assert.ok(Date.now() - t0 < 3_000);
    } finally {
      setReadOnly('db1', false);
      await db.close();
    }
  });
});

// ---- migrations ----------------------------------------------------------------------------------

describe('migrations', () => {
  it('apply exactly once when two processes race', async () => {
    const app = await loadApp(topo);
    const a = createDbClient(topo, secrets, log);
    const b = createDbClient(topo, secrets, log);
    try {
      const [ra, rb] = await Promise.all([applyMigrations(a, app.migrations, log), applyMigrations(b, app.migrations, log)]);
      const all = [...ra.applied, ...rb.applied].sort();
      assert.deepEqual(all, app.migrations.map((m) => m.id).sort());
      assert.ok(all.length >= 3, 'the ERP has migrations');
      assert.ok(ra.applied.length === 0 || rb.applied.length === 0, 'one of them found everything applied');
      assert.equal(rootSql('db1', `SELECT COUNT(*) FROM ${DB}.hastack_migrations`), String(app.migrations.length));
      assert.equal(rootSql('db1', `SELECT COUNT(*) FROM ${DB}.items`), '5');
      assert.deepEqual((await applyMigrations(a, app.migrations, log)).applied, []);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

// ---- the ERP on the app host and worker ----------------------------------------------------------

const APP = `http://${BASE}.6:8000`;

interface Json {
  [k: string]: unknown;
}

/** The clerk's session cookie (the ERP's routes that change data need one), set once logged in. */
let session: string | undefined;

async function call(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Json; headers: Headers }> {
  const res = await fetch(APP + url, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(session === undefined ? {} : { cookie: session }), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Json), headers: res.headers };
}

async function orderStatus(id: unknown): Promise<string> {
  return String((await call('GET', `/api/orders/${String(id)}`)).body.status);
}

async function waitOrder(id: unknown, status: string, timeoutMs: number): Promise<void> {
  const ok = await waitFor(async () => ((await orderStatus(id)) === status ? true : undefined), { timeoutMs, intervalMs: 100 });
  assert.ok(ok, `order ${String(id)} became ${status} (is ${await orderStatus(id)})`);
}

function stockOf(report: Json, sku: string): number {
  const items = report.items as Array<{ sku: string; stockOnHand: number }>;
  return items.find((i) => i.sku === sku)?.stockOnHand ?? NaN;
}

describe('ERP on the app host and the worker', () => {
  let appServer: Closeable;
  let worker: Closeable;

  before(async () => {
    appServer = await startAppServer(ctxOf('app1', 'app'), { drainDelayMs: 500 });
    started.push(appServer);
    worker = await startWorker(ctxOf('worker1', 'worker'));
    started.push(worker);
    // The ERP's demo clerk (demo migration 009); the login also records the session in MariaDB,
    // which keeps it verifiable in the Redis-outage test below.
    const login = await call('POST', '/login', { username: 'clerk', password: 'clerk-demo' });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    session = login.headers.get('set-cookie')?.split(';')[0];
    assert.ok(session);
  });

  it("answers / with the node, X-Served-By and the caller's X-Request-Id", async () => {
    const r = await call('GET', '/', undefined, { 'x-request-id': 'test-req-1' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { app: 'erp', node: 'app1' });
    assert.equal(r.headers.get('x-served-by'), 'app1');
    assert.equal(r.headers.get('x-request-id'), 'test-req-1');
    assert.equal((await call('GET', '/healthz')).status, 200);
    const ready = await call('GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.status, 'ready', JSON.stringify(ready.body));
  });

  it('serves items through the cache', async () => {
    const first = await call('GET', '/api/items/GADGET');
    assert.equal(first.status, 200);
    assert.equal(first.body.cached, false);
    assert.deepEqual(first.body.item, { sku: 'GADGET', name: 'Gadget', priceCents: 4999, stockOnHand: 500 });
    assert.equal((await call('GET', '/api/items/GADGET')).body.cached, true);
    const list = await call('GET', '/api/items');
    assert.equal((list.body.items as unknown[]).length, 5);
    const missing = await call('GET', '/api/items/NOPE', undefined, { 'x-request-id': 'r-404' });
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body, { error: { code: 'UNKNOWN_SKU', message: 'no item with sku NOPE', requestId: 'r-404' } });
  });

  it('answers bad requests with 4xx JSON errors', async () => {
    const badJson = await call('POST', '/api/orders', '{"customer": ', { 'x-request-id': 'r-bad' });
    assert.equal(badJson.status, 400);
    assert.equal((badJson.body.error as Json).requestId, 'r-bad');
    assert.equal(badJson.headers.get('x-served-by'), 'app1');
    const invalid = await call('POST', '/api/orders', { customer: 'ACME', lines: [{ sku: 'GADGET', qty: 0 }] });
    assert.equal(invalid.status, 400);
    assert.equal((invalid.body.error as Json).code, 'INVALID_ORDER');
    const unknownSku = await call('POST', '/api/orders', { customer: 'ACME', lines: [{ sku: 'NOPE', qty: 1 }] });
    assert.equal(unknownSku.status, 400);
    assert.equal((unknownSku.body.error as Json).code, 'UNKNOWN_SKU');
    assert.equal((await call('GET', '/no/such/route')).status, 404);
  });

  it('takes an order once per Idempotency-Key and confirms it in the background', async () => {
    const order = {
      customer: 'ACME',
      lines: [
        { sku: 'WIDGET-RED', qty: 3 },
        { sku: 'GADGET', qty: 1 },
      ],
    };
    const first = await call('POST', '/api/orders', order, { 'idempotency-key': 'key-1' });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.equal(first.body.totalCents, 3 * 1250 + 4999);
    const again = await call('POST', '/api/orders', order, { 'idempotency-key': 'key-1' });
    assert.equal(again.status, 200);
    assert.equal(again.body.id, first.body.id);
    const other = await call('POST', '/api/orders', { ...order, customer: 'Other' }, { 'idempotency-key': 'key-1' });
    assert.equal(other.status, 409);
    await waitOrder(first.body.id, 'confirmed', 10_000);
    const stock = (await call('GET', '/api/stock')).body;
    assert.equal(stock.consistent, true);
    assert.equal(stockOf(stock, 'WIDGET-RED'), 997);
    assert.equal(stockOf(stock, 'GADGET'), 499);
    // The confirmation invalidated the cached item.
    const item = await call('GET', '/api/items/GADGET');
    assert.equal((item.body.item as Json).stockOnHand, 499);
  });

  it('makes exactly one order from concurrent requests with the same key', async () => {
    const order = { customer: 'Racer', lines: [{ sku: 'SPROCKET', qty: 2 }] };
    const answers = await Promise.all(Array.from({ length: 8 }, () => call('POST', '/api/orders', order, { 'idempotency-key': 'race-1' })));
    const ids = new Set(answers.map((a) => a.body.id));
    assert.equal(ids.size, 1, JSON.stringify(answers.map((a) => [a.status, a.body])));
    assert.equal(answers.filter((a) => a.status === 201).length, 1);
    assert.ok(answers.every((a) => a.status === 201 || a.status === 200));
    await waitOrder([...ids][0], 'confirmed', 10_000);
    assert.equal(rootSql('db1', `SELECT COUNT(*) FROM ${DB}.sales_orders WHERE idempotency_key = 'race-1'`), '1');
  });

  it('refuses an order that exceeds the stock, reserving nothing', async () => {
    const r = await call('POST', '/api/orders', { customer: 'Collector', lines: [{ sku: 'RARE-COIN', qty: 5 }] });
    assert.equal(r.status, 409, JSON.stringify(r.body));
    assert.equal((r.body.error as Json).code, 'INSUFFICIENT_STOCK');
    const stock = (await call('GET', '/api/stock')).body;
    assert.equal(stockOf(stock, 'RARE-COIN'), 3);
    assert.equal(stock.consistent, true);
  });

  it('a confirm-order job run again changes nothing', async () => {
    const r = await call('POST', '/api/orders', { customer: 'Twice', lines: [{ sku: 'WIDGET-BLUE', qty: 4 }] });
    await waitOrder(r.body.id, 'confirmed', 10_000);
    const before = stockOf((await call('GET', '/api/stock')).body, 'WIDGET-BLUE');
    const invoiceBefore = (await call('GET', `/api/orders/${String(r.body.id)}`)).body.invoiceId;
    assert.equal(typeof invoiceBefore, 'number');
    const q = new Queue('erp', { connection: redisOptions(topo, secrets, 'apptest'), prefix: QUEUE_PREFIX });
    q.on('error', () => undefined);
    try {
      const job = await q.add('confirm-order', { orderId: r.body.id }, { jobId: `confirm-again-${String(r.body.id)}` });
      const done = await waitFor(async () => ((await job.getState()) === 'completed' ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 });
      assert.ok(done, 'the repeated job completed');
    } finally {
      await q.close();
    }
    const stock = (await call('GET', '/api/stock')).body;
    assert.equal(stockOf(stock, 'WIDGET-BLUE'), before);
    assert.equal(stock.consistent, true);
    assert.equal((await call('GET', `/api/orders/${String(r.body.id)}`)).body.invoiceId, invoiceBefore, 'still the one invoice');
  });

  it('the sweep schedule confirms a pending order that has no job', async () => {
    // An order whose enqueue was lost: written straight to the database, a minute old (the
    // clerk's, so the clerk may read it).
    const id = rootSql(
      'db1',
      `INSERT INTO ${DB}.sales_orders (idempotency_key, created_by, customer, status, total_cents, created_at) VALUES ('orphan-1', 'clerk', 'Orphan', 'pending', 250, UTC_TIMESTAMP(3) - INTERVAL 1 MINUTE);` +
        `INSERT INTO ${DB}.sales_order_lines (order_id, line_no, sku, qty, price_cents) VALUES (LAST_INSERT_ID(), 1, 'SPROCKET', 1, 250);` +
        'SELECT LAST_INSERT_ID();',
    );
    // The schedule ticks every 10 s.
    await waitOrder(id, 'confirmed', 25_000);
    assert.equal((await call('GET', '/api/stock')).body.consistent, true);
  });

  it('the worker reports healthy Redis on /healthz', async () => {
    const res = await fetch(`http://${BASE}.7:8100/healthz`);
    const body = (await res.json()) as Json;
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.status, 'ok');
  });

  it('keeps sessions in Redis, shared by every process of the app', async () => {
    const rt = openAppRuntime(ctxOf('app1', 'app'), await loadApp(topo), log, 'app');
    try {
      const session = rt.context(log).session;
      assert.ok(session);
      await session.set('sess-12345678', { user: 'ana' }, 60);
      assert.deepEqual(await session.get('sess-12345678'), { user: 'ana' });
      await session.destroy('sess-12345678');
      assert.equal(await session.get('sess-12345678'), undefined);
    } finally {
      await rt.close();
    }
  });

  it('takes orders while Redis is down, and the sweep confirms them once it is back', async () => {
    signal('redis', 'SIGKILL');
    await waitGone(`${BASE}.1`, 6379);
    const t0 = Date.now();
    const r = await call('POST', '/api/orders', { customer: 'Outage', lines: [{ sku: 'SPROCKET', qty: 1 }] }, { 'idempotency-key': 'outage-1' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.status, 'pending');
    assert.ok(Date.now() - t0 < 6_000, `the enqueue attempt is bounded (${Date.now() - t0} ms)`);
    // The worker reports the outage but stays healthy: it is judged by progress, and a restart
    // would not bring Redis back.
    const workerDown = await fetch(`http://${BASE}.7:8100/healthz`);
    assert.equal(workerDown.status, 200);
    assert.equal(((await workerDown.json()) as Json).status, 'redis-unreachable');
    // A shared dependency outage does not take the app server out of the balancer.
    const ready = await waitFor(
      async () => {
        const x = await call('GET', '/readyz');
        return x.body.status === 'degraded' ? x : undefined;
      },
      { timeoutMs: 5_000, intervalMs: 200 },
    );
    assert.equal(ready?.status, 200);
    // Redis comes back empty (no persistence here): the schedule is re-created and the sweep
    // confirms the order the lost enqueue never delivered.
    startRedis();
    await waitPort(`${BASE}.1`, 6379);
    // That empty Redis no longer knows the session (Redis is the truth once it answers): log in again.
    const again = await waitFor(
      async () => {
        const l = await call('POST', '/login', { username: 'clerk', password: 'clerk-demo' }, { cookie: '' });
        return l.status === 200 ? l.headers.get('set-cookie')?.split(';')[0] : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 500 },
    );
    assert.ok(again, 'logged in again once Redis is back');
    session = again;
    await waitOrder(r.body.id, 'confirmed', 40_000);
    const healthy = await waitFor(async () => ((await fetch(`http://${BASE}.7:8100/healthz`)).status === 200 ? true : undefined), {
      timeoutMs: 10_000,
    });
    assert.ok(healthy);
    assert.equal((await call('GET', '/api/stock')).body.consistent, true);
  });

  it('drains on close: /readyz turns 503 while requests are still served', async () => {
    const closing = appServer.close();
    await sleep(50);
    const ready = await call('GET', '/readyz');
    assert.equal(ready.status, 503);
    assert.equal(ready.body.status, 'draining');
    assert.equal((await call('GET', '/')).status, 200);
    await closing;
    await assert.rejects(fetch(`${APP}/`));
    await worker.close();
  });
});
