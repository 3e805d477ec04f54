import { defineApp, HttpError, respond } from '../../src/app/index.js';
import { currentUser, login, logout, requireAdmin, type SessionUser } from './auth.js';
import { createCustomer, listCustomers } from './customers.js';
import { createItem, getItem, listItems, listWarehouses, receiveStock, stockReport } from './items.js';
import { confirmOrder, createOrder, enqueueConfirmation, getInvoiceOfOrder, getOrder, orderOwner, sweepPendingOrders } from './orders.js';
import { latestReorderReport, writeReorderReport } from './reorder.js';
import { migrations } from './schema.js';
import { seedDemoData } from './seed.js';
import { parseConfirmJob, parseCustomerInput, parseIdempotencyKey, parseItemInput, parseOrderId, parseOrderInput, parseReceiptInput, parseSku } from './validate.js';

/**
 * A small ERP: items with stock kept per warehouse by an insert-only ledger, customers, sales
 * orders that reserve stock when they are taken, invoices made by a background job, and a
 * scheduled reorder report. It uses only hastack's app contract. Every route but `/` and the
 * login ones needs the cookie of POST /login (401 NOT_LOGGED_IN without it); (admin) an admin's.
 *
 *   GET  /                              {app, node}  (no business data)
 *   POST /login  {username, password}  {user} + Set-Cookie erp_session | 400 | 401 | 429 throttled
 *   GET  /me                            {user} | 401            POST /logout   {loggedOut}
 *   GET  /api/items                     {items, cached}          cache-aside, 5 s
 *   GET  /api/items/:sku                {item, cached} | 404
 *   POST /api/items        (admin)      201 item (opening stock in one warehouse) | 400 | 409
 *   GET  /api/warehouses                {warehouses}
 *   GET  /api/customers                 {customers}
 *   POST /api/customers                 201 | 200 (same again) | 400 | 409
 *   POST /api/orders                    201 order | 200 the same order again (the same user's
 *                                       Idempotency-Key; keys are per user) | 400 naming the field
 *                                       | 409 INSUFFICIENT_STOCK (nothing reserved); the body adds
 *                                       invoicing: queued | deferred | none
 *   GET  /api/orders/:id                order (status pending = stock reserved, not yet invoiced)
 *                                       | 404 (also for another clerk's order: see canSee)
 *   GET  /api/orders/:id/invoice        invoice | 404 (likewise)
 *   GET  /api/stock                     {items, warehouses, consistent, orders}  ledger vs balances
 *   POST /api/stock/receipts            201 {receipt} goods received | 200 same reference again | 400
 *   GET  /api/reports/reorder           the latest reorder report | 404 before the first tick
 *   POST /admin/seed       (admin)      {seed, loaded}  demo data, once per cluster
 */

/**
 * Who may read an order: the user who placed it, and admins. Order ids stay sequential (invoices,
 * job ids and the chaos checker refer to them, and a clerk's own ids already show the order
 * volume): what stops a guessed id is this check on every read, answered 404 like a missing
 * order so that ids do not even tell which orders exist.
 */
