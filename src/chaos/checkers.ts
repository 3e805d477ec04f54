import { checkAttempts, type AttemptReport } from './attempt-stats.js';
import type { WriterCheck } from './db-writers.js';
import type { FinalState } from './final-state.js';
import { isQueuedWrite, isRead, isReadBack, isWrite, type FaultWindow, type History, type Operation } from './history.js';

export interface AvailabilityResult {
  readonly requests: number;
  readonly ok: number;
  readonly failed: number;
  /** ok / requests over the whole run (1 when there were no requests). */
  readonly availability: number;
  /** ok / requests among operations that overlapped a fault window. */
  readonly availabilityDuringFault: number;
}

/**
 * Of the retrying clients' operations: what the stack promises a client that retries. The naive
 * clients' ratio is `naiveAvailability` (attempt-stats.ts).
 */
export function checkAvailability(h: History): AvailabilityResult {
  const ops = h.ops.filter((o) => o.naive !== true);
  const ok = ops.filter((o) => o.ok).length;
  const during = ops.filter((o) => h.faults.some((f) => overlaps(o, f)));
  const duringOk = during.filter((o) => o.ok).length;
  return {
    requests: ops.length,
    ok,
    failed: ops.length - ok,
    availability: ratio(ok, ops.length),
    availabilityDuringFault: ratio(duringOk, during.length),
  };
}

function ratio(a: number, b: number): number {
  return b === 0 ? 1 : a / b;
}

function overlaps(o: Operation, f: FaultWindow): boolean {
  return o.start <= f.healedAt && o.end >= f.injectedAt;
}

/**
 * The longest stretch of the run (ms) in which operations of the kind were made and none
 * succeeded: between successful completions, from the start of the first operation of the kind
 * (not from 0: the clients log in first), and to the end of the run only when the last operation
 * of the kind to end failed (the path never came back; a run that simply ended is no gap).
 */
export function longestGapMs(h: History, pick: (o: Operation) => boolean): number {
  const mine = h.ops.filter(pick);
  if (mine.length === 0) return 0;
  const ends = mine
    .filter((o) => o.ok)
    .map((o) => o.end)
    .sort((a, b) => a - b);
  let prev = Math.min(...mine.map((o) => o.start));
  let longest = 0;
  for (const t of ends) {
    longest = Math.max(longest, t - prev);
    prev = t;
  }
  const lastToEnd = mine.reduce((a, o) => (o.end > a.end ? o : a));
  return lastToEnd.ok ? longest : Math.max(longest, h.durationMs - prev);
}

/** A stretch without success longer than this is an outage a user notices. */
const OUTAGE_MS = 1_000;

/**
 * Fault injected → the affected path working again, for the first fault: the end of the last
 * outage (a gap between successes on that path longer than OUTAGE_MS) that overlaps the fault
 * window. Measured on gaps, not on "the first success after the fault", because a request in
 * flight when the kill landed can still succeed a moment after it. With no outage, the figure is
 * the longest gap in the window (the worst pause the fault caused). Null when there was no fault,
 * or the path was down from within the window to the end of the run.
 */
export function recoveryMs(h: History, pick: (o: Operation) => boolean): number | null {
  const f = h.faults[0];
  if (!f) return null;
  const ends = h.ops
    .filter((o) => o.ok && pick(o))
    .map((o) => o.end)
    .sort((a, b) => a - b);
  if (!ends.some((t) => t >= f.injectedAt)) return null;
  let lastOutageEnd: number | undefined;
  let longestInWindow = 0;
  let prev = 0;
  for (const t of ends) {
    if (t >= f.injectedAt && prev <= f.healedAt) {
      longestInWindow = Math.max(longestInWindow, t - Math.max(prev, f.injectedAt));
      if (t - prev > OUTAGE_MS) lastOutageEnd = t;
    }
    prev = t;
  }
  // The path went down in the window and never came back before the run ended: not recovered.
  if (prev <= f.healedAt && h.durationMs - Math.max(prev, f.injectedAt) > OUTAGE_MS) return null;
  return lastOutageEnd !== undefined ? lastOutageEnd - f.injectedAt : longestInWindow;
}

/**
 * Fault injected → the first order that started after it and was acknowledged (ms): what a user
 * placing an order after the crash waits for at worst. Requests in flight at the kill do not
 * count. Null without a fault, or when no order started after it succeeded.
 */
export function firstWriteAfterFaultMs(h: History): number | null {
  const f = h.faults[0];
  if (!f) return null;
  const ends = h.ops.filter((o) => isWrite(o) && o.ok && o.start >= f.injectedAt).map((o) => o.end);
  return ends.length === 0 ? null : Math.min(...ends) - f.injectedAt;
}

