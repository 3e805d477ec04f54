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
  /** Why it failed: an HTTP status or an error code. */
  readonly error?: string;
}

export interface FaultWindow {
  readonly description: string;
  /** ms since the run began */
  readonly injectedAt: number;
  readonly healedAt: number;
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
  return op.kind === 'read-order' || op.kind === 'read-item' || op.kind === 'read-record' || op.kind === 'read-recent';
}

/** A read of something this client was told exists (an order, a record): a 404 there is a stale read. */
export function isReadBack(op: Operation): boolean {
  return op.kind === 'read-order' || op.kind === 'read-record';
}
