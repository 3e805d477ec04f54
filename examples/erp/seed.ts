import { isDuplicateKeyError, type AppContext } from '../../src/app/index.js';

/**
 * Demo data for the ERP: two more warehouses, customers, and items with opening stock spread
 * over the warehouses (each opening on the ledger, so the stock invariants hold). Loaded by
 * `POST /admin/seed` (an admin session; `node dist/examples/erp/seed-cli.js` does the HTTP).
 *
 * Idempotent: the seed's name goes into `seed_runs` first, in the same transaction as the data,
 * so a second run (or a concurrent one on another app server, which gets a duplicate key) loads
 * nothing. A changed seed gets a new name (demo-v2) instead of editing this one.
 */
export const SEED_NAME = 'demo-v1';

export const DEMO_WAREHOUSES: ReadonlyArray<readonly [code: string, name: string]> = [
  ['EAST', 'East distribution centre'],
  ['WEST', 'West distribution centre'],
];

export const DEMO_CUSTOMERS: ReadonlyArray<readonly [code: string, name: string, email: string]> = [
  ['ACME', 'Acme Corporation', 'orders@acme.example'],
  ['GLOBEX', 'Globex Ltd', 'buying@globex.example'],
  ['INITECH', 'Initech', 'ap@initech.example'],
];

/** sku, name, price in cents, reorder level, stock per warehouse. */
export const DEMO_ITEMS: ReadonlyArray<readonly [sku: string, name: string, priceCents: number, reorderLevel: number, stock: Readonly<Record<string, number>>]> = [
  ['BOLT-M6', 'Bolt M6 x 20', 12, 500, { EAST: 4000, WEST: 2500 }],
  ['NUT-M6', 'Nut M6', 5, 500, { EAST: 6000, WEST: 3000 }],
  ['BRACKET-L', 'L bracket, steel', 340, 50, { EAST: 200, WEST: 40 }],
  ['MOTOR-12V', '12 V motor', 2599, 20, { EAST: 15 }],
];

export async function seedDemoData(ctx: AppContext): Promise<{ seed: string; loaded: boolean }> {
  try {
    const loaded = await ctx.db.transaction(
      async (tx) => {
        const [done] = await tx.query<{ name: string }>('SELECT name FROM seed_runs WHERE name = ?', [SEED_NAME]);
        if (done) return false;
        await tx.execute('INSERT INTO seed_runs (name, applied_at) VALUES (?, UTC_TIMESTAMP(3))', [SEED_NAME]);
        for (const [code, name] of DEMO_WAREHOUSES) await tx.execute('INSERT IGNORE INTO warehouses (code, name) VALUES (?, ?)', [code, name]);
        for (const [code, name, email] of DEMO_CUSTOMERS) {
          await tx.execute('INSERT IGNORE INTO customers (code, name, email, created_at) VALUES (?, ?, ?, UTC_TIMESTAMP(3))', [code, name, email]);
        }
        for (const [sku, name, price, level, stock] of DEMO_ITEMS) {
          const total = Object.values(stock).reduce((a, b) => a + b, 0);
          await tx.execute('INSERT INTO items (sku, name, price_cents, stock_on_hand, reorder_level) VALUES (?, ?, ?, ?, ?)', [sku, name, price, total, level]);
          for (const [warehouse, qty] of Object.entries(stock)) {
            await tx.execute('INSERT INTO stock_balances (sku, warehouse, on_hand) VALUES (?, ?, ?)', [sku, warehouse, qty]);
            await tx.execute("INSERT INTO stock_ledger (sku, warehouse, delta, reason, order_id, created_at) VALUES (?, ?, ?, 'opening', NULL, UTC_TIMESTAMP(3))", [
              sku,
              warehouse,
              qty,
            ]);
          }
        }
        return true;
      },
      // The seed_runs row makes a re-run after an unknown COMMIT load nothing twice.
      { idempotent: true },
    );
    if (loaded) await ctx.cache.deleteMany(['items:all']);
    return { seed: SEED_NAME, loaded };
  } catch (e) {
    // A concurrent seed on another app server inserted the seed_runs row first: it loads the data.
    if (isDuplicateKeyError(e)) return { seed: SEED_NAME, loaded: false };
    throw e;
  }
}
