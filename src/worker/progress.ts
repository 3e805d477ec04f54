/**
 * Worker liveness judged by progress, not by connection state. A Redis failover makes every
 * connection fail for a few seconds, which is no reason to restart anything; what must not last
 * is a worker that holds jobs and finishes none, or one that takes nothing while jobs wait (a
 * BullMQ connection stuck after a failover: taskforcesh/bullmq issues 3088 and 4378).
 *
 * Pure: the caller feeds events and samples with its clock, and asks for a verdict.
 */
export interface ProgressBounds {
  /** Holding at least one job, none started or finished for this long: stuck. */
  readonly busyStallMs: number;
  /** Jobs waiting (seen in every sample), a free slot here, and none started for this long: stuck. */
  readonly idleStallMs: number;
}

export interface ProgressVerdict {
  readonly ok: boolean;
  /** Why not ok, or what the worker is doing. */
  readonly detail: string;
}

export class ProgressMonitor {
  private running = 0;
  private lastStart: number;
  private lastFinish: number;
  /** Since when every sample saw waiting jobs; undefined when the last sample saw none (or failed). */
  private waitingSince: number | undefined;

  constructor(
    private readonly bounds: ProgressBounds,
    private readonly concurrency: number,
    now: number,
  ) {
    this.lastStart = now;
    this.lastFinish = now;
  }

  get active(): number {
    return this.running;
  }

  started(now: number): void {
    this.running += 1;
    this.lastStart = now;
  }

  finished(now: number): void {
    this.running = Math.max(0, this.running - 1);
    this.lastFinish = now;
  }

  /** A sample of the queue's waiting count; undefined when it could not be read (Redis down). */
  sampleWaiting(waiting: number | undefined, now: number): void {
    if (waiting === undefined || waiting === 0) this.waitingSince = undefined;
    else this.waitingSince ??= now;
  }

  verdict(now: number): ProgressVerdict {
    const lastProgress = Math.max(this.lastStart, this.lastFinish);
    if (this.running > 0 && now - lastProgress > this.bounds.busyStallMs) {
      return { ok: false, detail: `stuck: ${this.running} job(s) held, none started or finished for ${now - lastProgress} ms` };
    }
    if (this.running < this.concurrency && this.waitingSince !== undefined && now - this.waitingSince > this.bounds.idleStallMs && now - this.lastStart > this.bounds.idleStallMs) {
      return { ok: false, detail: `stuck: jobs waiting for ${now - this.waitingSince} ms while this worker took none` };
    }
    return { ok: true, detail: this.running > 0 ? `running ${this.running} job(s)` : 'idle' };
  }
}
