import type { AppContext } from '../../src/app/index.js';

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
 * Cache-aside TTL. 5 s: confirmations delete the keys they change, and when a delete is lost (a
 * memcached node down for that moment) the stale entry lives at most 5 s.
 */
export const ITEM_TTL_S = 5;
const ALL_KEY = 'items:all';
const itemKey = (sku: string): string => `item:${sku}`;

function toItem(r: ItemRow): Item {
  return { sku: r.sku, name: r.name, priceCents: r.price_cents, stockOnHand: r.stock_on_hand };
}

export async function listItems(ctx: AppContext): Promise<{ items: Item[]; cached: boolean }> {
  const hit = await ctx.cache.get<Item[]>(ALL_KEY);
  if (hit !== undefined) return { items: hit, cached: true };
  const rows = await ctx.db.query<ItemRow>('SELECT sku, name, price_cents, stock_on_hand FROM items ORDER BY sku', [], { readFrom: 'replica' });
  const items = rows.map(toItem);
  await ctx.cache.set(ALL_KEY, items, ITEM_TTL_S);
  return { items, cached: false };
}

export async function getItem(ctx: AppContext, sku: string): Promise<{ item: Item; cached: boolean } | undefined> {
  const hit = await ctx.cache.get<Item>(itemKey(sku));
  if (hit !== undefined) return { item: hit, cached: true };
  const [row] = await ctx.db.query<ItemRow>('SELECT sku, name, price_cents, stock_on_hand FROM items WHERE sku = ?', [sku], { readFrom: 'replica' });
  if (!row) return undefined;
  const item = toItem(row);
  await ctx.cache.set(itemKey(sku), item, ITEM_TTL_S);
  return { item, cached: false };
}

/** Drops cached entries after stock moved (a failed delete is bounded by ITEM_TTL_S). */
export async function invalidateItems(ctx: AppContext, skus: readonly string[]): Promise<void> {
  await Promise.all([ctx.cache.delete(ALL_KEY), ...skus.map((s) => ctx.cache.delete(itemKey(s)))]);
}

export interface StockLine {
  readonly sku: string;
  readonly stockOnHand: number;
  readonly ledgerSum: number;
  readonly consistent: boolean;
}

export interface StockReport {
  readonly items: StockLine[];
  /** Every item's stock_on_hand equals the sum of its ledger. */
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
    const counts = await tx.query<{ status: string; n: number }>('SELECT status, COUNT(*) AS n FROM sales_orders GROUP BY status');
    const items = rows.map((r) => {
      const ledgerSum = Number(r.ledger_sum);
      return { sku: r.sku, stockOnHand: r.stock_on_hand, ledgerSum, consistent: ledgerSum === r.stock_on_hand };
    });
    const count = (s: string): number => Number(counts.find((c) => c.status === s)?.n ?? 0);
    return {
      items,
      consistent: items.every((i) => i.consistent),
      orders: { pending: count('pending'), confirmed: count('confirmed'), rejected: count('rejected') },
    };
  });
}
