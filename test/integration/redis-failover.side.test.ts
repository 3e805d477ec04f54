/**
 * The Redis client through a real Sentinel failover: master + replica + 3 Sentinels (quorum 2,
 * down-after 1 s), started by this test as plain processes. While jobs are being enqueued the
 * master is SIGKILLed; the client must follow Sentinel to the promoted replica, and every job
 * whose durable enqueue was acknowledged must be on the new master. Then the write guard: the new
 * master, once it has a replica again, is frozen (SIGSTOP) past a failover and resumed: it must
 * refuse writes until Sentinel demotes it, and rejoin as a replica.
 *
 * Namespace: addresses 127.0.60.11-15, state in a fresh temp directory; every process started
 * here is killed by its PID in `after`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

process.env.HASTACK_LOG_LEVEL ??= 'warn';

import { Redis } from 'ioredis';
import { loadOrCreateSecrets, parseConfig, resolveTopology, type Topology } from '../../src/config/index.js';
import { createLogger } from '../../src/shared/log.js';
import { sleep, waitFor } from '../../src/shared/retry.js';
import { isHastackError } from '../../src/shared/errors.js';
import { createRedisHandle, JobQueue, QUEUE_PREFIX } from '../../src/clients/redis/index.js';
import { RedisAdminPool, askSentinelsForMaster, enforceWriteGuard } from '../../src/engines/index.js';
import { testRange } from '../../kit/addresses.js';
import { EngineHarness } from '../../kit/engines.js';

const R = testRange('redis-failover');
const BASE = R.base;
const MASTER = `${BASE}.11`;
const REPLICA = `${BASE}.12`;
const SENTINELS = [`${BASE}.13`, `${BASE}.14`, `${BASE}.15`];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hx-redisfo-'));
const log = createLogger('redisfo');

const config = parseConfig({
  cluster: R.cluster,
  addressBase: BASE,
  redis: { quorum: 2, downAfterMs: 1000 },
  nodes: [
    { name: 'r1', address: MASTER, services: ['redis'] },
    { name: 'r2', address: REPLICA, services: ['redis'] },
    { name: 's1', address: SENTINELS[0], services: ['sentinel'] },
    { name: 's2', address: SENTINELS[1], services: ['sentinel'] },
    { name: 's3', address: SENTINELS[2], services: ['sentinel'] },
    // Required by the config schema; not started here.
    { name: 'rest', address: `${BASE}.16`, services: ['mariadb', 'app', 'lb'] },
  ],
});
const topo: Topology = resolveTopology(config, { stateRoot: tmp, configDir: tmp });
const secrets = loadOrCreateSecrets(topo.stateDir);
const NAME = topo.config.redis.masterName;

const engines = new EngineHarness();

function spawnEngine(name: string, command: string, args: readonly string[]): void {
  engines.spawn(name, command, args, { logFile: path.join(tmp, `${name}.log`) });
}

/** SIGKILL; frees the name for a restart at once. */
function kill(name: string): void {
  void engines.kill(name);
}

function startRedis(name: string, address: string, replicaOf?: string): void {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  spawnEngine(name, 'redis-server', [
    '--bind',
    address,
    '--port',
    '6379',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    '--requirepass',
    secrets.redisPassword,
    '--masterauth',
    secrets.redisPassword,
    // On loopback, connections would leave from 127.0.0.1: announce and send from our own address.
    '--replica-announce-ip',
    address,
    '--bind-source-addr',
    address,
    '--protected-mode',
    'no',
    ...(replicaOf ? ['--replicaof', replicaOf, '6379'] : []),
  ]);
}

