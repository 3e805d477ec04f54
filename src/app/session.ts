import { describeError, ErrorCode, HastackError } from '../shared/errors.js';
import { withDeadline, type RedisHandle } from '../clients/redis/index.js';
import type { JsonValue, SessionStore } from './contract.js';

const ID = /^[A-Za-z0-9_-]{8,128}$/;

function checkId(id: string): void {
  if (!ID.test(id)) throw new HastackError(ErrorCode.BAD_REQUEST, 'session id must be 8-128 letters, digits, _ or -');
}

/**
 * Sessions as JSON strings in Redis under `hastack:<app>:session:<id>`, with a TTL. Every call is
 * bounded by `timeoutMs` (a Redis failover takes a few seconds) and then fails with
 * REDIS_UNAVAILABLE: a session that cannot be read is not silently treated as logged out.
 */
export function redisSessionStore(redis: RedisHandle, app: string, timeoutMs: number): SessionStore {
  const key = (id: string): string => `hastack:${app}:session:${id}`;
  const bounded = <T>(what: string, p: Promise<T>): Promise<T> =>
    withDeadline(p, timeoutMs, () => new HastackError(ErrorCode.REDIS_UNAVAILABLE, `session ${what}: Redis did not answer within ${timeoutMs} ms`)).catch(
      (e: unknown) => {
        if (e instanceof HastackError) throw e;
        throw new HastackError(ErrorCode.REDIS_UNAVAILABLE, `session ${what}: ${describeError(e)}`, { cause: e });
      },
    );
  return {
    async get<T extends JsonValue = JsonValue>(id: string): Promise<T | undefined> {
      checkId(id);
      const raw = await bounded('get', redis.client.get(key(id)));
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
      await bounded('set', redis.client.set(key(id), JSON.stringify(data), 'EX', ttl));
    },
    async destroy(id: string): Promise<void> {
      checkId(id);
      await bounded('destroy', redis.client.del(key(id)));
    },
  };
}
