import { createHmac } from 'node:crypto';
import { describeError, ErrorCode, HastackError } from '../shared/errors.js';
import { withDeadline, type RedisHandle, type RedisReplicaReader } from '../clients/redis/index.js';
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
 * How long a session check waits for a master that is connected before it also asks the replicas:
 * a healthy master answers a GET in well under a millisecond, so 100 ms means it is stalled (a
 * frozen or dying master), and asking the replicas costs one INFO and GET each.
 */
export const SESSION_HEDGE_MS = 100;

/** Between two rounds of a session check whose master failed at once (see `get`). */
const GET_RETRY_MS = 50;

/** How long a logout waits for every replica to confirm the delete (WAIT): replicas ack at once. */
const LOGOUT_WAIT_MS = 1_000;

export interface SessionStoreOptions {
  /** The Redis replicas, asked while the master cannot answer (none: the master only). */
  readonly replicas?: RedisReplicaReader;
  /** See SESSION_HEDGE_MS (tests may shorten it). */
  readonly hedgeMs?: number;
  /**
   * The connection a logout's delete and WAIT run on (default: the reads' own). WAIT holds its
   * connection for up to LOGOUT_WAIT_MS when a replica does not answer, and session checks must
   * not queue behind it.
   */
  readonly durable?: RedisHandle;
}

function parseSession<T>(raw: string | null): T | undefined {
  if (raw === null) return undefined;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return undefined;
  }
}

/** connected_slaves from the master's `INFO replication` (0 when absent). */
export function connectedReplicas(info: string): number {
  const m = /^connected_slaves:(\d+)/m.exec(info);
  return m ? Number(m[1]) : 0;
}

/**
 * Sessions as JSON strings in Redis under `hastack:<app>:session:<HMAC of the id>`, with a TTL.
 * The id itself is stored nowhere.
 *
 * A session check does not wait for a Redis failover: it asks the master, and when the master is
 * not connected (or has not answered within `hedgeMs`) a replica that was following it within the
 * failover window (`RedisReplicaReader`) answers a session it holds. A replica's "no such
 * session" is not believed (the login may not have reached it): then the master's answer, or its
 * REDIS_UNAVAILABLE after `timeoutMs`, stands; a session that cannot be read is neither a
 * logged-out user nor one to take from anywhere less trustworthy (the cache has no authentication).
 *
 * A logout must not come back from a replica: `destroy` deletes on the master and answers only
 * once every replica connected to it confirmed the delete (WAIT on the same connection), else
 * REDIS_UNAVAILABLE (retry). A replica that was not connected then takes no reads once its link has
 * been down longer than the failover window, and resynchronises (delete included) when it returns.
 */
export function redisSessionStore(redis: RedisHandle, app: string, timeoutMs: number, hmacKey: string, opts: SessionStoreOptions = {}): SessionStore {
  const key = (id: string): string => `hastack:${app}:session:${keyedHash(hmacKey, 'session', id)}`;
  const hedgeMs = opts.hedgeMs ?? SESSION_HEDGE_MS;
  return {
    async get<T extends JsonValue = JsonValue>(id: string): Promise<T | undefined> {
      checkId(id);
      const k = key(id);
      const replicas = opts.replicas;
      if (replicas === undefined) return parseSession<T>(await bounded(timeoutMs, 'session get', redis.client.get(k)));
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const master = bounded(Math.max(1, deadline - Date.now()), 'session get', redis.client.get(k));
        type Outcome = { readonly ok: true; readonly raw: string | null } | { readonly ok: false; readonly error: unknown };
        const settled: Promise<Outcome> = master.then(
          (raw) => ({ ok: true, raw }),
          (error: unknown) => ({ ok: false, error }),
        );
        // A master that is connected gets `hedgeMs`; one that is reconnecting (a failover) none.
        if (redis.status === 'ready') {
          let timer: NodeJS.Timeout | undefined;
          const early = await Promise.race([
            settled,
            new Promise<undefined>((resolve) => {
              timer = setTimeout(() => resolve(undefined), hedgeMs);
            }),
          ]);
          clearTimeout(timer);
          if (early?.ok) return parseSession<T>(early.raw);
        }
        const fromReplica = await replicas.find(k);
        if (fromReplica !== undefined) return parseSession<T>(fromReplica);
        const last = await settled;
        if (last.ok) return parseSession<T>(last.raw);
        // A GET that failed at once ("Connection is closed": the master's client was dropped or
        // replaced mid-failover, just after the promoted replica stopped being one) is asked
        // again: a read is safe to repeat, and the deadline bounds the whole check.
        if (Date.now() + GET_RETRY_MS >= deadline) throw last.error;
        await new Promise((resolve) => setTimeout(resolve, GET_RETRY_MS));
      }
    },
    async set(id: string, data: JsonValue, ttlSeconds: number): Promise<void> {
      checkId(id);
      const ttl = Math.max(1, Math.round(ttlSeconds));
      await bounded(timeoutMs, 'session set', redis.client.set(key(id), JSON.stringify(data), 'EX', ttl));
    },
    async destroy(id: string): Promise<void> {
      checkId(id);
      const k = key(id);
      await bounded(
        timeoutMs,
        'session destroy',
        (async () => {
          const writer = opts.durable ?? redis;
          const c = writer.client;
          // WAIT proves something only about writes on the same socket: note the connection first.
          const generation = writer.generation;
          const r = await c.multi().del(k).info('replication').exec();
          const failed = r?.find(([err]) => err !== null);
          if (!r || failed) throw new HastackError(ErrorCode.REDIS_UNAVAILABLE, `session destroy: ${failed ? describeError(failed[0]) : 'the transaction was aborted'}`);
          const replicas = connectedReplicas(String(r[1]?.[1] ?? ''));
          if (replicas === 0 || opts.replicas === undefined) return;
          const acked = Number(await c.wait(replicas, LOGOUT_WAIT_MS));
          if (acked < replicas || writer.generation !== generation || writer.client !== c) {
            throw new HastackError(
              ErrorCode.REDIS_UNAVAILABLE,
              `session destroy: ${acked} of ${replicas} Redis replicas confirmed the logout within ${LOGOUT_WAIT_MS} ms; retry (the session is deleted on the master, but a replica could still answer for it)`,
            );
          }
        })(),
      );
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
