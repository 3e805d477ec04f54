import { randomUUID } from 'node:crypto';
import { HttpError, isDuplicateKeyError, type AppContext, type Db, type DbTx } from '../../src/app/index.js';
import { allocate, describeShortage, type Balance } from './allocate.js';
import { invalidateItems } from './items.js';
import { sameOrder, type OrderInput } from './validate.js';

export type OrderStatus = 'pending' | 'confirmed' | 'rejected';

export interface OrderLine {
  readonly sku: string;
  readonly qty: number;
  readonly priceCents: number;
  /** The warehouse the line's stock was reserved in (null: an order from before warehouses). */
  readonly warehouse: string | null;
}

/**
 * `pending`: stock reserved, the invoice not yet made; `confirmed`: invoiced; `rejected`: only
 * orders from before reservation at creation that found no stock when confirmed.
 */
export interface Order {
  readonly id: number;
  readonly idempotencyKey: string;
  /** The user who placed it ('' for orders from before owners were recorded: admins only). */
  readonly createdBy: string;
  readonly customer: string;
  readonly status: OrderStatus;
  readonly totalCents: number;
  readonly rejectReason: string | null;
  readonly createdAt: string;
  readonly confirmedAt: string | null;
  readonly invoiceId: number | null;
  readonly lines: readonly OrderLine[];
}

interface OrderRow {
  id: number;
  idempotency_key: string;
  created_by: string;
  customer: string;
  status: OrderStatus;
  total_cents: number;
  reject_reason: string | null;
  created_at: Date;
  confirmed_at: Date | null;
  invoice_id: number | null;
}

interface LineRow {
  sku: string;
  qty: number;
  price_cents: number;
  warehouse: string | null;
}

const placeholders = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

/** `db` may be the read path (`ctx.db.reader()`): both statements run on the node the first used. */
export async function getOrder(db: Pick<DbTx, 'query'>, id: number): Promise<Order | undefined> {
  const [o] = await db.query<OrderRow>(
    `SELECT o.id, o.idempotency_key, o.created_by, o.customer, o.status, o.total_cents, o.reject_reason, o.created_at, o.confirmed_at, i.id AS invoice_id
       FROM sales_orders o LEFT JOIN invoices i ON i.order_id = o.id WHERE o.id = ?`,
    [id],
  );
  if (!o) return undefined;
  const lines = await db.query<LineRow>('SELECT sku, qty, price_cents, warehouse FROM sales_order_lines WHERE order_id = ? ORDER BY line_no', [id]);
  return {
    id: Number(o.id),
    idempotencyKey: o.idempotency_key,
    createdBy: o.created_by,
    customer: o.customer,
    status: o.status,
    totalCents: Number(o.total_cents),
    rejectReason: o.reject_reason,
    createdAt: o.created_at.toISOString(),
    confirmedAt: o.confirmed_at ? o.confirmed_at.toISOString() : null,
    invoiceId: o.invoice_id === null ? null : Number(o.invoice_id),
    lines: lines.map((l) => ({ sku: l.sku, qty: l.qty, priceCents: l.price_cents, warehouse: l.warehouse })),
  };
}

/** Thrown inside the transaction when a concurrent request inserted the same key first. */
class KeyTaken extends Error {}

/** The owner of an order ('' for orders from before owners), or undefined when there is none. */
export async function orderOwner(db: Db, id: number): Promise<string | undefined> {
  const [row] = await db.query<{ created_by: string }>('SELECT created_by FROM sales_orders WHERE id = ?', [id]);
  return row?.created_by;
}

/** Idempotency keys are the user's own: another user's key never finds this user's order. */
async function orderIdByKey(db: Db | DbTx, owner: string, key: string): Promise<number | undefined> {
  const [row] = await db.query<{ id: number }>('SELECT id FROM sales_orders WHERE created_by = ? AND idempotency_key = ?', [owner, key]);
  return row ? Number(row.id) : undefined;
}

/**
 * Reserves stock for lines inside the caller's transaction: locks the items' balances (by the
 * balance key's sku prefix, in sku order), then the items (sku order), so every order takes its
 * locks in one global order and two orders never wait on each other in a cycle. Writes one
 * ledger row per line (reason "sale"), lowers the warehouse balance and the item's total.
 * Returns where each line was reserved, or the shortage when any line cannot be covered
 * (nothing written). The balances' CHECK (on_hand >= 0) backs the rule up in the database.
 *
 * Call it before inserting the order's lines: their foreign key to `items` takes a shared lock
 * on each item, and two orders each holding one and then asking for the exclusive lock here
 * would deadlock (InnoDB would kill one and the client retry it, at a cost under contention).
 */