export interface WriteCheck {
  /** Orders the service acknowledged (distinct keys with a successful create). */
  readonly ackedWrites: number;
  /** Orders the service refused for want of stock (a correct answer, no order). */
  readonly refusedWrites: number;
  /** Acknowledged keys with no order in the database afterwards: must be 0. */
  readonly lostWrites: number;
  readonly lostKeys: string[];
  /** Keys stored as more than one order: must be 0. */
  readonly duplicateWrites: number;
  readonly duplicateKeys: string[];
  /**
   * Writes that ended in an error (no answer, a reset, a 5xx, the retry budget spent): their
   * outcome is unknown to the client, so neither lost if absent nor (sent once) a duplicate.
   */
  readonly unknownWrites: number;
  /** Of those, how many the database holds (the write landed, the answer did not come back). */
  readonly unknownWritesStored: number;
}

export function checkWrites(h: History, s: FinalState): WriteCheck {
  const acked = new Set(h.ops.filter((o) => isWrite(o) && o.ok && o.refused !== true && o.key !== undefined).map((o) => o.key as string));
  // An order belongs to its idempotency key or, as a backstop against an app that drops the key,
  // to the customer field, which the workload fills with the same key.
  const count = new Map<string, number>();
  for (const o of s.orders) {
    const key = o.idempotencyKey ?? o.customer;
    count.set(key, (count.get(key) ?? 0) + 1);
  }
  const lostKeys = [...acked].filter((k) => !count.has(k)).sort();
  const duplicateKeys = [...count]
    .filter(([, n]) => n > 1)
    .map(([k]) => k)
    .sort();
  const refusedWrites = h.ops.filter((o) => isWrite(o) && o.ok && o.refused === true).length;
  const unknown = new Set(h.ops.filter((o) => isWrite(o) && !o.ok && o.key !== undefined && !acked.has(o.key)).map((o) => o.key as string));
  return {
    ackedWrites: acked.size,
    refusedWrites,
    lostWrites: lostKeys.length,
    lostKeys,
    duplicateWrites: duplicateKeys.length,
    duplicateKeys,
    unknownWrites: unknown.size,
    unknownWritesStored: [...unknown].filter((k) => count.has(k)).length,
  };
}

export interface InvariantCheck {
  readonly invariantsOk: boolean;
  readonly violations: string[];
}

/** ERP invariants: stock on hand equals the sum of its ledger, and never went negative. */
export function checkInvariants(s: FinalState): InvariantCheck {
  const violations: string[] = [];
  for (const x of s.stock) {
    if (x.onHand !== x.ledgerSum) violations.push(`${x.sku}: stock_on_hand ${x.onHand} ≠ ledger sum ${x.ledgerSum}`);
    if (x.onHand < 0) violations.push(`${x.sku}: stock_on_hand is negative (${x.onHand})`);
    if (x.minRunningBalance < 0) violations.push(`${x.sku}: the ledger's running balance went to ${x.minRunningBalance}`);
  }
  return { invariantsOk: violations.length === 0, violations };
}

export interface JobCheck {
  /**
   * Jobs acknowledged to the client: acknowledged orders whose answer said the confirm job was
   * durably queued (`confirmation: "queued"`). An order answered "deferred" promised no job (the
   * sweep confirms it), so its job cannot be lost.
   */
  readonly jobsAcked: number;
  /**
   * Acknowledged-as-queued orders whose confirm job never ran: must be 0. Counted even when the
   * app's own sweep later confirmed the order, because the queue lost the job all the same.
   */
  readonly jobsLost: number;
  readonly lostOrderIds: number[];
  /** Acknowledged orders still pending at the end (the job lost and nothing else finished it). */
  readonly ordersStillPending: number;
  /** Orders whose confirm job ran more than once (reported; the job is idempotent). */
  readonly jobsDuplicated: number;
}

export function checkJobs(h: History, s: FinalState): JobCheck {
  const ackedIds = new Set(h.ops.filter((o) => isWrite(o) && o.ok && o.orderId !== undefined).map((o) => o.orderId as number));
  const queuedIds = new Set(h.ops.filter((o) => isQueuedWrite(o) && o.orderId !== undefined).map((o) => o.orderId as number));
  const byId = new Map(s.orders.map((o) => [o.id, o]));
  // A lost order is a lost write, not a lost job.
  const storedQueued = [...queuedIds].filter((id) => byId.has(id));
  const lostOrderIds = storedQueued.filter((id) => (s.jobRuns.get(id) ?? 0) === 0).sort((a, b) => a - b);
  // Every acknowledged order, queued or deferred, must be confirmed (by its job or the sweep).
  const ordersStillPending = [...ackedIds].filter((id) => byId.get(id)?.status === 'pending').length;
  // Only this run's orders: the table holds every run's jobs.
  const jobsDuplicated = s.orders.filter((o) => (s.jobRuns.get(o.id) ?? 0) > 1).length;
  return { jobsAcked: queuedIds.size, jobsLost: lostOrderIds.length, lostOrderIds, ordersStillPending, jobsDuplicated };
}

