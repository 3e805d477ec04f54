/**
 * Issue 22, "reads never wait for a failover", on real engines through the real CLI and
 * supervisor: one cluster (three Galera nodes; two Redis with a Sentinel each and a third
 * Sentinel; the front node the schema needs), brought up once.
 *
 * (a) A session is checked in a loop while the Redis master is killed: every check answers the
 *     session, without error, and checks are answered while no master takes writes yet (the
 *     election). A session logged out before the kill never comes back, not even from a replica.
 * (b) A read is served in a loop while the Galera writer is killed: every read answers and sees
 *     the client's own earlier write, reads are answered while no write commits yet (the writer
 *     change), and a write made after the change is visible to the same session's next read.
 *
 * (a2) A durable enqueue waits (WAIT) for a frozen replica that never acknowledges, and a session
 *     check of the same app runtime is answered while the master still holds that WAIT: the
 *     two do not share a connection (a WAIT holds its whole connection).
 *
 * (c) Replication: a primary and a replica started by the kit; the primary is killed and nothing is
 *     promoted: reads of a session that wrote before keep answering from the replica.
 *
 * No timing is asserted: "during the election" is "between the kill and the first write the new
 * master (writer) took", observed, not measured against a bound. Addresses 127.0.232.101-107
 * and .1-.2 (this test's row), admin API on 127.0.232.254:9232, clusters `rwreads`, `rwrepl`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

process.env.HASTACK_LOG_LEVEL ??= 'warn';

import { readSecrets, readTopology, type Secrets, type Topology } from '../../src/config/index.js';
import { requestFault } from '../../src/control/index.js';
import { createDbClient, type DbClient } from '../../src/clients/db/index.js';
import { createRedisHandle, createReplicaReader, type RedisHandle, type RedisReplicaReader } from '../../src/clients/redis/index.js';
import { keyedHash, loadApp, openAppRuntime, redisSessionStore } from '../../src/app/index.js';
import { askSentinelsForMaster, withRedis } from '../../src/engines/index.js';
import { createLogger } from '../../src/shared/log.js';
import { sleep, waitFor } from '../../src/shared/retry.js';
import { describeError } from '../../src/shared/errors.js';
import { upCluster, type TestCluster } from '../helpers/cluster.js';
import { ERP_APP, onRange } from '../../kit/configs.js';
import { startReplicationSet, type ReplicationSet } from '../../kit/db-replication.js';

const log = createLogger('rwreads');
/** Loops are bounded in count and time: a failover here takes a few seconds. */
const LOOP_MAX = 2_000;
const LOOP_MS = 30_000;
const PAUSE_MS = 20;
// The session store's own bound, as the app runtime computes it (2 × down-after + 2 s).
const SESSION_TIMEOUT_MS = 4_000;

const config = onRange(
  'reads-never-wait',
  {
    app: ERP_APP,
    database: { mode: 'galera', bufferPoolMb: 32 },
    redis: { quorum: 2, downAfterMs: 1_000 },
    nodes: [
      { name: 'db1', services: ['mariadb'] },
      { name: 'db2', services: ['mariadb'] },
      { name: 'db3', services: ['mariadb'] },
      { name: 'r1', services: ['redis', 'sentinel'] },
      { name: 'r2', services: ['redis', 'sentinel'] },
      { name: 'front', services: ['sentinel', 'app', 'lb'] },
    ],
  },
  { cluster: 'rwreads', span: 1 },
);

interface Check {
  readonly at: number;
  readonly ok: boolean;
  readonly detail: string;
}

