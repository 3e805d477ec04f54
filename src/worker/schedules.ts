import type { Queue } from 'bullmq';
import type { Schedule } from '../app/index.js';
import { QUEUE_PREFIX, withDeadline, type JobQueue, type RedisHandle } from '../clients/redis/index.js';
import { describeError, ErrorCode, HastackError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';

/**
 * Schedules: one job per tick for the whole cluster, through worker kills and Redis failovers.
 *
 * Neither BullMQ job schedulers nor a leader lock. A BullMQ scheduler writes each next job from
 * whichever worker picked up the previous one, on a connection that cannot WAIT: a Redis failover
 * that loses that one write ends the schedule silently (the scheduler is there, its next job is
 * not), and a tick picked up late makes it skip ticks. A lock needs a holder, and a holder that
 * dies or freezes stops the schedule until its lease runs out.
 *
 * Instead every worker, every TICK_LOOP_MS, computes the tick from the clock (`floor(now/every)
 * * every`) and enqueues it with a job id made of the schedule's name and the tick, then marks
 * the tick done in Redis. Redis refuses a second job with the same id, and the mark (written on
 * the same connection after the job, so present only where the job is) stops a re-enqueue after
 * the finished job was trimmed: one job per tick, however many workers. The previous tick is
 * enqueued too if its mark is missing, so a tick is only missed when no worker could reach a
 * Redis master for a whole period. Workers' clocks must agree to well within a period (NTP).
 */

/** How often each worker looks for due ticks: a tick's job starts at most this late. */
export const TICK_LOOP_MS = 500;

/** The tick `now` falls in: the start of its period, in ms since the epoch. Pure. */
export function tickOf(everyMs: number, now: number): number {
  return Math.floor(now / everyMs) * everyMs;
}

/** Ticks to make sure of at `now`: the previous one (catch-up) and the current one. Pure. */
export function dueTicks(everyMs: number, now: number): [number, number] {
  const t = tickOf(everyMs, now);
  return [t - everyMs, t];
}

/** The job id of one tick: stable, so workers enqueueing the same tick make one job. Pure. */
export function tickJobId(scheduleName: string, tick: number): string {
  // BullMQ job ids may not contain ':' and may not be all digits; schedule names are [A-Za-z0-9._-].
  return `tick-${scheduleName}-${tick}`;
}

function markKey(queue: string, scheduleName: string, tick: number): string {
  return `${QUEUE_PREFIX}:${queue}:tick-done:${scheduleName}:${tick}`;
}

// A Redis command on a live master answers in about a millisecond; past 2 s it is failing over.
const REDIS_STEP_MS = 2_000;

/** Makes sure one tick of one schedule is enqueued; true when it enqueued it just now. */
async function ensureTick(queue: JobQueue, redis: RedisHandle, s: Schedule, tick: number): Promise<boolean> {
  const key = markKey(queue.name, s.name, tick);
  const timeout = (): Error => new HastackError(ErrorCode.REDIS_UNAVAILABLE, `schedule ${s.name}: Redis did not answer within ${REDIS_STEP_MS} ms`);
  const c = redis.client;
  if ((await withDeadline(c.exists(key), REDIS_STEP_MS, timeout)) === 1) return false;
  // Not durable: the mark below decides; if the master dies before replicating both, the new
  // master has neither and the tick is enqueued again there (it cannot have run twice then,
  // unless a worker ran it within that sub-second window: jobs are at-least-once).
  await queue.add(s.job, s.data ?? null, { jobId: tickJobId(s.name, tick), durable: false });
  // Kept for 3 periods (at least 1 min): the catch-up only looks one period back.
  const ttl = Math.max(3 * s.everyMs, 60_000);
  await withDeadline(redis.client.set(key, '1', 'PX', ttl), REDIS_STEP_MS, timeout);
  return true;
}

/** Removes BullMQ job schedulers (the mechanism before this one) so no tick fires twice. */
export async function removeLegacySchedulers(queue: Queue): Promise<string[]> {
  const removed: string[] = [];
  for (const existing of await queue.getJobSchedulers()) {
    const id = existing.id ?? existing.key;
    await queue.removeJobScheduler(id);
    removed.push(id);
  }
  return removed;
}

/** Runs the tick loop until `stop()`. Never throws; failures are logged (rate-limited by the caller's gate). */
export function startTicker(queue: JobQueue, redis: RedisHandle, schedules: readonly Schedule[], log: Logger, gate: (msg: string) => boolean): { stop(): void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let legacyChecked = false;
  const round = async (): Promise<void> => {
    if (!legacyChecked) {
      try {
        const removed = await removeLegacySchedulers(queue.bull());
        if (removed.length > 0) log.info({ removed }, 'removed BullMQ job schedulers (ticks are enqueued by the workers now)');
        legacyChecked = true;
      } catch (e) {
        if (gate(describeError(e))) log.warn({ err: describeError(e) }, 'could not check for old job schedulers; retrying');
      }
    }
    const now = Date.now();
    for (const s of schedules) {
      for (const tick of dueTicks(s.everyMs, now)) {
        try {
          if (await ensureTick(queue, redis, s, tick)) log.debug({ schedule: s.name, tick }, 'tick enqueued');
        } catch (e) {
          if (gate(describeError(e))) log.warn({ schedule: s.name, tick, err: describeError(e) }, 'could not enqueue a tick; retrying');
        }
      }
    }
  };
  const loop = async (): Promise<void> => {
    await round();
    if (!stopped) {
      timer = setTimeout(() => void loop(), TICK_LOOP_MS);
      timer.unref();
    }
  };
  if (schedules.length > 0) void loop();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
