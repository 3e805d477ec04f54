/**
 * A new MariaDB replica provisioned from a mariabackup of a live node (issue 7): primary db1 and
 * replica db2 come up as at the first `up` (fresh datadirs, binlog replay), rows are written, the
 * primary purges its binary logs, and then db3 starts with no datadir. Replaying from the start
 * would stop on error 1236; db3 must instead be seeded from a backup of the replicating replica
 * db2, replicate from the primary by GTID with semi-sync, hold every row and receive later writes.
 * Then db3 is rebuilt (datadir removed) with db2 down: the primary itself is the source.
 * The test plays the supervisor (prepare, spawn, probe, afterHealthy) and kills what it started.
 *
 * Addresses 127.0.73.1-3 (this test's namespace), state in a fresh temp directory.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import mysql from 'mysql2/promise';
import type { ServiceInstance } from '../../src/config/index.js';
import { checkEngines, engineDrivers, mariadbPaths, readDbState, replicationStatus, semiSyncStatus, DB_USERS } from '../../src/engines/index.js';
import type { ServiceContext } from '../../src/registry/index.js';
import { waitFor } from '../../src/shared/retry.js';
import { assertFree, engineBed, EngineHarness, finishEngineTest } from '../../kit/engines.js';

const bed = engineBed('replica-provision', {
  redis: { quorum: 1 },
  database: { bufferPoolMb: 32 },
  nodes: [
    { name: 'db1', services: ['mariadb'] },
    { name: 'db2', services: ['mariadb'] },
    { name: 'db3', services: ['mariadb'] },
    // The config requires these kinds somewhere; this test never starts them.
    { name: 'x1', services: ['redis', 'sentinel', 'memcached', 'app', 'lb'] },
  ],
});
const { stateRoot, topo, secrets } = bed;
const ROWS = 300;
const ctxOf = (node: string): ServiceContext => bed.ctxOf(node, 'mariadb');

const engines = new EngineHarness();
const timings: string[] = [];
const missing = checkEngines()
  .filter((e) => ['mariadbd', 'mariadb-install-db', 'mariabackup'].includes(e.binary) && !e.found)
  .map((e) => `${e.binary} (package ${e.package})`);

/** What the supervisor does: prepare, spawn detached, wait healthy, afterHealthy. */
async function startService(ctx: ServiceContext): Promise<void> {
  await engines.start(ctx);
}

