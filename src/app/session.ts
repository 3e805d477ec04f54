import { createHmac } from 'node:crypto';
import { describeError, ErrorCode, HastackError } from '../shared/errors.js';
import { withDeadline, type RedisHandle } from '../clients/redis/index.js';
import type { Counters, CounterState, JsonValue, SessionStore } from './contract.js';

const ID = /^[A-Za-z0-9_-]{8,128}$/;

function checkId(id: string): void {
  if (!ID.test(id)) throw new HastackError(ErrorCode.BAD_REQUEST, 'session id must be 8-128 letters, digits, _ or -');
}

/**
 * HMAC-SHA256 of `value` under the cluster's `sessionKey`, base64url (43 characters). What the app
 * tier stores in place of a session id or another per-user name: whoever reads Redis (a replica,
 * an RDB copied into a backup, `SCAN`) learns nothing they could present as a cookie, and cannot
 * tell which stored key belongs to which id without the key.
 */
export function keyedHash(key: string, what: string, value: string): string {
  // `what` separates the uses: a session id and a counter name never map to the same digest.
  return createHmac('sha256', key).update(`${what}\0${value}`).digest('base64url');
}

function bounded<T>(timeoutMs: number, what: string, p: Promise<T>): Promise<T> {
  return withDeadline(p, timeoutMs, () => new HastackError(ErrorCode.REDIS_UNAVAILABLE, `${what}: Redis did not answer within ${timeoutMs} ms`)).catch((e: unknown) => {
    if (e instanceof HastackError) throw e;
    throw new HastackError(ErrorCode.REDIS_UNAVAILABLE, `${what}: ${describeError(e)}`, { cause: e });
  });
}

/**
 * Sessions as JSON strings in Redis under `hastack:<app>:session:<HMAC of the id>`, with a TTL.
 * Every call is bounded by `timeoutMs` (a Redis failover takes a few seconds) and then fails with
 * REDIS_UNAVAILABLE: a session that cannot be read is neither a logged-out user nor one to take
 * from anywhere less trustworthy (the cache has no authentication). The id itself is stored
 * nowhere.
 */
export function redisSessionStore(redis: RedisHandle, app: string, timeoutMs: number, hmacKey: string): SessionStore {
  const key = (id: string): string => `hastack:${app}:session:${keyedHash(hmacKey, 'session', id)}`;
  return {
    async get<T extends JsonValue = JsonValue>(id: string): Promise<T | undefined> {
      checkId(id);
      const raw = await bounded(timeoutMs, 'session get', redis.client.get(key(id)));
      if (raw === null) return undefined;
      try {
        return JSON.parse(raw) as T;
      } catch {
        return undefined;
      }
    },
    async set(id: string, data: JsonValue, ttlSeconds: number): Promise<void> {
      checkId(id);
      const ttl = Math.max(1, Math.round(ttlSeconds));
      await bounded(timeoutMs, 'session set', redis.client.set(key(id), JSON.stringify(data), 'EX', ttl));
    },
    async destroy(id: string): Promise<void> {
      checkId(id);
      await bounded(timeoutMs, 'session destroy', redis.client.del(key(id)));
    },
  };
}

/** A window of at most a day: these are throttles, not accounting. */
const MAX_WINDOW_S = 86_400;

/**
 * Fixed-window counters in Redis under `hastack:<app>:counter:<HMAC of the name>`, shared by
 * every app server, so a limit holds across the cluster (a per-process counter would let a
 * client multiply it by the number of app servers). Names may hold user names or addresses;
 * only their keyed hash is stored. Bounded like the sessions; REDIS_UNAVAILABLE when Redis
 * cannot answer (the caller then refuses: a throttle that cannot count does not let through).
 */
export function redisCounters(redis: RedisHandle, app: string, timeoutMs: number, hmacKey: string): Counters {
  const key = (name: string): string => `hastack:${app}:counter:${keyedHash(hmacKey, 'counter', name)}`;
  const state = (count: unknown, ttl: unknown): CounterState => {
    const t = Number(ttl);
    return { count: Number(count ?? 0) || 0, resetInSeconds: t > 0 ? t : 0 };
  };
  return {
    async hit(name: string, windowSeconds: number): Promise<CounterState> {
      const window = Math.min(MAX_WINDOW_S, Math.max(1, Math.round(windowSeconds)));
      const k = key(name);
      // One transaction: the window starts with the first hit (SET NX EX), INCR keeps the TTL.
      const r = await bounded(timeoutMs, 'counter hit', redis.client.multi().set(k, '0', 'EX', window, 'NX').incr(k).ttl(k).exec());
      if (!r) throw new HastackError(ErrorCode.REDIS_UNAVAILABLE, 'counter hit: the transaction was aborted');
      const failed = r.find(([err]) => err !== null);
      if (failed?.[0]) throw new HastackError(ErrorCode.REDIS_UNAVAILABLE, `counter hit: ${describeError(failed[0])}`, { cause: failed[0] });
      return state(r[1]?.[1], r[2]?.[1]);
    },
    async peek(name: string): Promise<CounterState> {
      const k = key(name);
      const r = await bounded(timeoutMs, 'counter peek', redis.client.multi().get(k).ttl(k).exec());
      if (!r) throw new HastackError(ErrorCode.REDIS_UNAVAILABLE, 'counter peek: the transaction was aborted');
      return state(r[0]?.[1], r[1]?.[1]);
    },
    async reset(name: string): Promise<void> {
      await bounded(timeoutMs, 'counter reset', redis.client.del(key(name)));
    },
  };
}
