import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { describeError, ErrorCode, HastackError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { withDeadline } from './deadline.js';
import type { RedisHandle } from './handle.js';
import { logGate } from './log-gate.js';

/**
 * BullMQ key prefix: every queue key is `hastack:<queue>:...`. (BullMQ forbids ':' in queue
 * names, so "hastack:<app>" is spelled as prefix + name.)
 */
export const QUEUE_PREFIX = 'hastack';

export interface EnqueueOptions {
  /**
   * Idempotent enqueue: while a job with this id exists (waiting, active, or kept after it
   * finished), adding it again returns the existing job. Not all digits, no ':' (BullMQ rules).
   */
  readonly jobId?: string;
  readonly delayMs?: number;
  readonly attempts?: number;
  /**
   * On by default (when the topology has a Redis replica): resolve only once a Redis replica has acknowledged the job (WAIT 1 on the
   * connection that wrote it), else reject with QUEUE_NOT_DURABLE. With no replica left (after a
   * failover, until the old master rejoins) every durable enqueue rejects: the caller must then
   * not report the job as queued. `false` accepts a job that a master crash can lose.
   */
  readonly durable?: boolean;
  /**
   * How long this enqueue waits for a Redis master, at most the queue's own bound (which rides
   * out a whole Sentinel failover). Shorter for a caller that has another way to get the job
   * done and must not hold its answer that long (the ERP's order: its sweep invoices it).
   */
  readonly timeoutMs?: number;
}

export interface EnqueueResult {
  readonly id: string;
}

/**
 * WAIT's own bound: a connected replica acknowledges within a millisecond or two on a LAN (the
 * master asks for the ACK at once, it does not wait for the replica's 1 s heartbeat); 500 ms
 * leaves room for a busy 2-core machine, and is what an enqueue costs when no replica answers.
 */
const WAIT_MS = 500;
/** Our bound around WAIT: a frozen master never answers it at all. */
const WAIT_DEADLINE_MS = WAIT_MS + 1_000;

/** Defaults every job gets unless the caller overrides them. */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  // 5 attempts, 1 s doubling (1+2+4+8 s): outlives a database or Redis failover (seconds) while
  // a job that is truly broken fails within ~15 s and is kept for inspection.
  attempts: 5,
  backoff: { type: 'exponential', delay: 1_000 },
  // Keep finished jobs an hour (up to 10k) so an enqueue repeated with the same jobId within
  // that hour is recognised and not run again.
  removeOnComplete: { age: 3_600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3_600 },
};

// Rejected by BullMQ (custom ids may not look like integers; ':' is reserved), checked up front
// so the caller gets one clear error instead of a failed Lua script.
function checkJobId(id: string): void {
  if (id === '' || /^\d+$/.test(id) || id.includes(':') || id.length > 200) {
    throw new HastackError(ErrorCode.APP_INVALID, `jobId "${id}" is not allowed: use 1-200 characters, not only digits, no ':' (for example "confirm-42")`);
  }
}

/**
 * A BullMQ queue over a RedisHandle's client. When the handle replaced a stuck client, the next
 * `add` rebuilds the BullMQ Queue on the new one. Every `add` is bounded by `timeoutMs`: past it
 * the caller gets REDIS_UNAVAILABLE (the add may still happen later; with a jobId that is
 * harmless).
 */
export class JobQueue {
  private queue: Queue | undefined;
  private boundTo: Redis | undefined;
  private closed = false;
  private readonly errorGate = logGate();

  constructor(
    private readonly handle: RedisHandle,
    readonly name: string,
    private readonly opts: {
      readonly timeoutMs: number;
      readonly log: Logger;
      /**
       * Whether `add` waits for a replica unless told otherwise: true wherever a replica exists.
       * A topology with a single Redis has none to wait for; there every durable enqueue would fail.
       */
      readonly durableByDefault: boolean;
    },
  ) {
    if (name === '' || name.includes(':')) {
      throw new HastackError(ErrorCode.APP_INVALID, `queue name "${name}" must be non-empty and without ':'`);
    }
  }

