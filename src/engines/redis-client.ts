import { Redis } from 'ioredis';
import { withTimeout } from './common.js';

/**
 * Admin connections to a Redis or Sentinel process, for probes and admin commands: one per call
 * (`withRedis`), or kept between the rounds of a periodic check (`RedisAdminPool`). Internal to
 * src/engines: the HA-aware client the app uses lives in src/clients.
 */
export interface RedisTarget {
  readonly host: string;
  readonly port: number;
  readonly password: string;
}

/** Runs `fn` on a connection to `target`, the whole exchange bounded by `timeoutMs`. */
export type RedisRun = <T>(target: RedisTarget, timeoutMs: number, fn: (r: Redis) => Promise<T>) => Promise<T>;

function adminClient(target: RedisTarget, timeoutMs: number, connectionName?: string): Redis {
  const client = new Redis({
    host: target.host,
    port: target.port,
    password: target.password,
    ...(connectionName !== undefined ? { connectionName } : {}),
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    // One attempt and no queueing: an admin call reports what it saw; retrying is the caller's policy.
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    // The ready check polls INFO until a loading server finishes; a probe wants to see LOADING instead.
    enableReadyCheck: false,
    // CLIENT SETINFO exists from Redis 7.2; Debian 12 ships 7.0, which answers it with an error.
    disableClientInfo: true,
    autoResubscribe: false,
    autoResendUnfulfilledCommands: false,
  });
  // Every client gets an error listener: without one, a refused connection is an unhandled 'error'
  // event and takes the whole process down (ENGINE-NOTES: attach error listeners to every client).
  client.on('error', () => undefined);
  return client;
}

const what = (target: RedisTarget): string => `redis at ${target.host}:${target.port}`;

/**
 * Connects, runs `fn`, and always disconnects. The whole exchange (connect + commands) is bounded
 * by `timeoutMs`, because a frozen (SIGSTOPped) server accepts the TCP connection and then never
 * answers: a connect timeout alone would not end the wait.
 */
export const withRedis: RedisRun = async (target, timeoutMs, fn) => {
  const client = adminClient(target, timeoutMs);
  try {
    return await withTimeout(
      (async () => {
        await client.connect();
        return fn(client);
      })(),
      timeoutMs,
      what(target),
    );
  } finally {
    client.disconnect();
  }
};

/**
 * Admin connections kept open between the rounds of a check that runs every second (the worker's
 * write guard, the redis-endpoint's master poll): with `withRedis` each round opened and
 * authenticated a new connection to every Sentinel and Redis, 86,400 a day per server for each
 * poller (an idle `ideal` cluster's two workers: 120 a minute on every Redis and Sentinel; with
 * the pool, none). A connection is kept only while it works: any failure or timeout (a frozen or cut-off
 * server never answers; a restarted one closed it) drops it, and the next round connects anew,
 * exactly as `withRedis` would. Each round stays bounded by its `timeoutMs` as with `withRedis`.
 */
export class RedisAdminPool {
  readonly #conns = new Map<string, { readonly password: string; readonly client: Redis; readonly ready: Promise<void> }>();
  #closed = false;

  /** `connectionName`: CLIENT SETNAME, so `CLIENT LIST` on the server says who holds it. */
  constructor(private readonly connectionName: string) {}

  readonly run: RedisRun = async (target, timeoutMs, fn) => {
    if (this.#closed) return withRedis(target, timeoutMs, fn);
    const key = `${target.host}:${target.port}`;
    let conn = this.#conns.get(key);
    if (conn !== undefined && (conn.password !== target.password || conn.client.status === 'end' || conn.client.status === 'close')) {
      this.#drop(key, conn.client);
      conn = undefined;
    }
    if (conn === undefined) {
      const client = adminClient(target, timeoutMs, this.connectionName);
      const ready = client.connect();
      ready.catch(() => undefined);
      conn = { password: target.password, client, ready };
      this.#conns.set(key, conn);
    }
    const { client, ready } = conn;
    try {
      return await withTimeout(
        (async () => {
          await ready;
          return fn(client);
        })(),
        timeoutMs,
        what(target),
      );
    } catch (e) {
      this.#drop(key, client);
      throw e;
    }
  };

  #drop(key: string, client: Redis): void {
    if (this.#conns.get(key)?.client === client) this.#conns.delete(key);
    client.disconnect();
  }

  /** Closes every kept connection; later rounds fall back to one connection per call. */
  close(): void {
    this.#closed = true;
    for (const [key, c] of this.#conns) this.#drop(key, c.client);
  }
}

/** A Redis reply that should be an array of bulk strings / integers, flattened to strings. */
export function asStringArray(reply: unknown): string[] {
  if (!Array.isArray(reply)) return [];
  return reply.map((v) => (v === null || v === undefined ? '' : String(v)));
}

/** `[k1, v1, k2, v2, ...]` (the shape of SENTINEL MASTER / SENTINEL REPLICAS entries) to a record. */
export function flatPairs(reply: unknown): Record<string, string> {
  const arr = asStringArray(reply);
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < arr.length; i += 2) {
    const k = arr[i];
    const v = arr[i + 1];
    if (k !== undefined && v !== undefined) out[k] = v;
  }
  return out;
}