async function reserveStock(
  tx: DbTx,
  orderId: number,
  lines: ReadonlyArray<{ sku: string; qty: number }>,
  warehouse: string | undefined,
): Promise<{ ok: true; warehouseOf: ReadonlyMap<string, string> } | { ok: false; short: string }> {
  const skus = [...new Set(lines.map((l) => l.sku))].sort();
  const balances = await tx.query<{ sku: string; warehouse: string; on_hand: number }>(
    `SELECT sku, warehouse, on_hand FROM stock_balances WHERE sku IN (${placeholders(skus.length)}) ORDER BY sku, warehouse FOR UPDATE`,
    skus,
  );
  const plan = allocate(
    lines,
    balances.map((b): Balance => ({ sku: b.sku, warehouse: b.warehouse, onHand: Number(b.on_hand) })),
    warehouse,
  );
  if (!plan.ok) return { ok: false, short: describeShortage(plan.short) };
  await tx.query(`SELECT sku FROM items WHERE sku IN (${placeholders(skus.length)}) ORDER BY sku FOR UPDATE`, skus);
  const bySku = [...plan.allocations].sort((a, b) => (a.sku < b.sku ? -1 : 1));
  await tx.execute(
    `INSERT INTO stock_ledger (sku, warehouse, delta, reason, order_id, created_at) VALUES ${bySku.map(() => "(?, ?, ?, 'sale', ?, UTC_TIMESTAMP(3))").join(', ')}`,
    bySku.flatMap((a) => [a.sku, a.warehouse, -a.qty, orderId]),
  );
  for (const a of bySku) {
    await tx.execute('UPDATE stock_balances SET on_hand = on_hand - ? WHERE sku = ? AND warehouse = ?', [a.qty, a.sku, a.warehouse]);
    await tx.execute('UPDATE items SET stock_on_hand = stock_on_hand - ? WHERE sku = ?', [a.qty, a.sku]);
  }
  return { ok: true, warehouseOf: new Map(bySku.map((a) => [a.sku, a.warehouse])) };
}

/** Thrown inside the order transaction to roll it back when stock is short. */
class Short extends Error {}

/**
 * Creates a pending order of user `owner` under `idempotencyKey` with its stock reserved, or
 * finds the one the same user already made with it.
 *
 * Exactly one order per user and key: (owner, key) is UNIQUE and the insert happens in the transaction, so of
 * two concurrent requests one inserts and the other gets a duplicate key, backs out and returns
 * the winner's order. The stock is reserved in the same transaction (see reserveStock), so an
 * acknowledged order always has its stock and stock never goes negative: when it is short the
 * transaction rolls back and the answer is 409 INSUFFICIENT_STOCK. The transaction is marked
 * idempotent because of the key: if the connection breaks during COMMIT, running it again finds
 * the committed order instead of making a second. A request without the header gets a fresh
 * key, which still protects the retries made inside this request.
 */
