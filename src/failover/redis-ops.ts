import { servicesOf } from '../config/index.js';
import fs from 'node:fs';
import { redisConfFile, redisRole, sentinelMasterAddr, withReplicaOf } from '../engines/index.js';
import { redisErrorCode } from '../shared/engine-errors.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { writeFileAtomic } from '../shared/files.js';
import { sleep, waitFor } from '../shared/retry.js';
import { Redis } from 'ioredis';
import { ctxOf, nodeAt, serviceOn, type FailoverEnv } from './context.js';

// SENTINEL FAILOVER promoted the replica in ~0.3 s and the Sentinel named it ~1.2 s after the
// request here; 15 s leaves room for a busy machine (Sentinel polls INFO once a second then).
const REDIS_SWITCH_TIMEOUT_MS = 15_000;
// Two of Sentinel's 1 s replica INFO polls after it marked the master down, and some slack.
const NOGOODSLAVE_RETRY_MS = 4_000;

/** Where the Redis master is now, by ROLE on every reachable node (a master replicating from nobody). */
async function redisMasters(env: FailoverEnv): Promise<string[]> {
  const seen = await Promise.all(
    servicesOf(env.topo, 'redis').map(async (svc) => ((await redisRole(ctxOf(env, svc)).catch(() => undefined))?.role === 'master' ? svc.node : undefined)),
  );
  return seen.filter((n): n is string => n !== undefined);
}

/** The master node every reachable Sentinel names, if they agree (and at least one answers). */
async function sentinelsAgree(env: FailoverEnv): Promise<{ node?: string; answers: number }> {
  const named = await Promise.all(servicesOf(env.topo, 'sentinel').map((s) => sentinelMasterAddr(ctxOf(env, s)).catch(() => undefined)));
  const nodes = new Set(named.filter((a) => a !== undefined).map((a) => nodeAt(env, 'redis', a.host, a.port) ?? `${a.host}:${a.port}`));
  const answers = named.filter((a) => a !== undefined).length;
  return nodes.size === 1 ? { node: [...nodes][0] as string, answers } : { answers };
}

/**
 * If the Redis master died with the old server, asks a reachable Sentinel (the target's first) to
 * fail over now: SENTINEL FAILOVER needs no quorum, and the simple preset's lone surviving
 * Sentinel cannot reach one. Returns once asked (a few ms), so the database promotion is not held
 * up; waitRedisSettled checks the outcome. Idempotent (INPROG counts as asked).
 */
export async function requestRedisFailover(env: FailoverEnv, fenced: string, target: string): Promise<string> {
  if (servicesOf(env.topo, 'redis').length === 0) return 'no redis in this cluster';
  const masters = (await redisMasters(env)).filter((n) => n !== fenced);
  const agreed = await sentinelsAgree(env);
  if (masters.length === 1 && agreed.node === masters[0]) return `redis master ${masters[0]} alive, ${agreed.answers} sentinel(s) agree: nothing to do`;
  if (masters.length > 0) return `redis master ${masters.join(', ')} alive; waiting for the sentinels to agree`;
  {
    const sentinels = servicesOf(env.topo, 'sentinel').filter((s) => s.node !== fenced);
    const preferred = [...sentinels.filter((s) => s.node === target), ...sentinels.filter((s) => s.node !== target)];
    let asked: string | undefined;
    let errors: Array<{ readonly code: string | undefined; readonly line: string }> = [];
    // NOGOODSLAVE is transient right after Sentinel marks the master down: it then wants replica
    // INFO newer than 5 s, and polls replicas every 1 s (every 10 s before): retry for a while.
    const deadline = Date.now() + NOGOODSLAVE_RETRY_MS;
    while (!asked) {
      errors = [];
      for (const s of preferred) {
        try {
          await withSentinel(env, s.address, s.port, async (r) => r.call('SENTINEL', 'FAILOVER', env.topo.config.redis.masterName));
          asked = s.id;
          break;
        } catch (e) {
          // INPROG: a failover is already under way (a re-run, or Sentinel's own): wait for it.
          const code = redisErrorCode(e);
          if (code === 'INPROG') {
            asked = s.id;
            break;
          }
          errors.push({ code, line: `${s.id}: ${describeError(e)}` });
        }
      }
      if (asked || Date.now() > deadline || !errors.some((e) => e.code === 'NOGOODSLAVE')) break;
      await sleep(250);
    }
    if (!asked) {
      throw new HastackError(ErrorCode.REDIS_UNAVAILABLE, `no Sentinel would fail Redis over (${errors.map((e) => e.line).join('; ') || 'no sentinel reachable'}); promote a replica by hand with REPLICAOF NO ONE and SENTINEL RESET`);
    }
    return `the redis master died with ${fenced}: SENTINEL FAILOVER requested from ${asked}`;
  }
}

/**
 * Waits until exactly one Redis node outside the fenced one is master and every reachable
 * Sentinel names it, then points the fenced node's Redis at it (see pointFencedRedis).
 */
export async function waitRedisSettled(env: FailoverEnv, fenced: string): Promise<string> {
  if (servicesOf(env.topo, 'redis').length === 0) return 'no redis in this cluster';
  const done = await waitFor(
    async () => {
      const m = (await redisMasters(env)).filter((n) => n !== fenced);
      const a = await sentinelsAgree(env);
      return m.length === 1 && a.node === m[0] ? { node: m[0] as string, answers: a.answers } : undefined;
    },
    // 100 ms: each check is a few ROLE/SENTINEL round trips on loopback.
    { timeoutMs: REDIS_SWITCH_TIMEOUT_MS, intervalMs: 100 },
  );
  if (!done) throw new HastackError(ErrorCode.REDIS_UNAVAILABLE, `Redis did not settle on one master within ${REDIS_SWITCH_TIMEOUT_MS} ms; see "hastack status" (redis and sentinel rows)`);
  const pointed = pointFencedRedis(env, fenced, done.node);
  return `redis master is now ${done.node}; ${done.answers} reachable sentinel(s) agree${pointed ? `; ${pointed}` : ''}`;
}

async function withSentinel<T>(env: FailoverEnv, host: string, port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ host, port, password: env.secrets.sentinelPassword, lazyConnect: true, connectTimeout: 1000, commandTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false, disableClientInfo: true });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

/**
 * The fenced node's Redis, if it is down, gets `replicaof <new master>` in its config file: on
 * heal it would otherwise come back as a master with old data, and the Sentinels convert it only
 * ~10 s later (measured here). Its file is Redis's own, but the process is not running to rewrite it.
 */
function pointFencedRedis(env: FailoverEnv, fenced: string, masterNode: string): string | undefined {
  const old = servicesOf(env.topo, 'redis').find((s) => s.node === fenced);
  const master = serviceOn(env, masterNode, 'redis');
  if (!old || old.node === masterNode) return undefined;
  const file = redisConfFile(old);
  if (!fs.existsSync(file)) return undefined;
  writeFileAtomic(file, withReplicaOf(fs.readFileSync(file, 'utf8'), { host: master.address, port: master.port }));
  return `${old.id} will restart as a replica of ${master.id}`;
}
