/**
 * The example ERP end to end on a real cluster brought up with the CLI: one node with every tier
 * plus a second app server, so two app servers share the database, Redis and memcached.
 *
 *  - Login: the session cookie made on one app server works on the other, and still works after
 *    the app server that made it was killed (sessions live in Redis); logout ends it everywhere.
 *  - Every business route needs a session; bad input is a 400 naming the field.
 *  - 50 parallel orders (both app servers) for an item with stock 10: exactly 10 accepted (stock
 *    reserved in the order's transaction), 40 refused with 409, stock 0, ledger and warehouse
 *    balances consistent; the invoice job makes exactly one invoice per accepted order.
 *  - Stock per warehouse: an order naming a warehouse takes only from it.
 *  - The demo seed loads once, even when run twice at once on both app servers.
 *  - The reorder schedule writes a report listing items under their reorder level.
 *
 * Namespace: addresses 127.0.58.1-2, cluster "erptest" in a fresh temp directory; `down` stops
 * every process the cluster recorded and the directory is removed.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

// Before any logger is created: keep the test output readable.
process.env.HASTACK_LOG_LEVEL ??= 'warn';

import { readSecrets, readTopology } from '../../src/config/index.js';
import { createDbClient } from '../../src/clients/db/index.js';
import { createLogger } from '../../src/shared/log.js';
import { waitFor } from '../../src/shared/retry.js';
import { pidAlive } from '../helpers/cli.js';
import { upCluster, type TestCluster } from '../helpers/cluster.js';
import { call, ERP_ADMIN, ERP_CLERK, erpLogin, type Json } from '../helpers/erp.js';
import { testRange } from '../../kit/addresses.js';
import { ERP_APP, onRange, soloNodes } from '../../kit/configs.js';

const R = testRange('erp');
const CLUSTER = R.cluster;
const APP1 = `http://${R.address(1)}:8000`;
const APP2 = `http://${R.address(2)}:8000`;
const APPS = [APP1, APP2] as const;

interface StockReport {
  readonly items: ReadonlyArray<{ sku: string; stockOnHand: number; ledgerSum: number; consistent: boolean }>;
  readonly warehouses: ReadonlyArray<{ sku: string; warehouse: string; onHand: number; ledgerSum: number; consistent: boolean }>;
  readonly consistent: boolean;
  readonly orders: { pending: number; confirmed: number; rejected: number };
}

describe('the example ERP on two app servers', { timeout: 600_000 }, () => {
  let cluster: TestCluster | undefined;
  let admin = '';
  let clerk = '';

  before(async () => {
    // No DNS: nothing here resolves the service name; the load balancer is required by the config.
    cluster = await upCluster(CLUSTER, onRange('erp', { app: ERP_APP, nodes: soloNodes({ app2: true }) }));
    admin = await erpLogin(APP1, ERP_ADMIN);
    clerk = await erpLogin(APP2, ERP_CLERK);
  });

  after(async () => cluster?.down());

  function appPid(node: string): number {
    assert.ok(cluster);
    const run = JSON.parse(fs.readFileSync(path.join(cluster.dir, '.hastack', CLUSTER, 'run.json'), 'utf8')) as { services: Record<string, { pid: number }> };
    const svc = run.services[`${node}/app`];
    assert.ok(svc, `${node}/app in run.json: ${Object.keys(run.services).join(', ')}`);
    return svc.pid;
  }

  it('login: bad input is a 400 naming the field, a wrong password a 401', async () => {
    const noUser = await call(APP1, 'POST', '/login', { password: 'x' });
    assert.equal(noUser.status, 400);
    assert.match(String((noUser.body.error as Json).message), /^username/);
    const wrong = await call(APP1, 'POST', '/login', { username: 'clerk', password: 'nope' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.cookie, undefined);
    assert.equal((await call(APP1, 'GET', '/me')).status, 401);
  });

  it('a session made on one app server works on the other, and after the first is killed', async () => {
    const login = await call(APP1, 'POST', '/login', ERP_CLERK);
    assert.equal(login.status, 200);
    assert.equal(login.servedBy, 'solo');
    const cookie = login.cookie ?? '';
    assert.ok(cookie.startsWith('erp_session='), `session cookie: ${cookie}`);
    for (const base of APPS) {
      const me = await call(base, 'GET', '/me', undefined, { cookie });
      assert.equal(me.status, 200, JSON.stringify(me.body));
      assert.deepEqual(me.body.user, { username: 'clerk', role: 'clerk' });
    }
    // Kill the app server that made the session (the supervisor restarts it; app2 answers meanwhile).
    const pid = appPid('solo');
    process.kill(pid, 'SIGKILL');
    const gone = await waitFor(async () => (pidAlive(pid) ? undefined : true), { timeoutMs: 10_000, intervalMs: 50 });
    assert.ok(gone, 'the first app server died');
    const me = await call(APP2, 'GET', '/me', undefined, { cookie });
    assert.equal(me.status, 200, JSON.stringify(me.body));
    assert.equal(me.servedBy, 'app2');
    const order = await call(APP2, 'POST', '/api/orders', { customer: 'AFTER-KILL', lines: [{ sku: 'SPROCKET', qty: 1 }] }, { cookie, 'idempotency-key': 'after-kill-1' });
    assert.equal(order.status, 201, JSON.stringify(order.body));
    // And on the restarted first app server, which never held the session in memory.
    const back = await waitFor(async () => ((await call(APP1, 'GET', '/me', undefined, { cookie }).catch(() => undefined))?.status === 200 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    assert.ok(back, 'the restarted app server knows the session');
    // Logout on one app server ends the session on both.
    const out = await call(APP2, 'POST', '/logout', undefined, { cookie });
    assert.equal(out.status, 200);
    for (const base of APPS) assert.equal((await call(base, 'GET', '/me', undefined, { cookie })).status, 401);
  });

  it('routes that change data need a session; bad input is a 400 naming the field', async () => {
    const order = { customer: 'ACME', lines: [{ sku: 'GADGET', qty: 1 }] };
    const anon = await call(APP1, 'POST', '/api/orders', order);
    assert.equal(anon.status, 401);
    assert.equal((anon.body.error as Json).code, 'NOT_LOGGED_IN');
    assert.equal((await call(APP1, 'POST', '/api/customers', { code: 'X', name: 'X' })).status, 401);
    // A clerk may not create items or seed.
    assert.equal((await call(APP1, 'POST', '/api/items', { sku: 'NOPE', name: 'n', priceCents: 1 }, { cookie: clerk })).status, 403);

    const cases: Array<[string, unknown, RegExp]> = [
      ['/api/orders', { lines: [{ sku: 'GADGET', qty: 1 }] }, /^customer/],
      ['/api/orders', { customer: 'ACME', lines: [{ sku: 'GADGET', qty: 0 }] }, /^lines\[0\]\.qty/],
      ['/api/orders', { customer: 'ACME', lines: [{ sku: 'GADGET', qty: 1 }], warehouse: 'no such' }, /^warehouse/],
      ['/api/orders', { customer: 'ACME', lines: [{ sku: 'NOPE', qty: 1 }] }, /^lines: no item with sku NOPE/],
      ['/api/orders', { customer: 'ACME', lines: [{ sku: 'GADGET', qty: 1 }], warehouse: 'NOWHERE' }, /^warehouse: no warehouse NOWHERE/],
      ['/api/customers', { code: 'ACME2', name: 'Acme', email: 'not-an-address' }, /^email/],
      ['/api/customers', { code: 'ACME2' }, /^name/],
      ['/api/items', { sku: 'BOLT', name: 'Bolt', priceCents: -1 }, /^priceCents/],
    ];
    for (const [url, body, field] of cases) {
      const r = await call(APP2, 'POST', url, body, { cookie: admin });
      assert.equal(r.status, 400, `${url} ${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`);
      assert.match(String((r.body.error as Json).message), field, JSON.stringify(r.body));
    }
  });

  it('50 parallel orders for an item with stock 10: 10 accepted, stock 0, ledger consistent, one invoice each', async () => {
    const sku = 'ERP-TEN';
    const created = await call(APP1, 'POST', '/api/items', { sku, name: 'Ten of a kind', priceCents: 500, opening: { warehouse: 'MAIN', qty: 10 } }, { cookie: admin });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        call(APPS[i % 2] ?? APP1, 'POST', '/api/orders', { customer: 'PARALLEL', lines: [{ sku, qty: 1 }] }, { cookie: clerk, 'idempotency-key': `ten-${i}` }),
      ),
    );
    const accepted = answers.filter((a) => a.status === 201);
    const refused = answers.filter((a) => a.status === 409);
    assert.equal(accepted.length, 10, JSON.stringify(answers.filter((a) => a.status !== 201 && a.status !== 409).map((a) => [a.status, a.body])));
    assert.equal(refused.length, 40);
    assert.ok(refused.every((a) => (a.body.error as Json).code === 'INSUFFICIENT_STOCK'));
    assert.deepEqual([...new Set(answers.map((a) => a.servedBy))].sort(), ['app2', 'solo'], 'both app servers took orders');
    const ids = accepted.map((a) => Number(a.body.id));
    assert.equal(new Set(ids).size, 10);
    assert.ok(
      accepted.every((a) => (a.body.lines as Json[])[0]?.warehouse === 'MAIN'),
      'each line says where its stock was reserved',
    );

    // Reserved at once: stock is 0 before any job ran.
    const stock = (await call(APP1, 'GET', '/api/stock', undefined, { cookie: clerk })).body as unknown as StockReport;
    assert.deepEqual(
      stock.items.find((i) => i.sku === sku),
      { sku, stockOnHand: 0, ledgerSum: 0, consistent: true },
    );
    assert.deepEqual(
      stock.warehouses.filter((w) => w.sku === sku),
      [{ sku, warehouse: 'MAIN', onHand: 0, ledgerSum: 0, consistent: true }],
    );
    assert.equal(stock.consistent, true, JSON.stringify([...stock.items, ...stock.warehouses].filter((i) => !i.consistent)));

    // The invoice job: every accepted order ends confirmed with exactly one invoice.
    // 60 s: the job runs within a second or two; an order whose enqueue failed (single Redis,
    // no replica to make it durable) is invoiced by the sweep (every 10 s, orders older than 10 s).
    const done = await waitFor(
      async () => {
        const orders = await Promise.all(ids.map((id) => call(APP1, 'GET', `/api/orders/${id}`, undefined, { cookie: clerk })));
        return orders.every((o) => o.body.status === 'confirmed') ? orders : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    assert.ok(done, 'every accepted order was invoiced within 60 s');
    const invoiceIds = done.map((o) => o.body.invoiceId);
    assert.equal(new Set(invoiceIds).size, 10, `one distinct invoice per order: ${JSON.stringify(invoiceIds)}`);
    const inv = await call(APP2, 'GET', `/api/orders/${ids[0]}/invoice`, undefined, { cookie: clerk });
    assert.equal(inv.status, 200);
    assert.equal(inv.body.totalCents, 500);
    assert.equal(inv.body.billTo, 'PARALLEL');
    // Straight from the database: exactly one invoice row per order, none for refused orders.
    assert.ok(cluster);
    const topo = readTopology(path.join(cluster.dir, '.hastack', CLUSTER));
    const db = createDbClient(topo, readSecrets(topo.stateDir), createLogger('erp-test'));
    try {
      const rows = await db.query<{ order_id: number; n: number }>(
        `SELECT order_id, COUNT(*) AS n FROM invoices WHERE order_id IN (${ids.map(() => '?').join(', ')}) GROUP BY order_id`,
        ids,
      );
      assert.equal(rows.length, 10);
      assert.ok(rows.every((r) => Number(r.n) === 1));
      const [orders] = await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM sales_orders WHERE customer = 'PARALLEL'");
      assert.equal(Number(orders?.n), 10, 'a refused order leaves no row behind');
    } finally {
      await db.close();
    }
  });

  it('a stock receipt adds stock once per reference', async () => {
    const receipt = { reference: 'PO-ERP-1', sku: 'ERP-TEN', warehouse: 'MAIN', qty: 5 };
    assert.equal((await call(APP1, 'POST', '/api/stock/receipts', receipt)).status, 401);
    const bad = await call(APP1, 'POST', '/api/stock/receipts', { ...receipt, qty: 0 }, { cookie: clerk });
    assert.equal(bad.status, 400);
    assert.match(String((bad.body.error as Json).message), /^qty/);
    const [a, b] = await Promise.all(APPS.map((base) => call(base, 'POST', '/api/stock/receipts', receipt, { cookie: clerk })));
    assert.deepEqual([a?.status, b?.status].sort(), [200, 201], `${JSON.stringify(a?.body)} / ${JSON.stringify(b?.body)}`);
    const stock = (await call(APP1, 'GET', '/api/stock', undefined, { cookie: clerk })).body as unknown as StockReport;
    assert.deepEqual(
      stock.items.find((i) => i.sku === 'ERP-TEN'),
      { sku: 'ERP-TEN', stockOnHand: 5, ledgerSum: 5, consistent: true },
    );
    assert.equal(stock.consistent, true);
  });

  it('the same Idempotency-Key sent to both app servers at once makes one order', async () => {
    const order = { customer: 'TWICE', lines: [{ sku: 'WIDGET-RED', qty: 1 }] };
    const [a, b] = await Promise.all(APPS.map((base) => call(base, 'POST', '/api/orders', order, { cookie: clerk, 'idempotency-key': 'erp-twice' })));
    assert.ok(a && b);
    assert.deepEqual([a.status, b.status].sort(), [200, 201], `${a.status} ${JSON.stringify(a.body)} / ${b.status} ${JSON.stringify(b.body)}`);
    assert.equal(a.body.id, b.body.id);
  });

  it('seeds demo data once, even twice at once; then stock is per warehouse', async () => {
    assert.equal((await call(APP1, 'POST', '/admin/seed', undefined, { cookie: clerk })).status, 403);
    const [a, b] = await Promise.all(APPS.map((base) => call(base, 'POST', '/admin/seed', undefined, { cookie: admin })));
    assert.equal(a?.status, 200, JSON.stringify(a?.body));
    assert.equal(b?.status, 200, JSON.stringify(b?.body));
    assert.deepEqual([a?.body.loaded, b?.body.loaded].sort(), [false, true], 'exactly one of two concurrent seeds loaded the data');
    const again = await call(APP1, 'POST', '/admin/seed', undefined, { cookie: admin });
    assert.deepEqual(again.body, { seed: 'demo-v1', loaded: false });
    const customers = await call(APP1, 'GET', '/api/customers', undefined, { cookie: clerk });
    assert.deepEqual(
      (customers.body.customers as Json[]).map((c) => c.code),
      ['ACME', 'GLOBEX', 'INITECH'],
    );
    const warehouses = await call(APP2, 'GET', '/api/warehouses', undefined, { cookie: clerk });
    assert.deepEqual(
      (warehouses.body.warehouses as Json[]).map((w) => w.code),
      ['EAST', 'MAIN', 'WEST'],
    );
    const stock = (await call(APP1, 'GET', '/api/stock', undefined, { cookie: clerk })).body as unknown as StockReport;
    assert.deepEqual(
      stock.warehouses.filter((w) => w.sku === 'BRACKET-L').map((w) => [w.warehouse, w.onHand]),
      [
        ['EAST', 200],
        ['WEST', 40],
      ],
    );
    assert.equal(stock.consistent, true);

    // An order naming WEST takes only from WEST: 41 is more than WEST has, though EAST has 200.
    const west = await call(
      APP1,
      'POST',
      '/api/orders',
      { customer: 'ACME', warehouse: 'WEST', lines: [{ sku: 'BRACKET-L', qty: 41 }] },
      { cookie: clerk, 'idempotency-key': 'west-41' },
    );
    assert.equal(west.status, 409, JSON.stringify(west.body));
    const any = await call(APP1, 'POST', '/api/orders', { customer: 'ACME', lines: [{ sku: 'BRACKET-L', qty: 41 }] }, { cookie: clerk, 'idempotency-key': 'any-41' });
    assert.equal(any.status, 201, JSON.stringify(any.body));
    assert.equal((any.body.lines as Json[])[0]?.warehouse, 'EAST');
    const after = (await call(APP1, 'GET', '/api/stock', undefined, { cookie: clerk })).body as unknown as StockReport;
    assert.deepEqual(
      after.warehouses.filter((w) => w.sku === 'BRACKET-L').map((w) => [w.warehouse, w.onHand]),
      [
        ['EAST', 159],
        ['WEST', 40],
      ],
    );
    assert.equal(after.consistent, true);
    // The invoice bills the registered customer's name.
    const invoiced = await waitFor(
      async () => {
        const r = await call(APP2, 'GET', `/api/orders/${String(any.body.id)}/invoice`, undefined, { cookie: clerk });
        return r.status === 200 ? r : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    assert.equal(invoiced?.body.billTo, 'Acme Corporation');
  });

  it('the reorder schedule writes a report of the items under their reorder level', async () => {
    // The schedule ticks every 30 s; 75 s covers a tick plus a slow first run.
    const report = await waitFor(
      async () => {
        const r = await call(APP1, 'GET', '/api/reports/reorder', undefined, { cookie: clerk });
        // A report made after the seed (the seed's MOTOR-12V, 15 < 20, is on it).
        return r.status === 200 && (r.body.lines as Json[]).some((l) => l.sku === 'MOTOR-12V') ? r : undefined;
      },
      { timeoutMs: 75_000, intervalMs: 1_000 },
    );
    assert.ok(report, 'a reorder report within 75 s');
    const skus = (report.body.lines as Json[]).map((l) => l.sku);
    // RARE-COIN: 3 on hand, level 5 (migration 005); MOTOR-12V: 15, level 20. ERP-TEN has level 0.
    assert.deepEqual(skus, ['MOTOR-12V', 'RARE-COIN']);
    assert.match(String(report.body.key), /^reorder-report@\d{4}-/);
  });
});