export async function createOrder(ctx: AppContext, owner: string, input: OrderInput, idempotencyKey: string | undefined): Promise<{ order: Order; created: boolean }> {
  const key = idempotencyKey ?? `auto-${randomUUID()}`;
  let id: number | undefined;
  let created = false;
  try {
    const r = await ctx.db.transaction(
      async (tx) => {
        const existing = await orderIdByKey(tx, owner, key);
        if (existing !== undefined) return { id: existing, created: false };
        const skus = input.lines.map((l) => l.sku);
        const prices = await tx.query<{ sku: string; price_cents: number }>(`SELECT sku, price_cents FROM items WHERE sku IN (${placeholders(skus.length)})`, skus);
        const priceOf = new Map(prices.map((p) => [p.sku, p.price_cents]));
        const unknown = skus.filter((s) => !priceOf.has(s));
        if (unknown.length > 0) throw new HttpError(400, 'UNKNOWN_SKU', `lines: no item with sku ${unknown.join(', ')} (GET /api/items lists them)`);
        if (input.warehouse !== undefined) {
          const [w] = await tx.query<{ code: string }>('SELECT code FROM warehouses WHERE code = ?', [input.warehouse]);
          if (!w) throw new HttpError(400, 'UNKNOWN_WAREHOUSE', `warehouse: no warehouse ${input.warehouse} (GET /api/warehouses lists them)`);
        }
        const total = input.lines.reduce((sum, l) => sum + l.qty * (priceOf.get(l.sku) ?? 0), 0);
        let insertId: number;
        try {
          const ins = await tx.execute(
            "INSERT INTO sales_orders (idempotency_key, created_by, customer, status, total_cents, created_at) VALUES (?, ?, ?, 'pending', ?, UTC_TIMESTAMP(3))",
            [key, owner, input.customer, total],
          );
          insertId = ins.insertId;
        } catch (e) {
          if (isDuplicateKeyError(e)) throw new KeyTaken();
          throw e;
        }
        const reserved = await reserveStock(tx, insertId, input.lines, input.warehouse);
        if (!reserved.ok) throw new Short(reserved.short);
        const values = input.lines.flatMap((l, i) => [insertId, i + 1, l.sku, l.qty, priceOf.get(l.sku) ?? 0, reserved.warehouseOf.get(l.sku) ?? null]);
        await tx.execute(
          `INSERT INTO sales_order_lines (order_id, line_no, sku, qty, price_cents, warehouse) VALUES ${input.lines.map(() => '(?, ?, ?, ?, ?, ?)').join(', ')}`,
          values,
        );
        return { id: insertId, created: true };
      },
      { idempotent: true },
    );
    id = r.id;
    created = r.created;
  } catch (e) {
    if (e instanceof Short) throw new HttpError(409, 'INSUFFICIENT_STOCK', `lines: insufficient stock: ${e.message}; nothing was ordered`);
    if (!(e instanceof KeyTaken)) throw e;
    // The other request committed before our insert could finish: read it outside our snapshot.
    id = await orderIdByKey(ctx.db, owner, key);
  }
  if (created)
    await invalidateItems(
      ctx,
      input.lines.map((l) => l.sku),
    );
  const order = id === undefined ? undefined : await getOrder(ctx.db, id);
  if (!order) throw new Error(`order for idempotency key ${key} vanished after it was written`);
  if (!created && !sameOrder(order, input)) {
    throw new HttpError(409, 'IDEMPOTENCY_KEY_REUSED', `Idempotency-Key ${key} was already used for a different order (#${order.id})`);
  }
  return { order, created };
}

/**
 * How long an order's answer waits for a Redis master to take its invoice job. The order is
 * acknowledged by its MariaDB commit; the job only invoices it sooner than the sweep would.
 * Waiting out a Sentinel failover here (the queue's own bound, ~12 s) put Redis's failover time
 * into every order's answer when Redis and MariaDB lost their master together (one server down
 * or cut off): measured 1.6 s of a partition's 5.7 s write gap. A healthy master answers in ms.
 */
const CONFIRM_ENQUEUE_MS = 500;

/**
 * Enqueues the invoice job durably (the default: a Redis replica has it too). True only then;
 * false when Redis is failing over or has no replica: the sweep schedule invoices the order.
 * The job id is the order's, so enqueueing again (a replayed request, the sweep) adds nothing.
 */
export async function enqueueConfirmation(ctx: AppContext, orderId: number): Promise<boolean> {
  try {
    await ctx.queue.add('confirm-order', { orderId }, { jobId: `confirm-${orderId}`, timeoutMs: CONFIRM_ENQUEUE_MS });
    return true;
  } catch (e) {
    ctx.log.warn('could not enqueue the invoice job; the sweep will invoice the order', { orderId, err: e instanceof Error ? e.message : String(e) });
    return false;
  }
}

export type ConfirmOutcome = 'confirmed' | 'rejected' | 'already-confirmed' | 'already-rejected' | 'not-found';

/**
 * Invoices a pending order and marks it confirmed, in one transaction: locks the order, writes
 * its invoice (one per order: UNIQUE order_id) with the job id that made it, and sets the
 * status. Idempotent: an order no longer pending is left alone, so a job run twice (a worker died
 * after commit, the sweep raced the job) changes nothing the second time.
 *
 * An order from before stock was reserved at creation (lines without a warehouse) has its stock
 * reserved here, and is rejected when it is short, as such orders always were.
 */
