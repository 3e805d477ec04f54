import { defineApp, HttpError, respond } from '../../src/app/index.js';
import { getItem, listItems, stockReport } from './items.js';
import { confirmOrder, createOrder, enqueueConfirmation, getOrder, sweepPendingOrders } from './orders.js';
import { migrations } from './schema.js';
import { parseConfirmJob, parseIdempotencyKey, parseOrderId, parseOrderInput, parseSku } from './validate.js';

/**
 * A small ERP: items with stock kept by a ledger, sales orders taken over HTTP and confirmed by
 * a background job. It uses only hastack's app contract.
 *
 *   GET  /                    {app, node}
 *   GET  /api/items           {items, cached}          cache-aside, 5 s
 *   GET  /api/items/:sku      {item, cached} | 404
 *   POST /api/orders          201 order | 200 the same order again (same Idempotency-Key) | 400 | 409;
 *                             the body adds confirmation: queued | deferred | none
 *   GET  /api/orders/:id      order | 404
 *   GET  /api/stock           {items: [{sku, stockOnHand, ledgerSum, consistent}], consistent, orders}
 */
export default defineApp({
  name: 'erp',
  routes: [
    { method: 'GET', url: '/', handler: (_req, ctx) => ({ app: 'erp', node: ctx.node }) },
    { method: 'GET', url: '/api/items', handler: (_req, ctx) => listItems(ctx) },
    {
      method: 'GET',
      url: '/api/items/:sku',
      handler: async (req, ctx) => {
        const sku = parseSku(req.params.sku);
        const found = await getItem(ctx, sku);
        if (!found) throw new HttpError(404, 'UNKNOWN_SKU', `no item with sku ${sku}`);
        return found;
      },
    },
    {
      method: 'POST',
      url: '/api/orders',
      handler: async (req, ctx) => {
        const key = parseIdempotencyKey(req.headers['idempotency-key']);
        const input = parseOrderInput(req.body);
        const { order, created } = await createOrder(ctx, input, key);
        // The order is committed in MariaDB: that is what this answer acknowledges. Its
        // confirmation job is reported as "queued" only when the enqueue was durable (on a Redis
        // replica too); otherwise "deferred": the sweep schedule confirms it within ~20 s. Also
        // on a replay of a still-pending order (the first enqueue may have failed; the jobId
        // makes a duplicate a no-op). "none" for an order no longer pending.
        const confirmation = order.status !== 'pending' ? 'none' : (await enqueueConfirmation(ctx, order.id)) ? 'queued' : 'deferred';
        const body = { ...order, confirmation };
        return created ? respond(201, body, { location: `/api/orders/${order.id}` }) : respond(200, body);
      },
    },
    {
      method: 'GET',
      url: '/api/orders/:id',
      handler: async (req, ctx) => {
        const id = parseOrderId(req.params.id);
        const order = await getOrder(ctx.db, id);
        if (!order) throw new HttpError(404, 'ORDER_NOT_FOUND', `no order ${id}`);
        return order;
      },
    },
    { method: 'GET', url: '/api/stock', handler: (_req, ctx) => stockReport(ctx) },
  ],
  jobs: {
    'confirm-order': async (data, ctx) => {
      const { orderId } = parseConfirmJob(data);
      // Counted before the work, on its own: a run that then fails still ran (and will re-run).
      await ctx.db.execute('INSERT INTO job_runs (order_id, runs) VALUES (?, 1) ON DUPLICATE KEY UPDATE runs = runs + 1', [orderId], { idempotent: false });
      const outcome = await confirmOrder(ctx, orderId);
      ctx.log.info('order confirmation', { orderId, outcome });
    },
    'sweep-pending-orders': async (_data, ctx) => {
      await sweepPendingOrders(ctx);
    },
  },
  schedules: [
    // Every 10 s, once for the cluster: confirms orders whose job was lost (a Redis master died
    // before replicating it) or gave up (a long database outage). The database is the truth;
    // the queue only makes confirmation fast.
    { name: 'sweep-pending-orders', job: 'sweep-pending-orders', everyMs: 10_000 },
  ],
  migrations,
});
