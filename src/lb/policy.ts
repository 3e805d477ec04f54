/**
 * Balancing policies: which of the backends that may take traffic gets the next request.
 *
 * The guarantees every policy gives (checked for each by `policy.test.ts`, one shared suite):
 * - `pick([])` is `undefined`; otherwise the result is one of the candidates passed in.
 * - The candidate array is read, never changed, and no candidate is remembered across calls
 *   (the set changes as backends go up and down; a policy must cope with any array it is given).
 * - With equal load, every candidate is picked sooner or later (no starvation).
 * A policy does not filter: the backend set hands it only backends that are up, not draining and
 * not ejected, and for a retry only those not tried yet. It only chooses.
 */

/** What a policy may look at. `inflight` is the number of requests sent and not yet finished. */
export interface PolicyCandidate {
  readonly inflight: number;
}

export interface BalancingPolicy {
  readonly name: PolicyName;
  pick<B extends PolicyCandidate>(candidates: readonly B[]): B | undefined;
}

export const POLICY_NAMES = ['round-robin', 'least-connections', 'p2c'] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

/** Each pick takes the next candidate in turn. */
export class RoundRobinPolicy implements BalancingPolicy {
  readonly name = 'round-robin' as const;
  private next = 0;

  pick<B extends PolicyCandidate>(candidates: readonly B[]): B | undefined {
    const n = candidates.length;
    if (n === 0) return undefined;
    // The counter wraps well below 2^53, so it never loses precision on a long-running process.
    const i = this.next % n;
    this.next = (this.next + 1) % 1_000_000_007;
    return candidates[i];
  }
}

/**
 * The candidate with the fewest requests in flight. Ties are broken by a rotating start, so that
 * idle backends (all at 0, the usual case under light load) still share the traffic.
 */
export class LeastConnectionsPolicy implements BalancingPolicy {
  readonly name = 'least-connections' as const;
  private start = 0;

  pick<B extends PolicyCandidate>(candidates: readonly B[]): B | undefined {
    const n = candidates.length;
    if (n === 0) return undefined;
    const first = this.start % n;
    this.start = (this.start + 1) % 1_000_000_007;
    let best = candidates[first] as B;
    for (let k = 1; k < n; k++) {
      const c = candidates[(first + k) % n] as B;
      if (c.inflight < best.inflight) best = c;
    }
    return best;
  }
}

/**
 * Power of two random choices: draw two different candidates at random, take the less loaded.
 * Nearly as good as least-connections, and it never sends a burst to the one backend that
 * happens to look idle to every LB at the same moment.
 */
export class PowerOfTwoChoicesPolicy implements BalancingPolicy {
  readonly name = 'p2c' as const;
  /** `random` returns a number in [0, 1); injectable so tests are deterministic. */
  constructor(private readonly random: () => number = Math.random) {}

  pick<B extends PolicyCandidate>(candidates: readonly B[]): B | undefined {
    const n = candidates.length;
    if (n <= 1) return candidates[0];
    const i = Math.floor(this.random() * n) % n;
    // A second index drawn from the other n-1 positions, so the two are always different.
    const j = (i + 1 + (Math.floor(this.random() * (n - 1)) % (n - 1))) % n;
    const a = candidates[i] as B;
    const b = candidates[j] as B;
    return b.inflight < a.inflight ? b : a;
  }
}

export function createPolicy(name: PolicyName, random?: () => number): BalancingPolicy {
  switch (name) {
    case 'round-robin':
      return new RoundRobinPolicy();
    case 'least-connections':
      return new LeastConnectionsPolicy();
    case 'p2c':
      return new PowerOfTwoChoicesPolicy(random);
  }
}
