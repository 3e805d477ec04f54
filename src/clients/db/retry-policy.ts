import { HastackError } from '../../shared/errors.js';
import { backoffMs } from '../../shared/retry.js';
import { classifyDbError, isReadOnlyTransactionError, type DbErrorKind } from './errors.js';

/**
 * When the database router tries a failed call again, and what it tells the caller when it does
 * not. Pure (no clock, no I/O, the jitter injectable), so every rule is table-tested without a
 * server (retry-policy.test.ts); `DbClient` asks it at each decision point and only acts.
 *
 * The promise it keeps: no write is lost and none is applied twice. A write runs again only when
 * the failed attempt provably applied nothing (never sent, refused by a read-only server, rolled
 * back by a deadlock or by the server when a connection dropped inside an open transaction), or
 * when the caller said running it twice is harmless (`idempotent`). When a connection drops while
 * a write may be committing, the caller gets `outcome-unknown` (DB_COMMIT_UNKNOWN saying so) instead.
 */

/**
 * What went wrong, as far as retrying is concerned: a `DbErrorKind` of the server or driver, or
 * - router: the router's own refusal before anything was sent (a HastackError: no writable primary
 *   yet, a split brain, the client closing);
 * - read-only-session: a write refused by a read-path session (`tx_read_only`, errno 1792);
 * - replica-behind: not an error: the read path's replica did not apply the session's last write
 *   within the wait (MASTER_GTID_WAIT timed out).
 */
export type DbFailureKind = DbErrorKind | 'router' | 'read-only-session' | 'replica-behind';

/**
 * Where the attempt was when it failed:
 * - acquire: finding the node and taking a connection; nothing was sent.
 * - statement: a statement inside an open transaction, before COMMIT was sent. If the connection
 *   drops, the server rolls the whole transaction back: nothing was applied.
 * - commit: COMMIT of a transaction. If the connection drops here, or the server interrupts it,
 *   it may or may not have applied.
 * - autocommit: a statement outside a transaction (autocommit commits it as it runs). A dropped
 *   connection leaves its outcome unknown too; an error the server answered (read-only, deadlock,
 *   interrupted) means it rolled back.
 */
export type DbPhase = 'acquire' | 'statement' | 'commit' | 'autocommit';

/**
 * - write: a read-write session on the primary (writes, transactions, plain reads).
 * - read: the read path (a read-only session on a replica, or on the primary as its fallback).
 */
export type DbPath = 'write' | 'read';

export interface DbFailure {
  readonly kind: DbFailureKind;
  readonly phase: DbPhase;
  readonly path: DbPath;
  /** Running it twice is harmless (a read, or the caller said so): a lost commit may be retried. */
  readonly idempotent: boolean;
  /** Attempts failed so far in this loop, from 0 (the backoff grows with it). */
  readonly attempt: number;
  /** ms since the epoch: the call's retry budget ends here. */
  readonly deadline: number;
  /** ms since the epoch, now. */
  readonly now: number;
  /** The client is closing: no new attempt. */
  readonly closing: boolean;
}

export type DbRetryDecision =
  /** Sleep `afterMs`, then try again (the router looks for the primary again first). */
  | { readonly action: 'retry'; readonly afterMs: number }
  /** The read path's replica is behind the session: read from the primary instead, at once. */
  | { readonly action: 'to-primary' }
  /** A write may or may not have been applied: fail with DB_COMMIT_UNKNOWN saying so, never run it again. */
  | { readonly action: 'outcome-unknown' }
  /**
   * Retrying was right, but the budget is spent (or the client is closing). `cause`: throw the
   * server's own error (a deadlock that persisted); `unavailable`: DB_UNAVAILABLE (the router's own
   * DB_UNAVAILABLE or DB_SPLIT_BRAIN passes through as it is).
   */
  | { readonly action: 'give-up'; readonly error: 'cause' | 'unavailable' }
  /** A statement on the read path tried to write: the caller's bug, DB_WRITE_ON_READ_PATH. */
  | { readonly action: 'refuse-write' }
  /** Not the router's to retry (syntax, duplicate key, the caller's own exception): throw it as it is. */
  | { readonly action: 'rethrow' };

