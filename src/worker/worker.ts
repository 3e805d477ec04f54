import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { ServiceContext } from '../registry/index.js';
import { loadApp, migrationsFor, openAppRuntime, queueNameOf, startMigrationRunner, type AppDefinition, type AppRuntime, type JobContext } from '../app/index.js';
import { logGate, QUEUE_PREFIX, redisOptions, withDeadline } from '../clients/redis/index.js';
import { servicesOf } from '../config/index.js';
import { RedisAdminPool, enforceWriteGuard } from '../engines/index.js';
import { closeAll, once, type Closeable } from '../shared/lifecycle.js';
import { describeError } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/log.js';
import { startHealthServer, type HealthAnswer, type HealthServer } from './health.js';
import { ProgressMonitor } from './progress.js';
import { startTicker } from './schedules.js';
import { JobLedger, jobKey } from './job-ledger.js';

export interface WorkerOptions {
  /** Jobs run at once in this process (default 4). */
  readonly concurrency?: number;
  /** At close, wait this long for running jobs before abandoning them to another worker (ms; default 10 s). */
  readonly closeTimeoutMs?: number;
  /** At start, wait this long for migrations before taking jobs anyway (ms; default 20 s). */
  readonly migrationBudgetMs?: number;
}

/**
 * Lock settings for jobs. A worker that dies (SIGKILL, lost node) holds its running jobs until
 * their lock expires; then another worker's stalled check puts them back in the queue.
 * - lockDuration 6 s (BullMQ default 30 s), renewed every 3 s: a killed worker's jobs are free
 *   6 s after its last renewal. A live job loses its lock only if its worker cannot reach Redis
 *   for 6 s in a row, longer than a Sentinel failover (2.5-4 s at down-after 1.5 s); if it does,
 *   the job runs twice, which at-least-once handlers tolerate.
 * - stalledInterval 1 s: how often the workers look for such jobs (one cheap Lua script over the
 *   active list; BullMQ lets one worker check per interval cluster-wide). A job is re-queued at
 *   the first check after its lock expired, and only if an earlier check already saw it: within
 *   lockDuration + 2 × stalledInterval = 8 s of the kill (measured 6.4-6.5 s; 9.2 s with a 2 s interval), inside the
 *   10 s we promise.
 * - maxStalledCount 3 (default 1): chaos runs kill workers repeatedly; a job is failed only after
 *   stalling three times.
 */
const LOCK_DURATION_MS = 6_000;
const STALLED_INTERVAL_MS = 1_000;
const MAX_STALLED_COUNT = 3;
/** How often the worker checks that BullMQ's Redis client has not ended (ENGINE-NOTES). */
const WATCHDOG_MS = 5_000;
/**
 * Liveness bounds (see progress.ts). 60 s holding jobs without finishing one: the ERP's jobs take
 * milliseconds and a database failover stalls a job ~20 s at most, so 60 s is stuck, not slow.
 * 15 s of waiting jobs untaken: several Redis failovers' worth (each ~3 s) plus BullMQ's 5 s
 * blocking wait, so a failover alone never trips it.
 */
const PROGRESS_BOUNDS = { busyStallMs: 60_000, idleStallMs: 15_000 };
/** How often the waiting count is sampled for the liveness verdict (one LLEN-like read). */
const WAITING_SAMPLE_MS = 2_000;
/**
 * How often the Redis write guard is enforced (see engines/redis.ts planWriteGuard): a promoted
 * master must lose a stale guard, and a master that regained its replica get it, within ~1 s.
 */
const GUARD_EVERY_MS = 1_000;
/** The dead-letter view lists at most this many of the newest failed-for-good jobs. */
const FAILED_VIEW_LIMIT = 50;

/**
 * Holds the current BullMQ Worker and replaces it if its Redis client ended by itself (an ioredis
 * race during Sentinel failovers ends clients with "Connection is closed.", see
 * clients/redis/options.ts; BullMQ reconnects its blocking client but not this one).
 */
class WorkerSlot {
  private worker: Worker;
  private mainStatus: () => string = () => 'connecting';
  private closing = false;

  constructor(private readonly make: () => Worker) {
    this.worker = this.start();
  }

  get current(): Worker {
    return this.worker;
  }

  /** ioredis status of the worker's command connection ('ready' when usable). */
  clientStatus(): string {
    return this.mainStatus();
  }

  /** Replaces the worker when its client ended without close(); true when it did. */
  async repairIfEnded(log: Logger): Promise<boolean> {
    if (this.closing || this.mainStatus() !== 'end') return false;
    log.warn('BullMQ worker connection ended by itself; replacing the worker');
    const old = this.worker;
    this.worker = this.start();
    await old.close(true).catch(() => undefined);
    return true;
  }

