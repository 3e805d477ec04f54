import type { Migration } from '../../src/app/index.js';

/**
 * The ERP's tables. Stock is double-entry: every change of `items.stock_on_hand` has a row in
 * `stock_ledger`, in the same transaction, so `stock_on_hand = SUM(ledger.delta)` per item is an
 * invariant a checker can verify after any fault (GET /api/stock).
 */
export const migrations: readonly Migration[] = [
  {
    id: '001-schema',
    // DDL commits on its own in MariaDB: every statement is re-runnable (IF NOT EXISTS).
    sql: [
      `CREATE TABLE IF NOT EXISTS items (
        sku VARCHAR(64) NOT NULL PRIMARY KEY,
        name VARCHAR(200) NOT NULL,
        price_cents INT NOT NULL,
        stock_on_hand INT NOT NULL DEFAULT 0,
        CONSTRAINT items_price_nonnegative CHECK (price_cents >= 0),
        CONSTRAINT items_stock_nonnegative CHECK (stock_on_hand >= 0)
      ) ENGINE=InnoDB`,
      `CREATE TABLE IF NOT EXISTS sales_orders (
        id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        idempotency_key VARCHAR(128) NOT NULL,
        customer VARCHAR(200) NOT NULL,
        status ENUM('pending', 'confirmed', 'rejected') NOT NULL DEFAULT 'pending',
        total_cents BIGINT NOT NULL,
        reject_reason VARCHAR(500) NULL,
        created_at DATETIME(3) NOT NULL,
        confirmed_at DATETIME(3) NULL,
        UNIQUE KEY sales_orders_idempotency_key (idempotency_key),
        KEY sales_orders_status_created (status, created_at)
      ) ENGINE=InnoDB`,
      `CREATE TABLE IF NOT EXISTS sales_order_lines (
        order_id BIGINT NOT NULL,
        line_no INT NOT NULL,
        sku VARCHAR(64) NOT NULL,
        qty INT NOT NULL,
        price_cents INT NOT NULL,
        PRIMARY KEY (order_id, line_no),
        CONSTRAINT sales_order_lines_order FOREIGN KEY (order_id) REFERENCES sales_orders (id),
        CONSTRAINT sales_order_lines_item FOREIGN KEY (sku) REFERENCES items (sku),
        CONSTRAINT sales_order_lines_qty_positive CHECK (qty > 0)
      ) ENGINE=InnoDB`,
      `CREATE TABLE IF NOT EXISTS stock_ledger (
        id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        sku VARCHAR(64) NOT NULL,
        delta INT NOT NULL,
        reason ENUM('opening', 'sale', 'adjustment') NOT NULL,
        order_id BIGINT NULL,
        created_at DATETIME(3) NOT NULL,
        -- One sale row per order and item: a second confirmation could not move stock twice
        -- even if the status check were bypassed (NULL order ids do not collide).
        UNIQUE KEY stock_ledger_order_sku (order_id, sku),
        KEY stock_ledger_sku (sku),
        CONSTRAINT stock_ledger_item FOREIGN KEY (sku) REFERENCES items (sku),
        CONSTRAINT stock_ledger_order FOREIGN KEY (order_id) REFERENCES sales_orders (id)
      ) ENGINE=InnoDB`,
    ],
  },
  {
    id: '002-seed-items',
    // Data only, so it commits atomically with its migration record: never seeded twice.
    sql: [
      `INSERT INTO items (sku, name, price_cents, stock_on_hand) VALUES
        ('WIDGET-RED', 'Red widget', 1250, 1000),
        ('WIDGET-BLUE', 'Blue widget', 1350, 1000),
        ('GADGET', 'Gadget', 4999, 500),
        ('SPROCKET', 'Sprocket', 250, 5000),
        ('RARE-COIN', 'Rare coin (low stock, for rejections)', 99900, 3)`,
      `INSERT INTO stock_ledger (sku, delta, reason, order_id, created_at) VALUES
        ('WIDGET-RED', 1000, 'opening', NULL, UTC_TIMESTAMP(3)),
        ('WIDGET-BLUE', 1000, 'opening', NULL, UTC_TIMESTAMP(3)),
        ('GADGET', 500, 'opening', NULL, UTC_TIMESTAMP(3)),
        ('SPROCKET', 5000, 'opening', NULL, UTC_TIMESTAMP(3)),
        ('RARE-COIN', 3, 'opening', NULL, UTC_TIMESTAMP(3))`,
    ],
  },
  {
    id: '003-job-runs',
    // How many times the confirm job ran for each order: the chaos checker reports a job that
    // never ran for an acknowledged order (lost) or ran twice (duplicated) from this table.
    sql: [
      `CREATE TABLE IF NOT EXISTS job_runs (
        order_id BIGINT NOT NULL PRIMARY KEY,
        runs INT NOT NULL
      ) ENGINE=InnoDB`,
    ],
  },
];