export interface SessionCheck {
  /** Operations answered 401 (the client's session was gone): must be 0. */
  readonly sessionsLost: number;
  /** Successful logins (one per client at the start, plus one after each loss). */
  readonly logins: number;
}

export function checkSessions(h: History): SessionCheck {
  return {
    sessionsLost: h.ops.filter((o) => o.sessionLost === true).length,
    logins: h.ops.filter((o) => o.kind === 'login' && o.ok).length,
  };
}

/** Nearest-rank percentile (p in 0..100) of `values`; null when there are none. Pure. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? null;
}

/**
 * Time after a memcached kill by which every app server has ejected the node: ejection takes
 * `failuresToEject` (2) failed operations, each refused at once or timed out at the cache
 * timeout (50 ms), and every app server sees many reads a second, so well under a second;
 * 2 s of margin for a loaded two-core machine.
 */
export const EJECT_GRACE_MS = 2_000;

/**
 * The start of a run is not "healthy" for latency: every client logs in (a scrypt hash each,
 * tens of ms of CPU on a 2-core machine) and the caches are cold. Reads starting in the first
 * 2 s are left out of the healthy p99.
 */
export const WARMUP_MS = 2_000;

/** Reads needed in a window for its p99 to mean anything (below that, one slow read is the p99). */
const MIN_READS_FOR_P99 = 100;

export interface ReadLatency {
  /** p99 (ms, end − start, retries included) of successful reads after WARMUP_MS and before the first fault. */
  readonly healthyP99Ms: number | null;
  /** Of successful reads overlapping the fault window. */
  readonly duringFaultP99Ms: number | null;
  /** Of successful reads from EJECT_GRACE_MS after the fault to the heal (a dead cache node ejected). */
  readonly afterEjectP99Ms: number | null;
  /** afterEject / healthy; null when either window has too few reads. */
  readonly afterEjectRatio: number | null;
}

export function checkReadLatency(h: History): ReadLatency {
  const reads = h.ops.filter((o) => isRead(o) && o.ok);
  const f = h.faults[0];
  const ms = (ops: readonly Operation[]): number[] => ops.map((o) => o.end - o.start);
  const warm = reads.filter((o) => o.start >= WARMUP_MS);
  const healthy = f ? warm.filter((o) => o.end < f.injectedAt) : warm;
  const during = f ? reads.filter((o) => overlaps(o, f)) : [];
  const afterEject = f ? reads.filter((o) => o.start >= f.injectedAt + EJECT_GRACE_MS && o.end <= f.healedAt) : [];
  const healthyP99 = percentile(ms(healthy), 99);
  const afterP99 = percentile(ms(afterEject), 99);
  const enough = healthy.length >= MIN_READS_FOR_P99 && afterEject.length >= MIN_READS_FOR_P99;
  return {
    healthyP99Ms: healthyP99,
    duringFaultP99Ms: percentile(ms(during), 99),
    afterEjectP99Ms: afterP99,
    // A healthy p99 under 1 ms is rounded up to 1: the clock is in whole ms.
    afterEjectRatio: enough && healthyP99 !== null && afterP99 !== null ? Math.round((afterP99 / Math.max(1, healthyP99)) * 100) / 100 : null,
  };
}

/**
 * Scenarios whose read p99 after the ejection is held to at most 2× the healthy p99. Reported,
 * not a broken promise: on this 2-core machine the whole cluster shares the CPU with the
 * workload, so a p99 over a ten-second window moves by more than 2× between two healthy runs
 * (see the report in the branch notes); a hard check would fail on noise, not on the cache.
 */
export const READ_P99_LIMIT: Readonly<Record<string, number>> = { memcached: 2 };

