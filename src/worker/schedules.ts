import type { Queue } from 'bullmq';
import type { Schedule } from '../app/index.js';

/**
 * Makes the queue's job schedulers match the app's schedules: upsert each (BullMQ job
 * schedulers enqueue one job per tick for the whole cluster, however many workers upsert them),
 * then remove schedulers the app no longer lists. Idempotent: every worker runs it at start.
 */
export async function syncSchedules(queue: Queue, schedules: readonly Schedule[]): Promise<{ upserted: string[]; removed: string[] }> {
  const upserted: string[] = [];
  for (const s of schedules) {
    await queue.upsertJobScheduler(s.name, { every: s.everyMs }, { name: s.job, data: s.data ?? null });
    upserted.push(s.name);
  }
  const wanted = new Set(schedules.map((s) => s.name));
  const removed: string[] = [];
  for (const existing of await queue.getJobSchedulers()) {
    const id = existing.id ?? existing.key;
    if (!wanted.has(id)) {
      await queue.removeJobScheduler(id);
      removed.push(id);
    }
  }
  return { upserted, removed };
}

/**
 * Re-creates schedules missing from Redis (returns their names). A scheduler lives in Redis
 * only; if Redis lost data (a failover before replication, a restart without persistence) the
 * schedule would otherwise stay gone until the next worker start.
 */
export async function restoreMissingSchedules(queue: Queue, schedules: readonly Schedule[]): Promise<string[]> {
  const restored: string[] = [];
  for (const s of schedules) {
    if ((await queue.getJobScheduler(s.name)) !== undefined) continue;
    await queue.upsertJobScheduler(s.name, { every: s.everyMs }, { name: s.job, data: s.data ?? null });
    restored.push(s.name);
  }
  return restored;
}
