import type { CausalToken } from './causal.js';
import { pickReader, type DbMode, type RoutePlan } from './routing.js';

/** Where one read goes, and what it must wait for there. */
export interface ReadTarget {
  readonly node: string;
  /**
   * 'gtid': MASTER_GTID_WAIT for the token first; 'seqno' (Galera): until this node's
   * wsrep_last_committed reaches the token's seqno. Either waits for this one node only.
   * 'cluster' (Galera, a write of unknown outcome): wsrep_sync_wait, the one causal read that
   * needs no position.
   */
  readonly wait: 'none' | 'gtid' | 'seqno' | 'cluster';
  readonly fallback: 'none' | 'no-replica' | 'unknown-position';
}

/**
 * The first read-path attempt on a reader, when the caller set no timeout: an OLTP read answers
 * in milliseconds, so a reader silent for 1 s is cut off or frozen (no error comes from a
 * partition, only silence), and the read moves on to another node, which gets the full statement
 * timeout, so a read that is merely slow still completes there.
 */
export const READ_FIRST_ATTEMPT_MS = 1_000;

/**
 * Where a read-path read goes (pure; DbClient.readTarget): a reader of the latest probe round
 * (the session's own node first, so its reads never go back in time), with the wait its token
 * needs there, or `toWriter` when only the writer may serve it.
 */
export function chooseReadTarget(
  plan: RoutePlan,
  token: CausalToken | undefined,
  suspects: ReadonlySet<string>,
  turn: number,
  mode: DbMode,
): ReadTarget | { readonly toWriter: ReadTarget['fallback'] } {
  const written = token !== undefined && !token.isEmpty;
  // A write whose position is unknown: only the writer is sure to have it.
  if (written && token.positionUnknown) return { toWriter: 'unknown-position' };
  const sticky = token?.readNode;
  const reader = sticky !== undefined && plan.readers.includes(sticky) && !suspects.has(sticky) ? sticky : pickReader(plan, suspects, turn);
  if (reader === undefined) return { toWriter: 'no-replica' };
  if (!written) return { node: reader, wait: 'none', fallback: 'none' };
  if (mode === 'galera') {
    // The last probe already saw this node past the session's write: positions only move forward.
    const committed = plan.appliedSeqno.get(reader);
    return { node: reader, wait: committed !== undefined && token.seqnoCoveredBy(committed) ? 'none' : 'seqno', fallback: 'none' };
  }
  const applied = plan.appliedPos.get(reader);
  return { node: reader, wait: applied !== undefined && token.coveredBy(applied) ? 'none' : 'gtid', fallback: 'none' };
}