  async close(timeoutMs: number, log: Logger): Promise<void> {
    this.closing = true;
    const w = this.worker;
    // close() lets running jobs finish; past the bound, force: their locks expire and another
    // worker re-runs them (jobs are idempotent by contract).
    const graceful = w.close().then(() => true);
    const timer = new Promise<false>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref());
    if (!(await Promise.race([graceful, timer]))) {
      log.warn({ timeoutMs }, 'jobs still running at close; abandoning them to other workers');
      await w.close(true);
    }
  }

  private start(): Worker {
    const w = this.make();
    this.mainStatus = () => 'connecting';
    w.client.then(
      (c) => {
        if (w === this.worker) this.mainStatus = () => c.status;
      },
      () => undefined,
    );
    return w;
  }
}

function processorFor(app: AppDefinition, runtime: AppRuntime, log: Logger, progress: ProgressMonitor, ledger: JobLedger) {
  return async (job: Job): Promise<void> => {
    progress.started(Date.now());
    try {
      const handler = app.jobs[job.name];
      if (!handler) throw new UnrecoverableError(`app ${app.name} has no job named "${job.name}"`);
      // job.id is stable across retries and stalled re-runs: the handler's idempotency key.
      const info = { id: job.id ?? '', name: job.name, attempt: job.attemptsMade + 1 };
      const jobLog = log.child({ job: info.name, jobId: info.id, attempt: info.attempt });
      // A copy of a finished job that a Redis failover brought back (job-ledger.ts). Unreadable
      // (no database): the job fails and is retried, as its handler's own queries would fail.
      const key = jobKey(job);
      if (await ledger.isDone(key)) {
        jobLog.info('already done: a copy a Redis failover brought back; not run again');
        return;
      }
      const ctx: JobContext = { ...runtime.context(jobLog), job: info };
      await handler(job.data as unknown, ctx);
      await ledger.recordDone(key).catch((e: unknown) => jobLog.warn({ err: describeError(e) }, 'job done, but not recorded as done: a Redis failover now could run it again'));
    } finally {
      progress.finished(Date.now());
    }
  };
}

/** Jobs that failed for good (attempts spent, or unrecoverable): the dead-letter view. */
async function failedJobs(runtime: AppRuntime): Promise<HealthAnswer> {
  const q = runtime.queue.bull();
  // 2 s: a live master answers at once; this view is for a human, not for a probe.
  const timeout = (): Error => new Error('Redis did not answer within 2000 ms');
  const [count, jobs] = await withDeadline(Promise.all([q.getFailedCount(), q.getFailed(0, FAILED_VIEW_LIMIT - 1)]), 2_000, timeout);
  return {
    ok: true,
    body: {
      queue: runtime.queue.name,
      failed: count,
      newest: jobs.map((j) => ({
        id: j.id,
        name: j.name,
        attempts: j.attemptsMade,
        reason: j.failedReason,
        failedAt: j.finishedOn ? new Date(j.finishedOn).toISOString() : null,
        data: j.data as unknown,
      })),
    },
  };
}

