import type { NodeState, RoutePlan } from '../clients/db/index.js';
import type { Routing } from './endpoint.js';

/**
 * Pure decisions of the two database endpoints, from one probe round (the db router's own
 * `planRoutes`, so the endpoints and the TypeScript app agree on the writer) and what the
 * previous round decided.
 */

/** What a database endpoint remembers between rounds. */
export interface DbMemory {
  /** The slots ready after the last round. */
  readonly ready: readonly string[];
  /** Per node: consecutive rounds it did not answer (a connection cut waits for the second). */
  readonly unreachable: ReadonlyMap<string, number>;
}

export const EMPTY_MEMORY: DbMemory = { ready: [], unreachable: new Map() };

/**
 * 2 rounds (~0.6 s): one probe that timed out on a loaded machine is not a dead node, and cutting
 * every client of a live writer is costly; a node that is down or demoted is cut at the next round.
 * A node that says it is read-only (or not synced) is cut at once: that is proof, not silence.
 */
const CUT_AFTER_SILENT_ROUNDS = 2;

function unreachableCounts(states: readonly NodeState[], prev: DbMemory): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of states) if (!s.reachable) out.set(s.id, (prev.unreachable.get(s.id) ?? 0) + 1);
  return out;
}

/** Why a node that was ready must lose its open connections now, or undefined to leave them. */
function cutReason(id: string, states: readonly NodeState[], unreachable: ReadonlyMap<string, number>, plan: RoutePlan): string | undefined {
  const s = states.find((n) => n.id === id);
  if (s === undefined) return 'no longer in the topology';
  if (!s.reachable) return (unreachable.get(id) ?? 0) >= CUT_AFTER_SILENT_ROUNDS ? `unreachable for ${CUT_AFTER_SILENT_ROUNDS} probe rounds (${s.error})` : undefined;
  const why = plan.excluded.find((e) => e.id === id)?.why;
  return why ?? (s.readOnly ? 'read-only now' : 'no longer chosen');
}

/**
 * `db-endpoint`: the writer of the plan takes new connections; a node that stops being the writer
 * loses its open ones (the issue: a demoted or fenced primary must not keep taking writes through
 * us); no writer: none is ready, new connections are held.
 */
export function decideWriter(plan: RoutePlan, states: readonly NodeState[], prev: DbMemory): { routing: Routing; memory: DbMemory } {
  const unreachable = unreachableCounts(states, prev);
  const ready = plan.writer !== undefined ? [plan.writer] : [];
  const cut: { id: string; why: string }[] = [];
  const pending: string[] = [];
  for (const id of prev.ready) {
    if (ready.includes(id)) continue;
    const why = plan.writer !== undefined ? `the writer is ${plan.writer} now` : cutReason(id, states, unreachable, plan);
    if (why !== undefined) cut.push({ id, why: `was the writer; ${why}` });
    else pending.push(id);
  }
  const detail = plan.writer !== undefined ? `writer ${plan.writer}` : `holding new connections: ${plan.writeRefusal?.reason ?? 'no writer'}`;
  // A silent old writer stays remembered (not ready) until its cut is decided.
  return { routing: { ready, cut, detail }, memory: { ready: [...ready, ...pending], unreachable } };
}

/**
 * `db-read-endpoint`: the plan's readers within `maxLagS` (by `lagS`), else the writer; nothing at
 * all: held. A node that leaves the set loses its open connections when it stopped being readable
 * (down, replication stopped, not synced); one that only fell behind keeps them (its clients read a
 * little older data for a while) and gets no new ones.
 */
export function decideReaders(
  plan: RoutePlan,
  states: readonly NodeState[],
  prev: DbMemory,
  lag: { readonly lagS: (id: string) => number; readonly maxLagS: number; readonly timed: boolean },
): { routing: Routing; memory: DbMemory } {
  const unreachable = unreachableCounts(states, prev);
  const fresh = lag.timed ? plan.readers.filter((id) => lag.lagS(id) <= lag.maxLagS) : [...plan.readers];
  const behind = plan.readers.filter((id) => !fresh.includes(id));
  const ready = fresh.length > 0 ? fresh : plan.writer !== undefined ? [plan.writer] : [];
  const cut: { id: string; why: string }[] = [];
  const pending: string[] = [];
  for (const id of prev.ready) {
    if (ready.includes(id) || behind.includes(id) || id === plan.writer) continue;
    const why = cutReason(id, states, unreachable, plan);
    if (why !== undefined) cut.push({ id, why: `not readable: ${why}` });
    else pending.push(id);
  }
  const lagging = behind.map((id) => `${id} (${Number.isFinite(lag.lagS(id)) ? `${lag.lagS(id).toFixed(1)} s` : 'far'} behind)`);
  const head =
    ready.length === 0
      ? `holding new connections: ${plan.writeRefusal?.reason ?? 'no readable node'}`
      : fresh.length > 0
        ? `readers ${fresh.join(', ')}`
        : `writer ${ready.join(', ')} (no reader qualifies)`;
  const detail = lagging.length > 0 ? `${head}; behind: ${lagging.join(', ')}` : head;
  return { routing: { ready, cut, detail }, memory: { ready: [...ready, ...pending], unreachable } };
}
