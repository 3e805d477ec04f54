/**
 * The ERP under concurrency, on a real cluster brought up with the CLI: one node with every tier
 * plus a second app server, so two app servers share the database.
 *
 *  - 50 parallel orders of one unit of an item with stock 10: exactly 10 confirmed, the rest
 *    refused (409: the ERP reserves stock when it takes the order), stock 0, and the ledger
 *    agrees with stock (GET /api/stock).
 *  - The same Idempotency-Key sent to both app servers at once (straight to each :8000, not
 *    through the load balancer): one order.
 *  - memcached SIGKILLed (the cluster's own process, by its pid): item reads still answer, and
 *    both app servers record the ejection, then the rejoin after the supervisor restarted it,
 *    in the cluster event log.
 *
 * Namespace: addresses 127.0.48.1-2, cluster "erpconc" in a fresh temp directory; `down` stops
 * every process the cluster recorded and the directory is removed.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

// Before any logger is created: keep the test output readable.
process.env.HASTACK_LOG_LEVEL ??= 'warn';

import { readSecrets, readTopology } from '../../src/config/index.js';
import { eventsSize, readEventsFrom, type ClusterEvent } from '../../src/shared/events.js';
import { createDbClient } from '../../src/clients/db/index.js';
import { createLogger } from '../../src/shared/log.js';
import { sleep, waitFor } from '../../src/shared/retry.js';
import { upCluster, type TestCluster } from '../helpers/cluster.js';
import { erpLogin } from '../helpers/erp.js';
import { testRange } from '../../kit/addresses.js';
import { ERP_APP, onRange, soloNodes } from '../../kit/configs.js';

const R = testRange('erp-concurrency');
const CLUSTER = R.cluster;
// Requests go straight to the app servers (alternating), not through the load balancer: what is
// under test is two app servers sharing one database, and the orders must reach both.
const APPS = [`http://${R.address(1)}:8000`, `http://${R.address(2)}:8000`] as const;
const APP1 = APPS[0];
/** The test's own item (the seed items have stock 3 or 500+), created with its opening ledger row. */
const SKU = 'CONC-TEN';
const STOCK = 10;
const ORDERS = 50;

type Json = Record<string, unknown>;

/** The demo clerk's session cookie: every request but login needs one; `call` sends it. */
let session = '';

interface Answer {
  readonly status: number;
  readonly body: Json;
  /** The app server that answered (the host sets X-Served-By). */
  readonly servedBy: string | null;
}

async function call(base: string, method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(base + url, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(session === '' ? {} : { cookie: session }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    // 30 s per request: far above a loaded two-core machine's answer, bounds a hung server.
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Json), servedBy: res.headers.get('x-served-by') };
}

/**
 * Places an order as a careful client does: the same Idempotency-Key on every attempt, retried
 * on a 5xx or a network error (the key makes a retry safe), 3 attempts.
 */
async function placeOrder(base: string, key: string, sku: string): Promise<Answer> {
  let last: Answer | undefined;
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      last = await call(base, 'POST', '/api/orders', { customer: 'CONCURRENCY', lines: [{ sku, qty: 1 }] }, { 'idempotency-key': key, cookie: session });
      if (last.status < 500) return last;
    } catch (e) {
      lastErr = e;
    }
    await sleep(200 * (attempt + 1));
  }
  if (last) return last;
  throw lastErr instanceof Error ? lastErr : new Error(String(lastErr));
}

interface StockReport {
  readonly items: ReadonlyArray<{ sku: string; stockOnHand: number; ledgerSum: number; consistent: boolean }>;
  readonly consistent: boolean;
  readonly orders: { pending: number; confirmed: number; rejected: number };
}

