import { HttpError, isDuplicateKeyError, type AppContext } from '../../src/app/index.js';
import type { ItemInput, ReceiptInput } from './validate.js';

export interface Item {
  readonly sku: string;
  readonly name: string;
  readonly priceCents: number;
  readonly stockOnHand: number;
}

interface ItemRow {
  sku: string;
  name: string;
  price_cents: number;
  stock_on_hand: number;
}

/**
 * Read-through TTL. 5 s: confirmations delete the keys they change, and when a delete is lost (a
 * memcached node down for that moment) the stale entry lives at most 5 s.
 */
export const ITEM_TTL_S = 5;
const ALL_KEY = 'items:all';
const itemKey = (sku: string): string => `item:${sku}`;

function toItem(r: ItemRow): Item {
  return { sku: r.sku, name: r.name, priceCents: r.price_cents, stockOnHand: r.stock_on_hand };
}

/**
 * Read-through (`getOrLoad`): on a miss one request per app server queries the replica and the
 * others of that moment wait for its answer (single-flight), so an expired hot key or a dead
 * memcached node does not send a burst of identical queries to the database. `cached` is false
 * for the request whose loader ran (its answer came from the database).
 */
export async function listItems(ctx: AppContext): Promise<{ items: Item[]; cached: boolean }> {
  let loaded = false;
  const items = await ctx.cache.getOrLoad<Item[]>(ALL_KEY, ITEM_TTL_S, async () => {
    loaded = true;
    const rows = await ctx.db.query<ItemRow>('SELECT sku, name, price_cents, stock_on_hand FROM items ORDER BY sku', [], { readFrom: 'replica' });
    return rows.map(toItem);
  });
  return { items: items ?? [], cached: !loaded };
}

export async function getItem(ctx: AppContext, sku: string): Promise<{ item: Item; cached: boolean } | undefined> {
  let loaded = false;
  // An unknown sku loads undefined, which is not cached: a later insert is seen at once.
  const item = await ctx.cache.getOrLoad<Item>(itemKey(sku), ITEM_TTL_S, async () => {
    loaded = true;
    const [row] = await ctx.db.query<ItemRow>('SELECT sku, name, price_cents, stock_on_hand FROM items WHERE sku = ?', [sku], { readFrom: 'replica' });
    return row ? toItem(row) : undefined;
  });
  return item === undefined ? undefined : { item, cached: !loaded };
}

/** Delete-on-write after stock moved (a delete lost to a down node is bounded by ITEM_TTL_S). */
export async function invalidateItems(ctx: AppContext, skus: readonly string[]): Promise<void> {
  await ctx.cache.deleteMany([ALL_KEY, ...skus.map(itemKey)]);
}

export interface StockLine {
  readonly sku: string;
  readonly stockOnHand: number;
  readonly ledgerSum: number;
  readonly consistent: boolean;
}

/** One (item, warehouse) balance beside the sum of its ledger rows. */
export interface WarehouseLine {
  readonly sku: string;
  readonly warehouse: string;
  readonly onHand: number;
  readonly ledgerSum: number;
  readonly consistent: boolean;
}

export interface StockReport {
  readonly items: StockLine[];
  /** Per warehouse: balance and ledger (a balance row with no ledger, or the reverse, shows too). */
  readonly warehouses: WarehouseLine[];
  /** Every item's stock_on_hand equals the sum of its ledger, and every warehouse balance its ledger. */
  readonly consistent: boolean;
  readonly orders: { readonly pending: number; readonly confirmed: number; readonly rejected: number };
}

/** Stock and ledger from one snapshot (a read-only transaction), never cached: for invariant checks. */
export async function stockReport(ctx: AppContext): Promise<StockReport> {
  return ctx.db.transaction(async (tx) => {
    const rows = await tx.query<{ sku: string; stock_on_hand: number; ledger_sum: number | string }>(
      `SELECT i.sku, i.stock_on_hand, COALESCE(SUM(l.delta), 0) AS ledger_sum
         FROM items i LEFT JOIN stock_ledger l ON l.sku = i.sku
        GROUP BY i.sku, i.stock_on_hand ORDER BY i.sku`,
    );
    const perWarehouse = await tx.query<{ sku: string; warehouse: string; on_hand: number | string | null; ledger_sum: number | string | null }>(
      `SELECT sku, warehouse, SUM(on_hand) AS on_hand, SUM(ledger_sum) AS ledger_sum FROM (
         SELECT sku, warehouse, on_hand, 0 AS ledger_sum FROM stock_balances
         UNION ALL
         SELECT sku, warehouse, 0, SUM(delta) FROM stock_ledger GROUP BY sku, warehouse
       ) x GROUP BY sku, warehouse ORDER BY sku, warehouse`,
    );
    const counts = await tx.query<{ status: string; n: number }>('SELECT status, COUNT(*) AS n FROM sales_orders GROUP BY status');
    const items = rows.map((r) => {
      const ledgerSum = Number(r.ledger_sum);
      return { sku: r.sku, stockOnHand: r.stock_on_hand, ledgerSum, consistent: ledgerSum === r.stock_on_hand };
    });
    const warehouses = perWarehouse.map((r) => {
      const onHand = Number(r.on_hand ?? 0);
      const ledgerSum = Number(r.ledger_sum ?? 0);
      return { sku: r.sku, warehouse: r.warehouse, onHand, ledgerSum, consistent: onHand === ledgerSum && onHand >= 0 };
    });
    const count = (s: string): number => Number(counts.find((c) => c.status === s)?.n ?? 0);
    return {
      items,
      warehouses,
      consistent: items.every((i) => i.consistent) && warehouses.every((w) => w.consistent),
      orders: { pending: count('pending'), confirmed: count('confirmed'), rejected: count('rejected') },
    };
  });
}

