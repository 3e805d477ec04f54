/**
 * The engine drivers against the real engines: MariaDB primary + replica (semi-sync), Redis master +
 * replica + 3 Sentinels, memcached. The test plays the supervisor: prepare, spawn the command
 * (detached, output appended to service.log), poll the probe, afterHealthy. It kills every process
 * it started, by process group, in `after`.
 *
 * Addresses 127.0.50.1-5 (this test's namespace), state in a fresh temp directory.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { Redis } from 'ioredis';
import type { ServiceInstance } from '../../src/config/index.js';
import {
  checkEngines,
  engineDrivers,
  readGtidPosition,
  readReadOnly,
  redisRole,
  replicationStatus,
  semiSyncStatus,
  sentinelMasterAddr,
  askSentinelsForMaster,
  waitSentinelsReady,
  adminConnection,
  closeConnection,
  mariadbStartOrder,
  recordDbRole,
  setReplicaOf,
} from '../../src/engines/index.js';
import type { ServiceContext } from '../../src/registry/index.js';
import { sleep, waitFor } from '../../src/shared/retry.js';
import { assertFree, engineBed, EngineHarness, finishEngineTest } from '../../kit/engines.js';

const bed = engineBed('engines', {
  // 1 s: a quick failover for the old-master-restart check below.
  redis: { quorum: 2, downAfterMs: 1000, failoverTimeoutMs: 5000, maxmemoryMb: 32 },
  database: { bufferPoolMb: 32 },
  memcached: { memoryMb: 16 },
  nodes: [
    { name: 'db1', services: ['mariadb'] },
    { name: 'db2', services: ['mariadb'] },
    { name: 'r1', services: ['redis', 'sentinel', 'app', 'lb'] },
    { name: 'r2', services: ['redis', 'sentinel'] },
    { name: 's3', services: ['sentinel', 'memcached'] },
  ],
});
const { stateRoot, topo, secrets, ctxOf } = bed;
const config = topo.config;

const engines = new EngineHarness();
const timings: string[] = [];
const missing = checkEngines()
  .filter((e) => ['redis-server', 'redis-sentinel', 'memcached', 'mariadbd', 'mariadb-install-db'].includes(e.binary) && !e.found)
  .map((e) => `${e.binary} (package ${e.package})`);

function note(what: string, startedAt: number): void {
  timings.push(`${what}: ${Date.now() - startedAt} ms`);
}

/** What the supervisor does for one service: prepare, spawn detached, wait healthy, afterHealthy. */
async function startService(ctx: ServiceContext, opts: { afterHealthy?: boolean } = {}): Promise<void> {
  await engines.start(ctx, opts);
}

/** SIGTERM (or `signal`) to the process group, SIGKILL after 10 s; waits for the exit. */
function stopService(id: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  return engines.stop(id, signal);
}

/** One row into table t as the app user, on `svc`. */
async function insertAsApp(svc: ServiceInstance, id: number, label: string): Promise<void> {
  const c = await appConnection(svc);
  try {
    await c.query('INSERT INTO t VALUES (?, ?)', [id, label]);
  } finally {
    await c.end();
  }
}

const appConnection = (svc: ServiceInstance): Promise<mysql.Connection> => bed.appConnection(svc);