export async function confirmOrder(ctx: AppContext, orderId: number, jobId: string): Promise<ConfirmOutcome> {
  const r = await ctx.db.transaction(
    async (tx) => {
      const [o] = await tx.query<{ status: OrderStatus; customer: string; total_cents: number }>('SELECT status, customer, total_cents FROM sales_orders WHERE id = ? FOR UPDATE', [
        orderId,
      ]);
      if (!o) return { outcome: 'not-found' as const, skus: [] as string[] };
      if (o.status !== 'pending') return { outcome: `already-${o.status}` as ConfirmOutcome, skus: [] as string[] };
      const unreserved = await tx.query<{ sku: string; qty: number }>('SELECT sku, qty FROM sales_order_lines WHERE order_id = ? AND warehouse IS NULL ORDER BY sku', [orderId]);
      if (unreserved.length > 0) {
        const reserved = await reserveStock(tx, orderId, unreserved, undefined);
        if (!reserved.ok) {
          await tx.execute("UPDATE sales_orders SET status = 'rejected', reject_reason = ? WHERE id = ?", [`insufficient stock: ${reserved.short}`.slice(0, 500), orderId]);
          return { outcome: 'rejected' as const, skus: [] as string[] };
        }
        for (const [sku, warehouse] of reserved.warehouseOf) {
          await tx.execute('UPDATE sales_order_lines SET warehouse = ? WHERE order_id = ? AND sku = ?', [warehouse, orderId, sku]);
        }
      }
      // Bill to the customer's registered name when the order names a known customer code.
      const [c] = await tx.query<{ name: string }>('SELECT name FROM customers WHERE code = ?', [o.customer]);
      await tx.execute('INSERT INTO invoices (order_id, bill_to, total_cents, job_id, created_at) VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3))', [
        orderId,
        c?.name ?? o.customer,
        Number(o.total_cents),
        jobId.slice(0, 200),
      ]);
      await tx.execute("UPDATE sales_orders SET status = 'confirmed', confirmed_at = UTC_TIMESTAMP(3) WHERE id = ?", [orderId]);
      return { outcome: 'confirmed' as const, skus: unreserved.map((l) => l.sku) };
    },
    // Safe to retry even when COMMIT's outcome is unknown: the re-run sees the order confirmed.
    { idempotent: true },
  );
  if (r.skus.length > 0) await invalidateItems(ctx, r.skus);
  return r.outcome;
}

/** Age after which a pending order is invoiced by the sweep (its job was lost or gave up). */
export const SWEEP_AFTER_S = 10;

/**
 * A sweep run works in batches of 100 until no stale order is left or this much time has passed:
 * below the 10 s period, so runs do not pile up. A Redis failover under load leaves hundreds of
 * deferred orders (about 100 a second in a chaos run); one batch per tick would take minutes.
 */
const SWEEP_BUDGET_MS = 8_000;

/** Invoices pending orders older than SWEEP_AFTER_S, in batches of 100, for up to SWEEP_BUDGET_MS. */
export async function sweepPendingOrders(ctx: AppContext, jobId: string): Promise<number> {
  const deadline = Date.now() + SWEEP_BUDGET_MS;
  let done = 0;
  for (;;) {
    const rows = await ctx.db.query<{ id: number }>(
      `SELECT id FROM sales_orders WHERE status = 'pending' AND created_at < UTC_TIMESTAMP(3) - INTERVAL ${SWEEP_AFTER_S} SECOND ORDER BY id LIMIT 100`,
    );
    for (const r of rows) {
      const outcome = await confirmOrder(ctx, Number(r.id), jobId);
      ctx.log.info('sweep invoiced a stale pending order', { orderId: r.id, outcome });
    }
    done += rows.length;
    if (rows.length < 100 || Date.now() > deadline) return done;
  }
}

export interface Invoice {
  readonly id: number;
  readonly orderId: number;
  readonly billTo: string;
  readonly totalCents: number;
  readonly jobId: string;
  readonly createdAt: string;
}

export async function getInvoiceOfOrder(db: Db, orderId: number): Promise<Invoice | undefined> {
  const [r] = await db.query<{ id: number; order_id: number; bill_to: string; total_cents: number; job_id: string; created_at: Date }>(
    'SELECT id, order_id, bill_to, total_cents, job_id, created_at FROM invoices WHERE order_id = ?',
    [orderId],
  );
  return r
    ? { id: Number(r.id), orderId: Number(r.order_id), billTo: r.bill_to, totalCents: Number(r.total_cents), jobId: r.job_id, createdAt: r.created_at.toISOString() }
    : undefined;
}
