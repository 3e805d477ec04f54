/**
 * Issue 17, items 2 and 10, black-box against a running cluster of the example ERP with demo
 * data off (as on real hosts), two app servers sharing one MariaDB, Redis and memcached:
 *
 *  - item 2: memcached (no authentication: anyone who reaches it lists keys with
 *    `lru_crawler metadump all` and writes values) holds no session id; Redis holds none in
 *    clear either; a session forged in memcached logs nobody in while Redis cannot answer, and
 *    a real session is then verified in the database instead.
 *  - item 10: no demo accounts; every business read needs a session; a clerk reads only their
 *    own orders and invoices; Idempotency-Keys are per user; failed logins are throttled per
 *    user name and client across app servers.
 *
 * Real clients: curl-like fetch, `socat` to memcached, `redis-cli` (password in REDISCLI_AUTH,
 * never in argv). Namespace: addresses 127.0.202.1-2, cluster "revh2" in a fresh temp directory.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

process.env.HASTACK_LOG_LEVEL ??= 'warn';

import { readSecrets, readTopology } from '../../src/config/index.js';
import { createDbClient } from '../../src/clients/db/index.js';
import { createLogger } from '../../src/shared/log.js';
import { hashPassword } from '../../examples/erp/session-cookie.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { upCluster, type TestCluster } from '../helpers/cluster.js';
import { call, ERP_CLERK, type Json } from '../helpers/erp.js';
import { testRange } from '../../kit/addresses.js';

const BASE = testRange('review-sessions-erp').base;
const CLUSTER = 'revh2';
const APP1 = `http://${BASE}.1:8000`;
const APP2 = `http://${BASE}.2:8000`;
const ALICE = { username: 'alice', password: 'alice-pw-1' };
const BOB = { username: 'bob', password: 'bob-pw-1' };
const BOSS = { username: 'boss', password: 'boss-pw-1' };

/** One memcached text-protocol exchange through socat (1 s after our input for the answer). */
function memcached(input: string): string {
  const r = spawnSync('socat', ['-t', '1', '-', `TCP:${BASE}.1:11211`], { input, encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

describe('review items 2 and 10: sessions and the example ERP', { timeout: 600_000 }, () => {
  let cluster: TestCluster | undefined;
  let stateDir = '';

  const login = async (base: string, user: { username: string; password: string }, headers: Record<string, string> = {}): Promise<string> => {
    const r = await call(base, 'POST', '/login', user, headers);
    assert.equal(r.status, 200, `login ${user.username}: ${r.status} ${JSON.stringify(r.body)}`);
    assert.ok(r.cookie);
    return r.cookie;
  };

  before(async () => {
    cluster = await upCluster(CLUSTER, {
      cluster: CLUSTER,
      addressBase: BASE,
      // demoData off: what a real deployment (substrate hosts) gets by default.
      app: { module: path.join(REPO_ROOT, 'examples/erp'), demoData: false },
      nodes: [
        { name: 'solo', services: ['mariadb', 'redis', 'memcached', 'app', 'worker', 'lb'] },
        { name: 'app2', services: ['app'] },
      ],
    });
    stateDir = path.join(cluster.dir, '.hastack', CLUSTER);
    // The test's own accounts, straight into the database (no demo accounts exist to make them).
    const topo = readTopology(stateDir);
    const db = createDbClient(topo, readSecrets(stateDir), createLogger('review-test'));
    try {
      for (const [u, role] of [
        [ALICE, 'clerk'],
        [BOB, 'clerk'],
        [BOSS, 'admin'],
      ] as const) {
        await db.execute('INSERT INTO users (username, password_hash, role) VALUES (?, ?, ?)', [u.username, await hashPassword(u.password), role]);
      }
    } finally {
      await db.close();
    }
  });

  after(async () => cluster?.down());

  it('review item 10: no demo accounts where demo data is off (the default on hosts)', async () => {
    const r = await call(APP1, 'POST', '/login', ERP_CLERK, { 'x-forwarded-for': '192.0.2.10' });
    assert.equal(r.status, 401, JSON.stringify(r.body));
    const admin = await call(APP1, 'POST', '/login', { username: 'admin', password: 'admin-demo' }, { 'x-forwarded-for': '192.0.2.10' });
    assert.equal(admin.status, 401, JSON.stringify(admin.body));
  });

  it('review item 10: every business read needs a session', async () => {
    for (const url of ['/api/items', '/api/items/GADGET', '/api/warehouses', '/api/stock', '/api/reports/reorder', '/api/customers', '/api/orders/1', '/api/orders/1/invoice']) {
      const r = await call(APP2, 'GET', url);
      assert.equal(r.status, 401, `${url}: ${r.status} ${JSON.stringify(r.body)}`);
      assert.equal((r.body.error as Json).code, 'NOT_LOGGED_IN', url);
    }
    // The app's root names no business data and stays open (load balancers and people use it).
    assert.equal((await call(APP2, 'GET', '/')).status, 200);
  });

  it('review item 10: a clerk reads only their own orders; Idempotency-Keys are per user', async () => {
    const alice = await login(APP1, ALICE);
    const bob = await login(APP2, BOB);
    const boss = await login(APP1, BOSS);
    const a = await call(APP1, 'POST', '/api/orders', { customer: 'ALICE-CO', lines: [{ sku: 'SPROCKET', qty: 1 }] }, { cookie: alice, 'idempotency-key': 'shared-key-1' });
    assert.equal(a.status, 201, JSON.stringify(a.body));
    // Bob uses the same key for his own order: a new order of his, never Alice's (nor a 409 that tells him the key is taken).
    const b = await call(APP2, 'POST', '/api/orders', { customer: 'BOB-CO', lines: [{ sku: 'WIDGET-RED', qty: 2 }] }, { cookie: bob, 'idempotency-key': 'shared-key-1' });
    assert.equal(b.status, 201, JSON.stringify(b.body));
    assert.notEqual(b.body.id, a.body.id);
    assert.equal(b.body.customer, 'BOB-CO');
    // Alice's key still finds her own order.
    const again = await call(APP2, 'POST', '/api/orders', { customer: 'ALICE-CO', lines: [{ sku: 'SPROCKET', qty: 1 }] }, { cookie: alice, 'idempotency-key': 'shared-key-1' });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(again.body.id, a.body.id);
    // Sequential ids are no way in: Bob's guess of Alice's order is a 404 like a missing one.
    const id = Number(a.body.id);
    for (const url of [`/api/orders/${id}`, `/api/orders/${id}/invoice`]) {
      const r = await call(APP2, 'GET', url, undefined, { cookie: bob });
      assert.equal(r.status, 404, `bob ${url}: ${r.status} ${JSON.stringify(r.body)}`);
      assert.equal((r.body.error as Json).code, 'ORDER_NOT_FOUND');
    }
    const mine = await call(APP1, 'GET', `/api/orders/${id}`, undefined, { cookie: alice });
    assert.equal(mine.status, 200, JSON.stringify(mine.body));
    assert.equal(mine.body.createdBy, 'alice');
    // An admin reads every order.
    assert.equal((await call(APP2, 'GET', `/api/orders/${id}`, undefined, { cookie: boss })).status, 200);
  });

  it('review item 10: failed logins are throttled per user name and client, across app servers', async () => {
    // Requests come from loopback (like a load balancer here), so the app believes X-Forwarded-For.
    const client = { 'x-forwarded-for': '198.51.100.7' };
    for (let i = 0; i < 5; i++) {
      const r = await call(i % 2 === 0 ? APP1 : APP2, 'POST', '/login', { username: 'alice', password: `wrong-${i}` }, client);
      assert.equal(r.status, 401, `attempt ${i + 1}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    // The sixth, on either app server, is refused before the password is even checked.
    const blocked = await call(APP2, 'POST', '/login', ALICE, client);
    assert.equal(blocked.status, 429, JSON.stringify(blocked.body));
    assert.equal((blocked.body.error as Json).code, 'LOGIN_THROTTLED');
    assert.equal((await call(APP1, 'POST', '/login', ALICE, client)).status, 429);
    // Not a lock-out of the name for everyone, nor of the client for other names.
    await login(APP1, ALICE, { 'x-forwarded-for': '198.51.100.8' });
    await login(APP2, BOB, client);
    // An unknown user name counts like a known one (no probing for names).
    for (let i = 0; i < 5; i++) assert.equal((await call(APP1, 'POST', '/login', { username: 'nobody', password: 'x' }, client)).status, 401);
    assert.equal((await call(APP2, 'POST', '/login', { username: 'nobody', password: 'x' }, client)).status, 429);
  });

  it('review item 2: memcached and Redis hold no session id; a session forged in memcached logs nobody in while Redis is down', async () => {
    const cookie = await login(APP1, ALICE, { 'x-forwarded-for': '198.51.100.9' });
    const id = cookie.slice('erp_session='.length);
    assert.ok(id.length >= 32, cookie);
    // Load the item cache too, so memcached is not simply empty.
    assert.equal((await call(APP2, 'GET', '/api/items', undefined, { cookie })).status, 200);

    const dump = memcached('lru_crawler metadump all\r\n');
    const keys = [...dump.matchAll(/^key=(\S+)/gm)].map((m) => decodeURIComponent(m[1] ?? ''));
    assert.ok(keys.length > 0, `metadump lists the item keys: ${dump}`);
    assert.deepEqual(
      keys.filter((k) => k.includes(id) || k.includes('session')),
      [],
      `no session in memcached keys: ${keys.join(' ')}`,
    );
    const values = memcached(keys.map((k) => `get ${k}\r\n`).join(''));
    assert.ok(!values.includes(id) && !values.includes('alice'), 'no session id or user in memcached values');

    // Redis: the session is there, under a keyed hash; the id appears in no key.
    const redisPassword = readSecrets(stateDir).redisPassword;
    const scan = spawnSync('redis-cli', ['-h', `${BASE}.1`, '-p', '6379', '--no-auth-warning', '--scan', '--pattern', 'hastack:erp:session:*'], {
      encoding: 'utf8',
      env: { ...process.env, REDISCLI_AUTH: redisPassword },
      timeout: 10_000,
    });
    assert.equal(scan.status, 0, scan.stderr);
    const sessionKeys = scan.stdout.split('\n').filter((l) => l !== '');
    assert.ok(sessionKeys.length > 0, 'sessions are in Redis');
    assert.ok(
      sessionKeys.every((k) => !k.includes(id)),
      `no session id in Redis keys: ${sessionKeys.join(' ')}`,
    );

    // What an attacker on the network could write: an admin session under an id of their choosing,
    // in the key layout the cache once used. Then Redis stops answering (frozen, as in a failover).
    const forged = 'forged-session-id-0123456789';
    const value = JSON.stringify({ username: 'boss', role: 'admin' });
    assert.match(memcached(`set ${CLUSTER}:erp:session:${forged} 0 300 ${Buffer.byteLength(value)}\r\n${value}\r\n`), /STORED/);
    const run = JSON.parse(fs.readFileSync(path.join(stateDir, 'run.json'), 'utf8')) as { services: Record<string, { pid: number }> };
    const redisPid = run.services['solo/redis']?.pid;
    assert.ok(redisPid, 'the Redis pid');
    process.kill(redisPid, 'SIGSTOP');
    try {
      const me = await call(APP2, 'GET', '/me', undefined, { cookie: `erp_session=${forged}` });
      assert.equal(me.status, 401, `a forged cached session must not log in: ${me.status} ${JSON.stringify(me.body)}`);
      const order = await call(
        APP1,
        'POST',
        '/api/orders',
        { customer: 'FORGED', lines: [{ sku: 'SPROCKET', qty: 1 }] },
        { cookie: `erp_session=${forged}`, 'idempotency-key': 'forged-1' },
      );
      assert.equal(order.status, 401, JSON.stringify(order.body));
      // A real session is verified in the database meanwhile: users keep working.
      const real = await call(APP2, 'GET', '/me', undefined, { cookie });
      assert.equal(real.status, 200, JSON.stringify(real.body));
      assert.deepEqual(real.body.user, { username: 'alice', role: 'clerk' });
    } finally {
      process.kill(redisPid, 'SIGCONT');
    }
    // Logout ends it in Redis and in the database: gone on every app server.
    assert.equal((await call(APP1, 'POST', '/logout', undefined, { cookie })).status, 200);
    assert.equal((await call(APP2, 'GET', '/me', undefined, { cookie })).status, 401);
  });
});
