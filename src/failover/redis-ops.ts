import fs from 'node:fs';
import os from 'node:os';
import { servicesOf, type Secrets, type ServiceInstance, type Topology } from '../config/index.js';
import { redisConfFile, redisRole, sentinelMasterAddr, withReplicaOf, type RedisAddress, type RedisRole } from '../engines/index.js';
import type { ServiceContext } from '../registry/index.js';
import { redisErrorCode } from '../shared/engine-errors.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { writeFileAtomic } from '../shared/files.js';
import { sleep, waitFor } from '../shared/retry.js';
import { Redis } from 'ioredis';
import { nodeAt, serviceOn, type FailoverEnv, type RedisLook, type SentinelFailoverAnswer } from './context.js';

// SENTINEL FAILOVER promoted the replica in ~0.3 s and the Sentinel named it ~1.2 s after the
// request here; 15 s leaves room for a busy machine (Sentinel polls INFO once a second then).
const REDIS_SWITCH_TIMEOUT_MS = 15_000;
// NOGOODSLAVE while a Sentinel alone holds the master down (SDOWN): it then wants replica INFO
// newer than 5 s but polls replicas only every 10 s until the master is ODOWN (every 1 s after):
// one poll period and slack.
const NOGOODSLAVE_RETRY_MS = 12_000;

/**
 * Every Redis node's ROLE and every Sentinel's named master, straight from this machine, for the
 * services given (all of the cluster's, or one host's when its agent asks: src/hosts/redis-admin.ts).
 * A service that does not answer within the admin timeout is left out.
 */
export async function lookAtRedisDirect(topo: Topology, secrets: Secrets, services: readonly ServiceInstance[]): Promise<RedisLook> {
  const asRoot = os.userInfo().uid === 0;
  const ctx = (svc: ServiceInstance): ServiceContext => ({ topo, secrets, svc, asRoot });
  const roles = new Map<string, RedisRole>();
  const named = new Map<string, RedisAddress | null>();
  await Promise.all([
    ...services
      .filter((s) => s.kind === 'redis')
      .map(async (svc) => {
        const r = await redisRole(ctx(svc)).catch(() => undefined);
        if (r) roles.set(svc.id, r);
      }),
    ...services
      .filter((s) => s.kind === 'sentinel')
      .map(async (svc) => {
        const a = await sentinelMasterAddr(ctx(svc)).then(
          (x) => x ?? null,
          () => undefined,
        );
        if (a !== undefined) named.set(svc.id, a);
      }),
  ]);
  return { roles, named };
}

/** One look at Redis and the Sentinels, through `env.redisAdmin` when given (hosts). */
export function lookAtRedis(env: FailoverEnv): Promise<RedisLook> {
  const svcs = [...servicesOf(env.topo, 'redis'), ...servicesOf(env.topo, 'sentinel')];
  return env.redisAdmin ? env.redisAdmin.look() : lookAtRedisDirect(env.topo, env.secrets, svcs);
}

/** Where the Redis master is now, by ROLE on every reachable node (a master replicating from nobody). */
function redisMasters(env: FailoverEnv, look: RedisLook): string[] {
  return servicesOf(env.topo, 'redis')
    .filter((svc) => look.roles.get(svc.id)?.role === 'master')
    .map((svc) => svc.node);
}

/** The master node every reachable Sentinel names, if they agree (and at least one answers). */
function sentinelsAgree(env: FailoverEnv, look: RedisLook): { node?: string; answers: number } {
  const named = servicesOf(env.topo, 'sentinel').map((s) => look.named.get(s.id) ?? undefined);
  const nodes = new Set(named.filter((a) => a !== undefined).map((a) => nodeAt(env, 'redis', a.host, a.port) ?? `${a.host}:${a.port}`));
  const answers = named.filter((a) => a !== undefined).length;
  return nodes.size === 1 ? { node: [...nodes][0] as string, answers } : { answers };
}

/**
 * SENTINEL FAILOVER on one Sentinel, from this machine (the agent's side of
 * `RedisAdmin.sentinelFailover` too): Sentinel's error reply comes back as `refused`, with its
 * code, so it survives the agent's JSON; no answer at all throws.
 */
