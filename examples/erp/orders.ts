import { randomUUID } from 'node:crypto';
import { HttpError, isDuplicateKeyError, type AppContext, type Db, type DbTx } from '../../src/app/index.js';
import { invalidateItems } from './items.js';
import { sameOrder, type OrderInput } from './validate.js';

export type OrderStatus = 'pending' | 'confirmed' | 'rejected';

export interface OrderLine {
  readonly sku: string;
  readonly qty: number;
  readonly priceCents: number;
}

export interface Order {
  readonly id: number;
  readonly idempotencyKey: string;
  readonly customer: string;
  readonly status: OrderStatus;
  readonly totalCents: number;
  readonly rejectReason: string | null;
  readonly createdAt: string;
  readonly confirmedAt: string | null;
  readonly lines: readonly OrderLine[];
}

interface OrderRow {
  id: number;
  idempotency_key: string;
  customer: string;
  status: OrderStatus;
  total_cents: number;
  reject_reason: string | null;
  created_at: Date;
  confirmed_at: Date | null;
}

interface LineRow {
  sku: string;
  qty: number;
  price_cents: number;
}

const placeholders = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

export async function getOrder(db: Db | DbTx, id: number): Promise<Order | undefined> {
  const [o] = await db.query<OrderRow>(
    'SELECT id, idempotency_key, customer, status, total_cents, reject_reason, created_at, confirmed_at FROM sales_orders WHERE id = ?',
    [id],
  );
  if (!o) return undefined;
  const lines = await db.query<LineRow>('SELECT sku, qty, price_cents FROM sales_order_lines WHERE order_id = ? ORDER BY line_no', [id]);
  return {
    id: Number(o.id),
    idempotencyKey: o.idempotency_key,
    customer: o.customer,
    status: o.status,
    totalCents: Number(o.total_cents),
    rejectReason: o.reject_reason,
    createdAt: o.created_at.toISOString(),
    confirmedAt: o.confirmed_at ? o.confirmed_at.toISOString() : null,
    lines: lines.map((l) => ({ sku: l.sku, qty: l.qty, priceCents: l.price_cents })),
  };
}

/** Thrown inside the transaction when a concurrent request inserted the same key first. */
class KeyTaken extends Error {}

async function orderIdByKey(db: Db | DbTx, key: string): Promise<number | undefined> {
  const [row] = await db.query<{ id: number }>('SELECT id FROM sales_orders WHERE idempotency_key = ?', [key]);
  return row ? Number(row.id) : undefined;
}

/**
 * Creates a pending order under `idempotencyKey`, or finds the one already made with it.
 *
 * Exactly one order per key: the key is UNIQUE and the insert happens in the transaction, so of
 * two concurrent requests one inserts and the other gets a duplicate key, backs out and returns
 * the winner's order. The transaction is marked idempotent because of that key: if the
 * connection breaks during COMMIT, running it again finds the committed order instead of
 * making a second. A request without the header gets a fresh key, which still protects the
 * retries made inside this request.
 */
export async function createOrder(ctx: AppContext, input: OrderInput, idempotencyKey: string | undefined): Promise<{ order: Order; created: boolean }> {
  const key = idempotencyKey ?? `auto-${randomUUID()}`;
  let id: number | undefined;
  let created = false;
  try {
    const r = await ctx.db.transaction(
      async (tx) => {
        const existing = await orderIdByKey(tx, key);
        if (existing !== undefined) return { id: existing, created: false };
        const skus = input.lines.map((l) => l.sku);
        const prices = await tx.query<{ sku: string; price_cents: number }>(
          `SELECT sku, price_cents FROM items WHERE sku IN (${placeholders(skus.length)})`,
          skus,
        );
        const priceOf = new Map(prices.map((p) => [p.sku, p.price_cents]));
        const unknown = skus.filter((s) => !priceOf.has(s));
        if (unknown.length > 0) throw new HttpError(400, 'UNKNOWN_SKU', `no item with sku ${unknown.join(', ')} (GET /api/items lists them)`);
        const total = input.lines.reduce((sum, l) => sum + l.qty * (priceOf.get(l.sku) ?? 0), 0);
        let insertId: number;
        try {
          const ins = await tx.execute(
            "INSERT INTO sales_orders (idempotency_key, customer, status, total_cents, created_at) VALUES (?, ?, 'pending', ?, UTC_TIMESTAMP(3))",
            [key, input.customer, total],
          );
          insertId = ins.insertId;
        } catch (e) {
          if (isDuplicateKeyError(e)) throw new KeyTaken();
          throw e;
        }
        const values = input.lines.flatMap((l, i) => [insertId, i + 1, l.sku, l.qty, priceOf.get(l.sku) ?? 0]);
        await tx.execute(
          `INSERT INTO sales_order_lines (order_id, line_no, sku, qty, price_cents) VALUES ${input.lines.map(() => '(?, ?, ?, ?, ?)').join(', ')}`,
          values,
        );
        return { id: insertId, created: true };
      },
      { idempotent: true },
    );
    id = r.id;
    created = r.created;
  } catch (e) {
    if (!(e instanceof KeyTaken)) throw e;
    // The other request committed before our insert could finish: read it outside our snapshot.
    id = await orderIdByKey(ctx.db, key);
  }
  const order = id === undefined ? undefined : await getOrder(ctx.db, id);
  if (!order) throw new Error(`order for idempotency key ${key} vanished after it was written`);
  if (!created && !sameOrder(order, input)) {
    throw new HttpError(409, 'IDEMPOTENCY_KEY_REUSED', `Idempotency-Key ${key} was already used for a different order (#${order.id})`);
  }
  return { order, created };
}