function canSee(user: SessionUser, owner: string | undefined): boolean {
  return owner !== undefined && (user.role === 'admin' || owner === user.username);
}
export default defineApp({
  name: 'erp',
  routes: [
    { method: 'GET', url: '/', handler: (_req, ctx) => ({ app: 'erp', node: ctx.node }) },
    { method: 'POST', url: '/login', handler: (req, ctx) => login(req, ctx) },
    { method: 'POST', url: '/logout', handler: (req, ctx) => logout(req, ctx) },
    { method: 'GET', url: '/me', handler: async (req, ctx) => ({ user: await currentUser(req, ctx), node: ctx.node }) },
    {
      method: 'GET',
      url: '/api/items',
      handler: async (req, ctx) => {
        await currentUser(req, ctx);
        return listItems(ctx);
      },
    },
    {
      method: 'GET',
      url: '/api/items/:sku',
      handler: async (req, ctx) => {
        const sku = parseSku(req.params.sku);
        await currentUser(req, ctx);
        const found = await getItem(ctx, sku);
        if (!found) throw new HttpError(404, 'UNKNOWN_SKU', `no item with sku ${sku}`);
        return found;
      },
    },
    {
      method: 'POST',
      url: '/api/items',
      handler: async (req, ctx) => {
        await requireAdmin(req, ctx);
        const item = await createItem(ctx, parseItemInput(req.body));
        return respond(201, item, { location: `/api/items/${item.sku}` });
      },
    },
    {
      method: 'GET',
      url: '/api/warehouses',
      handler: async (req, ctx) => {
        await currentUser(req, ctx);
        return listWarehouses(ctx);
      },
    },
    {
      method: 'GET',
      url: '/api/customers',
      handler: async (req, ctx) => {
        await currentUser(req, ctx);
        return listCustomers(ctx);
      },
    },
    {
      method: 'POST',
      url: '/api/customers',
      handler: async (req, ctx) => {
        await currentUser(req, ctx);
        return createCustomer(ctx, parseCustomerInput(req.body));
      },
    },
    {
      method: 'POST',
      url: '/api/orders',
      handler: async (req, ctx) => {
        // Validation first: a malformed request is told so even without a session.
        const key = parseIdempotencyKey(req.headers['idempotency-key']);
        const input = parseOrderInput(req.body);
        const user = await currentUser(req, ctx);
        const { order, created } = await createOrder(ctx, user.username, input, key);
        // The order and its stock reservation are committed in MariaDB: that is what this
        // answer acknowledges. The invoice job is reported as "queued" only when the enqueue
        // was durable (on a Redis replica too); otherwise "deferred": the sweep schedule
        // invoices it within ~20 s. Also on a replay of a still-pending order (the first
        // enqueue may have failed; the jobId makes a duplicate a no-op). "none" once invoiced.
        const invoicing = order.status !== 'pending' ? 'none' : (await enqueueConfirmation(ctx, order.id)) ? 'queued' : 'deferred';
        // `confirmation` is the same field under its older name (clients and the chaos workload read it).
        const body = { ...order, invoicing, confirmation: invoicing };
        return created ? respond(201, body, { location: `/api/orders/${order.id}` }) : respond(200, body);
      },
    },
    {
      method: 'GET',
      url: '/api/orders/:id',
      handler: async (req, ctx) => {
        const id = parseOrderId(req.params.id);
        const user = await currentUser(req, ctx);
        // The read path first (another synced Galera node, or a replica): it answers while the
        // writer changes. An order it does not have yet (taken a moment ago through another app
        // server) is looked up on the writer, so an acknowledged order is never answered 404.
        const order = (await getOrder(ctx.db.reader(), id)) ?? (await getOrder(ctx.db, id));
        if (!order || !canSee(user, order.createdBy)) throw new HttpError(404, 'ORDER_NOT_FOUND', `no order ${id}`);
        return order;
      },
    },
    {
      method: 'GET',
      url: '/api/orders/:id/invoice',
      handler: async (req, ctx) => {
        const id = parseOrderId(req.params.id);
        const user = await currentUser(req, ctx);
        if (!canSee(user, await orderOwner(ctx.db, id))) throw new HttpError(404, 'ORDER_NOT_FOUND', `no order ${id}`);
        const invoice = await getInvoiceOfOrder(ctx.db, id);
        if (!invoice) throw new HttpError(404, 'INVOICE_NOT_FOUND', `order ${id} has no invoice (yet: the invoice job makes it)`);
        return invoice;
      },
    },
    {
      method: 'GET',
      url: '/api/stock',
      handler: async (req, ctx) => {
        await currentUser(req, ctx);
        return stockReport(ctx);
      },
    },
    {
      method: 'POST',
      url: '/api/stock/receipts',
      handler: async (req, ctx) => {
        const input = parseReceiptInput(req.body);
        await currentUser(req, ctx);
        const { receipt, created } = await receiveStock(ctx, input);
        return respond(created ? 201 : 200, { receipt, created });
      },
    },
    {
      method: 'GET',
      url: '/api/reports/reorder',
      handler: async (req, ctx) => {
        await currentUser(req, ctx);
        const report = await latestReorderReport(ctx);
        if (!report) throw new HttpError(404, 'NO_REPORT_YET', 'no reorder report yet: the schedule writes one every 30 s');
        return report;
      },
    },
    {
      method: 'POST',
      url: '/admin/seed',
      handler: async (req, ctx) => {
        await requireAdmin(req, ctx);
        return seedDemoData(ctx);
      },
    },
  ],
  jobs: {
    // Makes the order's invoice (the job name is from when it confirmed stock; kept so queued
    // jobs and the chaos checker's job_runs accounting carry over).
    'confirm-order': async (data, ctx) => {
      const { orderId } = parseConfirmJob(data);
      // Counted before the work, on its own: a run that then fails still ran (and will re-run).
      // In a transaction with a commit marker, not as an autocommit statement: when its COMMIT's
      // outcome is unknown (in flight on a writer that was cut off), the client checks the marker
      // instead of failing the run, which then re-ran and counted one run twice (issue 22's table,
      // partition-galera-minority).
      await ctx.db.transaction((tx) => tx.execute('INSERT INTO job_runs (order_id, runs) VALUES (?, 1) ON DUPLICATE KEY UPDATE runs = runs + 1', [orderId]), {
        verifyCommit: true,
      });
      const outcome = await confirmOrder(ctx, orderId, ctx.job.id);
      ctx.log.info('order invoicing', { orderId, outcome });
    },
    'sweep-pending-orders': async (_data, ctx) => {
      await sweepPendingOrders(ctx, ctx.job.id);
    },
    'reorder-report': async (_data, ctx) => {
      const r = await writeReorderReport(ctx);
      ctx.log.info('reorder report', r);
    },
  },
  schedules: [
    // Every 10 s, once for the cluster: invoices orders whose job was lost (a Redis master died
    // before replicating it) or gave up (a long database outage). The database is the truth;
    // the queue only makes invoicing fast.
    { name: 'sweep-pending-orders', job: 'sweep-pending-orders', everyMs: 10_000 },
    // Every 30 s: often enough for a demo (and a test) to see it, rare enough to be no load on
    // the database (one small SELECT and a few inserts per tick).
    { name: 'reorder-report', job: 'reorder-report', everyMs: 30_000 },
  ],
  migrations,
});
