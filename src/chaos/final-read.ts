import { createDbClient } from '../clients/db/index.js';
import type { Secrets, Topology } from '../config/index.js';
import { createLogger, type Logger } from '../shared/log.js';

/** Quiet: the chaos report is the output; the client's routine "primary found" lines are noise here. */
function quietLog(): Logger {
  const log = createLogger('chaos-final-read');
  log.level = 'warn';
  return log;
}
import type { FinalState, FinalStock } from './final-state.js';

/**
 * Reads the cluster's final state straight from the primary database (not through the app, so
 * a broken app cannot hide what it failed to store). Orders are those of this run's keys.
 */
export async function readFinalState(topo: Topology, secrets: Secrets, keyPrefix: string): Promise<FinalState> {
  const db = createDbClient(topo, secrets, quietLog());
  try {
    const orders = await db.query<{ id: number | string; idempotency_key: string | null; customer: string; status: string }>(
      'SELECT id, idempotency_key, customer, status FROM sales_orders WHERE customer LIKE ? OR idempotency_key LIKE ?',
      [`${keyPrefix}%`, `${keyPrefix}%`],
    );
    const items = await db.query<{ sku: string; stock_on_hand: number }>('SELECT sku, stock_on_hand FROM items ORDER BY sku');
    const ledger = await db.query<{ sku: string; delta: number }>('SELECT sku, delta FROM stock_ledger ORDER BY id');
    const running = new Map<string, { sum: number; min: number }>();
    for (const l of ledger) {
      const r = running.get(l.sku) ?? { sum: 0, min: 0 };
      r.sum += Number(l.delta);
      r.min = Math.min(r.min, r.sum);
      running.set(l.sku, r);
    }
    const stock: FinalStock[] = items.map((i) => ({
      sku: i.sku,
      onHand: Number(i.stock_on_hand),
      ledgerSum: running.get(i.sku)?.sum ?? 0,
      minRunningBalance: running.get(i.sku)?.min ?? 0,
    }));
    const runs = await db.query<{ order_id: number | string; runs: number }>(
      'SELECT j.order_id, j.runs FROM job_runs j JOIN sales_orders o ON o.id = j.order_id WHERE o.customer LIKE ? OR o.idempotency_key LIKE ?',
      [`${keyPrefix}%`, `${keyPrefix}%`],
    );
    return {
      orders: orders.map((o) => ({ id: Number(o.id), idempotencyKey: o.idempotency_key, customer: o.customer, status: o.status })),
      stock,
      jobRuns: new Map(runs.map((r) => [Number(r.order_id), Number(r.runs)])),
    };
  } finally {
    await db.close();
  }
}

/** Orders of this run still pending: the grace period waits for this to reach zero (bounded). */
export async function countPending(topo: Topology, secrets: Secrets, keyPrefix: string): Promise<number> {
  const db = createDbClient(topo, secrets, quietLog());
  try {
    const rows = await db.query<{ n: number | string }>("SELECT COUNT(*) AS n FROM sales_orders WHERE status = 'pending' AND customer LIKE ?", [`${keyPrefix}%`]);
    return Number(rows[0]?.n ?? 0);
  } finally {
    await db.close();
  }
}
