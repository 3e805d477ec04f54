import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { ServiceContext } from '../engines/types.js';
import { loadApp, openAppRuntime, queueNameOf, startMigrationRunner, type AppDefinition, type AppRuntime, type JobContext } from '../app/index.js';
import { logGate, QUEUE_PREFIX, redisOptions } from '../clients/redis/index.js';
import { closeAll, once, type Closeable } from '../shared/lifecycle.js';
import { describeError } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/log.js';
import { backoffMs, sleep } from '../shared/retry.js';
import { startHealthServer, type HealthAnswer, type HealthServer } from './health.js';
import { restoreMissingSchedules, syncSchedules } from './schedules.js';

export interface WorkerOptions {
  /** Jobs run at once in this process (default 4). */
  readonly concurrency?: number;
  /** At close, wait this long for running jobs before abandoning them to another worker (ms; default 10 s). */
  readonly closeTimeoutMs?: number;
  /** At start, wait this long for migrations before taking jobs anyway (ms; default 20 s). */
  readonly migrationBudgetMs?: number;
  /** How often to check that the app's schedules still exist in Redis (ms; default 30 s, a few Redis reads). */
  readonly scheduleCheckMs?: number;
}

/**
 * Lock settings for jobs. A worker that dies (SIGKILL, lost node) holds its running jobs until
 * their lock expires; then another worker's stalled check puts them back in the queue.
 * - lockDuration 10 s (BullMQ default 30 s): recovery within ~15 s; renewed every 5 s, so only a
 *   10 s stall of the process or of Redis (a failover takes ~3 s) lets a live job be re-run,
 *   which idempotent jobs tolerate.
 * - stalledInterval 5 s: how often each worker looks for such jobs.
 * - maxStalledCount 3 (default 1): chaos runs kill workers repeatedly; a job is failed only after
 *   stalling three times.
 */
const LOCK_DURATION_MS = 10_000;
const STALLED_INTERVAL_MS = 5_000;
const MAX_STALLED_COUNT = 3;
/** How often the worker checks that BullMQ's Redis client has not ended (ENGINE-NOTES). */
const WATCHDOG_MS = 5_000;

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

function processorFor(app: AppDefinition, runtime: AppRuntime, log: Logger) {
  return async (job: Job): Promise<void> => {
    const handler = app.jobs[job.name];
    if (!handler) throw new UnrecoverableError(`app ${app.name} has no job named "${job.name}"`);
    const info = { id: job.id ?? '', name: job.name, attempt: job.attemptsMade + 1 };
    const jobLog = log.child({ job: info.name, jobId: info.id, attempt: info.attempt });
    const ctx: JobContext = { ...runtime.context(jobLog), job: info };
    await handler(job.data as unknown, ctx);
  };
}

/**
 * Keeps the app's schedules in Redis: a full sync at start (retried while Redis is failing
 * over), then every `checkEveryMs` re-creates any that went missing.
 */
function scheduleKeeper(runtime: AppRuntime, app: AppDefinition, log: Logger, checkEveryMs: number): { stop(): void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const check = async (): Promise<void> => {
    try {
      const restored = await restoreMissingSchedules(runtime.queue.bull(), app.schedules);
      if (restored.length > 0) log.warn({ restored }, 'schedules were missing from Redis (data lost?); re-created');
    } catch (e) {
      log.warn({ err: describeError(e) }, 'could not check schedules');
    }
    if (!stopped) {
      timer = setTimeout(() => void check(), checkEveryMs);
      timer.unref();
    }
  };
  void (async () => {
    for (let attempt = 0; !stopped; attempt++) {
      try {
        const r = await syncSchedules(runtime.queue.bull(), app.schedules);
        log.info(r, 'schedules in place');
        break;
      } catch (e) {
        log.warn({ err: describeError(e) }, 'could not sync schedules; retrying');
        // 500 ms doubling to 10 s: Redis failovers take seconds; an outage should not spam.
        await sleep(backoffMs(attempt, 500, 10_000));
      }
    }
    if (!stopped && app.schedules.length > 0) {
      timer = setTimeout(() => void check(), checkEveryMs);
      timer.unref();
    }
  })();
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
  const migrations = startMigrationRunner(runtime.db, app, log, opts.migrationBudgetMs ?? 20_000, (ok) => {
    migrationsOk = ok;
  });
  await migrations.settled;

  const processor = processorFor(app, runtime, log);
  const concurrency = opts.concurrency ?? 4;
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
    w.on('failed', (job, e: Error) =>
      log.warn({ job: job?.name, jobId: job?.id, attempt: job?.attemptsMade, err: describeError(e) }, 'job failed'),
    );
    return w;
  });
  const schedules = scheduleKeeper(runtime, app, log, opts.scheduleCheckMs ?? 30_000);
  const watchdog = setInterval(() => void slot.repairIfEnded(log), WATCHDOG_MS);
  watchdog.unref();

  const check = async (): Promise<HealthAnswer> => {
    // 500 ms: the supervisor's probe budget is short and a live master answers PING at once.
    const reachable = await runtime.redis.ping(500);
    const clientStatus = slot.clientStatus();
    const ok = reachable && clientStatus !== 'end';
    return {
      ok,
      body: {
        status: ok ? 'ok' : 'redis-unreachable',
        node,
        queue: queueNameOf(app),
        redis: { reachable, client: runtime.redis.status, worker: clientStatus },
        running: slot.current.isRunning(),
        migrations: migrationsOk ? 'applied' : 'pending',
      },
    };
  };
  let health: HealthServer;
  try {
    health = await startHealthServer(ctx.svc.address, ctx.svc.port, check);
  } catch (e) {
    clearInterval(watchdog);
    schedules.stop();
    migrations.stop();
    await closeAll([() => slot.close(0, log), () => runtime.close()]).catch(() => undefined);
    throw e;
  }
  log.info({ app: app.name, queue: queueNameOf(app), concurrency }, 'worker started');

  const closeTimeoutMs = opts.closeTimeoutMs ?? 10_000;
  const close = once(async () => {
    clearInterval(watchdog);
    schedules.stop();
    migrations.stop();
    try {
      await closeAll([() => slot.close(closeTimeoutMs, log), () => runtime.close(), () => health.close()]);
    } finally {
      log.info('worker closed');
    }
  });
  return { close };
}
