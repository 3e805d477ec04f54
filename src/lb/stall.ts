/**
 * The stall watch: rescues requests stuck on a frozen backend (SIGSTOPped, swapping, a hung VM).
 *
 * A frozen process still has its listening socket: connects succeed (the kernel accepts into the
 * backlog) and requests are written, but no answer ever comes. Health checks need `fall` ×
 * interval (2 s with defaults) to notice, and the requests already sent would wait for the 30 s
 * headers timeout. A short per-attempt timeout would rescue them, but it would also fire on every
 * request that is merely slow (a database failover holds writes for seconds) and send it to every
 * backend in turn: a retry storm exactly when the cluster is weakest.
 *
 * So the watch asks the backend itself before acting. Every `sweepMs` it looks at each backend:
 * 1. suspicion (pure, `isSuspect`): an attempt has waited for response headers longer than
 *    `stallMs` AND the backend has produced no response headers at all for `stallMs`. A backend
 *    that is slow on some requests but answers others is never suspect.
 * 2. verification: one liveness probe (GET on the readiness path, a fresh connection, bounded by
 *    `livenessTimeoutMs`); any HTTP answer, even 503, proves the process runs. At most one probe
 *    per backend in flight, and none within `stallMs` of the end of the previous one.
 * 3. only when the probe gets no answer: the backend is ejected (no new requests until a good
 *    health check) and its attempts still waiting for headers are aborted when they are
 *    repeatable (idempotent method or Idempotency-Key); the proxy retries them elsewhere under the
 *    ordinary retry budget (`lb.retries`, 10 s deadline). Other requests keep waiting: the
 *    backend may still run them when it thaws.
 * 4. never when no other backend could take the requests (`elsewhere`): ejecting the last one and
 *    aborting its attempts turns "slow" into an error for every client, with nowhere to retry.
 *    Measured in CI: with one app server and a slowloris attempt in the same process on a busy
 *    machine, the liveness probe took over 200 ms, the only backend was ejected, and 16 of 30
 *    plain GETs were answered 502/503 instead of 200 a moment later.
 * Bound on extra load: one probe per backend per `stallMs`, and every aborted attempt is one of
 * the request's `lb.retries` retries, so a stall costs at most (retries + 1) × the requests in
 * flight, never a cascade. Worst-case rescue time: stallMs + sweepMs + livenessTimeoutMs.
 */

import type { WaitLink, WaitList } from './wait-list.js';

/** An attempt sent to a backend and still waiting for its response headers. */
export interface PendingAttempt extends WaitLink<PendingAttempt> {
  /** `Date.now()` when the attempt was dispatched. */
  readonly sentAt: number;
  /** Idempotent method or Idempotency-Key: may be aborted and sent elsewhere. */
  readonly repeatable: boolean;
  /** Aborts the attempt; the proxy sees a `stalled` failure and may retry it. */
  abortStalled(): void;
}

/** What the watch needs of a backend. */
export interface WatchedBackend {
  readonly id: string;
  /** Attempts waiting for response headers, oldest first (wait-list.ts: why not a Set). */
  readonly waiting: WaitList<PendingAttempt>;
  /** `Date.now()` of the last response headers from it (0: never). */
  readonly lastProgressAt: number;
}

export interface StallSettings {
  /** How often backends are looked at. */
  readonly sweepMs: number;
  /** Silence that makes a backend suspect (see above). */
  readonly stallMs: number;
  /** How long the liveness probe may take before the backend counts as frozen. */
  readonly livenessTimeoutMs: number;
}

/**
 * Defaults, each against issue 22's goal "no stretch of 500 ms without a read answered" (a backend
 * cut off with requests on it: `partition-redis-master` cuts an app server off with the Redis master):
 * - 150 ms of silence: the ERP answers in 1–20 ms on loopback (p99 below 100 ms under the chaos
 *   load), so 150 ms with no answer at all, from any request, is far outside normal; crossing it
 *   only costs one probe;
 * - a 25 ms sweep: 3 backends looked at 40 times a second is negligible CPU;
 * - a 200 ms liveness probe: a running Node process answers /readyz in about a millisecond, so
 *   200 ms leaves room for a GC pause or a busy core without calling a live process frozen (this
 *   one decides an ejection, so it was not shortened).
 * Worst case 375 ms from the freeze to the retried requests being on their way (450 ms with the
 * 200/50/200 of before: read gaps of 385–510 ms in four `partition-redis-master` runs; 227–499 ms
 * in seven with these).
 */
export const DEFAULT_STALL_SETTINGS: StallSettings = { sweepMs: 25, stallMs: 150, livenessTimeoutMs: 200 };

/** Pure: is this backend suspect of being frozen at `now`? */
export function isSuspect(b: WatchedBackend, now: number, stallMs: number): boolean {
  if (b.waiting.size === 0) return false;
  if (now - b.lastProgressAt < stallMs) return false;
  // Oldest first: if the oldest has not waited long enough, none has.
  const oldest = b.waiting.first();
  return oldest !== undefined && now - oldest.sentAt >= stallMs;
}

/** Aborts every repeatable waiting attempt of `b`; returns how many. */
export function abortRepeatable(b: WatchedBackend): number {
  let n = 0;
  // Copy first: aborting removes attempts from the set while we walk it.
  for (const a of b.waiting.toArray()) {
    if (a.repeatable) {
      a.abortStalled();
      n += 1;
    }
  }
  return n;
}

export interface StallHooks<B extends WatchedBackend> {
  /** Could another backend take `b`'s requests now (one eligible besides it)? */
  readonly elsewhere: (b: B) => boolean;
  /** Resolves true when the backend gave any HTTP answer within the timeout. */
  readonly probe: (b: B, timeoutMs: number) => Promise<boolean>;
  /** The probe got no answer: eject `b` and report; called before its attempts are aborted. */
  readonly onFrozen: (b: B) => void;
  /** After aborting: how many attempts were sent back for a retry. */
  readonly onRescued: (b: B, aborted: number) => void;
}

export class StallWatch<B extends WatchedBackend> {
  private timer: NodeJS.Timeout | undefined;
  private readonly checking = new Set<B>();
  /**
   * When the last probe of a backend ended, whatever it found: no new probe for `stallMs` after
   * it (a live-but-slow backend is not probed in a loop; a frozen one is ejected already and its
   * held non-repeatable requests would otherwise keep it suspect).
   */
  private readonly probedAt = new Map<B, number>();
  private stopped = false;

  constructor(
    private readonly backends: readonly B[],
    private readonly settings: StallSettings,
    private readonly hooks: StallHooks<B>,
  ) {}

  start(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.timer = setInterval(() => this.sweep(Date.now()), this.settings.sweepMs);
    // The HTTP server keeps the process alive; the watch alone must not.
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One look at every backend (public for tests). */
  sweep(now: number): void {
    const { stallMs } = this.settings;
    for (const b of this.backends) {
      if (this.checking.has(b) || !isSuspect(b, now, stallMs) || !this.hooks.elsewhere(b)) continue;
      if (now - (this.probedAt.get(b) ?? 0) < stallMs) continue;
      this.checking.add(b);
      void this.verify(b);
    }
  }

  private async verify(b: B): Promise<void> {
    try {
      const alive = await this.hooks.probe(b, this.settings.livenessTimeoutMs);
      this.probedAt.set(b, Date.now());
      // Re-asked after the probe: the others may have gone meanwhile.
      if (this.stopped || alive || !this.hooks.elsewhere(b)) return;
      this.hooks.onFrozen(b);
      this.hooks.onRescued(b, abortRepeatable(b));
    } finally {
      this.checking.delete(b);
    }
  }
}
