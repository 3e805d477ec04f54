import type { FinalState } from './final-state.js';
import { isQueuedWrite, isRead, isWrite, type FaultWindow, type History, type Operation } from './history.js';

export interface AvailabilityResult {
  readonly requests: number;
  readonly ok: number;
  readonly failed: number;
  /** ok / requests over the whole run (1 when there were no requests). */
  readonly availability: number;
  /** ok / requests among operations that overlapped a fault window. */
  readonly availabilityDuringFault: number;
}

export function checkAvailability(h: History): AvailabilityResult {
  const ok = h.ops.filter((o) => o.ok).length;
  const during = h.ops.filter((o) => h.faults.some((f) => overlaps(o, f)));
  const duringOk = during.filter((o) => o.ok).length;
  return {
    requests: h.ops.length,
    ok,
    failed: h.ops.length - ok,
    availability: ratio(ok, h.ops.length),
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
 * The longest stretch of the run (ms) in which no operation of the kind succeeded, measured
 * between successful completions, and from the run's start and to its end.
 */
export function longestGapMs(h: History, pick: (o: Operation) => boolean): number {
  const ends = h.ops.filter((o) => o.ok && pick(o)).map((o) => o.end).sort((a, b) => a - b);
  let prev = 0;
  let longest = 0;
  for (const t of ends) {
    longest = Math.max(longest, t - prev);
    prev = t;
  }
  return Math.max(longest, h.durationMs - prev);
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
  const ends = h.ops.filter((o) => o.ok && pick(o)).map((o) => o.end).sort((a, b) => a - b);
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
  /** Acknowledged keys with no order in the database afterwards: must be 0. */
  readonly lostWrites: number;
  readonly lostKeys: string[];
  /** Keys stored as more than one order: must be 0. */
  readonly duplicateWrites: number;
  readonly duplicateKeys: string[];
}

export function checkWrites(h: History, s: FinalState): WriteCheck {
  const acked = new Set(h.ops.filter((o) => isWrite(o) && o.ok && o.key !== undefined).map((o) => o.key as string));
  // An order belongs to its idempotency key or, as a backstop against an app that drops the key,
  // to the customer field, which the workload fills with the same key.
  const count = new Map<string, number>();
  for (const o of s.orders) {
    const key = o.idempotencyKey ?? o.customer;
    count.set(key, (count.get(key) ?? 0) + 1);
  }
  const lostKeys = [...acked].filter((k) => !count.has(k)).sort();
  const duplicateKeys = [...count].filter(([, n]) => n > 1).map(([k]) => k).sort();
  return { ackedWrites: acked.size, lostWrites: lostKeys.length, lostKeys, duplicateWrites: duplicateKeys.length, duplicateKeys };
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
  readonly lostWrites: number;
  readonly duplicateWrites: number;
  readonly invariantsOk: boolean;
  readonly jobsAcked: number;
  readonly jobsLost: number;
  readonly jobsDuplicated: number;
}

export interface CheckedRun {
  readonly report: ChaosReport;
  readonly availabilityDuringFault: number;
  readonly lostKeys: string[];
  readonly duplicateKeys: string[];
  readonly violations: string[];
  readonly lostOrderIds: number[];
  readonly ordersStillPending: number;
  /** The promises this run broke (a lost write, a duplicate, a lost job, a broken invariant). */
  readonly broken: string[];
}

export function checkRun(scenario: string, affected: (o: Operation) => boolean, h: History, s: FinalState): CheckedRun {
  const a = checkAvailability(h);
  const w = checkWrites(h, s);
  const inv = checkInvariants(s);
  const j = checkJobs(h, s);
  const broken: string[] = [];
  if (w.lostWrites > 0) broken.push(`${w.lostWrites} acknowledged order(s) lost`);
  if (w.duplicateWrites > 0) broken.push(`${w.duplicateWrites} order(s) stored twice for one key`);
  if (!inv.invariantsOk) broken.push(`ERP invariants broken: ${inv.violations.join('; ')}`);
  if (j.jobsLost > 0) broken.push(`${j.jobsLost} acknowledged job(s) never processed`);
  if (j.ordersStillPending > 0) broken.push(`${j.ordersStillPending} acknowledged order(s) still pending after the grace period`);
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
      lostWrites: w.lostWrites,
      duplicateWrites: w.duplicateWrites,
      invariantsOk: inv.invariantsOk,
      jobsAcked: j.jobsAcked,
      jobsLost: j.jobsLost,
      jobsDuplicated: j.jobsDuplicated,
    },
    availabilityDuringFault: a.availabilityDuringFault,
    lostKeys: w.lostKeys,
    duplicateKeys: w.duplicateKeys,
    violations: inv.violations,
    lostOrderIds: j.lostOrderIds,
    ordersStillPending: j.ordersStillPending,
    broken,
  };
}