/** The report's fields (the `--json` contract of `hastack chaos run`). */
export interface ChaosReport {
  readonly scenario: string;
  readonly durationS: number;
  readonly requests: number;
  readonly ok: number;
  readonly failed: number;
  readonly availability: number;
  readonly longestWriteGapMs: number;
  readonly longestReadGapMs: number;
  readonly recoveryMs: number | null;
  /** Fault → the first acknowledged order that started after it. */
  readonly firstWriteAfterFaultMs: number | null;
  readonly ackedWrites: number;
  readonly refusedWrites: number;
  readonly lostWrites: number;
  readonly duplicateWrites: number;
  readonly invariantsOk: boolean;
  readonly jobsAcked: number;
  readonly jobsLost: number;
  readonly jobsDuplicated: number;
  /** Operations answered 401 because the session was gone: "sessions survive" means 0. */
  readonly sessionsLost: number;
  readonly readP99HealthyMs: number | null;
  readonly readP99DuringFaultMs: number | null;
  readonly readP99AfterEjectMs: number | null;
  readonly readP99RatioAfterEject: number | null;
  /**
   * The most MariaDB nodes writable at once in one sampling round (null: not sampled, fewer than
   * two nodes). Replication mode: above 1 is split brain.
   */
  readonly maxWritableDbs: number | null;
  /** Sampling rounds with two writable primaries (replication mode): "never two" means 0. */
  readonly twoPrimaryRounds: number;
  /** read-order answers that said an order this client was told exists is not there: a stale read served as current. */
  readonly staleReads: number;
  /** Operations (every client) that succeeded on their first attempt / operations. */
  readonly firstAttemptAvailability: number;
  /** The naive clients' operations (one request each, no replay but the HTTP stack's resend) and their success ratio. */
  readonly naiveRequests: number;
  readonly naiveAvailability: number;
  /** Of the naive operations that succeeded, those that took the HTTP stack's resend (attempt-stats.ts `naiveResent`). */
  readonly naiveResent: number;
  /** Resets the HTTP stack sent again at once, as browsers do (a kept-alive connection closed before the answer's headers). */
  readonly resentAttempts: number;
  /** Operations that took more than one attempt. */
  readonly retriedOps: number;
  /** Attempts answered 5xx, reset or timed out after the request was sent, and not resent by the HTTP stack. */
  readonly clientVisibleErrors: number;
  /** Of those, the ones in flight on a node's process when the fault killed it (attempt-stats.ts diedWithNode). */
  readonly clientVisibleErrorsDiedInFlight: number;
  /** The longest operation (ms, retries included). */
  readonly maxOpLatencyMs: number;
  /** The same four for operations overlapping the fault window. */
  readonly firstAttemptAvailabilityDuringFault: number;
  readonly naiveAvailabilityDuringFault: number;
  readonly clientVisibleErrorsDuringFault: number;
  readonly maxOpLatencyMsDuringFault: number;
  /** Writes that ended in an error (outcome unknown to the client) and, of those, how many landed. */
  readonly unknownWrites: number;
  readonly unknownWritesStored: number;
  /** Every figure above split by reads and writes, overall and during the fault. */
  readonly attempts: AttemptReport;
}

export interface CheckedRun {
  readonly report: ChaosReport;
  readonly availabilityDuringFault: number;
  readonly lostKeys: string[];
  readonly duplicateKeys: string[];
  readonly violations: string[];
  readonly lostOrderIds: number[];
  readonly ordersStillPending: number;
  /** The promises this run broke (a lost write, a duplicate, a lost job, a broken invariant, a lost session). */
  readonly broken: string[];
  /** Targets missed that are reported but not promised (read p99 after a cache node's ejection). */
  readonly warnings: string[];
}

/** A read-back (read-order, read-record) answered 404 for what the service had acknowledged to this client. Pure. */
export function countStaleReads(h: History): number {
  return h.ops.filter((o) => isReadBack(o) && !o.ok && o.error === 'HTTP 404').length;
}