export interface Warehouse {
  readonly code: string;
  readonly name: string;
}

export async function listWarehouses(ctx: AppContext): Promise<{ warehouses: Warehouse[] }> {
  const rows = await ctx.db.query<{ code: string; name: string }>('SELECT code, name FROM warehouses ORDER BY code', [], { readFrom: 'replica' });
  return { warehouses: rows.map((r) => ({ code: r.code, name: r.name })) };
}

/**
 * Creates an item, with its opening stock in one warehouse (ledger row "opening" and balance) in
 * the same transaction. 409 when the sku exists: creating is not an upsert (a retry after an
 * unknown outcome sees the 409 and can read the item).
 */
export async function createItem(ctx: AppContext, input: ItemInput): Promise<Item> {
  try {
    await ctx.db.transaction(async (tx) => {
      if (input.opening) {
        const [w] = await tx.query<{ code: string }>('SELECT code FROM warehouses WHERE code = ?', [input.opening.warehouse]);
        if (!w) throw new HttpError(400, 'UNKNOWN_WAREHOUSE', `opening.warehouse: no warehouse ${input.opening.warehouse} (GET /api/warehouses lists them)`);
      }
      const qty = input.opening?.qty ?? 0;
      await tx.execute('INSERT INTO items (sku, name, price_cents, stock_on_hand, reorder_level) VALUES (?, ?, ?, ?, ?)', [
        input.sku,
        input.name,
        input.priceCents,
        qty,
        input.reorderLevel,
      ]);
      if (input.opening) {
        await tx.execute('INSERT INTO stock_balances (sku, warehouse, on_hand) VALUES (?, ?, ?)', [input.sku, input.opening.warehouse, qty]);
        await tx.execute("INSERT INTO stock_ledger (sku, warehouse, delta, reason, order_id, created_at) VALUES (?, ?, ?, 'opening', NULL, UTC_TIMESTAMP(3))", [
          input.sku,
          input.opening.warehouse,
          qty,
        ]);
      }
    });
  } catch (e) {
    if (isDuplicateKeyError(e)) throw new HttpError(409, 'ITEM_EXISTS', `sku: an item ${input.sku} already exists (GET /api/items/${input.sku})`);
    throw e;
  }
  await invalidateItems(ctx, [input.sku]);
  return { sku: input.sku, name: input.name, priceCents: input.priceCents, stockOnHand: input.opening?.qty ?? 0 };
}

/**
 * Posts goods received: a ledger row "receipt", the warehouse balance and the item's total up by
 * `qty`, in one transaction. The reference is unique: the same reference again is answered with
 * the first receipt (created false) and moves nothing, so a retry is safe. Locks in the order
 * every order uses (balance, then item).
 */
export async function receiveStock(ctx: AppContext, input: ReceiptInput): Promise<{ receipt: ReceiptInput; created: boolean }> {
  try {
    return await postReceipt(ctx, input);
  } catch (e) {
    // A concurrent request with the same reference committed first: this one is the duplicate.
    if (!isDuplicateKeyError(e)) throw e;
    return postReceipt(ctx, input);
  }
}

async function postReceipt(ctx: AppContext, input: ReceiptInput): Promise<{ receipt: ReceiptInput; created: boolean }> {
  const r = await ctx.db.transaction(
    async (tx) => {
      const [seen] = await tx.query<{ sku: string; warehouse: string; qty: number }>('SELECT sku, warehouse, qty FROM stock_receipts WHERE reference = ?', [input.reference]);
      if (seen) return { receipt: { reference: input.reference, sku: seen.sku, warehouse: seen.warehouse, qty: Number(seen.qty) }, created: false };
      const [item] = await tx.query<{ sku: string }>('SELECT sku FROM items WHERE sku = ?', [input.sku]);
      if (!item) throw new HttpError(400, 'UNKNOWN_SKU', `sku: no item with sku ${input.sku} (GET /api/items lists them)`);
      const [w] = await tx.query<{ code: string }>('SELECT code FROM warehouses WHERE code = ?', [input.warehouse]);
      if (!w) throw new HttpError(400, 'UNKNOWN_WAREHOUSE', `warehouse: no warehouse ${input.warehouse} (GET /api/warehouses lists them)`);
      await tx.execute('INSERT INTO stock_receipts (reference, sku, warehouse, qty, created_at) VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3))', [
        input.reference,
        input.sku,
        input.warehouse,
        input.qty,
      ]);
      await tx.query('SELECT on_hand FROM stock_balances WHERE sku = ? AND warehouse = ? FOR UPDATE', [input.sku, input.warehouse]);
      await tx.execute('INSERT INTO stock_balances (sku, warehouse, on_hand) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE on_hand = on_hand + VALUES(on_hand)', [
        input.sku,
        input.warehouse,
        input.qty,
      ]);
      await tx.execute('UPDATE items SET stock_on_hand = stock_on_hand + ? WHERE sku = ?', [input.qty, input.sku]);
      await tx.execute("INSERT INTO stock_ledger (sku, warehouse, delta, reason, order_id, created_at) VALUES (?, ?, ?, 'receipt', NULL, UTC_TIMESTAMP(3))", [
        input.sku,
        input.warehouse,
        input.qty,
      ]);
      return { receipt: input, created: true };
    },
    // The unique reference makes a re-run after an unknown COMMIT find the receipt, not double it.
    { idempotent: true },
  );
  if (r.created) await invalidateItems(ctx, [input.sku]);
  return r;
}
