import type { Migration } from '../../src/app/index.js';

/**
 * The ERP's tables. Stock is double-entry: every change of `items.stock_on_hand` has a row in
 * `stock_ledger`, in the same transaction, so `stock_on_hand = SUM(ledger.delta)` per item is an
 * invariant a checker can verify after any fault (GET /api/stock).
 */
/** The demo users' scrypt hashes (passwords "admin-demo" and "clerk-demo", published in the README). */
const DEMO_ADMIN_HASH = 'scrypt$16384$5f2c0a9e1b7d43a8$6683bb80b3f328bea718fd823c9297d315741bdf86e82b149286dc6d591d75b6';
const DEMO_CLERK_HASH = 'scrypt$16384$9b41e6d0c2a85f17$992925c2dd6c781429c2d8b8729fda6833a68db516fdf87bc03991e345656fc5';

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
  {
    id: '004-warehouses-customers-invoices-users',
    // DDL only, each statement re-runnable. Stock per warehouse: `stock_balances` holds the
    // balance of each (sku, warehouse) and the ledger says which warehouse each row moved;
    // `items.stock_on_hand` stays the total over warehouses (so the old invariant still holds).
    // The balance's primary key starts with sku: an order locks its items' balances by a range
    // of the key (WHERE sku IN ...), never by a scan of the whole table.
    sql: [
      `CREATE TABLE IF NOT EXISTS warehouses (
        code VARCHAR(32) NOT NULL PRIMARY KEY,
        name VARCHAR(200) NOT NULL
      ) ENGINE=InnoDB`,
      `CREATE TABLE IF NOT EXISTS stock_balances (
        sku VARCHAR(64) NOT NULL,
        warehouse VARCHAR(32) NOT NULL,
        on_hand INT NOT NULL,
        PRIMARY KEY (sku, warehouse),
        CONSTRAINT stock_balances_item FOREIGN KEY (sku) REFERENCES items (sku),
        CONSTRAINT stock_balances_warehouse FOREIGN KEY (warehouse) REFERENCES warehouses (code),
        CONSTRAINT stock_balances_nonnegative CHECK (on_hand >= 0)
      ) ENGINE=InnoDB`,
      // Rows written before warehouses existed were all in the one warehouse, MAIN.
      "ALTER TABLE stock_ledger ADD COLUMN IF NOT EXISTS warehouse VARCHAR(32) NOT NULL DEFAULT 'MAIN'",
      "ALTER TABLE stock_ledger MODIFY COLUMN reason ENUM('opening', 'sale', 'adjustment', 'receipt') NOT NULL",
      'ALTER TABLE sales_order_lines ADD COLUMN IF NOT EXISTS warehouse VARCHAR(32) NULL',
      'ALTER TABLE items ADD COLUMN IF NOT EXISTS reorder_level INT NOT NULL DEFAULT 0',
      `CREATE TABLE IF NOT EXISTS customers (
        code VARCHAR(64) NOT NULL PRIMARY KEY,
        name VARCHAR(200) NOT NULL,
        email VARCHAR(200) NULL,
        created_at DATETIME(3) NOT NULL
      ) ENGINE=InnoDB`,
      // One invoice per order (UNIQUE order_id): the invoice job may run twice, the second
      // run finds the invoice and changes nothing.
      `CREATE TABLE IF NOT EXISTS invoices (
        id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        order_id BIGINT NOT NULL,
        bill_to VARCHAR(200) NOT NULL,
        total_cents BIGINT NOT NULL,
        job_id VARCHAR(200) NOT NULL,
        created_at DATETIME(3) NOT NULL,
        UNIQUE KEY invoices_order (order_id),
        CONSTRAINT invoices_order FOREIGN KEY (order_id) REFERENCES sales_orders (id)
      ) ENGINE=InnoDB`,
      // One report per schedule tick (its stable job id): a re-run of the tick writes nothing.
      `CREATE TABLE IF NOT EXISTS reorder_reports (
        tick VARCHAR(200) NOT NULL PRIMARY KEY,
        created_at DATETIME(3) NOT NULL,
        line_count INT NOT NULL
      ) ENGINE=InnoDB`,
      `CREATE TABLE IF NOT EXISTS reorder_report_lines (
        tick VARCHAR(200) NOT NULL,
        sku VARCHAR(64) NOT NULL,
        stock_on_hand INT NOT NULL,
        reorder_level INT NOT NULL,
        PRIMARY KEY (tick, sku),
        CONSTRAINT reorder_report_lines_report FOREIGN KEY (tick) REFERENCES reorder_reports (tick)
      ) ENGINE=InnoDB`,
      `CREATE TABLE IF NOT EXISTS users (
        username VARCHAR(64) NOT NULL PRIMARY KEY,
        password_hash VARCHAR(255) NOT NULL,
        role ENUM('admin', 'clerk') NOT NULL
      ) ENGINE=InnoDB`,
      // Which named seed was loaded: written in the seed's own transaction, so a seed loads once.
      `CREATE TABLE IF NOT EXISTS seed_runs (
        name VARCHAR(64) NOT NULL PRIMARY KEY,
        applied_at DATETIME(3) NOT NULL
      ) ENGINE=InnoDB`,
    ],
  },
  {
    id: '005-main-warehouse-and-demo-users',
    // Data only (atomic with its record). Every item's stock so far was in MAIN. The two demo
    // users (passwords "admin-demo" and "clerk-demo", scrypt hashes) were made on every cluster;
    // since 008 they are removed again where demo data is off (hosts), and 009 makes them only
    // where it is on.
    sql: [
      "INSERT INTO warehouses (code, name) VALUES ('MAIN', 'Main warehouse')",
      "INSERT INTO stock_balances (sku, warehouse, on_hand) SELECT sku, 'MAIN', stock_on_hand FROM items",
      "UPDATE items SET reorder_level = 5 WHERE sku = 'RARE-COIN'",
      `INSERT INTO users (username, password_hash, role) VALUES
        ('admin', 'scrypt$16384$5f2c0a9e1b7d43a8$6683bb80b3f328bea718fd823c9297d315741bdf86e82b149286dc6d591d75b6', 'admin'),
        ('clerk', 'scrypt$16384$9b41e6d0c2a85f17$992925c2dd6c781429c2d8b8729fda6833a68db516fdf87bc03991e345656fc5', 'clerk')`,
    ],
  },
  {
    id: '006-stock-receipts',
    // Goods received into a warehouse. The reference (a delivery note or purchase order number)
    // is the natural key: the same delivery posted twice is one receipt.
    sql: [
      `CREATE TABLE IF NOT EXISTS stock_receipts (
        reference VARCHAR(128) NOT NULL PRIMARY KEY,
        sku VARCHAR(64) NOT NULL,
        warehouse VARCHAR(32) NOT NULL,
        qty INT NOT NULL,
        created_at DATETIME(3) NOT NULL,
        CONSTRAINT stock_receipts_item FOREIGN KEY (sku) REFERENCES items (sku),
        CONSTRAINT stock_receipts_warehouse FOREIGN KEY (warehouse) REFERENCES warehouses (code),
        CONSTRAINT stock_receipts_qty_positive CHECK (qty > 0)
      ) ENGINE=InnoDB`,
    ],
  },
  {
    id: '007-order-owner',
    // DDL, each statement re-runnable. Orders belong to the user who placed them: reads are
    // checked against it, and idempotency keys are the user's own (unique per owner, no longer
    // across users, so one user's key never finds another's order). Orders from before have
    // owner '' (admins only).
    sql: [
      "ALTER TABLE sales_orders ADD COLUMN IF NOT EXISTS created_by VARCHAR(64) NOT NULL DEFAULT ''",
      'ALTER TABLE sales_orders ADD UNIQUE KEY IF NOT EXISTS sales_orders_owner_key (created_by, idempotency_key)',
      'ALTER TABLE sales_orders DROP INDEX IF EXISTS sales_orders_idempotency_key',
    ],
  },
  {
    id: '008-no-demo-users-by-default',
    // Data only. The demo accounts have published passwords: remove them wherever they still
    // have them (an account whose password was changed is kept). 009 makes them again where the
    // config asks for demo data (local and netns by default).
    sql: [`DELETE FROM users WHERE (username = 'admin' AND password_hash = '${DEMO_ADMIN_HASH}') OR (username = 'clerk' AND password_hash = '${DEMO_CLERK_HASH}')`],
  },
  {
    id: '009-demo-users',
    // Demo data only (`app.demoData`): the chaos workload and the tests log in with these.
    demoOnly: true,
    sql: [`INSERT IGNORE INTO users (username, password_hash, role) VALUES ('admin', '${DEMO_ADMIN_HASH}', 'admin'), ('clerk', '${DEMO_CLERK_HASH}', 'clerk')`],
  },
  {
    id: '010-user-sessions',
    // DDL, re-runnable. Each login's session, under the SHA-256 of its id (the id is stored
    // nowhere): what verifies a session while Redis cannot answer. Rows expire with the session.
    sql: [
      `CREATE TABLE IF NOT EXISTS user_sessions (
        id_hash CHAR(64) CHARACTER SET ascii NOT NULL PRIMARY KEY,
        username VARCHAR(64) NOT NULL,
        role ENUM('admin', 'clerk') NOT NULL,
        expires_at DATETIME(3) NOT NULL,
        KEY user_sessions_expires (expires_at)
      ) ENGINE=InnoDB`,
    ],
  },
];