export interface DbRetryPolicy {
  decide(f: DbFailure): DbRetryDecision;
}

export interface DbRetryLimits {
  /**
   * First backoff (ms), doubling per attempt up to `maxDelayMs`, with full jitter. 50 to 500: a
   * promotion completes within tens of ms of being decided (ENGINE-NOTES), so early attempts are
   * frequent; the cap keeps a long outage from becoming a busy loop.
   */
  readonly minDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Jitter source (tests pass a constant). */
  readonly random?: () => number;
}

/** How an error thrown during an attempt counts for the policy. */
export function failureKind(e: unknown): DbFailureKind {
  if (e instanceof HastackError) return 'router';
  const kind = classifyDbError(e);
  if (kind === 'other' && isReadOnlyTransactionError(e)) return 'read-only-session';
  return kind;
}

/** The failed attempt may have committed a write: the session must not trust a replica to show it. */
export function mayHaveApplied(f: Pick<DbFailure, 'kind' | 'phase' | 'path'>): boolean {
  if (f.path !== 'write') return false;
  if (f.kind === 'connection') return f.phase === 'commit' || f.phase === 'autocommit';
  return f.kind === 'interrupted' && f.phase === 'commit';
}

type Verdict = 'retry' | Exclude<DbRetryDecision, { readonly action: 'retry' | 'give-up' }>;
const TO_PRIMARY: Verdict = { action: 'to-primary' };
const OUTCOME_UNKNOWN: Verdict = { action: 'outcome-unknown' };
const REFUSE_WRITE: Verdict = { action: 'refuse-write' };
const RETHROW: Verdict = { action: 'rethrow' };

/** Retry, refuse or rethrow, before the budget is considered. */
function verdict(f: DbFailure): Verdict {
  if (f.kind === 'replica-behind') return TO_PRIMARY;
  if (f.phase === 'acquire') {
    // Nothing was sent: any failure to find or reach the node is worth another look.
    return f.kind === 'other' || f.kind === 'read-only-session' ? RETHROW : 'retry';
  }
  if (f.path === 'read') {
    // A replica refuses a write with read_only, the primary with the session's tx_read_only:
    // either way the statement wrote, which is the caller's bug (reads only on this path).
    if (f.kind === 'read-only' || f.kind === 'read-only-session') return REFUSE_WRITE;
    // A read ran on a read-only session: running it again can change nothing.
    return f.kind === 'connection' || f.kind === 'deadlock' || f.kind === 'interrupted' ? 'retry' : RETHROW;
  }
  switch (f.kind) {
    case 'deadlock': // InnoDB rolled the transaction back: running it again is the documented remedy.
    case 'read-only': // refused by a replica or a demoted primary: nothing applied.
      return 'retry';
    case 'interrupted':
      // KILL QUERY answered on a live connection: the statement rolled back (a switchover's fence
      // interrupts statements waiting for its read lock). Only an interrupted COMMIT is unknown.
      return f.phase !== 'commit' || f.idempotent ? 'retry' : OUTCOME_UNKNOWN;
    case 'connection':
      return f.phase === 'statement' || f.idempotent ? 'retry' : OUTCOME_UNKNOWN;
    default:
      return RETHROW;
  }
}

export function createDbRetryPolicy(limits: DbRetryLimits = {}): DbRetryPolicy {
  const min = limits.minDelayMs ?? 50;
  const max = limits.maxDelayMs ?? 500;
  const random = limits.random ?? Math.random;
  return {
    decide(f) {
      const v = verdict(f);
      if (v !== 'retry') return v;
      const afterMs = backoffMs(f.attempt, min, max, random);
      // The deadlock that outlasted the budget is the server's own answer: the caller sees it.
      if (f.closing || f.now + afterMs > f.deadline) return { action: 'give-up', error: f.kind === 'deadlock' ? 'cause' : 'unavailable' };
      return { action: 'retry', afterMs };
    },
  };
}
