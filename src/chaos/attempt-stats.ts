import { clientVisible, isRead, isWrite, type Attempt, type AttemptOutcome, type FaultWindow, type History, type Operation } from './history.js';

/**
 * What the clients went through, attempt by attempt (issue 22): the operations that succeeded on
 * their first attempt, those that needed more, the attempts a user would have seen fail, the
 * longest operation, and what the naive clients (no retries) got. Pure: read from the history.
 */
export interface AttemptStats {
  /** Operations counted (every client, naive ones included). */
  readonly ops: number;
  /** Operations that succeeded on their first attempt / ops (1 when there were none). */
  readonly firstAttemptAvailability: number;
  /** Operations that took more than one attempt (a naive client's too, when a refused address sent it to the next one). */
  readonly retriedOps: number;
  /** Attempts answered 5xx, reset or timed out after the request was sent, and not resent by the HTTP stack (every client). */
  readonly clientVisibleErrors: number;
  /**
   * Of those, the attempts in flight on a node's process when the fault killed it: reset on a
   * connection to the killed node as its process died (`diedWithNode`). No server can answer these
   * (the TCP connection died with the process); only the client can send them again.
   */
  readonly diedInFlight: number;
  /**
   * Resets the HTTP stack sent again at once, as browsers do (history.ts `resent`): a kept-alive
   * connection closed before the answer's headers. Nobody saw them.
   */
  readonly resentAttempts: number;
  /** The longest operation, end − start, retries included, failed ones too (0 when none). */
  readonly maxOpLatencyMs: number;
  /** Operations of the naive clients. */
  readonly naiveOps: number;
  /** Their success ratio (1 when there were none). */
  readonly naiveAvailability: number;
  /** Naive operations that succeeded on another address after a connection was refused (the browser's fallback between A records). */
  readonly naiveFellOver: number;
  /**
   * Naive operations that succeeded only through the HTTP stack's resend: a client that never
   * sends a request twice would have shown each as an error.
   */
  readonly naiveResent: number;
  /** Attempts by outcome (history.ts `AttemptOutcome`): where the retries and the errors came from. */
  readonly outcomes: Readonly<Record<AttemptOutcome, number>>;
}

export interface AttemptSplit {
  readonly all: AttemptStats;
  readonly reads: AttemptStats;
  readonly writes: AttemptStats;
}

export interface AttemptReport {
  /** The whole run. */
  readonly overall: AttemptSplit;
  /** Operations overlapping a fault window (the same as overall's when there was no fault: none). */
  readonly duringFault: AttemptSplit;
}

function ratio(a: number, b: number): number {
  return b === 0 ? 1 : a / b;
}

/** Rounded as `availability` is in the report: 5 decimals. */
function round5(v: number): number {
  return Math.round(v * 100_000) / 100_000;
}

/** An operation without `tries` (a hand-made history) has no visible error to count. */
function visibleErrors(o: Operation): number {
  return (o.tries ?? []).filter(clientVisible).length;
}

function resent(o: Operation): number {
  return (o.tries ?? []).filter((t) => t.resent === true).length;
}

/**
 * When a kill breaks the connections to its node, around `injectedAt`: that is taken when the kill
 * request returns, after the fault probed the cluster to pick its target (up to 1.5 s, run.ts),
 * and the processes die some 30 ms later (measured on netns: every reset of an `lb` run within
 * 35 ms after it); the client notes a reset on its next turn of a busy event loop.
 */
const KILL_BREAKS_FROM_MS = -2_000;
const KILL_BREAKS_UNTIL_MS = 1_000;

/**
 * A reset on a connection to a node `faults` killed, broken as its processes died. Nothing else
 * resets there: before the kill its server answers, and after it a new connection is refused
 * (`unreached`), so a reset in that window is a request in flight (or just sent) on a connection
 * the dying process held.
 */
export function diedWithNode(t: Attempt, faults: readonly FaultWindow[]): boolean {
  const { address, outcome } = t;
  if (outcome !== 'reset' || t.resent === true || address === undefined) return false;
  const brokeAt = t.at + t.ms;
  return faults.some((f) => f.killed?.includes(address) === true && brokeAt >= f.injectedAt + KILL_BREAKS_FROM_MS && brokeAt <= f.injectedAt + KILL_BREAKS_UNTIL_MS);
}

export function attemptStats(ops: readonly Operation[], faults: readonly FaultWindow[] = []): AttemptStats {
  const naive = ops.filter((o) => o.naive === true);
  let firstOk = 0;
  let retried = 0;
  let visible = 0;
  let died = 0;
  let resends = 0;
  let maxMs = 0;
  const outcomes: Record<AttemptOutcome, number> = { ok: 0, answered: 0, '5xx': 0, unreached: 0, reset: 0, timeout: 0 };
  for (const o of ops) {
    for (const t of o.tries ?? []) outcomes[t.outcome]++;
    if (o.ok && o.attempts === 1) firstOk++;
    if (o.attempts > 1) retried++;
    visible += visibleErrors(o);
    resends += resent(o);
    died += (o.tries ?? []).filter((t) => diedWithNode(t, faults)).length;
    maxMs = Math.max(maxMs, o.end - o.start);
  }
  return {
    ops: ops.length,
    firstAttemptAvailability: round5(ratio(firstOk, ops.length)),
    retriedOps: retried,
    clientVisibleErrors: visible,
    diedInFlight: died,
    resentAttempts: resends,
    maxOpLatencyMs: maxMs,
    naiveOps: naive.length,
    naiveAvailability: round5(ratio(naive.filter((o) => o.ok).length, naive.length)),
    naiveFellOver: naive.filter((o) => o.ok && (o.tries ?? []).some((t) => t.outcome === 'unreached')).length,
    naiveResent: naive.filter((o) => o.ok && resent(o) > 0).length,
    outcomes,
  };
}

function split(ops: readonly Operation[], faults: readonly FaultWindow[]): AttemptSplit {
  return { all: attemptStats(ops, faults), reads: attemptStats(ops.filter(isRead), faults), writes: attemptStats(ops.filter(isWrite), faults) };
}

function overlaps(o: Operation, f: FaultWindow): boolean {
  return o.start <= f.healedAt && o.end >= f.injectedAt;
}

export function checkAttempts(h: History): AttemptReport {
  return {
    overall: split(h.ops, h.faults),
    duringFault: split(
      h.ops.filter((o) => h.faults.some((f) => overlaps(o, f))),
      h.faults,
    ),
  };
}