describe('issue 22: reads never wait for a failover', { timeout: 8 * 60_000 }, () => {
  let cluster: TestCluster | undefined;
  let topo: Topology;
  let secrets: Secrets;

  before(async () => {
    cluster = await upCluster('rwreads', config);
    topo = readTopology(cluster.stateDir);
    secrets = readSecrets(cluster.stateDir);
  });

  after(async () => {
    await cluster?.down();
  });

  it('a session is checked during a Redis failover; a logout does not come back', async () => {
    const redis: RedisHandle = createRedisHandle(topo, secrets, 'rwreads-test', log);
    const replicas: RedisReplicaReader | undefined = createReplicaReader(topo, secrets, 'rwreads-test-replicas', 4, log);
    assert.ok(replicas, 'two Redis and Sentinels: there are replicas to ask');
    const store = redisSessionStore(redis, 'rwtest', SESSION_TIMEOUT_MS, 'rwreads-test-key', { replicas });
    try {
      await waitFor(async () => ((await redis.ping(1_000)) ? true : undefined), { timeoutMs: 20_000, intervalMs: 100 });
      const live = 'session-live-0123456789';
      const gone = 'session-gone-0123456789';
      await store.set(live, { user: 'alice' }, 600);
      await store.set(gone, { user: 'mallory' }, 600);
      // Logout: answered only once every replica has the delete.
      await waitFor(
        async () =>
          store.destroy(gone).then(
            () => true,
            () => undefined,
          ),
        { timeoutMs: 10_000, intervalMs: 200 },
      );
      assert.equal(await replicas.find(`hastack:rwtest:session:${keyedHash('rwreads-test-key', 'session', gone)}`), undefined, 'no replica holds the logged-out session');
      assert.equal(await store.get(gone), undefined, 'logged out on the master');

      const named = await askSentinelsForMaster(topo, secrets);
      const master = topo.services.find((s) => s.kind === 'redis' && s.address === named?.host);
      assert.ok(master, `the Sentinels name the master (${named?.host ?? '?'})`);
      // The election is over once the Sentinels name another master, or a write went through.
      const elected = async (): Promise<boolean> => {
        const now = await askSentinelsForMaster(topo, secrets, 200).catch(() => undefined);
        return now !== undefined && now.host !== master.address;
      };

      const checks: Check[] = [];
      const goneSeen: Check[] = [];
      let firstWrite = 0;
      const killedAt = Date.now();
      await requestFault(topo, { action: 'kill-node', node: master.node });
      const started = Date.now();
      // The logged-out session, asked concurrently (its checks may wait for the master: a
      // replica's "no such session" is not believed): it must never be answered as logged in.
      const goneLoop = (async () => {
        for (let i = 0; i < 50 && Date.now() - started < LOOP_MS && firstWrite === 0; i++) {
          try {
            const v = await store.get(gone);
            goneSeen.push({ at: Date.now(), ok: v === undefined, detail: JSON.stringify(v ?? null) });
          } catch (e) {
            goneSeen.push({ at: Date.now(), ok: true, detail: describeError(e) });
          }
        }
      })();
      // On until 20 checks after the election too: the clients reconnect to the new master then.
      let afterElection = 0;
      for (let i = 0; i < LOOP_MAX && Date.now() - started < LOOP_MS && afterElection < 20; i++) {
        if (firstWrite > 0) afterElection++;
        try {
          const v = await store.get<{ user: string }>(live);
          checks.push({ at: Date.now(), ok: v?.user === 'alice', detail: JSON.stringify(v ?? null) });
        } catch (e) {
          checks.push({ at: Date.now(), ok: false, detail: describeError(e) });
        }
        if (firstWrite === 0 && (await elected())) firstWrite = Date.now();
        else await sleep(PAUSE_MS);
      }
      await goneLoop;
      const bad = checks.filter((c) => !c.ok);
      assert.deepEqual(bad.slice(0, 3), [], `every session check answered the session (${bad.length} of ${checks.length} did not)`);
      assert.ok(firstWrite > 0, 'the Sentinels elected a new master');
      const duringElection = checks.filter((c) => c.at < firstWrite).length;
      assert.ok(duringElection > 0, 'session checks were answered while the Sentinels still named the dead master');
      assert.deepEqual(
        goneSeen.filter((c) => !c.ok),
        [],
        'a logged-out session never came back',
      );
      console.log(`# session checks: ${checks.length}, ${duringElection} answered before the Sentinels named a new master (${firstWrite - killedAt} ms after the kill)`);
      await requestFault(topo, { action: 'heal-node', node: master.node });
    } finally {
      await replicas?.close();
      await redis.close();
    }
  });

  it('a session check is answered while a durable enqueue waits for a replica that does not acknowledge', async () => {
    // The app runtime as an app server opens it: sessions and the queue as the ERP uses them.
    const svc = topo.services.find((x) => x.kind === 'app') ?? assert.fail('the front node runs an app server');
    const rt = openAppRuntime({ topo, secrets, svc, asRoot: false }, await loadApp(topo), log, 'app');
    const named = await askSentinelsForMaster(topo, secrets);
    const master = topo.services.find((x) => x.kind === 'redis' && x.address === named?.host) ?? assert.fail(`the Sentinels name the master (${named?.host ?? '?'})`);
    const replica = topo.services.find((x) => x.kind === 'redis' && x !== master) ?? assert.fail('a second Redis');
    // A field of the master's INFO: blocked_clients (held in a blocking command, here WAIT), connected_slaves.
    const infoField = (section: string, field: string): Promise<number> =>
      withRedis({ host: master.address, port: master.port, password: secrets.redisPassword }, 2_000, async (r) =>
        Number(new RegExp(`^${field}:(\\d+)`, 'm').exec(await r.info(section))?.[1] ?? 0),
      );
    const blocked = (): Promise<number> => infoField('clients', 'blocked_clients');
    const ctx = rt.context(log);
    const id = 'session-behind-wait-0123456789';
    try {
      await waitFor(async () => ((await rt.redis.ping(1_000)) ? true : undefined), { timeoutMs: 20_000, intervalMs: 100 });
      await ctx.session?.set(id, { user: 'carol' }, 600);
      // The old master of the test before rejoins as a replica after its restart.
      await waitFor(async () => ((await infoField('replication', 'connected_slaves')) > 0 ? true : undefined), { timeoutMs: 60_000, intervalMs: 200 });
      // A frozen replica stays connected: the master counts it, so WAIT waits its whole bound for it.
      await requestFault(topo, { action: 'pause-node', node: replica.node });
      const seen: string[] = [];
      try {
        // A few tries, bounded: an enqueue refused at once (the write guard, once the replica's lag
        // passed min-replicas-max-lag) never reaches WAIT.
        for (let i = 0; i < 5 && !seen.includes('answered while WAIT blocked'); i++) {
          let settled = false;
          const enqueue = ctx.queue.add('confirm-order', { orderId: 0 }, { jobId: `behind-wait-${i}-${Date.now()}` }).then(
            () => 'acknowledged',
            (e: unknown) => describeError(e),
          );
          void enqueue.finally(() => (settled = true));
          const waiting = await waitFor(async () => (settled ? false : (await blocked()) > 0 ? true : undefined), { timeoutMs: 5_000, intervalMs: 5 }).catch(() => false);
          if (waiting) {
            const v = await ctx.session?.get<{ user: string }>(id);
            assert.equal(v?.user, 'carol', 'the session check answered the session');
            // Redis answers one connection's commands in order: on the WAIT's own connection this
            // GET could only have been answered after the WAIT returned.
            seen.push((await blocked()) > 0 ? 'answered while WAIT blocked' : 'answered after WAIT returned');
          } else seen.push(`no WAIT observed (${await enqueue})`);
          const outcome = await enqueue;
          assert.notEqual(outcome, 'acknowledged', 'no replica acknowledged: the enqueue is not reported durable');
        }
      } finally {
        await requestFault(topo, { action: 'resume-node', node: replica.node });
      }
      assert.ok(seen.includes('answered while WAIT blocked'), `a session check was answered while the master held the enqueue's WAIT: ${seen.join('; ')}`);
      console.log(`# session check behind a blocked WAIT: ${seen.join('; ')}`);
    } finally {
      await rt.close();
    }
  });

  it('reads are served during a Galera writer change, and a client sees its own writes', async () => {
    const db: DbClient = createDbClient(topo, secrets, log);
    try {
      await db.execute('CREATE TABLE IF NOT EXISTS rw_reads (id INT PRIMARY KEY, v VARCHAR(40) NOT NULL)', [], { idempotent: true });
      const session = db.session();
      await session.execute('INSERT INTO rw_reads (id, v) VALUES (1, ?)', ['before the kill']);
      const token = session.token();
      assert.match(token, /^v1:@\d+$/, 'a Galera write is carried as its seqno');
      const plan = await db.refreshRoutes();
      const writer = plan.writer;
      assert.ok(writer !== undefined && plan.readers.length >= 1, plan.summary);

      const reads: Check[] = [];
      let firstWrite = 0;
      const started = Date.now();
      await requestFault(topo, { action: 'kill-node', node: writer });
      // Writes in their own loop: the first one committed after the kill ends the writer change.
      const writes = (async () => {
        for (let i = 0; i < 200 && Date.now() - started < LOOP_MS && firstWrite === 0; i++) {
          try {
            await db.execute('INSERT INTO rw_reads (id, v) VALUES (?, ?)', [1_000 + i, 'after'], { idempotent: true, timeoutMs: 2_000 });
            firstWrite = Date.now();
          } catch {
            await sleep(PAUSE_MS);
          }
        }
      })();
      for (let i = 0; i < LOOP_MAX && Date.now() - started < LOOP_MS && firstWrite === 0; i++) {
        // A new request of the same client: its token carries the write across.
        const s = db.session(token);
        try {
          const rows = await s.reader().query<{ v: string }>('SELECT v FROM rw_reads WHERE id = 1');
          reads.push({ at: Date.now(), ok: rows[0]?.v === 'before the kill', detail: JSON.stringify(rows) });
        } catch (e) {
          reads.push({ at: Date.now(), ok: false, detail: describeError(e) });
        }
        await sleep(PAUSE_MS);
      }
      await writes;
      const bad = reads.filter((r) => !r.ok);
      assert.deepEqual(bad.slice(0, 3), [], `every read answered the client's own write (${bad.length} of ${reads.length} did not)`);
      assert.ok(firstWrite > 0, 'writes resumed on a new writer');
      const duringChange = reads.filter((r) => r.at < firstWrite).length;
      assert.ok(duringChange > 0, 'reads were answered while no write committed');

      // After the change: a write and the same session's read right after it, on the read path.
      const after = db.session(token);
      await after.execute('UPDATE rw_reads SET v = ? WHERE id = 1', ['after the change']);
      const rows = await after.reader().query<{ v: string }>('SELECT v FROM rw_reads WHERE id = 1');
      assert.equal(rows[0]?.v, 'after the change', 'read-your-writes by seqno on another node');
      console.log(`# galera reads: ${reads.length}, ${duringChange} answered before the first write on the new writer (${firstWrite - started} ms after the kill)`);
    } finally {
      await db.close();
    }
  });
});

