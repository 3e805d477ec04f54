/**
 * The workload's record: every operation a client attempted, with when it started and ended
 * (ms since the run began), how it came out, and the idempotency key of a write. Checkers read
 * only this and the cluster's final state, so they are pure and tested on hand-made histories.
 */
export type OpKind =
  // the example ERP (workload.ts)
  | 'login'
  | 'create-order'
  | 'read-order'
  | 'read-item'
  | 'list-items'
  // the records app, examples/python (workload-records.ts)
  | 'create-record'
  | 'read-record'
  | 'read-recent';

export interface Operation {
  readonly client: number;
  readonly kind: OpKind;
  readonly start: number;
  readonly end: number;
  readonly ok: boolean;
  /** The Idempotency-Key of a write (one per logical order or record, reused across its retries). */
  readonly key?: string;
  /** The order (or record) id the service acknowledged (create-order, create-record) or read (read-order, read-record). */
  readonly orderId?: number;
  /**
   * create-order only: the service said the order's background job is durably queued
   * (`confirmation: "queued"`). Only such orders count as acknowledged jobs.
   */
  readonly jobQueued?: boolean;
  /**
   * The service answered 401: the client's session was gone (an app server kept it locally, or
   * the session store lost it). The client logs in again before its next operation.
   */
  readonly sessionLost?: boolean;
  /**
   * create-order only: the service refused the order for want of stock (409 INSUFFICIENT_STOCK).
   * A correct answer, so the operation is ok, but no order was acknowledged.
   */
  readonly refused?: boolean;
  /** HTTP attempts the client made for this operation (1 = no retry). */
  readonly attempts: number;
  /**
   * A naive client's operation (workload.ts, `--naive-clients`): one request, no replay after it
   * was sent but the HTTP stack's own resend (`Attempt.resent`); only a connection refused (never
   * sent) moves on to the next address of the answer.
   */
  readonly naive?: true;
  /** How each attempt came out, in order (one entry per attempt). */
  readonly tries?: readonly Attempt[];
  /** Why it failed: an HTTP status or an error code. */
  readonly error?: string;
}

/**
 * How one HTTP attempt came out:
 * - `ok`: the answer the operation wanted;
 * - `answered`: another answer under 500 (401, 404, 409, 429): the service answered;
 * - `5xx`: answered 500-599;
 * - `unreached`: never sent (connection refused, connect timeout, no DNS answer): a browser moves
 *   on to the next address without showing anything;
 * - `reset`: the connection closed or reset after the request went out;
 * - `timeout`: no answer within the attempt's timeout after the request went out.
 */
export type AttemptOutcome = 'ok' | 'answered' | '5xx' | 'unreached' | 'reset' | 'timeout';

export interface Attempt {
  /** ms since the run began, when the attempt started */
  readonly at: number;
  readonly ms: number;
  readonly outcome: AttemptOutcome;
  /** The HTTP status, when there was an answer. */
  readonly status?: number;
  /** The load balancer it went to (absent when there was no DNS answer). */
  readonly address?: string;
  /** Why it failed, when it did not answer (the error's message, bounded). */
  readonly error?: string;
  /**
   * A `reset` that the client's HTTP stack sent again at once, as every browser (and curl) does:
   * the request went out on a kept-alive connection that had served an earlier answer, and the
   * connection closed before any header of this answer (workload.ts `MAX_RESENDS`). Nobody sees it.
   */
  readonly resent?: true;
}

/**
 * An attempt a user would have seen fail, as an error page: the request went out and came back
 * broken or not at all (5xx, reset, timeout), and the HTTP stack did not send it again (`resent`).
 */
export function clientVisible(t: Attempt): boolean {
  return (t.outcome === '5xx' || t.outcome === 'reset' || t.outcome === 'timeout') && t.resent !== true;
}

export interface FaultWindow {
  readonly description: string;
  /** ms since the run began */
  readonly injectedAt: number;
  readonly healedAt: number;
  /**
   * The addresses of the nodes the fault killed (`kill-node`): every connection to their processes
   * broke when they died, just before `injectedAt`. Absent for other faults and older histories.
   */
  readonly killed?: readonly string[];
}

export interface History {
  readonly startedAt: string;
  readonly durationMs: number;
  readonly ops: readonly Operation[];
  readonly faults: readonly FaultWindow[];
}

export function isWrite(op: Operation): boolean {
  return op.kind === 'create-order' || op.kind === 'create-record';
}

/** A write whose background job the service acknowledged as queued. */
export function isQueuedWrite(op: Operation): boolean {
  return isWrite(op) && op.ok && op.jobQueued === true;
}

export function isRead(op: Operation): boolean {
  return op.kind === 'read-order' || op.kind === 'read-item' || op.kind === 'list-items' || op.kind === 'read-record' || op.kind === 'read-recent';
}

/** A read of something this client was told exists (an order, a record): a 404 there is a stale read. */
export function isReadBack(op: Operation): boolean {
  return op.kind === 'read-order' || op.kind === 'read-record';
}