describe('engine drivers with real engines', { timeout: 90_000, skip: missing.length > 0 ? `not installed: ${missing.join(', ')}` : false }, () => {
  before(async () => {
    // Nothing may be listening on this test's addresses: a leftover would be probed instead.
    await assertFree(topo.services.filter((s) => s.kind in engineDrivers));
  });

  after(() => finishEngineTest(engines, stateRoot, timings));

  it('starts a MariaDB primary and a replica, with semi-sync on and roles detected', async () => {
    const db1 = ctxOf('db1', 'mariadb');
    const db2 = ctxOf('db2', 'mariadb');
    const driver = engineDrivers.mariadb;

    let t = Date.now();
    await driver.prepare(db1);
    note('mariadb prepare with install-db (db1)', t);
    t = Date.now();
    await startService(db1);
    note('mariadb primary healthy + wired (db1)', t);
    t = Date.now();
    await startService(db2);
    note('mariadb replica healthy + attached + semi-sync on (db2)', t);

    const p1 = await driver.probe(db1, 2000);
    assert.equal(p1.role, 'primary', p1.detail);
    assert.match(p1.detail ?? '', /semi-sync on, 1 semi-sync replica/);
    const p2 = await driver.probe(db2, 2000);
    assert.equal(p2.role, 'replica', p2.detail);
    assert.match(p2.detail ?? '', /replica of 127\.0\.50\.1:3306, io running, sql running/);
    assert.equal(await readReadOnly(db1), false);
    assert.equal(await readReadOnly(db2), true);

    const before = await semiSyncStatus(db1);
    assert.equal(before.active, true);
    assert.ok(before.clients >= 1);

    // A row written on the primary by the app user reaches the replica.
    const c1 = await appConnection(db1.svc);
    try {
      await c1.query('CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))');
      await c1.query('INSERT INTO t VALUES (1, ?)', ['hello']);
    } finally {
      await c1.end();
    }
    const after1 = await semiSyncStatus(db1);
    assert.ok(after1.yesTx >= before.yesTx + 2, 'both commits were acknowledged by the replica');
    assert.equal(after1.noTx, before.noTx, 'no commit fell back to async');

    const c2 = await appConnection(db2.svc);
    try {
      const seen = await waitFor(
        async () => {
          const [rows] = await c2.query<mysql.RowDataPacket[]>('SELECT v FROM t WHERE id = 1').catch(() => [[]] as [mysql.RowDataPacket[]]);
          return rows[0]?.['v'] === 'hello' ? true : undefined;
        },
        { timeoutMs: 5000, intervalMs: 50 },
      );
      assert.equal(seen, true, 'the row is on the replica');
      // read_only stops the app user on the replica (it has no global privilege).
      await assert.rejects(c2.query('INSERT INTO t VALUES (2, ?)', ['nope']), (e: { errno?: number }) => e.errno === 1290);
    } finally {
      await c2.end();
    }

    const g1 = await readGtidPosition(db1);
    const g2 = await readGtidPosition(db2);
    assert.equal(g2.currentPos, g1.currentPos, 'same GTID position on both');
    const rs = await replicationStatus(db2);
    assert.equal(rs.gtidIoPos, g1.binlogPos);
  });

  it('restarts a killed primary as primary, with semi-sync on from boot, and afterHealthy idempotent', async () => {
    const db1 = ctxOf('db1', 'mariadb');
    const db2 = ctxOf('db2', 'mariadb');
    await stopService(db1.svc.id, 'SIGKILL');
    const t = Date.now();
    await startService(db1, { afterHealthy: false });
    note('mariadb primary restart after SIGKILL to healthy', t);
    // afterHealthy again (a later `up`): must write nothing and fail nothing.
    await engineDrivers.mariadb.afterHealthy?.(db1);
    const c1 = await appConnection(db1.svc);
    const w = Date.now();
    try {
      await c1.query('INSERT INTO t VALUES (3, ?)', ['after restart']);
    } finally {
      await c1.end();
    }
    note('first commit after primary restart (waits for the replica to reconnect)', w);
    const ss = await semiSyncStatus(db1);
    assert.equal(ss.enabled, true, 'semi-sync enabled at boot on a wired primary');
    assert.equal(ss.active, true);
    assert.ok(ss.yesTx >= 1 && ss.noTx === 0, `the commit was acknowledged by the replica (yes ${ss.yesTx}, no ${ss.noTx})`);
    const rs = await replicationStatus(db2);
    assert.equal(rs.ioThread, 'running');
    const admin = await adminConnection(db2);
    try {
      // Semi-sync acknowledges once the replica has the event in its relay log; its SQL thread
      // applies it a moment later.
      const v = await waitFor(
        async () => {
          const [rows] = await admin.query<mysql.RowDataPacket[]>(`SELECT v FROM ${config.database.name}.t WHERE id = 3`);
          return rows[0]?.['v'] as string | undefined;
        },
        { timeoutMs: 5000, intervalMs: 50 },
      );
      assert.equal(v, 'after restart');
    } finally {
      await closeConnection(admin);
    }
  });

  it('switches over: db2 promoted, the old primary db1 follows it through setReplicaOf', async () => {
    const db1 = ctxOf('db1', 'mariadb');
    const db2 = ctxOf('db2', 'mariadb');
    // The promotion itself belongs to the failover manager; plain SQL here.
    const a1 = await adminConnection(db1);
    try {
      await a1.query('SET GLOBAL read_only=1');
      await a1.query('SET GLOBAL rpl_semi_sync_master_enabled=0');
    } finally {
      await closeConnection(a1);
    }
    const last = (await readGtidPosition(db1)).binlogPos;
    const caughtUp = await waitFor(async () => ((await readGtidPosition(db2)).slavePos === last ? true : undefined), { timeoutMs: 5000, intervalMs: 50 });
    assert.equal(caughtUp, true, 'db2 applied everything db1 wrote');
    const a2 = await adminConnection(db2);
    try {
      await a2.query('STOP SLAVE');
      await a2.query('RESET SLAVE ALL');
      await a2.query('SET GLOBAL read_only=0');
    } finally {
      await closeConnection(a2);
    }
    recordDbRole(db2, 'primary');

    const t = Date.now();
    await setReplicaOf(db1, db2.svc);
    const rs = await waitFor(
      async () => {
        const s = await replicationStatus(db1);
        return s.ioThread === 'running' && s.sqlThread === 'running' ? s : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    assert.ok(rs, `db1 replicates from db2: ${JSON.stringify(await replicationStatus(db1))}`);
    note('old primary replicating from the new one after setReplicaOf', t);
    const a2b = await adminConnection(db2);
    try {
      await a2b.query('SET GLOBAL rpl_semi_sync_master_enabled=1');
    } finally {
      await closeConnection(a2b);
    }
    assert.ok(await waitFor(async () => ((await semiSyncStatus(db2)).clients >= 1 ? true : undefined), { timeoutMs: 5000, intervalMs: 50 }));

    await insertAsApp(db2.svc, 4, 'on db2');
    const ss = await semiSyncStatus(db2);
    assert.ok(ss.active && ss.yesTx >= 1 && ss.noTx === 0, `acknowledged by db1 (yes ${ss.yesTx}, no ${ss.noTx})`);
    assert.ok(
      await waitFor(async () => ((await readGtidPosition(db1)).currentPos === (await readGtidPosition(db2)).currentPos ? true : undefined), { timeoutMs: 5000, intervalMs: 50 }),
    );
    assert.equal((await engineDrivers.mariadb.probe(db2, 2000)).role, 'primary');
    assert.equal((await engineDrivers.mariadb.probe(db1, 2000)).role, 'replica');
  });

  it('a later `up` in topology order (db1, now a replica, first) neither blocks nor changes roles', async () => {
    const db1 = ctxOf('db1', 'mariadb');
    const db2 = ctxOf('db2', 'mariadb');
    await stopService(db1.svc.id);
    await stopService(db2.svc.id);
    assert.deepEqual(
      mariadbStartOrder(topo).map((s) => s.node),
      ['db2', 'db1'],
      'the recorded primary starts first',
    );
    let t = Date.now();
    await startService(db1);
    note('replica started + afterHealthy while its primary is down', t);
    assert.ok(Date.now() - t < 10_000, 'afterHealthy did not wait for a primary that is not running');
    t = Date.now();
    await startService(db2);
    note('recorded primary started + afterHealthy (nothing to write)', t);
    assert.equal((await engineDrivers.mariadb.probe(db2, 2000)).role, 'primary');
    assert.equal(await readReadOnly(db1), true);
    const before = await semiSyncStatus(db2);
    await insertAsApp(db2.svc, 5, 'after up');
    const ss = await semiSyncStatus(db2);
    assert.ok(ss.enabled && ss.yesTx > before.yesTx && ss.noTx === before.noTx, `semi-sync from boot (yes ${ss.yesTx}, no ${ss.noTx})`);
    const p1 = await engineDrivers.mariadb.probe(db1, 2000);
    assert.match(p1.detail ?? '', /replica of 127\.0\.50\.2:3306, io running, sql running/);
    // afterHealthy again on the replica, its primary up this time: checks, changes nothing.
    t = Date.now();
    await engineDrivers.mariadb.afterHealthy?.(db1);
    note('replica afterHealthy re-run with its primary up', t);
    assert.equal((await replicationStatus(db1)).masterHost, '127.0.50.2');
  });

  it('starts Redis master + replica and three Sentinels that become ready', async () => {
    const r1 = ctxOf('r1', 'redis');
    const r2 = ctxOf('r2', 'redis');
    await startService(r1);
    await startService(r2);
    const role2 = await redisRole(r2);
    assert.equal(role2.role === 'replica' && role2.linkUp, true, 'replica linked after afterHealthy');
    // The master lists a replica once it has acknowledged (REPLCONF ACK, every second), which can
    // come a moment after the replica's own link is up.
    const role1 = await waitFor(
      async () => {
        const r = await redisRole(r1);
        return r.role !== 'master' || r.replicas.length > 0 ? r : undefined;
      },
      { timeoutMs: 5_000, intervalMs: 50 },
    );
    assert.equal(role1?.role, 'master');
    if (role1?.role === 'master') assert.equal(role1.replicas[0]?.host, '127.0.50.4', 'the replica announces its own address');

    const t = Date.now();
    for (const n of ['r1', 'r2', 's3']) await startService(ctxOf(n, 'sentinel'));
    const views = await waitSentinelsReady(topo, secrets, 30_000);
    note('3 sentinels started to ready', t);
    assert.equal(views.length, 3);
    for (const v of views) assert.equal(v.master, '127.0.50.3:6379');
    assert.deepEqual(await sentinelMasterAddr(ctxOf('s3', 'sentinel')), { host: '127.0.50.3', port: 6379 });
    const probe = await engineDrivers.sentinel.probe(ctxOf('r2', 'sentinel'), 1000);
    assert.equal(probe.role, 'sentinel');
    assert.match(probe.detail ?? '', /master 127\.0\.50\.3:6379, 1 replicas, 2 other sentinels/);

    // A write acknowledged by the replica (WAIT 1).
    const client = new Redis({ host: r1.svc.address, port: r1.svc.port, password: secrets.redisPassword, lazyConnect: true, maxRetriesPerRequest: 1 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.set('k', 'v');
      assert.equal(await client.call('WAIT', '1', '2000'), 1);
    } finally {
      client.disconnect();
    }

    // prepare is idempotent: it does not touch the files Redis and Sentinel rewrite.
    const files = [path.join(r2.svc.dir, 'redis.conf'), path.join(ctxOf('s3', 'sentinel').svc.dir, 'sentinel.conf')];
    const beforeText = files.map((f) => fs.readFileSync(f, 'utf8'));
    await engineDrivers.redis.prepare(r2);
    await engineDrivers.sentinel.prepare(ctxOf('s3', 'sentinel'));
    assert.deepEqual(
      files.map((f) => fs.readFileSync(f, 'utf8')),
      beforeText,
    );
  });

  it('brings a killed old Redis master back as a replica of the master Sentinel promoted', async () => {
    const r1 = ctxOf('r1', 'redis');
    const r2 = ctxOf('r2', 'redis');
    const t = Date.now();
    await stopService(r1.svc.id, 'SIGKILL');
    const promoted = await waitFor(
      async () => {
        const r = await redisRole(r2);
        return r.role === 'master' ? r : undefined;
      },
      // down-after 1 s + election + promotion: ~2.5 s measured; 15 s bound.
      { timeoutMs: 15_000, intervalMs: 100 },
    );
    assert.ok(promoted, 'Sentinel promoted r2');
    note('redis master SIGKILL to replica promoted', t);
    // Sentinels must have switched their answer too before the old master restarts: a quorum of
    // them, as the old master's prepare asks (CI, twice: only s3 had been waited for, the quorum
    // did not answer yet, and the old master came back as a master, its prepare given no answer).
    const switched = await waitFor(async () => ((await sentinelMasterAddr(ctxOf('s3', 'sentinel')))?.host === '127.0.50.4' ? true : undefined), {
      timeoutMs: 5000,
      intervalMs: 100,
    });
    assert.equal(switched, true, 'sentinel s3 names the promoted master');
    const named = await waitFor(async () => ((a) => (a?.host === '127.0.50.4' ? a : undefined))(await askSentinelsForMaster(topo, secrets, 1_000)), {
      timeoutMs: 15_000,
      intervalMs: 200,
    });
    assert.ok(named, 'a quorum of Sentinels names the promoted master');
    await startService(r1);
    const back = await redisRole(r1);
    const confNow = fs.readFileSync(path.join(r1.svc.dir, 'redis.conf'), 'utf8');
    assert.equal(
      back.role,
      'replica',
      `the old master came back as a replica (its conf was pointed at the new master); sentinels named ${JSON.stringify(named)}:\n${confNow}\n${fs.readFileSync(path.join(r1.svc.dir, 'service.log'), 'utf8').split('\n').slice(-30).join('\n')}`,
    );
    if (back.role === 'replica') assert.deepEqual(back.master, { host: '127.0.50.4', port: 6379 });
    const conf = fs.readFileSync(path.join(r1.svc.dir, 'redis.conf'), 'utf8');
    assert.match(conf, /^replicaof 127\.0\.50\.4 6379$/m);
  });

  it('starts memcached and probes it', async () => {
    const mc = ctxOf('s3', 'memcached');
    await startService(mc);
    const p = await engineDrivers.memcached.probe(mc, 1000);
    assert.deepEqual({ healthy: p.healthy, role: p.role }, { healthy: true, role: 'memcached' });
    assert.match(p.detail ?? '', /^version 1\.6\./);
  });

  it('reports a stopped engine as unhealthy without throwing', async () => {
    const mc = ctxOf('s3', 'memcached');
    await stopService(mc.svc.id);
    await sleep(50);
    const p = await engineDrivers.memcached.probe(mc, 500);
    assert.equal(p.healthy, false);
    const r = await engineDrivers.redis.probe({ ...ctxOf('r1', 'redis'), svc: { ...ctxOf('r1', 'redis').svc, port: 6390 } }, 500);
    assert.equal(r.healthy, false);
  });
});
