/**
 * Writes held, replayed only when safe (issue 22), against one real MariaDB behind a TCP proxy
 * this test controls (it reads the client's MySQL packets and cuts the connection at the moment
 * a case needs):
 * - a write sent while no node is writable is held, not failed, and lands once one is;
 * - a transaction whose connection is cut before COMMIT was sent (the server rolled it back) is
 *   replayed: its row is there exactly once;
 * - a transaction whose connection is cut just after COMMIT was sent (the server committed it) is
 *   NOT replayed: the caller gets DB_COMMIT_UNKNOWN, and the row is there exactly once;
 * - the same with `verifyCommit`: the marker row shows it committed, so the caller gets its
 *   result and it is not run again; and a COMMIT that never reached the server: the marker is
 *   absent, so it is run again (once);
 * - an autocommit statement interrupted by KILL QUERY (what a switchover's fence does to a
 *   statement waiting for its read lock) is replayed on the same live server.
 *
 * Addresses: its row in kit/addresses.ts (MariaDB at .1, the proxy at .2:3306).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';

process.env.HASTACK_LOG_LEVEL ??= 'warn';

import type mysql from 'mysql2/promise';
import { DB_APP_USER, DbClient } from '../../src/clients/db/index.js';
import { ErrorCode, HastackError } from '../../src/shared/errors.js';
import { createLogger } from '../../src/shared/log.js';
import { sleep, waitFor } from '../../src/shared/retry.js';
import { testRange } from '../../kit/addresses.js';
import { missingMariadb, startReplicationSet, type ReplicationSet } from '../../kit/db-replication.js';

const R = testRange('db-held-writes');
const PROXY = { address: R.address(2), port: 3306 };
const log = createLogger('db-held-writes-test');
const missing = missingMariadb();

type Cut = { readonly when: 'before'; readonly sqlIncludes: string } | { readonly when: 'after-commit' } | { readonly when: 'swallow-commit' };

/**
 * A TCP proxy to the server that follows the client's packets (3-byte length, sequence, then a
 * COM_QUERY byte 0x03 and the SQL). One armed cut at a time, fired once: `before` drops the
 * connection instead of forwarding the matching statement; `after-commit` forwards COMMIT, then
 * drops the client's side at once and the server's a moment later, so the server runs it.
 */
class CuttingProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private armed: Cut | undefined;
  fired = 0;

  /** Arms one cut (and counts from zero again). */
  arm(cut: Cut): void {
    this.armed = cut;
    this.fired = 0;
  }

  constructor(private readonly upstream: { address: string; port: number }) {
    this.server = net.createServer((client) => this.pipe(client));
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(PROXY.port, PROXY.address, resolve));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private pipe(client: net.Socket): void {
    const server = net.connect(this.upstream.port, this.upstream.address);
    this.sockets.add(client).add(server);
    const drop = (): void => {
      client.destroy();
      server.destroy();
    };
    client.on('close', () => this.sockets.delete(client));
    server.on('close', () => this.sockets.delete(server));
    client.on('error', drop);
    server.on('error', drop);
    server.on('data', (d) => client.write(d));
    server.on('end', () => client.end());
    let pending = Buffer.alloc(0);
    client.on('data', (d) => {
      pending = Buffer.concat([pending, d]);
      // Forward whole packets only, each looked at first.
      while (pending.length >= 4) {
        const len = pending.readUIntLE(0, 3);
        if (pending.length < 4 + len) return;
        const packet = pending.subarray(0, 4 + len);
        pending = pending.subarray(4 + len);
        const sql = len > 0 && packet[4] === 0x03 ? packet.subarray(5).toString('utf8') : undefined;
        const cut = this.armed;
        if (cut !== undefined && sql !== undefined) {
          if (cut.when === 'before' && sql.includes(cut.sqlIncludes)) {
            this.fire();
            drop();
            return;
          }
          if (cut.when === 'swallow-commit' && /^\s*COMMIT\s*$/i.test(sql)) {
            // COMMIT never reaches the server (the client cannot tell): the server rolls back.
            this.fire();
            drop();
            return;
          }
          if (cut.when === 'after-commit' && /^\s*COMMIT\s*$/i.test(sql)) {
            this.fire();
            server.write(packet);
            client.destroy();
            // 200 ms: the server reads COMMIT and commits before it sees the connection go.
            setTimeout(() => server.destroy(), 200);
            return;
          }
        }
        server.write(packet);
      }
    });
  }

  private fire(): void {
    this.armed = undefined;
    this.fired++;
  }
}

