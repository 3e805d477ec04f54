/**
 * The local endpoints (src/endpoints) through real clients nobody here wrote, on one bed: MariaDB
 * replication (db1 primary, db2 replica), Redis master + replica with three Sentinels, and the
 * endpoints of the one app node, run as `hastack _service KIND` like the supervisor runs them.
 *
 *   - the read endpoint reaches the replica; the writer endpoint the primary;
 *   - garbage sent to an endpoint ends that connection only: an open client keeps working;
 *   - a primary fenced read-only loses the connections the endpoint had open to it;
 *   - the `mariadb` client across a SIGKILL of the writer: its session is closed; a new client
 *     started before the replica's promotion is held by `db-endpoint` and lands on the new writer;
 *   - `redis-cli` through `redis-endpoint` sees no READONLY once Sentinel's failover is done.
 *
 * Namespace: 127.0.221.20-26 (row `endpoints`), cluster `eptest`; every process started here is
 * killed by its process group at the end.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import mysql from 'mysql2/promise';

process.env.HASTACK_LOG_LEVEL ??= 'warn';

import { DB_USERS, adminConnection } from '../../src/engines/index.js';
import { waitFor } from '../../src/shared/retry.js';
import { startEndpointBed, type EndpointBed } from '../../kit/endpoints.js';

const timings: string[] = [];
let bed: EndpointBed;
const t0 = Date.now();

const config = {
  database: { mode: 'replication' as const, bufferPoolMb: 32 },
  // down-after 1 s: the Sentinel failover of the test lands within a few seconds.
  redis: { quorum: 2, downAfterMs: 1_000 },
  endpoints: { enabled: true },
  nodes: [
    { name: 'db1', services: ['mariadb' as const] },
    { name: 'db2', services: ['mariadb' as const] },
    { name: 'r1', services: ['redis' as const, 'sentinel' as const] },
    { name: 'r2', services: ['redis' as const, 'sentinel' as const] },
    // The app node: its app and lb are never started here; it carries the endpoints and a Sentinel.
    { name: 'app1', services: ['app' as const, 'lb' as const, 'sentinel' as const] },
  ],
};

const ep = (kind: 'db-endpoint' | 'db-read-endpoint' | 'redis-endpoint') => bed.endpoint('app1', kind);

/** The `mariadb` client through an endpoint; the password in the environment, never argv. */
function mariadbOnce(kind: 'db-endpoint' | 'db-read-endpoint', sql: string): string {
  const e = ep(kind);
  const r = spawnSync('mariadb', ['-h', e.address, '-P', String(e.port), '-u', DB_USERS.app, '-N', '-B', '--connect-timeout=15', '-e', sql], {
    env: { ...process.env, MYSQL_PWD: bed.secrets.dbAppPassword },
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 0, `mariadb through ${kind}: ${r.stderr}`);
  return r.stdout.trim();
}

function redisCli(...args: string[]): { out: string; status: number | null } {
  const e = ep('redis-endpoint');
  const r = spawnSync('redis-cli', ['-h', e.address, '-p', String(e.port), ...args], {
    env: { ...process.env, REDISCLI_AUTH: bed.secrets.redisPassword },
    encoding: 'utf8',
    timeout: 10_000,
  });
  return { out: `${r.stdout}${r.stderr}`.trim(), status: r.status };
}

/** Sends `bytes` on a fresh connection; resolves with how the endpoint (or engine behind it) ended it. */
function garbage(address: string, port: number, bytes: string): Promise<'closed' | 'open'> {
  return new Promise((resolve) => {
    const s = net.connect({ host: address, port });
    s.on('error', () => undefined);
    s.on('connect', () => s.write(bytes));
    s.on('data', () => undefined);
    // 15 s bound: MariaDB ends a bad handshake at once, Redis a bad request at once.
    const t = setTimeout(() => {
      s.destroy();
      resolve('open');
    }, 15_000);
    s.on('close', () => {
      clearTimeout(t);
      resolve('closed');
    });
  });
}

async function dbAdmin(node: string): Promise<mysql.Connection> {
  return adminConnection(bed.ctxOf(node, 'mariadb'));
}

describe('local endpoints through real clients', { timeout: 10 * 60_000 }, () => {
  before(async () => {
    bed = await startEndpointBed('endpoints', config, timings);
  });
  after(async () => {
    await bed?.stop();
    timings.push(`file ${Date.now() - t0} ms`);
    for (const t of timings) console.log(`# timing ${t}`);
  });

  it('the writer endpoint reaches the primary, the read endpoint the replica', () => {
    assert.equal(mariadbOnce('db-endpoint', 'SELECT @@global.read_only'), '0');
    for (let i = 0; i < 3; i++) assert.equal(mariadbOnce('db-read-endpoint', 'SELECT @@global.read_only'), '1');
    assert.equal(redisCli('PING').out, 'PONG');
  });

  it('garbage sent to an endpoint ends that connection only', async () => {
    const db = ep('db-endpoint');
    const open = await mysql.createConnection({ host: db.address, port: db.port, user: DB_USERS.app, password: bed.secrets.dbAppPassword, connectTimeout: 10_000 });
    try {
      assert.equal(await garbage(db.address, db.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(50)), 'closed');
      assert.equal(await garbage(ep('redis-endpoint').address, ep('redis-endpoint').port, '*9999999\r\n$-5\r\n\x00\x01\x02garbage'), 'closed');
      const [rows] = await open.query('SELECT 1 AS one');
      assert.deepEqual(rows, [{ one: 1 }]);
      assert.equal(redisCli('PING').out, 'PONG');
    } finally {
      open.destroy();
    }
  });

  it('a primary fenced read-only loses the connections the endpoint had open to it', async () => {
    const db = ep('db-endpoint');
    const client = await mysql.createConnection({ host: db.address, port: db.port, user: DB_USERS.app, password: bed.secrets.dbAppPassword, connectTimeout: 10_000 });
    client.on('error', () => undefined);
    const admin = await dbAdmin('db1');
    try {
      await admin.query('SET GLOBAL read_only = 1');
      // 10 s bound: the cut comes with the next probe round (300 ms). A statement on the cut
      // connection fails; on a connection left open it would still answer (reads work read-only).
      const cut = await waitFor(
        async () => {
          try {
            await client.query('SELECT 1');
            return undefined;
          } catch {
            return true;
          }
        },
        { timeoutMs: 10_000, intervalMs: 200 },
      );
      assert.equal(cut, true, 'the connection to the fenced primary was not closed');
    } finally {
      await admin.query('SET GLOBAL read_only = 0');
      await admin.end();
      client.destroy();
    }
    const back = await waitFor(async () => (mariadbOnce('db-endpoint', 'SELECT @@global.read_only') === '0' ? true : undefined), { timeoutMs: 10_000, intervalMs: 200 });
    assert.equal(back, true);
  });

  it('the mariadb client through db-endpoint: its session to a killed writer is closed, a new one is held until the new writer and lands there', async () => {
    const db = ep('db-endpoint');
    const admin2 = await dbAdmin('db2');
    const [[ids]] = (await admin2.query('SELECT @@server_id AS s2')) as unknown as [[{ s2: number }]];
    const env = { ...process.env, MYSQL_PWD: bed.secrets.dbAppPassword };
    const args = ['-h', db.address, '-P', String(db.port), '-u', DB_USERS.app, '-N', '-B', '--unbuffered', '--force', '--connect-timeout=15'];
    // One long-lived session (batch mode: the client does not reconnect by itself there).
    const session = spawn('mariadb', args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    session.stdout.on('data', (d: Buffer) => (out += d.toString()));
    session.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const q = 'SELECT CONCAT("sid=", @@server_id, " ro=", @@global.read_only + 0);\n';
    try {
      session.stdin.write(q);
      const first = await waitFor(async () => (/sid=\d+ ro=0/.test(out) ? out : undefined), { timeoutMs: 10_000, intervalMs: 50 });
      assert.ok(first, `first answer: ${out} ${err}`);
      const t = Date.now();
      await bed.engines.kill('db1/mariadb');
      // A new client right after the kill, while there is no writer: the endpoint holds it.
      let fresh = '';
      const reconnect = spawn('mariadb', [...args, '-e', q.trim()], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      reconnect.stdout.on('data', (d: Buffer) => (fresh += d.toString()));
      reconnect.stderr.on('data', (d: Buffer) => (fresh += d.toString()));
      const freshExit = new Promise<number | null>((resolve) => reconnect.on('exit', (code) => resolve(code)));
      // The promotion hastack's failover would make (by hand here, it is not the subject), 1 s
      // later: the replica stops replicating and takes writes.
      await new Promise((r) => setTimeout(r, 1_000));
      await admin2.query('STOP SLAVE');
      await admin2.query('RESET SLAVE ALL');
      await admin2.query('SET GLOBAL read_only = 0');
      assert.equal(await freshExit, 0, fresh);
      timings.push(`new mariadb client answered by the new writer ${Date.now() - t} ms after the kill`);
      assert.equal(fresh.trim(), `sid=${ids.s2} ro=0`);
      session.stdin.write(q);
      await waitFor(async () => (/ERROR 20(13|06)/.test(err) ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 });
      assert.match(err, /ERROR 20(13|06)/, 'the session to the killed writer was closed');
    } finally {
      session.kill('SIGKILL');
      await admin2.end();
    }
    // The read endpoint falls back to the writer: no replica is left.
    assert.equal(
      await waitFor(async () => (mariadbOnce('db-read-endpoint', 'SELECT @@global.read_only') === '0' ? true : undefined), { timeoutMs: 10_000, intervalMs: 200 }),
      true,
    );
  });

  it('redis-cli through redis-endpoint sees no READONLY once the Sentinel failover is done', async () => {
    assert.equal(redisCli('SET', 'ep:k', 'before').out, 'OK');
    const t = Date.now();
    await bed.engines.kill('r1/redis');
    // Writes through the endpoint until one is acknowledged (the failover is done for us then):
    // 30 s bound, Sentinel needs down-after (1 s) plus an election.
    const done = await waitFor(async () => (redisCli('SET', 'ep:k', 'after').out === 'OK' ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
    assert.equal(done, true);
    timings.push(`redis write through the endpoint ${Date.now() - t} ms after the master kill`);
    for (let i = 0; i < 30; i++) {
      const r = redisCli('SET', `ep:k${i}`, 'v');
      assert.doesNotMatch(r.out, /READONLY/);
      assert.equal(r.out, 'OK');
    }
    assert.match(redisCli('ROLE').out, /^master/);
  });
});
