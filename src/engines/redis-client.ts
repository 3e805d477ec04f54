import { Redis } from 'ioredis';
import { withTimeout } from './common.js';

/**
 * One short-lived admin connection to a Redis or Sentinel process, for probes and admin commands.
 * Internal to src/engines: the HA-aware client the app uses lives in src/clients.
 */
export interface RedisTarget {
  readonly host: string;
  readonly port: number;
  readonly password: string;
}

/**
 * Connects, runs `fn`, and always disconnects. The whole exchange (connect + commands) is bounded
 * by `timeoutMs`, because a frozen (SIGSTOPped) server accepts the TCP connection and then never
 * answers: a connect timeout alone would not end the wait.
 */
export async function withRedis<T>(target: RedisTarget, timeoutMs: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({
    host: target.host,
    port: target.port,
    password: target.password,
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
  const what = `redis at ${target.host}:${target.port}`;
  try {
    return await withTimeout(
      (async () => {
        await client.connect();
        return fn(client);
      })(),
      timeoutMs,
      what,
    );
  } finally {
    client.disconnect();
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