/**
 * Enqueues the confirmation durably (the default: a Redis replica has it too). True only then;
 * false when Redis is failing over or has no replica: the sweep schedule confirms the order.
 */
export async function enqueueConfirmation(ctx: AppContext, orderId: number): Promise<boolean> {
  try {
    await ctx.queue.add('confirm-order', { orderId }, { jobId: `confirm-${orderId}` });
    return true;
  } catch (e) {
    ctx.log.warn('could not enqueue the order confirmation; the sweep will confirm it', { orderId, err: e instanceof Error ? e.message : String(e) });
    return false;
  }
}

export type ConfirmOutcome = 'confirmed' | 'rejected' | 'already-confirmed' | 'already-rejected' | 'not-found';

/**
 * Confirms a pending order in one transaction: locks the order, then its items in sku order
 * (one lock order for everyone: no deadlock cycles), and either moves stock through ledger rows
 * and marks it confirmed, or, when any item is short, marks it rejected and moves nothing.
 * Idempotent: an order that is no longer pending is left alone, so a job run twice (a worker
 * died after commit, a sweep raced the job) changes nothing the second time.
 */
export async function confirmOrder(ctx: AppContext, orderId: number): Promise<ConfirmOutcome> {
  const r = await ctx.db.transaction(
    async (tx) => {
      const [o] = await tx.query<{ status: OrderStatus }>('SELECT status FROM sales_orders WHERE id = ? FOR UPDATE', [orderId]);
      if (!o) return { outcome: 'not-found' as const, skus: [] as string[] };
      if (o.status !== 'pending') return { outcome: `already-${o.status}` as ConfirmOutcome, skus: [] as string[] };
      const lines = await tx.query<{ sku: string; qty: number }>('SELECT sku, qty FROM sales_order_lines WHERE order_id = ? ORDER BY sku', [orderId]);
      const skus = lines.map((l) => l.sku);
      const stock = await tx.query<{ sku: string; stock_on_hand: number }>(
        `SELECT sku, stock_on_hand FROM items WHERE sku IN (${placeholders(skus.length)}) ORDER BY sku FOR UPDATE`,
        skus,
      );
      const onHand = new Map(stock.map((s) => [s.sku, s.stock_on_hand]));
      const short = lines.filter((l) => (onHand.get(l.sku) ?? 0) < l.qty);
      if (short.length > 0) {
        const reason = `insufficient stock: ${short.map((l) => `${l.sku} (wanted ${l.qty}, have ${onHand.get(l.sku) ?? 0})`).join(', ')}`;
        await tx.execute("UPDATE sales_orders SET status = 'rejected', reject_reason = ? WHERE id = ?", [reason.slice(0, 500), orderId]);
        return { outcome: 'rejected' as const, skus: [] as string[] };
      }
      await tx.execute(
        `INSERT INTO stock_ledger (sku, delta, reason, order_id, created_at) VALUES ${lines.map(() => "(?, ?, 'sale', ?, UTC_TIMESTAMP(3))").join(', ')}`,
        lines.flatMap((l) => [l.sku, -l.qty, orderId]),
      );
      for (const l of lines) {
        await tx.execute('UPDATE items SET stock_on_hand = stock_on_hand - ? WHERE sku = ?', [l.qty, l.sku]);
      }
      await tx.execute("UPDATE sales_orders SET status = 'confirmed', confirmed_at = UTC_TIMESTAMP(3) WHERE id = ?", [orderId]);
      return { outcome: 'confirmed' as const, skus };
    },
    // Safe to retry even when COMMIT's outcome is unknown: the re-run sees the order confirmed.
    { idempotent: true },
  );
  if (r.skus.length > 0) await invalidateItems(ctx, r.skus);
  return r.outcome;
}

/** Age after which a pending order is confirmed by the sweep (its job was lost or gave up). */
export const SWEEP_AFTER_S = 10;

/** Confirms pending orders older than SWEEP_AFTER_S (up to 100 per run). */
export async function sweepPendingOrders(ctx: AppContext): Promise<number> {
  const rows = await ctx.db.query<{ id: number }>(
    `SELECT id FROM sales_orders WHERE status = 'pending' AND created_at < UTC_TIMESTAMP(3) - INTERVAL ${SWEEP_AFTER_S} SECOND ORDER BY id LIMIT 100`,
  );
  for (const r of rows) {
    const outcome = await confirmOrder(ctx, Number(r.id));
    ctx.log.info('sweep confirmed a stale pending order', { orderId: r.id, outcome });
  }
  return rows.length;
}