export function checkRun(scenario: string, affected: (o: Operation) => boolean, h: History, s: FinalState, writers?: WriterCheck): CheckedRun {
  const a = checkAvailability(h);
  const w = checkWrites(h, s);
  const inv = checkInvariants(s);
  const j = checkJobs(h, s);
  const sess = checkSessions(h);
  const lat = checkReadLatency(h);
  const att = checkAttempts(h);
  const broken: string[] = [];
  const warnings: string[] = [];
  // What the writes were: the records workload's, or the ERP's orders (the messages name them).
  const noun = h.ops.some((o) => o.kind === 'create-record') ? 'record' : 'order';
  if (w.lostWrites > 0) broken.push(`${w.lostWrites} acknowledged ${noun}(s) lost`);
  if (w.duplicateWrites > 0) broken.push(`${w.duplicateWrites} ${noun}(s) stored twice for one key`);
  if (!inv.invariantsOk) broken.push(`ERP invariants broken: ${inv.violations.join('; ')}`);
  if (j.jobsLost > 0) broken.push(`${j.jobsLost} acknowledged job(s) never processed`);
  if (j.ordersStillPending > 0) broken.push(`${j.ordersStillPending} acknowledged ${noun}(s) still pending after the grace period`);
  // Sessions live in Redis, not in an app server: no fault of this suite may log a user out.
  if (writers && writers.overlaps.length > 0) {
    const first = writers.overlaps[0];
    broken.push(
      `two writable primaries at once in ${writers.overlaps.length} sampling round(s) (first at ${((first?.at ?? 0) / 1000).toFixed(1)} s: ${first?.writable.join(', ') ?? ''})`,
    );
  }
  const staleReads = countStaleReads(h);
  // A warning here, judged by the scenarios that promise it (partition-galera-minority's test):
  // not every tier under every fault has been run against this count yet.
  if (staleReads > 0)
    warnings.push(`${staleReads} read(s) did not find ${noun === 'order' ? 'an order' : 'a record'} the service had acknowledged (a stale read served as current)`);
  if (sess.sessionsLost > 0) broken.push(`${sess.sessionsLost} request(s) found their session gone (sessions must survive)`);
  // A run whose orders were mostly refused tested reads only: say so rather than look clean.
  if (w.refusedWrites > w.ackedWrites) warnings.push(`${w.refusedWrites} order(s) refused for want of stock vs ${w.ackedWrites} acknowledged: the write path was barely exercised`);
  const limit = READ_P99_LIMIT[scenario];
  if (limit !== undefined) {
    if (lat.afterEjectRatio === null) warnings.push('read p99 after the ejection: too few reads to judge');
    else if (lat.afterEjectRatio > limit) warnings.push(`read p99 after the ejection is ${lat.afterEjectRatio}× the healthy p99 (target ≤ ${limit}×)`);
  }
  return {
    report: {
      scenario,
      durationS: Math.round(h.durationMs / 100) / 10,
      requests: a.requests,
      ok: a.ok,
      failed: a.failed,
      availability: Math.round(a.availability * 100_000) / 100_000,
      longestWriteGapMs: longestGapMs(h, isWrite),
      longestReadGapMs: longestGapMs(h, isRead),
      recoveryMs: recoveryMs(h, affected),
      firstWriteAfterFaultMs: firstWriteAfterFaultMs(h),
      ackedWrites: w.ackedWrites,
      refusedWrites: w.refusedWrites,
      lostWrites: w.lostWrites,
      duplicateWrites: w.duplicateWrites,
      invariantsOk: inv.invariantsOk,
      jobsAcked: j.jobsAcked,
      jobsLost: j.jobsLost,
      jobsDuplicated: j.jobsDuplicated,
      sessionsLost: sess.sessionsLost,
      readP99HealthyMs: lat.healthyP99Ms,
      readP99DuringFaultMs: lat.duringFaultP99Ms,
      readP99AfterEjectMs: lat.afterEjectP99Ms,
      readP99RatioAfterEject: lat.afterEjectRatio,
      maxWritableDbs: writers && writers.rounds > 0 ? writers.maxWritable : null,
      twoPrimaryRounds: writers?.overlaps.length ?? 0,
      staleReads,
      firstAttemptAvailability: att.overall.all.firstAttemptAvailability,
      naiveRequests: att.overall.all.naiveOps,
      naiveAvailability: att.overall.all.naiveAvailability,
      naiveResent: att.overall.all.naiveResent,
      resentAttempts: att.overall.all.resentAttempts,
      retriedOps: att.overall.all.retriedOps,
      clientVisibleErrors: att.overall.all.clientVisibleErrors,
      clientVisibleErrorsDiedInFlight: att.overall.all.diedInFlight,
      maxOpLatencyMs: att.overall.all.maxOpLatencyMs,
      firstAttemptAvailabilityDuringFault: att.duringFault.all.firstAttemptAvailability,
      naiveAvailabilityDuringFault: att.duringFault.all.naiveAvailability,
      clientVisibleErrorsDuringFault: att.duringFault.all.clientVisibleErrors,
      maxOpLatencyMsDuringFault: att.duringFault.all.maxOpLatencyMs,
      unknownWrites: w.unknownWrites,
      unknownWritesStored: w.unknownWritesStored,
      attempts: att,
    },
    availabilityDuringFault: a.availabilityDuringFault,
    lostKeys: w.lostKeys,
    duplicateKeys: w.duplicateKeys,
    violations: inv.violations,
    lostOrderIds: j.lostOrderIds,
    ordersStillPending: j.ordersStillPending,
    broken,
    warnings,
  };
}