function startSentinel(i: number, address: string): void {
  const dir = path.join(tmp, `s${i}`);
  fs.mkdirSync(dir, { recursive: true });
  const conf = path.join(dir, 'sentinel.conf');
  fs.writeFileSync(
    conf,
    [
      'port 26379',
      `bind ${address}`,
      `bind-source-addr ${address}`,
      `sentinel announce-ip ${address}`,
      'sentinel announce-port 26379',
      `dir ${dir}`,
      'protected-mode no',
      `requirepass "${secrets.sentinelPassword}"`,
      `sentinel monitor ${NAME} ${MASTER} 6379 2`,
      `sentinel auth-pass ${NAME} "${secrets.redisPassword}"`,
      `sentinel down-after-milliseconds ${NAME} 1000`,
      `sentinel failover-timeout ${NAME} 5000`,
      `sentinel sentinel-pass "${secrets.sentinelPassword}"`,
      '',
    ].join('\n'),
  );
  spawnEngine(`s${i}`, 'redis-sentinel', [conf]);
}

async function sentinelView(address: string): Promise<{ replicas: number; sentinels: number } | undefined> {
  const c = new Redis({ host: address, port: 26379, password: secrets.sentinelPassword, lazyConnect: true, retryStrategy: () => null });
  c.on('error', () => undefined);
  try {
    await c.connect();
    const replicas = (await c.call('SENTINEL', 'REPLICAS', NAME)) as unknown[];
    const sentinels = (await c.call('SENTINEL', 'SENTINELS', NAME)) as unknown[];
    return { replicas: replicas.length, sentinels: sentinels.length };
  } catch {
    return undefined;
  } finally {
    c.disconnect();
  }
}

before(async () => {
  startRedis('r1', MASTER);
  startRedis('r2', REPLICA, MASTER);
  SENTINELS.forEach((a, i) => startSentinel(i + 1, a));
  // ENGINE-NOTES: Sentinels need 5-10 s to find the replica and each other.
  const ready = await waitFor(
    async () => {
      const views = await Promise.all(SENTINELS.map(sentinelView));
      return views.every((v) => v !== undefined && v.replicas >= 1 && v.sentinels >= 2) ? true : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  assert.ok(ready, 'sentinels see the replica and each other');
});

after(async () => {
  await Promise.all(engines.names().map((name) => engines.kill(name)));
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('redis client through a Sentinel failover', () => {
  it('follows the promoted replica and keeps every durably acknowledged job', async () => {
    const handle = createRedisHandle(topo, secrets, 'failover-test', log);
    // 2 × down-after + 2 s, as the app runtime computes it.
    const queue = new JobQueue(handle, 'fo', { timeoutMs: 4_000, log, durableByDefault: true });
    const acked: string[] = [];
    const outcomes: Array<{ at: number; kind: string }> = [];
    let killedAt = 0;
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        const jobId = `job-${i}`;
        try {
          // Durable by default: resolves only once the replica has the job.
          await queue.add('x', { i }, { jobId });
          acked.push(jobId);
          outcomes.push({ at: Date.now(), kind: 'acked' });
        } catch (e) {
          outcomes.push({ at: Date.now(), kind: isHastackError(e) ? e.code : String(e) });
        }
        await sleep(20);
      }
    })();
    try {
      await waitFor(async () => (acked.length >= 20 ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 });
      killedAt = Date.now();
      kill('r1');
      // The promoted master has no replica left, so durable enqueues then end QUEUE_NOT_DURABLE:
      // that still proves the new master takes writes.
      const resumed = await waitFor(async () => (outcomes.some((o) => o.at > killedAt && (o.kind === 'acked' || o.kind === 'QUEUE_NOT_DURABLE')) ? true : undefined), {
        timeoutMs: 15_000,
        intervalMs: 50,
      });
      assert.ok(resumed, `writes resumed after the kill: ${JSON.stringify(outcomes.filter((o) => o.at > killedAt).slice(0, 5))}`);
      const first = outcomes.find((o) => o.at > killedAt && (o.kind === 'acked' || o.kind === 'QUEUE_NOT_DURABLE'));
      log.warn({ writeGapMs: (first?.at ?? 0) - killedAt }, 'redis failover: first write on the new master');
    } finally {
      stop = true;
      await writer;
    }
    // ioredis sometimes ends its client during a failover (see options.ts); the handle must then
    // have replaced it, and in every case be connected to the new master now (a loaded machine may
    // still be in a reconnect round: waited for). The handle is closed whatever fails below, or
    // its reconnect timers would keep this file from ever ending.
    try {
      assert.equal(await waitFor(async () => (handle.status === 'ready' ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 }), true, `handle status ${handle.status}`);
      if (handle.replaced > 0) log.warn({ replaced: handle.replaced }, 'ioredis ended during the failover; the handle replaced it');
      const role = (await handle.client.call('ROLE')) as unknown[];
      assert.equal(role[0], 'master');
      const direct = new Redis({ host: REPLICA, port: 6379, password: secrets.redisPassword });
      direct.on('error', () => undefined);
      try {
        const missing: string[] = [];
        for (const id of acked) if ((await direct.exists(`${QUEUE_PREFIX}:fo:${id}`)) !== 1) missing.push(id);
        assert.deepEqual(missing, [], 'every durably acknowledged job survived the failover');
      } finally {
        direct.disconnect();
      }
    } finally {
      await queue.close();
      await handle.close();
    }
  });
});

async function guardOf(address: string): Promise<string> {
  const c = new Redis({ host: address, port: 6379, password: secrets.redisPassword, lazyConnect: true, retryStrategy: () => null });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return String(((await c.call('CONFIG', 'GET', 'min-replicas-to-write')) as unknown[])[1]);
  } finally {
    c.disconnect();
  }
}

