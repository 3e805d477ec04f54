/**
 * A COMMIT killed while it waits for the replica's semi-sync ACK is committed on the primary
 * alone (MariaDB aborts the wait, not the commit). A primary fencing itself does exactly this to
 * the app's sessions; the promoted replica then lacks the transaction. The router must not
 * acknowledge it through that primary: not by an idempotent replay that finds its own row there,
 * until a later commit is acknowledged (commit-check.ts `ackedBarrier`). Found by `chaos soak
 * partition-db-primary` (1 acknowledged order lost in each of 2 runs); this is the same path,
 * step by step, against a real primary and replica:
 * - the replica's IO thread stopped (no ACK can come; the primary waits, wait_no_slave);
 * - an idempotent order transaction's COMMIT waits; the test kills its session on the primary;
 * - the replay finds the order there: it must NOT answer while no replica holds it;
 * - the primary is killed, the replica promoted: the answer comes from there, and the order is
 *   there exactly once.
 *
 * Before that, the same cut-off COMMIT under the fence itself (failover `stopWrites` with `fence`,
 * what the guard and the crash plan run): the primary is shut to the app account, so no client
 * of any driver (the `mariadb` command-line client here, as the app) reads the order there, and an
 * app connection left open is killed; the admin still gets in; attaching it as a replica opens it.
 *
 * Addresses: its row in kit/addresses.ts (db1 .1, db2 .2).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

process.env.HASTACK_LOG_LEVEL ??= 'warn';

import mysql from 'mysql2/promise';
import { DB_APP_USER, DbClient } from '../../src/clients/db/index.js';
import { openToApp } from '../../src/engines/index.js';
import { stopWrites } from '../../src/failover/index.js';
import { createLogger } from '../../src/shared/log.js';
import { sleep, waitFor } from '../../src/shared/retry.js';
import { missingMariadb, startReplicationSet, type ReplicationSet } from '../../kit/db-replication.js';

const log = createLogger('db-acked-replay-test');
const missing = missingMariadb();

describe(
  'db client: a COMMIT killed in its semi-sync wait is never acknowledged from that primary',
  { timeout: 180_000, skip: missing.length > 0 ? `not installed: ${missing.join(', ')}` : false },
  () => {
    let set: ReplicationSet;
    let db: DbClient;

    const on = <T>(node: string, fn: (c: mysql.Connection) => Promise<T>): Promise<T> => set.withAdmin(node, fn);
    const status = async (node: string, name: string): Promise<string> =>
      on(node, async (c) => {
        const [rows] = await c.query<mysql.RowDataPacket[]>('SHOW GLOBAL STATUS LIKE ?', [name]);
        return String(rows[0]?.['Value'] ?? '');
      });

    before(async () => {
      set = await startReplicationSet('db-acked-replay', 2);
      // Semi-sync as a primary with a replica runs it: AFTER_SYNC, no fallback while it waits.
      await on('db1', (c) => c.query('SET GLOBAL rpl_semi_sync_master_enabled=1, rpl_semi_sync_master_wait_no_slave=1, rpl_semi_sync_master_timeout=60000'));
      await on('db2', async (c) => {
        await c.query('SET GLOBAL rpl_semi_sync_slave_enabled=1');
        await c.query('STOP SLAVE IO_THREAD');
        await c.query('START SLAVE IO_THREAD');
      });
      assert.ok(await waitFor(async () => ((await status('db1', 'Rpl_semi_sync_master_clients')) === '1' ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 }));
      const nodes = set.nodes.map((s) => ({ id: s.node, address: s.address, port: s.port }));
      db = new DbClient(nodes, {
        user: DB_APP_USER,
        password: set.secrets.dbAppPassword,
        database: set.topo.config.database.name,
        log,
        mode: 'replication',
        retryBudgetMs: 30_000,
        statementTimeoutMs: 3_000,
      });
      await db.execute('CREATE TABLE ar_orders (id INT AUTO_INCREMENT PRIMARY KEY, k VARCHAR(64) NOT NULL UNIQUE)');
      // The semi-sync ACK says the replica has the event in its relay log, not that it applied it:
      // under load (CI) the tests below read db2 before its SQL thread had created the table.
      const applied = async (): Promise<true | undefined> =>
        on('db2', async (c) => {
          const [rows] = await c.query<mysql.RowDataPacket[]>('SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [
            set.topo.config.database.name,
            'ar_orders',
          ]);
          return rows.length > 0 ? true : undefined;
        });
      assert.ok(await waitFor(applied, { timeoutMs: 10_000, intervalMs: 100 }), 'the replica applied the CREATE TABLE');
    });

    after(async () => {
      await db?.close();
      await set?.stop();
    });

    /** The id of the app session on db1 whose COMMIT waits for the semi-sync ACK. */
    const waitingCommit = async (): Promise<number | undefined> =>
      waitFor(
        async () =>
          on('db1', async (c) => {
            const [rows] = await c.query<mysql.RowDataPacket[]>("SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ? AND STATE LIKE '%semi-sync%'", [DB_APP_USER]);
            return rows[0] !== undefined ? Number(rows[0]['id']) : undefined;
          }),
        { timeoutMs: 5_000, intervalMs: 50 },
      );
    const countOn = async (node: string, k: string): Promise<number> =>
      on(node, async (c) => Number((await c.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${set.topo.config.database.name}.ar_orders WHERE k = ?`, [k]))[0][0]?.['n']));

    it('the fence shuts the primary to the app: no client reads the commit it cut off; an attach opens it again', async () => {
      const dbName = set.topo.config.database.name;
      const db1 = set.nodes[0];
      assert.ok(db1);
      // The `mariadb` client as the app account, its password in a 0600 option file (never argv).
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hx-acked-cli-'));
      const opts = path.join(dir, 'app.cnf');
      fs.writeFileSync(opts, `[client]\nuser=${DB_APP_USER}\npassword=${set.secrets.dbAppPassword}\n`, { mode: 0o600 });
      const cli = (sql: string): { code: number | null; out: string } => {
        const r = spawnSync('mariadb', [`--defaults-extra-file=${opts}`, '-h', db1.address, '-P', String(db1.port), '-N', '-B', dbName, '-e', sql], {
          encoding: 'utf8',
          timeout: 10_000,
        });
        return { code: r.status, out: `${r.stdout}${r.stderr}`.trim() };
      };
      // An app's own driver (mysql2 here, PyMySQL or a Rails pool elsewhere): one connection, no hastack client.
      const idle = await mysql.createConnection({ host: db1.address, port: db1.port, user: DB_APP_USER, password: set.secrets.dbAppPassword, database: dbName });
      idle.on('error', () => undefined);
      try {
        assert.equal(cli("SELECT 'in'").out, 'in', 'the app account gets in before the fence');
        await on('db2', (c) => c.query('STOP SLAVE IO_THREAD'));
        // Its COMMIT waits for an ACK that cannot come.
        const commit = idle.query('INSERT INTO ar_orders (k) VALUES (?)', ['fence-1']).then(
          () => 'acknowledged',
          (e: unknown) => `failed: ${(e as Error).message}`,
        );
        assert.ok((await waitingCommit()) !== undefined, 'the COMMIT waits for the semi-sync ACK');
        const fenced = await on('db1', (c) => stopWrites(c, DB_APP_USER, true));
        assert.equal(fenced.shut, true, 'the server was shut to the app');
        assert.match(await commit, /^failed/, 'the waiting COMMIT was never acknowledged');
        // Committed on db1 alone (the reason for all this), and no app client can read it there.
        assert.equal(await countOn('db1', 'fence-1'), 1, 'the killed COMMIT is committed on the primary');
        assert.equal(await countOn('db2', 'fence-1'), 0);
        const denied = cli("SELECT COUNT(*) FROM ar_orders WHERE k = 'fence-1'");
        assert.notEqual(denied.code, 0, `the app account still reads the fenced primary: ${denied.out}`);
        assert.match(denied.out, /ERROR 1203/, 'refused as over its connection limit (max_user_connections=-1)');
        // Attached as a replica again (here: its fence lifted, the replica's ACKs back), it serves the app.
        await on('db1', async (c) => {
          await openToApp(c);
          await c.query('SET GLOBAL read_only=0');
        });
        await on('db2', (c) => c.query('START SLAVE IO_THREAD'));
        assert.equal(cli("SELECT 'open'").out, 'open', 'open to the app again');
        assert.ok(await waitFor(async () => ((await countOn('db2', 'fence-1')) === 1 ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 }), 'the replica caught up');
        assert.ok(await waitFor(async () => ((await status('db1', 'Rpl_semi_sync_master_clients')) === '1' ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 }));
      } finally {
        idle.destroy();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('the replay that finds the order on the fencing primary waits; the answer comes from the promoted replica, which holds the order', async () => {
      // Both nodes have the table (applied, see before). Now no ACK can come.
      await on('db2', (c) => c.query('STOP SLAVE IO_THREAD'));
      let attempts = 0;
      let settled = false;
      const order = db
        .transaction(
          async (tx) => {
            attempts++;
            const [found] = await tx.query<{ id: number }>('SELECT id FROM ar_orders WHERE k = ?', ['order-1']);
            if (found !== undefined) return { id: Number(found.id), created: false };
            return { id: (await tx.execute('INSERT INTO ar_orders (k) VALUES (?)', ['order-1'])).insertId, created: true };
          },
          { idempotent: true },
        )
        .finally(() => (settled = true));
      // Awaited below; a rejection before then is the test's failure, not an unhandled one.
      void order.catch(() => undefined);
      // Its COMMIT waits for the ACK; kill the session as a fencing primary does.
      const waiting = await waitingCommit();
      assert.ok(waiting !== undefined, 'the COMMIT waits for the semi-sync ACK');
      await on('db1', (c) => c.query('KILL CONNECTION ?', [waiting]));
      // Committed on db1 alone: visible there, absent on db2.
      assert.equal(await countOn('db1', 'order-1'), 1, 'the killed COMMIT is committed on the primary');
      // The replay finds it there; no replica holds it, so no answer yet.
      await sleep(1_500);
      assert.ok(attempts >= 2, `the transaction was replayed (attempts: ${attempts})`);
      assert.equal(settled, false, 'answered from a primary whose copy no replica holds');
      // The primary is lost; the replica (without the order) is promoted.
      await set.kill('db1');
      await on('db2', async (c) => {
        await c.query('STOP SLAVE');
        await c.query('RESET SLAVE ALL');
        await c.query('SET GLOBAL rpl_semi_sync_master_enabled=0, read_only=0');
      });
      const r = await order;
      assert.equal(r.created, true, 'written anew on the promoted replica');
      const onDb2 = await on('db2', async (c) => (await c.query<mysql.RowDataPacket[]>(`SELECT id FROM ${set.topo.config.database.name}.ar_orders WHERE k = 'order-1'`))[0]);
      assert.deepEqual(
        onDb2.map((x) => Number(x['id'])),
        [r.id],
        'the acknowledged order is on the surviving node, once',
      );
    });
  },
);