  async add(jobName: string, data: unknown, opts: EnqueueOptions = {}): Promise<EnqueueResult> {
    if (this.closed) throw new HastackError(ErrorCode.REDIS_UNAVAILABLE, `queue ${this.name} is closed (the process is shutting down)`);
    if (opts.jobId !== undefined) checkJobId(opts.jobId);
    const q = this.bull();
    // The client and connection generation before the write: WAIT only proves something about
    // writes made on the same socket, so a reconnect between the add and the WAIT voids it.
    const writer = this.handle.client;
    const generation = this.handle.generation;
    const jobOpts: JobsOptions = {
      ...(opts.jobId === undefined ? {} : { jobId: opts.jobId }),
      ...(opts.delayMs === undefined ? {} : { delay: opts.delayMs }),
      ...(opts.attempts === undefined ? {} : { attempts: opts.attempts }),
    };
    const timeoutMs = Math.min(opts.timeoutMs ?? this.opts.timeoutMs, this.opts.timeoutMs);
    const job = await withDeadline(
      q.add(jobName, data, jobOpts),
      timeoutMs,
      () => new HastackError(ErrorCode.REDIS_UNAVAILABLE, `could not enqueue ${jobName} within ${timeoutMs} ms: no Redis master reachable (failover in progress or Redis down)`),
    ).catch((e: unknown) => {
      if (e instanceof HastackError) throw e;
      throw new HastackError(ErrorCode.REDIS_UNAVAILABLE, `could not enqueue ${jobName}: ${describeError(e)}`, { cause: e });
    });
    const id = job.id ?? opts.jobId ?? '';
    if (opts.durable ?? this.opts.durableByDefault) await this.waitForReplica(writer, jobName, id, generation);
    return { id };
  }

  /** The BullMQ Queue bound to the handle's current client (for job schedulers). */
  bull(): Queue {
    const c = this.handle.client;
    if (this.queue && this.boundTo === c) return this.queue;
    const old = this.queue;
    const q = new Queue(this.name, { connection: c, prefix: QUEUE_PREFIX, defaultJobOptions: DEFAULT_JOB_OPTIONS });
    q.on('error', (e: Error) => {
      if (this.errorGate(describeError(e))) this.opts.log.warn({ queue: this.name, err: describeError(e) }, 'queue error (reconnecting)');
    });
    this.queue = q;
    this.boundTo = c;
    if (old) void old.close().catch(() => undefined);
    return q;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // The connection is the handle's (shared): closing the Queue does not close it.
    await this.queue?.close().catch(() => undefined);
  }

  private async waitForReplica(c: Redis, jobName: string, id: string, generation: number): Promise<void> {
    // WAIT counts the replicas that acknowledged every write this connection made so far, and
    // BullMQ's add just ran its Lua script on this very client (the Queue was built on it and
    // ioredis sends commands in order on one socket). A duplicate add writes too (a "duplicated"
    // event on the events stream), so a replayed enqueue is also confirmed only once replicated.
    // A master with no replica connected (right after a failover, until the old master rejoins)
    // can never confirm: say so at once. WAIT blocks the whole connection, and every enqueue of
    // the process shares it: at 500 ms each, orders queued behind one another (2 a second per app
    // server, 7 s to the first order after a server failover on `simple`). The app runtime gives
    // the queue a connection of its own, so nothing else waits behind a WAIT.
    const replicas = await withDeadline(c.call('ROLE'), WAIT_DEADLINE_MS, () => new Error('ROLE did not answer')).then(connectedReplicas, () => undefined);
    const acked = replicas === 0 ? 0 : await withDeadline(c.wait(1, WAIT_MS), WAIT_DEADLINE_MS, () => new Error('WAIT did not answer')).catch(() => 0);
    const sameSocket = this.handle.generation === generation && this.handle.client === c;
    if (acked < 1 || !sameSocket) {
      const why = !sameSocket
        ? 'the connection to Redis was re-established meanwhile'
        : replicas === 0
          ? 'the master has no replica connected'
          : `no replica confirmed it within ${WAIT_MS} ms`;
      throw new HastackError(
        ErrorCode.QUEUE_NOT_DURABLE,
        `job ${jobName} (${id}) was sent to the Redis master but ${why}; it may be lost if the master fails now (enqueue it again later: the same jobId makes that safe)`,
        { details: { jobId: id } },
      );
    }
  }
}

/** The replicas a master's ROLE reply lists (`['master', offset, [[ip, port, offset], ...]]`); undefined for anything else. Pure. */
export function connectedReplicas(role: unknown): number | undefined {
  if (!Array.isArray(role) || role[0] !== 'master') return undefined;
  const list: unknown = role[2];
  return Array.isArray(list) ? list.length : undefined;
}