/** Runs `fn` every `everyMs` (never overlapping itself) until stopped. `fn` must not throw. */
function every(everyMs: number, fn: () => Promise<void>): { stop(): void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const loop = async (): Promise<void> => {
    await fn();
    if (stopped) return;
    timer = setTimeout(() => void loop(), everyMs);
    timer.unref();
  };
  timer = setTimeout(() => void loop(), everyMs);
  timer.unref();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/**
 * Runs the cluster app's jobs: a BullMQ Worker (concurrency 4) on the app's queue over the
 * Sentinel-aware connection, schedules synced once per start, and `GET /healthz` on
 * `svc.address:svc.port` (200 with the Redis status, 503 when Redis cannot be reached).
 */
export async function startWorker(ctx: ServiceContext, opts: WorkerOptions = {}): Promise<Closeable> {
  const node = ctx.svc.node;
  const log = createLogger('worker', { node });
  const app = await loadApp(ctx.topo);
  const runtime = openAppRuntime(ctx, app, log, 'worker');
  let migrationsOk = false;
  const migrations = startMigrationRunner(runtime.db, migrationsFor(ctx.topo, app), log, opts.migrationBudgetMs ?? 20_000, (ok) => {
    migrationsOk = ok;
  });
  await migrations.settled;

  const concurrency = opts.concurrency ?? 4;
  const progress = new ProgressMonitor(PROGRESS_BOUNDS, concurrency, Date.now());
  const processor = processorFor(app, runtime, log, progress, new JobLedger(runtime.db));
  const errorGate = logGate();
  const slot = new WorkerSlot(() => {
    const w = new Worker(queueNameOf(app), processor, {
      connection: redisOptions(ctx.topo, ctx.secrets, `hastack-worker-${node}-bullmq`),
      prefix: QUEUE_PREFIX,
      concurrency,
      lockDuration: LOCK_DURATION_MS,
      stalledInterval: STALLED_INTERVAL_MS,
      maxStalledCount: MAX_STALLED_COUNT,
    });
    // BullMQ re-emits its clients' errors here; without a listener they would crash the process.
    w.on('error', (e: Error) => {
      if (errorGate(describeError(e))) log.warn({ err: describeError(e) }, 'worker error (reconnecting)');
    });
    w.on('failed', (job, e: Error) => {
      const final = job !== undefined && (e instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1));
      log.warn(
        { job: job?.name, jobId: job?.id, attempt: job?.attemptsMade, final, err: describeError(e) },
        final ? 'job failed for good (see GET /jobs/failed)' : 'job failed; will retry',
      );
    });
    // Emitted by the worker whose stalled check re-queued a job a dead worker held.
    w.on('stalled', (jobId: string) => log.warn({ jobId }, 'job stalled (its worker died or froze); re-queued'));
    return w;
  });
  const gate = logGate();
  const ticker = startTicker(runtime.queue, runtime.redis, app.schedules, log, gate);
  const watchdog = setInterval(() => void slot.repairIfEnded(log), WATCHDOG_MS);
  watchdog.unref();
  const sampler = every(WAITING_SAMPLE_MS, async () => {
    const q = runtime.queue.bull();
    // 1 s: a live master answers at once; unknown (failing over) resets the idle verdict.
    const waiting = await withDeadline(q.getWaitingCount(), 1_000, () => new Error('timeout')).catch(() => undefined);
    progress.sampleWaiting(waiting, Date.now());
  });
  // The Redis write guard follows the roles; only with Sentinels (a lone Redis has no replica).
  // Its connections stay open between rounds (RedisAdminPool) rather than one per node a second.
  const guardConns = new RedisAdminPool(`hastack-worker-${node}-guard`);
  const guardLoop =
    servicesOf(ctx.topo, 'sentinel').length === 0
      ? { stop: () => undefined }
      : every(GUARD_EVERY_MS, async () => {
          try {
            for (const a of await enforceWriteGuard(ctx.topo, ctx.secrets, guardConns.run)) {
              log.info({ redis: `${a.addr.host}:${a.addr.port}`, minReplicasToWrite: a.minReplicasToWrite, why: a.why }, 'redis write guard changed');
            }
          } catch (e) {
            if (gate(describeError(e))) log.warn({ err: describeError(e) }, 'could not enforce the redis write guard');
          }
        });

  // Healthy = making progress (progress.ts). Redis being unreachable for a while is reported in
  // the body but is no reason for a restart: a failover passes, and a new process would not help.
  const check = async (): Promise<HealthAnswer> => {
    // 500 ms: the supervisor's probe budget is short and a live master answers PING at once.
    const reachable = await runtime.redis.ping(500);
    const clientStatus = slot.clientStatus();
    const verdict = progress.verdict(Date.now());
    return {
      ok: verdict.ok,
      body: {
        status: !verdict.ok ? verdict.detail : reachable ? 'ok' : 'redis-unreachable',
        node,
        queue: queueNameOf(app),
        progress: verdict.detail,
        redis: { reachable, client: runtime.redis.status, worker: clientStatus },
        running: slot.current.isRunning(),
        migrations: migrationsOk ? 'applied' : 'pending',
      },
    };
  };
  const stopLoops = (): void => {
    clearInterval(watchdog);
    ticker.stop();
    sampler.stop();
    guardLoop.stop();
    guardConns.close();
  };
  let health: HealthServer;
  try {
    health = await startHealthServer(ctx.svc.address, ctx.svc.port, check, { '/jobs/failed': () => failedJobs(runtime) });
  } catch (e) {
    stopLoops();
    migrations.stop();
    await closeAll([() => slot.close(0, log), () => runtime.close()]).catch(() => undefined);
    throw e;
  }
  log.info({ app: app.name, queue: queueNameOf(app), concurrency }, 'worker started');

  const closeTimeoutMs = opts.closeTimeoutMs ?? 10_000;
  const close = once(async () => {
    stopLoops();
    migrations.stop();
    try {
      await closeAll([() => slot.close(closeTimeoutMs, log), () => runtime.close(), () => health.close()]);
    } finally {
      log.info('worker closed');
    }
  });
  return { close };
}
