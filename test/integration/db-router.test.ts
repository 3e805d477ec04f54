/**
 * The database router against a real MariaDB primary + 2 replicas (GTID, semi-sync AFTER_SYNC),
 * started through the engine driver: reads spread over the replicas, a replica with stopped
 * replication is skipped, read-your-writes (1,000 create-then-read through a replica, never
 * stale), a delayed replica is waited for or bypassed, the read path refuses writes, and a split
 * brain stops writes.
 *
 * Namespace: addresses 127.0.53.1-3, table rt_items in the app database, a fresh temp state dir.
 * Every engine process is killed by its process group in `after`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

process.env.HASTACK_LOG_LEVEL ??= 'warn';

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type mysql from 'mysql2/promise';
import { startLockReaper } from '../../src/control/index.js';
import { classifyDbError, DB_APP_USER, NodePools, runSql } from '../../src/clients/db/index.js';
import { createDbClient, DbClient, type DbClientOptions } from '../../src/clients/db/index.js';
import { HastackError } from '../../src/shared/errors.js';
import { createLogger } from '../../src/shared/log.js';
import { waitFor } from '../../src/shared/retry.js';
import { JobLedger, jobKey } from '../../src/worker/index.js';
import { missingMariadb, startReplicationSet, type ReplicationSet } from '../../kit/db-replication.js';

const log = createLogger('db-router-test');
const missing = missingMariadb();

describe('db router with a primary and two replicas', { timeout: 600_000, skip: missing.length > 0 ? `not installed: ${missing.join(', ')}` : false }, () => {
  let set: ReplicationSet;
  let router: DbClient;
  /** @@server_id → node name, to see which server really answered a read. */
  const nodeOf = new Map<number, string>();
  const figures: string[] = [];

  const admin = <T>(node: string, fn: (c: mysql.Connection) => Promise<T>): Promise<T> => set.withAdmin(node, fn);

  /** Serving node of each read, counted. */
  const tally = (sids: readonly number[]): Record<string, number> => {
    const out: Record<string, number> = { db1: 0, db2: 0, db3: 0 };
    for (const s of sids) {
      const n = nodeOf.get(s) ?? `server ${s}`;
      out[n] = (out[n] ?? 0) + 1;
    }
    return out;
  };

  const waitRoutes = async (ok: (readers: readonly string[], excluded: readonly string[]) => boolean, what: string): Promise<void> => {
    // 15 s: a probe round runs every 200 ms here; replication restarts within a second.
    const done = await waitFor(
      async () => {
        const p = await router.refreshRoutes();
        return ok(
          p.readers,
          p.excluded.map((e) => e.id),
        )
          ? true
          : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );
    assert.ok(done, `${what}: routes are ${router.routes?.summary ?? 'unknown'}`);
  };

  before(async () => {
    set = await startReplicationSet('db-router', 3);
    for (const n of ['db1', 'db2', 'db3']) {
      const [rows] = await admin(n, (c) => c.query<mysql.RowDataPacket[]>('SELECT @@server_id AS sid'));
      nodeOf.set(Number(rows[0]?.['sid']), n);
    }
    // 200 ms probes: the test waits less for routes to follow what it does to the replicas.
    router = createDbClient(set.topo, set.secrets, log, { probeIntervalMs: 200 });
    await router.execute('CREATE TABLE IF NOT EXISTS rt_items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) NOT NULL)');
    await waitRoutes((r) => r.length === 2, 'both replicas become readers');
  });

  after(async () => {
    await router?.close();
    await set?.stop();
    for (const f of figures) console.log(`# ${f}`);
  });

  it('writes to the primary and spreads replica reads over both replicas', async () => {
    assert.equal(router.routes?.writer, 'db1');
    const sids: number[] = [];
    for (let i = 0; i < 200; i++) {
      const rows = await router.reader().query<{ sid: number }>('SELECT @@server_id AS sid');
      sids.push(Number(rows[0]?.sid));
    }
    const t = tally(sids);
    figures.push(`200 reader reads served by ${JSON.stringify(t)}`);
    assert.ok((t['db2'] ?? 0) > 0 && (t['db3'] ?? 0) > 0, `both replicas served reads: ${JSON.stringify(t)}`);
    assert.equal(t['db1'], 0, 'the primary served none while replicas qualify');
    // Plain query() defaults to the primary (see DbClient on why).
    const [p] = await router.query<{ sid: number }>('SELECT @@server_id AS sid');
    assert.equal(nodeOf.get(Number(p?.sid)), 'db1');
  });

  it('skips a replica whose SQL thread is stopped, and takes it back when it runs again', async () => {
    await admin('db3', (c) => c.query('STOP SLAVE SQL_THREAD'));
    try {
      await waitRoutes((r, x) => r.length === 1 && x.includes('db3'), 'db3 leaves the readers');
      assert.match(router.routes?.excluded.find((e) => e.id === 'db3')?.why ?? '', /replication stopped/);
      const sids: number[] = [];
      for (let i = 0; i < 100; i++) sids.push(Number((await router.query<{ sid: number }>('SELECT @@server_id AS sid', [], { readFrom: 'replica' }))[0]?.sid));
      const t = tally(sids);
      assert.equal(t['db3'], 0, `no read went to the stopped replica: ${JSON.stringify(t)}`);
      assert.equal(t['db2'], 100);
    } finally {
      await admin('db3', (c) => c.query('START SLAVE SQL_THREAD'));
    }
    await waitRoutes((r) => r.length === 2, 'db3 is a reader again');
  });

  it('read-your-writes: create then immediately read through a replica, 1,000 times, never stale', async () => {
    // Control, not asserted: the same create-then-read without a session token, to show how
    // often a replica read right after a write misses it on this machine.
    let controlStale = 0;
    for (let i = 0; i < 200; i++) {
      const { insertId } = await router.execute('INSERT INTO rt_items (name) VALUES (?)', [`control-${i}`]);
      if ((await router.reader().query('SELECT id FROM rt_items WHERE id = ?', [insertId])).length === 0) controlStale++;
    }
    figures.push(`without a session token: ${controlStale}/200 replica reads right after the write were stale`);
    let stale = 0;
    const sids: number[] = [];
    const before = router.stats();
    for (let i = 0; i < 1000; i++) {
      // A session per iteration, like one per HTTP request; every other read continues the
      // writer's session in a new one through its token, as the next request would.
      const writer = router.session();
      const name = `ryw-${i}`;
      const { insertId } = await writer.execute('INSERT INTO rt_items (name) VALUES (?)', [name]);
      const reader = i % 2 === 0 ? writer : router.session(writer.token());
      const rows = await reader.reader().query<{ name: string; sid: number }>('SELECT name, @@server_id AS sid FROM rt_items WHERE id = ?', [insertId]);
      if (rows[0]?.name !== name) stale++;
      sids.push(Number(rows[0]?.sid));
    }
    const t = tally(sids);
    const after = router.stats();
    const replicaServed = (t['db2'] ?? 0) + (t['db3'] ?? 0);
    figures.push(
      `read-your-writes x1000: stale ${stale}, served by ${JSON.stringify(t)}, GTID waits ${after.readYourWritesWaits - before.readYourWritesWaits}, sent to primary after a wait timeout ${after.readYourWritesToPrimary - before.readYourWritesToPrimary}`,
    );
    assert.equal(stale, 0, 'no read missed the session’s own write');
    assert.ok(replicaServed > 500, `replicas really served the reads (${JSON.stringify(t)})`);
  });

  it('waits for a delayed replica or reads from the primary, where a session-less read is stale', async () => {
    // MASTER_DELAY=2: db2 applies each transaction 2 s after it was written, so right after a
    // write it certainly lacks it; db3 stops so db2 is the only reader.
    await admin('db3', (c) => c.query('STOP SLAVE SQL_THREAD'));
    await admin('db2', async (c) => {
      await c.query('STOP SLAVE');
      await c.query('CHANGE MASTER TO MASTER_DELAY = 2');
      await c.query('START SLAVE');
    });
    try {
      await waitRoutes((r) => r.length === 1 && r[0] === 'db2', 'db2 is the only reader');
      let staleWithoutSession = 0;
      let staleInSession = 0;
      const sids: number[] = [];
      for (let i = 0; i < 10; i++) {
        const s = router.session();
        const { insertId } = await s.execute('INSERT INTO rt_items (name) VALUES (?)', [`delayed-${i}`]);
        const plain = await router.reader().query('SELECT id FROM rt_items WHERE id = ?', [insertId]);
        if (plain.length === 0) staleWithoutSession++;
        const rows = await s.reader().query<{ sid: number }>('SELECT @@server_id AS sid FROM rt_items WHERE id = ?', [insertId]);
        if (rows.length === 0) staleInSession++;
        else sids.push(Number(rows[0]?.sid));
      }
      figures.push(`delayed replica: session-less reads stale ${staleWithoutSession}/10, session reads stale ${staleInSession}/10, served by ${JSON.stringify(tally(sids))}`);
      assert.ok(staleWithoutSession > 0, 'the setup can fail: without the token the replica shows stale data');
      assert.equal(staleInSession, 0);
    } finally {
      await admin('db2', async (c) => {
        await c.query('STOP SLAVE');
        await c.query('CHANGE MASTER TO MASTER_DELAY = 0');
        await c.query('START SLAVE');
      });
      await admin('db3', (c) => c.query('START SLAVE SQL_THREAD'));
    }
    await waitRoutes((r) => r.length === 2, 'both replicas are readers again');
  });

  it('the read path refuses a write, on a replica and on the primary it falls back to', async () => {
    const isRefusal = (e: unknown): boolean => e instanceof HastackError && e.code === 'DB_WRITE_ON_READ_PATH';
    await assert.rejects(router.reader().query("INSERT INTO rt_items (name) VALUES ('via-reader')"), isRefusal);
    await assert.rejects(router.query("UPDATE rt_items SET name = 'via-replica' WHERE id = 1", [], { readFrom: 'replica' }), isRefusal);
    await assert.rejects(router.reader().query('SET SESSION tx_read_only = 0'), isRefusal);
    // Only the primary: the read path falls back to it, and it is writable, yet the write is
    // refused by the read-only session, not by a replica's read_only.
    const db1 = set.nodes[0];
    assert.ok(db1);
    const opts: DbClientOptions = { user: 'hastack', password: set.secrets.dbAppPassword, database: set.topo.config.database.name, log };
    const primaryOnly = new DbClient([{ id: 'db1', address: db1.address, port: db1.port }], opts);
    try {
      await assert.rejects(primaryOnly.reader().query("INSERT INTO rt_items (name) VALUES ('via-primary-reader')"), (e: unknown) => {
        assert.ok(isRefusal(e), String(e));
        assert.match((e as Error).message, /read-only session on db1/);
        return true;
      });
      assert.equal(primaryOnly.stats().readsFellBackToPrimary, 0);
    } finally {
      await primaryOnly.close();
    }
    const [n] = await router.query<{ n: number }>("SELECT COUNT(*) AS n FROM rt_items WHERE name LIKE 'via-%'");
    assert.equal(Number(n?.n), 0, 'nothing was written through the read path');
  });

  it('refuses writes while two nodes are writable (split brain), and resumes after', async () => {
    const short = createDbClient(set.topo, set.secrets, log, { probeIntervalMs: 100, retryBudgetMs: 1_500 });
    try {
      await short.execute("INSERT INTO rt_items (name) VALUES ('before-split')");
      await admin('db2', (c) => c.query('SET GLOBAL read_only = 0'));
      try {
        await waitFor(async () => ((await short.refreshRoutes()).writeRefusal?.kind === 'split-brain' ? true : undefined), { timeoutMs: 5_000, intervalMs: 50 });
        await assert.rejects(short.execute("INSERT INTO rt_items (name) VALUES ('during-split')"), (e: unknown) => e instanceof HastackError && e.code === 'DB_SPLIT_BRAIN');
      } finally {
        await admin('db2', (c) => c.query('SET GLOBAL read_only = 1'));
      }
      const r = await short.execute("INSERT INTO rt_items (name) VALUES ('after-split')");
      assert.equal(r.affectedRows, 1);
      const [n] = await short.query<{ n: number }>("SELECT COUNT(*) AS n FROM rt_items WHERE name = 'during-split'");
      assert.equal(Number(n?.n), 0);
    } finally {
      await short.close();
    }
  });

  it('the lock reaper: an app session idle in a transaction that another waits for is killed; one nobody waits for is not', async () => {
    // The `mariadb` client as the app's account (password in a 0600 defaults file, not argv), a
    // session per process, statements fed on stdin, -n so each answer is printed at once.
    const primary = set.nodes[0];
    assert.ok(primary);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hx-reaper-'));
    const cnf = path.join(dir, 'app.cnf');
    fs.writeFileSync(cnf, `[client]\nuser=hastack\npassword=${set.secrets.dbAppPassword}\nhost=${primary.address}\nport=${primary.port}\ndatabase=app\n`, { mode: 0o600 });
    const sessions: ChildProcessWithoutNullStreams[] = [];
    const session = async (sql: string): Promise<{ id: number; proc: ChildProcessWithoutNullStreams }> => {
      const proc = spawn('mariadb', [`--defaults-extra-file=${cnf}`, '-N', '-B', '-n', '--skip-reconnect'], { stdio: 'pipe' });
      sessions.push(proc);
      let out = '';
      proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
      proc.stdin.write(`SELECT CONNECTION_ID();\n${sql}\n`);
      const id = await waitFor(async () => Number(out.split('\n')[0]) || undefined, { timeoutMs: 10_000, intervalMs: 20 });
      assert.ok(id, `the mariadb client answered: ${out}`);
      return { id, proc };
    };
    const alive = async (id: number): Promise<boolean> =>
      (await admin('db1', (c) => c.query<mysql.RowDataPacket[]>('SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = ?', [id])))[0].length > 0;
    const reaper = startLockReaper(set.topo, set.secrets);
    try {
      await router.execute('CREATE TABLE IF NOT EXISTS rt_stock (sku VARCHAR(16) PRIMARY KEY, qty INT NOT NULL)');
      await router.execute("INSERT INTO rt_stock VALUES ('A', 0), ('B', 0) ON DUPLICATE KEY UPDATE qty = 0");
      // A frozen app server, as the server sees it: a transaction holding a row lock, no next statement.
      const holder = await session("BEGIN; SELECT qty FROM rt_stock WHERE sku = 'A' FOR UPDATE;");
      const bystander = await session("BEGIN; SELECT qty FROM rt_stock WHERE sku = 'B' FOR UPDATE;");
      const t0 = Date.now();
      // The waiter: innodb_lock_wait_timeout is 50 s, so an answer within seconds is the reaper's doing.
      // Not spawnSync: the reaper runs on this process's event loop.
      const waiter = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const p = spawn('mariadb', [`--defaults-extra-file=${cnf}`, '-e', "UPDATE rt_stock SET qty = qty + 1 WHERE sku = 'A'"], {
          stdio: ['ignore', 'ignore', 'pipe'],
          timeout: 20_000,
        });
        let stderr = '';
        p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
        p.on('close', (status) => resolve({ status, stderr }));
      });
      const waited = Date.now() - t0;
      figures.push(`lock reaper: the waiter's UPDATE answered after ${waited} ms (database.idleLockHolderKillMs 1000)`);
      assert.equal(waiter.status, 0, `the waiting UPDATE went through: ${waiter.stderr}`);
      assert.equal(await alive(holder.id), false, 'the idle holder was killed');
      assert.equal(await alive(bystander.id), true, 'the idle transaction nobody waited for was left alone');
      const [rows] = await admin('db1', (c) => c.query<mysql.RowDataPacket[]>("SELECT qty FROM app.rt_stock WHERE sku = 'A'"));
      assert.equal(Number(rows[0]?.['qty']), 1);
      const events = fs.readFileSync(path.join(set.topo.stateDir, 'events.jsonl'), 'utf8');
      assert.match(events, new RegExp(`lock reaper: killed hastack@[0-9.:]+ on db1 \\(session ${holder.id}\\)`));
    } finally {
      await reaper?.stop();
      for (const p of sessions) p.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a statement running on a node the router evicts fails at once as a lost connection; later connections are unaffected', async () => {
    const db1 = set.nodes[0];
    assert.ok(db1);
    const pools = new NodePools([{ id: 'db1', address: db1.address, port: db1.port }], {
      user: DB_APP_USER,
      password: set.secrets.dbAppPassword,
      database: 'app',
      poolSize: 2,
      connectTimeoutMs: 2_000,
      statementTimeoutMs: 10_000,
    });
    try {
      const conn = await pools.connection('db1', 'write');
      // SLEEP(5) answers a row unless it is abandoned: a rejection is the eviction's doing.
      const running = runSql(conn, 'SELECT SLEEP(5) AS s', [], 10_000).then(
        () => undefined,
        (e: unknown) => e,
      );
      await waitFor(
        async () =>
          (await admin('db1', (c) => c.query<mysql.RowDataPacket[]>("SELECT 1 FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(5)%'")))[0].length > 0
            ? true
            : undefined,
        {
          timeoutMs: 5_000,
          intervalMs: 20,
        },
      );
      pools.evict('db1', 'the test evicts it');
      const e = await running;
      assert.ok(e instanceof Error, 'the statement was abandoned, not answered');
      assert.equal(classifyDbError(e), 'connection', 'settled as a lost connection (replayed if it never reached COMMIT)');
      assert.match(e.message, /abandoned: the test evicts it/);
      conn.destroy();
      const next = await pools.connection('db1', 'write');
      assert.deepEqual(await runSql(next, 'SELECT 1 AS one', [], 5_000), [{ one: 1 }]);
      next.release();
    } finally {
      await pools.close();
    }
  });

  // Last: db3 stays dead.
  it('the job ledger: a finished job is recorded on the primary, and every worker sees it; the same id created later is another job', async () => {
    const job = { name: 'confirm-order', id: '42', timestamp: Date.now() };
    const mine = new JobLedger(router);
    const other = createDbClient(set.topo, set.secrets, log);
    try {
      const theirs = new JobLedger(other);
      assert.equal(await theirs.isDone(jobKey(job)), false);
      await mine.recordDone(jobKey(job));
      await mine.recordDone(jobKey(job)); // a retried record is no error
      // Another worker (another client), at once: read on the primary, not a lagging replica.
      assert.equal(await theirs.isDone(jobKey(job)), true, 'a copy a Redis failover brought back is not run again');
      assert.equal(await theirs.isDone(jobKey({ ...job, timestamp: job.timestamp + 1 })), false, 'the same id added again later runs');
      const [n] = await router.query<{ n: number }>('SELECT COUNT(*) AS n FROM hastack_jobs_done');
      assert.equal(Number(n?.n), 1, 'one row per job, however often it is recorded');
    } finally {
      await other.close();
    }
  });

  it('a replica killed under read load costs no failed read: the next probe round drops it', async () => {
    let failed = 0;
    const sids: number[] = [];
    const reader = router.reader();
    const load = (async () => {
      for (let i = 0; i < 400; i++) {
        try {
          sids.push(Number((await reader.query<{ sid: number }>('SELECT @@server_id AS sid'))[0]?.sid));
        } catch {
          failed++;
        }
      }
    })();
    await waitFor(async () => (sids.length >= 100 ? true : undefined), { timeoutMs: 10_000, intervalMs: 5 });
    await set.kill('db3');
    await load;
    const p = await router.refreshRoutes();
    figures.push(`db3 SIGKILL under reads: ${failed} failed of 400, served by ${JSON.stringify(tally(sids))}, routes after: ${p.summary}`);
    assert.equal(failed, 0, 'every read was answered (retried on the other replica)');
    assert.deepEqual(p.readers, ['db2']);
    assert.match(p.excluded.find((e) => e.id === 'db3')?.why ?? '', /unreachable/);
  });
});