describe('issue 22: reads during a replication writer change', { timeout: 4 * 60_000 }, () => {
  let set: ReplicationSet | undefined;
  before(async () => {
    set = await startReplicationSet('reads-never-wait', 2);
  });
  after(async () => {
    await set?.stop();
  });

  it('the primary killed, nothing promoted: a session that wrote keeps reading from the replica', async () => {
    const rs = set ?? assert.fail('the replication set did not start');
    const db: DbClient = createDbClient(rs.topo, rs.secrets, log);
    try {
      await db.execute('CREATE TABLE IF NOT EXISTS rw_reads (id INT PRIMARY KEY, v VARCHAR(40) NOT NULL)', [], { idempotent: true });
      const session = db.session();
      await session.execute('INSERT INTO rw_reads (id, v) VALUES (1, ?)', ['before the kill']);
      const token = session.token();
      assert.match(token, /^v1:0-\d+-\d+$/, 'a replication write is carried as its GTID');
      await waitFor(async () => ((await db.refreshRoutes()).readers.includes('db2') ? true : undefined), { timeoutMs: 20_000, intervalMs: 100 });
      await rs.kill('db1');
      const reads: Check[] = [];
      let afterDetected = 0;
      const started = Date.now();
      // Until 30 reads were answered after the router saw the primary gone (bounded in count and time).
      for (let i = 0; i < LOOP_MAX && Date.now() - started < LOOP_MS && afterDetected < 30; i++) {
        try {
          const rows = await db.session(token).reader().query<{ v: string }>('SELECT v FROM rw_reads WHERE id = 1');
          reads.push({ at: Date.now(), ok: rows[0]?.v === 'before the kill', detail: JSON.stringify(rows) });
        } catch (e) {
          reads.push({ at: Date.now(), ok: false, detail: describeError(e) });
        }
        if (db.routes?.writer === undefined) afterDetected++;
        await sleep(PAUSE_MS);
      }
      const bad = reads.filter((r) => !r.ok);
      assert.deepEqual(bad.slice(0, 3), [], `every read answered the client's own write (${bad.length} of ${reads.length} did not)`);
      assert.equal(afterDetected, 30, `reads were answered with no writer: ${db.routes?.summary ?? '?'}`);
      console.log(`# replication reads: ${reads.length} after the kill; routes then: ${db.routes?.summary ?? '?'}`);
    } finally {
      await db.close();
    }
  });
});
