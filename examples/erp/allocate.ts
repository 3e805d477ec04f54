/**
 * Which warehouse each order line takes its stock from: pure, so the rule is unit-tested and the
 * order transaction only applies the answer to rows it has locked.
 *
 * Rule: a line is served whole from one warehouse (one ledger row per order and item). When the
 * order names a warehouse, every line comes from it; otherwise each line comes from the warehouse
 * with the most of that item on hand that covers it (ties: the lower code), which keeps stock
 * spread evenly. A line no warehouse can cover makes the whole order short: nothing is reserved.
 */
export interface Balance {
  readonly sku: string;
  readonly warehouse: string;
  readonly onHand: number;
}

export interface LineWant {
  readonly sku: string;
  readonly qty: number;
}

export interface Allocation {
  readonly sku: string;
  readonly qty: number;
  readonly warehouse: string;
}

export interface Shortage {
  readonly sku: string;
  readonly wanted: number;
  /** The most any one eligible warehouse has of it. */
  readonly available: number;
}

export type AllocationResult = { readonly ok: true; readonly allocations: readonly Allocation[] } | { readonly ok: false; readonly short: readonly Shortage[] };

export function allocate(lines: readonly LineWant[], balances: readonly Balance[], warehouse?: string): AllocationResult {
  const allocations: Allocation[] = [];
  const short: Shortage[] = [];
  for (const line of lines) {
    const candidates = balances
      .filter((b) => b.sku === line.sku && (warehouse === undefined || b.warehouse === warehouse))
      .sort((a, b) => b.onHand - a.onHand || (a.warehouse < b.warehouse ? -1 : a.warehouse > b.warehouse ? 1 : 0));
    const best = candidates[0];
    if (best && best.onHand >= line.qty) allocations.push({ sku: line.sku, qty: line.qty, warehouse: best.warehouse });
    else short.push({ sku: line.sku, wanted: line.qty, available: best?.onHand ?? 0 });
  }
  return short.length > 0 ? { ok: false, short } : { ok: true, allocations };
}

/** "GADGET (wanted 5, have 3)": for the 409 answer. */
export function describeShortage(short: readonly Shortage[]): string {
  return short.map((s) => `${s.sku} (wanted ${s.wanted}, have ${s.available})`).join(', ');
}