async function withApp<T>(svc: ServiceInstance, fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const c = await bed.appConnection(svc);
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function withAdminTcp<T>(svc: ServiceInstance, fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const c = await mysql.createConnection({ host: svc.address, port: svc.port, user: DB_USERS.admin, password: secrets.dbRootPassword, connectTimeout: 5000 });
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function countRows(svc: ServiceInstance): Promise<number> {
  return withApp(svc, async (c) => {
    const [r] = await c.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM items');
    return Number(r[0]?.['n']);
  });
}

describe('replica provisioned from a mariabackup of a live node', { timeout: 120_000, skip: missing.length > 0 ? `not installed: ${missing.join(', ')}` : false }, () => {
  before(async () => {
    await assertFree(topo.services.filter((s) => s.kind === 'mariadb'));
  });

  after(() => finishEngineTest(engines, stateRoot, timings));

  it('seeds a new replica from a backup after the primary purged its binlogs', async () => {
    const [db1, db2, db3] = [ctxOf('db1'), ctxOf('db2'), ctxOf('db3')];
    await startService(db1);
    await startService(db2);
    // The first `up`: db2 replays the primary's complete binlog from a fresh datadir.
    assert.doesNotMatch(fs.readFileSync(mariadbPaths(db2.svc).installLog, 'utf8'), /seed:/);

    await withApp(db1.svc, async (c) => {
      await c.query('CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(64) NOT NULL)');
      const values = Array.from({ length: ROWS }, (_, i) => [i + 1, `row ${i + 1}`]);
      await c.query('INSERT INTO items (id, label) VALUES ?', [values]);
    });
    await waitFor(async () => ((await countRows(db2.svc)) === ROWS ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 });

    // Purge: the primary's oldest binlog no longer starts from an empty history. A file a
    // replica's dump thread still reads is kept, so retry a few times (bounded) until it went.
    const purged = await waitFor(
      () =>
        withAdminTcp(db1.svc, async (c) => {
          await c.query('FLUSH BINARY LOGS');
          await c.query('PURGE BINARY LOGS BEFORE NOW()');
          const [logs] = await c.query<mysql.RowDataPacket[]>('SHOW BINARY LOGS');
          return logs.every((l) => l['Log_name'] !== 'mysql-bin.000001') ? true : undefined;
        }),
      { timeoutMs: 10_000, intervalMs: 500 },
    );
    assert.ok(purged, 'the primary purged mysql-bin.000001');

    let t = Date.now();
    await engineDrivers.mariadb.prepare(db3);
    timings.push(`db3 prepare (mariabackup --backup + --prepare + rename): ${Date.now() - t} ms`);
    const installLog = fs.readFileSync(mariadbPaths(db3.svc).installLog, 'utf8');
    assert.match(installLog, /seed: mariabackup --backup of db2\/mariadb/, 'the replicating replica db2 is the source, not the primary');
    assert.doesNotMatch(installLog, /mariadb-install-db/);
    const seeded = readDbState(db3.svc);
    assert.equal(seeded?.role, 'replica');
    assert.match(seeded?.seedGtid ?? '', /^0-1-\d+$/);
    assert.deepEqual(
      fs.readdirSync(db3.svc.dir).filter((f) => f.includes('provisioning') || (f.endsWith('.cnf') && f !== 'my.cnf')),
      [],
      'no partial copy or password file left',
    );

    t = Date.now();
    await startService(db3);
    timings.push(`db3 start + attach + semi-sync: ${Date.now() - t} ms`);
    const state = readDbState(db3.svc);
    assert.equal(state?.wired, true);
    assert.equal(state?.seedGtid, undefined, 'the seed is consumed once applied');

    const s = await replicationStatus(db3);
    assert.equal(s.masterHost, db1.svc.address, 'db3 replicates from the primary');
    assert.equal(s.ioThread, 'running', s.lastIoError);
    assert.equal(s.sqlThread, 'running', s.lastSqlError);
    // Every row, read as the app user: users and grants came with the backup.
    assert.equal(await countRows(db3.svc), ROWS);

    await withApp(db1.svc, (c) => c.query('INSERT INTO items (id, label) VALUES (?, ?)', [ROWS + 1, 'after provisioning']));
    const later = await waitFor(async () => ((await countRows(db3.svc)) === ROWS + 1 ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 });
    assert.ok(later, 'a write after provisioning reaches db3');

    const mine = await semiSyncStatus(db3);
    assert.equal(mine.replicaActive, true, 'db3 acknowledges semi-sync');
    const primary = await withAdminTcp(db1.svc, async (c) => {
      const [r] = await c.query<mysql.RowDataPacket[]>("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'");
      return Number(r[0]?.['Value']);
    });
    assert.equal(primary, 2, 'both replicas are semi-sync clients of the primary');
  });

  it('rebuilds a replica whose datadir was moved aside from the primary when no replica replicates', async () => {
    const [db1, db3] = [ctxOf('db1'), ctxOf('db3')];
    // The hint of error 1236: stop the node, move its datadir aside, start it. With db2 down too,
    // the only node left to copy is the primary.
    await engines.stop('db2/mariadb');
    await engines.stop('db3/mariadb');
    const { dataDir, installLog } = mariadbPaths(db3.svc);
    fs.rmSync(dataDir, { recursive: true, force: true });
    const logBefore = fs.readFileSync(installLog, 'utf8').length;

    const t = Date.now();
    await startService(db3);
    timings.push(`db3 rebuilt from the primary (prepare + start + attach): ${Date.now() - t} ms`);
    assert.match(fs.readFileSync(installLog, 'utf8').slice(logBefore), /seed: mariabackup --backup of db1\/mariadb/);
    const s = await replicationStatus(db3);
    assert.equal(s.ioThread, 'running', s.lastIoError);
    assert.equal(s.sqlThread, 'running', s.lastSqlError);
    assert.equal(await countRows(db3.svc), ROWS + 1);
    await withApp(db1.svc, (c) => c.query('INSERT INTO items (id, label) VALUES (?, ?)', [ROWS + 2, 'after the rebuild']));
    const later = await waitFor(async () => ((await countRows(db3.svc)) === ROWS + 2 ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 });
    assert.ok(later, 'a write after the rebuild reaches db3');
  });
});
