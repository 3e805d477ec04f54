/**
 * "Never two writable primaries at once", as a pure check over rounds of samples: every round
 * asks each MariaDB node, at (almost) the same moment, whether it takes writes. Samples are taken
 * over each node's unix socket (db-writers-probe.ts), which no network partition cuts: the
 * harness sees both sides of a partition, as an observer outside the cluster must.
 */

/** One node in one round: what it would do with a write right now. */
export type WriterState =
  /** read_only off (and, in Galera, wsrep_ready ON in a Primary component) */
  | 'writable'
  /** read_only on */
  | 'read-only'
  /** Galera: not in a Primary component or not ready; it refuses queries */
  | 'not-serving'
  /** no answer over its socket within the bound: killed or frozen, takes no write */
  | 'down';

export interface WriterRound {
  /** ms since the run began */
  readonly at: number;
  readonly nodes: Readonly<Record<string, WriterState>>;
}

export interface WriterCheck {
  readonly rounds: number;
  /** The most nodes writable in one round (1 in a healthy replication cluster). */
  readonly maxWritable: number;
  /** Rounds in which more than one node was writable: must be none in replication mode. */
  readonly overlaps: ReadonlyArray<{ readonly at: number; readonly writable: readonly string[] }>;
  /** Per node, the rounds it was not-serving (Galera minority) and down. */
  readonly notServing: Readonly<Record<string, number>>;
}

export function writableIn(r: WriterRound): string[] {
  return Object.entries(r.nodes)
    .filter(([, s]) => s === 'writable')
    .map(([n]) => n)
    .sort();
}

/**
 * Replication mode: a round with two writable nodes is split brain (both would acknowledge
 * writes the other never sees). Galera: every node of the Primary component is writable by
 * design, so there the count is reported and overlaps are not judged. Pure.
 */
export function checkWriters(rounds: readonly WriterRound[], mode: 'replication' | 'galera'): WriterCheck {
  let maxWritable = 0;
  const overlaps: Array<{ at: number; writable: string[] }> = [];
  const notServing: Record<string, number> = {};
  for (const r of rounds) {
    const w = writableIn(r);
    maxWritable = Math.max(maxWritable, w.length);
    if (mode === 'replication' && w.length > 1) overlaps.push({ at: r.at, writable: w });
    for (const [n, s] of Object.entries(r.nodes)) if (s === 'not-serving') notServing[n] = (notServing[n] ?? 0) + 1;
  }
  return { rounds: rounds.length, maxWritable, overlaps, notServing };
}

/** Galera: the node's status variables to a state. Pure. */
export function galeraState(readOnly: boolean, wsrepReady: string, clusterStatus: string): WriterState {
  if (wsrepReady !== 'ON' || clusterStatus !== 'Primary') return 'not-serving';
  return readOnly ? 'read-only' : 'writable';
}