describe('db client: writes held, replayed only when safe', { timeout: 180_000, skip: missing.length > 0 ? `not installed: ${missing.join(', ')}` : false }, () => {
  let set: ReplicationSet;
  let proxy: CuttingProxy;
  let db: DbClient;

  const admin = <T>(fn: (c: mysql.Connection) => Promise<T>): Promise<T> => set.withAdmin('db1', fn);
  const countOf = async (tag: string): Promise<number> => {
    const rows = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM hw_orders WHERE tag = ?', [tag]);
    return Number(rows[0]?.n);
  };

  before(async () => {
    set = await startReplicationSet('db-held-writes', 1);
    const svc = set.nodes[0];
    assert.ok(svc);
    proxy = new CuttingProxy({ address: svc.address, port: svc.port });
    await proxy.listen();
    // Every connection of the client (pools and probes) goes through the proxy.
    db = new DbClient([{ id: 'db1', address: PROXY.address, port: PROXY.port }], {
      user: DB_APP_USER,
      password: set.secrets.dbAppPassword,
      database: set.topo.config.database.name,
      log,
      mode: 'replication',
    });
    await db.execute('CREATE TABLE hw_orders (id INT AUTO_INCREMENT PRIMARY KEY, tag VARCHAR(64) NOT NULL)');
  });

  after(async () => {
    await db?.close();
    await proxy?.close();
    await set?.stop();
  });

  it('holds a write while no node is writable, and lands it once one is', async () => {
    await admin((c) => c.query('SET GLOBAL read_only=1'));
    // Wait until the client's probe saw it: the write then starts with no writer to send it to.
    assert.ok(await waitFor(async () => ((await db.refreshRoutes()).writer === undefined ? true : undefined), { timeoutMs: 5_000, intervalMs: 50 }));
    let settled = false;
    const write = db.execute('INSERT INTO hw_orders (tag) VALUES (?)', ['held']).finally(() => (settled = true));
    // 1 s without a writer (a promotion takes tens of ms; Galera's eviction 3 s): the write waits.
    await sleep(1_000);
    assert.equal(settled, false, 'the write was answered while no node was writable');
    await admin((c) => c.query('SET GLOBAL read_only=0'));
    const r = await write;
    assert.equal(r.affectedRows, 1);
    assert.equal(await countOf('held'), 1);
  });

  it('replays a transaction whose connection was cut before COMMIT was sent', async () => {
    proxy.arm({ when: 'before', sqlIncludes: "'cut-before'" });
    const attempts: number[] = [];
    const id = await db.transaction(async (tx) => {
      attempts.push(attempts.length + 1);
      const w = await tx.execute("INSERT INTO hw_orders (tag) VALUES ('replayed')");
      await tx.execute("UPDATE hw_orders SET tag = 'replayed' WHERE id = ? AND tag <> 'cut-before'", [w.insertId]);
      return w.insertId;
    });
    assert.equal(proxy.fired, 1, 'the proxy cut the connection');
    assert.deepEqual(attempts, [1, 2], 'the transaction ran twice: cut, then replayed');
    assert.ok(id > 0);
    assert.equal(await countOf('replayed'), 1, 'the rolled-back attempt left nothing, the replay one row');
  });

  it('does not replay a transaction whose connection was cut after COMMIT was sent: DB_COMMIT_UNKNOWN', async () => {
    proxy.arm({ when: 'after-commit' });
    let attempts = 0;
    const err = await db
      .transaction(async (tx) => {
        attempts++;
        await tx.execute("INSERT INTO hw_orders (tag) VALUES ('unknown')");
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.equal(proxy.fired, 1);
    assert.ok(err instanceof HastackError, `expected a HastackError, got ${String(err)}`);
    assert.equal(err.code, ErrorCode.DB_COMMIT_UNKNOWN);
    assert.match(err.message, /may or may not have been applied, and it was not run again/);
    assert.match(err.message, /Read back whether it took effect/);
    assert.equal(attempts, 1, 'never run again');
    // The server did commit it: a replay would have stored it twice.
    assert.ok(await waitFor(async () => ((await countOf('unknown')) === 1 ? true : undefined), { timeoutMs: 5_000, intervalMs: 100 }));
    await sleep(300);
    assert.equal(await countOf('unknown'), 1);
  });

  it('with verifyCommit, checks a COMMIT cut after it was sent: committed, so its result and no replay', async () => {
    proxy.arm({ when: 'after-commit' });
    let attempts = 0;
    const id = await db.transaction(
      async (tx) => {
        attempts++;
        return (await tx.execute("INSERT INTO hw_orders (tag) VALUES ('checked')")).insertId;
      },
      { verifyCommit: true },
    );
    assert.equal(proxy.fired, 1);
    assert.equal(attempts, 1, 'never run again: the marker showed it committed');
    assert.ok(id > 0);
    assert.equal(await countOf('checked'), 1);
  });

  it('with verifyCommit, checks a COMMIT that never reached the server: not committed, so run again', async () => {
    proxy.arm({ when: 'swallow-commit' });
    let attempts = 0;
    await db.transaction(
      async (tx) => {
        attempts++;
        await tx.execute("INSERT INTO hw_orders (tag) VALUES ('rerun')");
      },
      { verifyCommit: true },
    );
    assert.equal(proxy.fired, 1);
    assert.equal(attempts, 2, 'the marker was absent: run again');
    assert.equal(await countOf('rerun'), 1);
  });

  it('replays an autocommit statement interrupted by KILL QUERY while it waited for the global read lock', async () => {
    // The switchover's fence in miniature: the global read lock is held (FLUSH TABLES WITH READ
    // LOCK), the client's insert waits for it, KILL QUERY interrupts it, and the client runs it again.
    const locker = await set.admin('db1');
    const blockedStatement = async (): Promise<number | undefined> => {
      const [rows] = await locker.query<mysql.RowDataPacket[]>(
        "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ? AND STATE IN ('Waiting for backup lock', 'Waiting for global read lock') AND COMMAND = 'Query'",
        [DB_APP_USER],
      );
      return rows[0]?.['id'] as number | undefined;
    };
    try {
      await locker.query('FLUSH TABLES WITH READ LOCK');
      const retriesBefore = db.stats().retries;
      const write = db.execute('INSERT INTO hw_orders (tag) VALUES (?)', ['interrupted']);
      const first = await waitFor(blockedStatement, { timeoutMs: 5_000, intervalMs: 20 });
      assert.ok(first !== undefined, 'the insert waits for the global read lock');
      await locker.query('KILL QUERY ?', [first]);
      // The client answered the interruption with a replay, which waits for the lock again.
      assert.ok(
        await waitFor(async () => (db.stats().retries > retriesBefore && (await blockedStatement()) !== undefined ? true : undefined), { timeoutMs: 5_000, intervalMs: 20 }),
      );
      await locker.query('UNLOCK TABLES');
      const r = await write;
      assert.equal(r.affectedRows, 1);
      assert.equal(await countOf('interrupted'), 1);
    } finally {
      await locker.end().catch(() => undefined);
    }
  });
});