async function roleOf(address: string): Promise<unknown[] | undefined> {
  const c = new Redis({ host: address, port: 6379, password: secrets.redisPassword, lazyConnect: true, retryStrategy: () => null, commandTimeout: 500 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return (await c.call('ROLE')) as unknown[];
  } catch {
    return undefined;
  } finally {
    c.disconnect();
  }
}

/** The server's `total_connections_received` (INFO stats). */
async function connectionsReceived(c: Redis): Promise<number> {
  return Number(/total_connections_received:(\d+)/.exec(await c.info('stats'))?.[1]);
}

describe('the write guard (min-replicas-to-write on the master only)', () => {
  // As the worker runs it: its connections kept between rounds. Through this test the old master
  // is down (refused), then restarted, and the new one frozen and resumed: each broken connection
  // must be dropped and made again, or the guard would act on nothing.
  const conns = new RedisAdminPool('redis-failover-test-guard');
  const guard = (): ReturnType<typeof enforceWriteGuard> => enforceWriteGuard(topo, secrets, conns.run);
  after(() => conns.close());

  it('a master frozen past a failover takes no write when it resumes, and rejoins as a replica', async () => {
    // After the first test REPLICA is the master, alone, and the old master is down.
    await guard();
    // Bring the old master back as its replica.
    startRedis('r1', MASTER, REPLICA);
    const linked = await waitFor(async () => ((await roleOf(MASTER))?.[3] === 'connected' ? true : undefined), { timeoutMs: 15_000, intervalMs: 100 });
    assert.ok(linked, 'the old master rejoined as a replica');
    // The guard goes on the master that has a replica, never on the replica.
    await waitFor(
      async () => {
        await guard();
        return (await guardOf(REPLICA)) === '1' ? true : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 250 },
    );
    assert.equal(await guardOf(REPLICA), '1');
    assert.equal(await guardOf(MASTER), '0');

    engines.signal('r2', 'SIGSTOP');
    try {
      const moved = await waitFor(async () => ((await askSentinelsForMaster(topo, secrets))?.host === MASTER ? true : undefined), { timeoutMs: 20_000, intervalMs: 250 });
      assert.ok(moved, 'Sentinel promoted the replica while the master was frozen');
      // The promoted master has no replica: the guard stays off there, so writes go on.
      await guard();
      assert.equal(await guardOf(MASTER), '0');
    } finally {
      engines.signal('r2', 'SIGCONT');
    }
    // Resumed, it still calls itself master until Sentinel demotes it (Sentinel waits ~8 s for
    // that); meanwhile its replica's last acknowledgement is seconds old, so it refuses writes.
    const c = new Redis({ host: REPLICA, port: 6379, password: secrets.redisPassword, retryStrategy: () => null, commandTimeout: 2_000 });
    c.on('error', () => undefined);
    try {
      await assert.rejects(c.set('written-while-cut-off', '1'), /NOREPLICAS|READONLY/);
    } finally {
      c.disconnect();
    }
    const demoted = await waitFor(async () => ((await roleOf(REPLICA))?.[0] === 'slave' ? true : undefined), { timeoutMs: 30_000, intervalMs: 250 });
    assert.ok(demoted, 'the resumed old master rejoined as a replica');
    // And the guard follows the roles again: on the new master (once its replica is linked), off the replica.
    const settled = await waitFor(
      async () => {
        await guard();
        return (await guardOf(MASTER)) === '1' && (await guardOf(REPLICA)) === '0' ? true : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 250 },
    );
    assert.ok(settled, 'the guard moved with the roles');
    const direct = new Redis({ host: MASTER, port: 6379, password: secrets.redisPassword });
    direct.on('error', () => undefined);
    try {
      assert.equal(await direct.exists('written-while-cut-off'), 0, 'nothing written to the cut-off master survived anywhere');
    } finally {
      direct.disconnect();
    }
  });

  it('keeps its connections between rounds: no new connection to a Redis or Sentinel per round', async () => {
    const servers = [MASTER, REPLICA].map((host) => ({ host, port: 6379, password: secrets.redisPassword }));
    servers.push(...SENTINELS.map((host) => ({ host, port: 26379, password: secrets.sentinelPassword })));
    const probes = servers.map((t) => new Redis({ ...t, retryStrategy: () => null }));
    probes.forEach((p) => p.on('error', () => undefined));
    try {
      await guard();
      const was = await Promise.all(probes.map(connectionsReceived));
      for (let i = 0; i < 5; i++) await guard();
      const now = await Promise.all(probes.map(connectionsReceived));
      assert.deepEqual(now, was, `new connections during 5 rounds: ${servers.map((t, i) => `${t.host}:${t.port} +${(now[i] ?? 0) - (was[i] ?? 0)}`).join(', ')}`);
    } finally {
      probes.forEach((p) => p.disconnect());
    }
  });

  // ioredis's failover detector opens its own client to each Sentinel, with no error listener:
  // a Sentinel that refuses or drops the connection printed "[ioredis] Unhandled error event" and
  // a stack to stderr, from every client and BullMQ connection of the app, in the middle of an
  // incident (seen in every partition run). The client works either way; the noise must not show.
  it('a Sentinel down: the client and the job queue print no "[ioredis] Unhandled error event"', async () => {
    const printed: string[] = [];
    const consoleError = console.error;
    console.error = (...args: unknown[]) => {
      printed.push(args.map(String).join(' '));
    };
    await engines.kill('s1');
    const handle = createRedisHandle(topo, secrets, 'sentinel-down-test', log);
    const queue = new JobQueue(handle, 'sd', { timeoutMs: 4_000, log, durableByDefault: false });
    try {
      // Each connect (the handle's and BullMQ's) sets up a detector, one client per Sentinel.
      await queue.add('x', { i: 1 }, { jobId: 'sentinel-down-1' });
      assert.equal(await handle.client.ping(), 'PONG');
      await sleep(1_000);
    } finally {
      console.error = consoleError;
      await queue.close();
      await handle.close();
    }
    assert.deepEqual(
      printed.filter((l) => l.includes('Unhandled error event')),
      [],
    );
  });
});
