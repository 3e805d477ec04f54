import { Queue, type Job } from 'bullmq';
import { controllerNode, readSecrets, substrateTraits, type Topology } from '../config/index.js';
import { loadApp, queueNameOf } from '../app/index.js';
import { createRedisHandle, QUEUE_PREFIX, withDeadline } from '../clients/redis/index.js';
import { appendEvent } from '../shared/events.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { createLogger } from '../shared/log.js';
import { requireRunning } from './running.js';
import { loadRunningTopology, type ConfigOptions } from './config-source.js';
import { invokedAs, isJson, table, type OutputOptions } from './output.js';
import { jobsRetryDocument, retryLine, writeJson, type RetryEntry } from './plan-json.js';

/*
 * The dead-letter view for operators: jobs that failed for good (every attempt used), read
 * straight from the cluster's Redis master (found through Sentinel, like the workers do), and
 * `retry` to run them again once the cause is fixed. Handlers are idempotent by job id (the
 * at-least-once contract), so retrying a job that half-ran before failing is safe.
 */

// 5 s: a live master answers at once; past that Redis is failing over or down, and the operator
// is better told so than left waiting.
const REDIS_DEADLINE_MS = 5_000;

interface QueueAccess {
  readonly topo: Topology;
  readonly queue: Queue;
  readonly name: string;
  close(): Promise<void>;
}

async function openQueue(opts: ConfigOptions): Promise<QueueAccess> {
  const topo = loadRunningTopology(opts);
  // A stopped cluster is said to be stopped at once, not after Redis's deadline.
  requireRunning(topo, opts);
  // Where nodes are machines of their own, Redis and Sentinel answer only the cluster's nodes
  // (src/hosts/firewall.ts): say so rather than time out.
  if (substrateTraits(topo.config).nodesAreMachines && !(await import('../audit/gather.js')).thisMachineIsNode(topo)) {
    throw new HastackError(
      ErrorCode.BAD_REQUEST,
      `on real hosts Redis answers only the cluster's nodes, and this machine is none: run it on one of them (ssh to ${controllerNode(topo.config, topo.nodes).name}, then ${topo.config.hosts.installDir}/bin/hastack jobs ...)`,
    );
  }
  const app = await loadApp(topo);
  const name = queueNameOf(app);
  // Quiet logger: this is a one-shot CLI whose output is the table, not client logs.
  const log = createLogger('jobs');
  log.level = 'error';
  const handle = createRedisHandle(topo, readSecrets(topo.stateDir), 'hastack-cli-jobs', log);
  const queue = new Queue(name, { connection: handle.client, prefix: QUEUE_PREFIX });
  queue.on('error', () => undefined); // reported through the deadline instead
  return {
    topo,
    queue,
    name,
    async close() {
      await queue.close().catch(() => undefined);
      await handle.close();
    },
  };
}

function deadline<T>(p: Promise<T>): Promise<T> {
  return withDeadline(
    p,
    REDIS_DEADLINE_MS,
    () =>
      new HastackError(
        ErrorCode.REDIS_UNAVAILABLE,
        `the Redis master did not answer within ${REDIS_DEADLINE_MS} ms; check "${invokedAs()} status" (a failover may be in progress) and try again`,
      ),
  );
}

function oneLine(v: unknown, max: number): string {
  const s = (typeof v === 'string' ? v : (JSON.stringify(v) ?? '')).replace(/\s+/g, ' ');
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export interface FailedJobView {
  readonly id: string;
  readonly name: string;
  readonly attempts: number;
  readonly failedAt: string | null;
  readonly reason: string;
  readonly data: unknown;
}

export function failedJobView(j: Job): FailedJobView {
  return {
    id: String(j.id),
    name: j.name,
    attempts: j.attemptsMade,
    failedAt: j.finishedOn ? new Date(j.finishedOn).toISOString() : null,
    reason: j.failedReason ?? '',
    data: j.data as unknown,
  };
}

/** `hastack jobs failed`: counts by state, then the newest jobs that failed for good. */
export async function jobsFailed(opts: ConfigOptions & { limit: number; json?: boolean }): Promise<void> {
  const q = await openQueue(opts);
  try {
    const [counts, jobs] = await deadline(
      Promise.all([q.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed'), q.queue.getFailed(0, Math.max(1, opts.limit) - 1)]),
    );
    const views = jobs.map(failedJobView);
    if (opts.json) {
      process.stdout.write(JSON.stringify({ queue: q.name, counts, failed: views }, null, 2) + '\n');
      return;
    }
    const summary = Object.entries(counts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    process.stdout.write(`queue ${q.name}: ${summary}\n`);
    if (views.length === 0) {
      process.stdout.write('no job has failed for good\n');
      return;
    }
    const rows = [['ID', 'JOB', 'ATTEMPTS', 'FAILED AT', 'REASON', 'DATA']];
    for (const v of views) rows.push([v.id, v.name, String(v.attempts), v.failedAt ?? '-', oneLine(v.reason, 60), oneLine(v.data, 40)]);
    process.stdout.write(`\n${table(rows)}\n\nrun them again once the cause is fixed: ${invokedAs()} jobs retry <ID...> (or --all)\n`);
  } finally {
    await q.close();
  }
}

/**
 * `hastack jobs retry`: moves failed jobs back to waiting, with their attempts reset. Safe to
 * re-run: a job no longer in the failed set (already retried, or removed) is reported and skipped.
 * Under `-o json`: one document of the jobs looked at and what was (or would be) done.
 */
export async function jobsRetry(ids: readonly string[], opts: ConfigOptions & OutputOptions & { all?: boolean; dryRun?: boolean }): Promise<void> {
  if (ids.length === 0 && !opts.all) {
    throw new HastackError(ErrorCode.USAGE, `name the jobs to retry (ids from "${invokedAs()} jobs failed") or pass --all`);
  }
  const dryRun = opts.dryRun === true;
  const json = isJson(opts);
  const say = (line: string): void => void (json ? undefined : process.stdout.write(`${line}\n`));
  const q = await openQueue(opts);
  try {
    const jobs: (Job | undefined)[] = opts.all ? await deadline(q.queue.getFailed(0, -1)) : await deadline(Promise.all(ids.map((id) => q.queue.getJob(id))));
    const entries: RetryEntry[] = [];
    for (const [i, job] of jobs.entries()) {
      const id = String(job?.id ?? ids[i] ?? '?');
      const state = job ? await deadline(job.getState()) : 'missing';
      const entry: RetryEntry = { id, name: job?.name ?? null, state, action: job && state === 'failed' ? 'retry' : 'skip' };
      entries.push(entry);
      if (job && entry.action === 'retry' && !dryRun) {
        await deadline(job.retry('failed'));
        appendEvent(q.topo.stateDir, { type: 'step', message: `job ${id} (${job.name}) retried by an operator`, data: { queue: q.name, jobId: id } });
      }
      say(retryLine(entry, dryRun));
    }
    if (json) writeJson(jobsRetryDocument(q.name, entries, dryRun));
    else say(dryRun ? 'dry run: nothing changed' : `${entries.filter((e) => e.action === 'retry').length} job(s) moved back to waiting`);
  } finally {
    await q.close();
  }
}