describe('ERP concurrency on two app servers', { timeout: 420_000 }, () => {
  let cluster: TestCluster | undefined;

  before(async () => {
    // No DNS: nothing here resolves the service name; the load balancer is required by the config.
    cluster = await upCluster(CLUSTER, onRange('erp-concurrency', { app: ERP_APP, nodes: soloNodes({ app2: true }) }));
    // The test item, through the database client the app servers use (opening stock on the ledger).
    const topo = readTopology(path.join(cluster.dir, '.hastack', CLUSTER));
    const db = createDbClient(topo, readSecrets(topo.stateDir), createLogger('erp-concurrency-test'));
    try {
      await db.transaction(async (tx) => {
        await tx.execute('INSERT INTO items (sku, name, price_cents, stock_on_hand) VALUES (?, ?, ?, ?)', [SKU, 'Ten of a kind (concurrency test)', 500, STOCK]);
        await tx.execute("INSERT INTO stock_ledger (sku, warehouse, delta, reason, order_id, created_at) VALUES (?, 'MAIN', ?, 'opening', NULL, UTC_TIMESTAMP(3))", [SKU, STOCK]);
        await tx.execute("INSERT INTO stock_balances (sku, warehouse, on_hand) VALUES (?, 'MAIN', ?)", [SKU, STOCK]);
      });
    } finally {
      await db.close();
    }
    session = await erpLogin(APP1);
  });

  after(async () => cluster?.down());

  /** Waits (bounded) until no order is pending: confirmation runs in the background job. */
  async function settled(): Promise<StockReport> {
    // 120 s: the job confirms within a second or two; an order whose enqueue failed (no Redis
    // replica to make it durable) is confirmed by the sweep, which runs every 10 s on orders
    // older than 10 s, and 50 confirmations queue behind each other on the item's row lock.
    const report = await waitFor(
      async () => {
        const r = await call(APP1, 'GET', '/api/stock');
        const s = r.body as unknown as StockReport;
        return r.status === 200 && s.orders.pending === 0 ? s : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    assert.ok(report, 'every order was confirmed or rejected within 120 s');
    return report;
  }

  it('50 parallel orders for an item with stock 10: exactly 10 confirmed, stock 0, ledger consistent', async () => {
    const answers = await Promise.all(Array.from({ length: ORDERS }, (_, i) => placeOrder(APPS[i % APPS.length] ?? APP1, `conc-${i}`, SKU)));
    const accepted = answers.filter((a) => a.status === 201 || a.status === 200);
    // An order refused at once for want of stock (if the ERP reserves at creation) is a 409.
    const refused = answers.filter((a) => a.status === 409);
    assert.equal(accepted.length + refused.length, ORDERS, `unexpected answers: ${JSON.stringify(answers.filter((a) => ![200, 201, 409].includes(a.status)))}`);
    assert.deepEqual([...new Set(answers.map((a) => a.servedBy))].sort(), ['app2', 'solo'], 'both app servers took orders');
    const ids = accepted.map((a) => Number(a.body.id));
    assert.equal(new Set(ids).size, ids.length, 'one order per Idempotency-Key');

    await settled();
    const finals = await Promise.all(ids.map((id) => call(APP1, 'GET', `/api/orders/${id}`)));
    const statuses = finals.map((f) => f.body.status);
    const confirmed = statuses.filter((s) => s === 'confirmed').length;
    const rejected = statuses.filter((s) => s === 'rejected').length + refused.length;
    assert.equal(confirmed, STOCK, `statuses: ${JSON.stringify(statuses)}`);
    assert.equal(rejected, ORDERS - STOCK);

    const stock = (await call(APP1, 'GET', '/api/stock')).body as unknown as StockReport;
    const line = stock.items.find((i) => i.sku === SKU);
    assert.deepEqual(line, { sku: SKU, stockOnHand: 0, ledgerSum: 0, consistent: true });
    assert.equal(stock.consistent, true, JSON.stringify(stock.items.filter((i) => !i.consistent)));
    // The cached item is invalidated by the confirmations (delete-on-write): it reads 0 too.
    const item = await call(APP1, 'GET', `/api/items/${SKU}`);
    assert.equal((item.body.item as Json | undefined)?.stockOnHand, 0);
  });

  it('the same Idempotency-Key sent to two app servers at once makes one order', async () => {
    const [a, b] = await Promise.all(APPS.map((base) => placeOrder(base, 'conc-twice', 'WIDGET-RED')));
    assert.ok(a && b);
    assert.ok([200, 201].includes(a.status) && [200, 201].includes(b.status), `${a.status} ${JSON.stringify(a.body)} / ${b.status} ${JSON.stringify(b.body)}`);
    assert.deepEqual([a.servedBy, b.servedBy], ['solo', 'app2'], 'each app server answered its own request');
    assert.equal(a.body.id, b.body.id, 'both answers name the same order');
    // One created it and the other found it (both 200 only if a retried first attempt had committed).
    assert.ok([a.status, b.status].filter((s) => s === 201).length <= 1, 'at most one answer says created');
    const report = await settled();
    const widget = report.items.find((i) => i.sku === 'WIDGET-RED');
    // One unit sold once: 1000 opening stock minus this order.
    assert.deepEqual(widget, { sku: 'WIDGET-RED', stockOnHand: 999, ledgerSum: 999, consistent: true });
  });

  it('a killed memcached is a miss for both app servers; ejection and rejoin reach the event log', async () => {
    assert.ok(cluster);
    const stateDir = path.join(cluster.dir, '.hastack', CLUSTER);
    const run = JSON.parse(fs.readFileSync(path.join(stateDir, 'run.json'), 'utf8')) as { services: Record<string, { pid: number }> };
    const mc = Object.entries(run.services).find(([id]) => id.endsWith('/memcached'));
    assert.ok(mc, `memcached in run.json: ${Object.keys(run.services).join(', ')}`);
    // Only events after the kill: under load a 50 ms cache operation can time out before it, and
    // the ring then ejects and rejoins the live node on its own (that is the client doing its job).
    const from = eventsSize(stateDir);
    const cacheEvents = (): ClusterEvent[] => readEventsFrom(stateDir, from).events.filter((e) => e.type === 'cache.ejected' || e.type === 'cache.rejoined');
    const appPids = Object.entries(run.services)
      .filter(([id]) => id.endsWith('/app'))
      .map(([, s]) => s.pid);
    assert.equal(appPids.length, APPS.length);
    /** True when every app server process has recorded an event of `type`. */
    const everyApp = (type: ClusterEvent['type']): true | undefined => {
      const pids = new Set(
        cacheEvents()
          .filter((e) => e.type === type)
          .map((e) => e.data?.pid),
      );
      return appPids.every((p) => pids.has(p)) ? true : undefined;
    };
    process.kill(mc[1].pid, 'SIGKILL');

    // Reads on each app server until both have ejected the node (2 failed ops; a read-through
    // miss is a get and a set, so one read may do it); every read answers, from the database.
    // 20 s bounds it. (waitFor swallows a throw from its check: answers are judged after.)
    const answers: Answer[] = [];
    const ejected = await waitFor(
      async () => {
        for (const base of APPS) answers.push(await call(base, 'GET', '/api/items/GADGET'));
        return everyApp('cache.ejected');
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    assert.ok(ejected, `both app servers ejected the node: ${JSON.stringify(cacheEvents())}`);
    assert.ok(answers.length >= APPS.length, 'each app server was asked');
    assert.deepEqual(
      answers.filter((a) => a.status !== 200),
      [],
      'a dead cache is a miss, not an error',
    );
    const first = cacheEvents()[0];
    assert.equal(first?.service, 'memcached');
    assert.equal(first?.node, 'solo');

    // The supervisor restarts memcached (capped backoff) and the clients' probes (500 ms,
    // doubling to 5 s) put it back: 60 s covers both with margin on a loaded machine.
    const rejoined = await waitFor(async () => everyApp('cache.rejoined'), { timeoutMs: 60_000, intervalMs: 250 });
    assert.ok(rejoined, `both app servers took the node back: ${JSON.stringify(cacheEvents())}`);
    const twice = await call(APPS[0], 'GET', '/api/items/GADGET');
    const again = await call(APPS[0], 'GET', '/api/items/GADGET');
    assert.equal(twice.status, 200);
    assert.equal(again.body.cached, true, 'cached again once the node is back');
  });
});
