import type { Secrets } from '../../config/index.js';
import { withRedis } from '../../engines/index.js';
import type { QueueSnapshot } from './types.js';

/**
 * BullMQ's key prefix in hastack (QUEUE_PREFIX in src/clients/redis/queue.ts), repeated here so the
 * supervisor, which serves the dashboard, does not load BullMQ for one string.
 */
const PREFIX = 'hastack';
/** SCAN rounds to find the queues: the keyspace of a hastack Redis is small; this bounds a big one. */
const MAX_SCAN_ROUNDS = 20;

/** `hastack:<queue>:meta` → `<queue>`; BullMQ writes that hash once per queue. Pure. */
export function queueNameOfMetaKey(key: string): string | undefined {
  if (!key.startsWith(`${PREFIX}:`) || !key.endsWith(':meta')) return undefined;
  const name = key.slice(PREFIX.length + 1, -':meta'.length);
  return name === '' ? undefined : name;
}

/**
 * The depth of every BullMQ queue on the Redis master at `address:port`: six O(1) commands per
 * queue in one pipeline, on one short-lived connection bounded by `timeoutMs` (a frozen master
 * accepts the connection and never answers). Returns [] when the master cannot be read.
 */
export async function queueSnapshots(address: string, port: number, secrets: Secrets, timeoutMs: number): Promise<QueueSnapshot[]> {
  try {
    return await withRedis({ host: address, port, password: secrets.redisPassword }, timeoutMs, async (r) => {
      const names = new Set<string>();
      let cursor = '0';
      for (let i = 0; i < MAX_SCAN_ROUNDS; i++) {
        const [next, keys] = await r.scan(cursor, 'MATCH', `${PREFIX}:*:meta`, 'COUNT', 1000);
        for (const k of keys) {
          const n = queueNameOfMetaKey(k);
          if (n !== undefined) names.add(n);
        }
        cursor = next;
        if (cursor === '0') break;
      }
      const out: QueueSnapshot[] = [];
      for (const name of [...names].sort()) {
        const k = `${PREFIX}:${name}`;
        const res = await r.pipeline().llen(`${k}:wait`).zcard(`${k}:prioritized`).llen(`${k}:active`).zcard(`${k}:delayed`).zcard(`${k}:failed`).get(`${k}:id`).exec();
        const v = (i: number): number => Number(res?.[i]?.[1] ?? 0) || 0;
        out.push({ name, waiting: v(0) + v(1), active: v(2), delayed: v(3), failed: v(4), created: v(5) });
      }
      return out;
    });
  } catch {
    return [];
  }
}