export async function sentinelFailoverDirect(topo: Topology, secrets: Secrets, sentinel: ServiceInstance): Promise<SentinelFailoverAnswer> {
  try {
    await withSentinel(secrets, sentinel.address, sentinel.port, async (r) => r.call('SENTINEL', 'FAILOVER', topo.config.redis.masterName));
    return {};
  } catch (e) {
    const code = redisErrorCode(e);
    if (code === undefined) throw e;
    return { refused: { code, message: describeError(e) } };
  }
}

/**
 * If the Redis master died with the old server, asks a reachable Sentinel (the target's first) to
 * fail over now: SENTINEL FAILOVER needs no quorum, and the simple preset's lone surviving
 * Sentinel cannot reach one. Returns once asked (a few ms), so the database promotion is not held
 * up; waitRedisSettled checks the outcome. Idempotent (INPROG counts as asked).
 */
export async function requestRedisFailover(env: FailoverEnv, fenced: string, target: string): Promise<string> {
  if (servicesOf(env.topo, 'redis').length === 0) return 'no redis in this cluster';
  const look = await lookAtRedis(env);
  const masters = redisMasters(env, look).filter((n) => n !== fenced);
  const agreed = sentinelsAgree(env, look);
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
        let answer: SentinelFailoverAnswer;
        try {
          answer = env.redisAdmin ? await env.redisAdmin.sentinelFailover(s) : await sentinelFailoverDirect(env.topo, env.secrets, s);
        } catch (e) {
          errors.push({ code: redisErrorCode(e), line: `${s.id}: ${describeError(e)}` });
          continue;
        }
        // INPROG: a failover is already under way (a re-run, or Sentinel's own): wait for it.
        if (answer.refused === undefined || answer.refused.code === 'INPROG') {
          asked = s.id;
          break;
        }
        errors.push({ code: answer.refused.code, line: `${s.id}: ${answer.refused.message}` });
      }
      if (asked || Date.now() > deadline || !errors.some((e) => e.code === 'NOGOODSLAVE')) break;
      await sleep(250);
      // Meanwhile the Sentinels may have failed over by themselves (ODOWN, quorum): asked about
      // the new master, which has no replica left, they would answer NOGOODSLAVE forever (CI).
      const now = redisMasters(env, await lookAtRedis(env)).filter((n) => n !== fenced);
      if (now.length > 0) return `the redis master died with ${fenced}; the sentinels failed it over by themselves to ${now.join(', ')}`;
    }
    if (!asked) {
      throw new HastackError(
        ErrorCode.REDIS_UNAVAILABLE,
        `no Sentinel would fail Redis over (${errors.map((e) => e.line).join('; ') || 'no sentinel reachable'}); promote a replica by hand with REPLICAOF NO ONE and SENTINEL RESET`,
      );
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
      const look = await lookAtRedis(env);
      const m = redisMasters(env, look).filter((n) => n !== fenced);
      const a = sentinelsAgree(env, look);
      return m.length === 1 && a.node === m[0] ? { node: m[0] as string, answers: a.answers } : undefined;
    },
    // 100 ms: each check is a few ROLE/SENTINEL round trips on loopback.
    { timeoutMs: REDIS_SWITCH_TIMEOUT_MS, intervalMs: 100 },
  );
  if (!done)
    throw new HastackError(ErrorCode.REDIS_UNAVAILABLE, `Redis did not settle on one master within ${REDIS_SWITCH_TIMEOUT_MS} ms; see "hastack status" (redis and sentinel rows)`);
  const pointed = pointFencedRedis(env, fenced, done.node);
  return `redis master is now ${done.node}; ${done.answers} reachable sentinel(s) agree${pointed ? `; ${pointed}` : ''}`;
}

async function withSentinel<T>(secrets: Secrets, host: string, port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({
    host,
    port,
    password: secrets.sentinelPassword,
    lazyConnect: true,
    connectTimeout: 1000,
    commandTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    disableClientInfo: true,
  });
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
