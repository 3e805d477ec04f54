/**
 * The health of one backend as the load balancer sees it: a pure state machine fed by active
 * probes (GET /readyz) and by the outcome of proxied requests (passive checks). No timers, no I/O.
 *
 * - `up`: takes traffic (unless ejected, below).
 * - `down`: `fall` probes in a row failed; needs `rise` good probes in a row to be `up` again.
 * - `draining`: /readyz answered 503, the backend's own way of saying "no new requests". Believed
 *   at once (no `fall` count: the backend told us itself, it is not a guess), and like `down` it
 *   needs `rise` good probes to come back.
 * A probe that connected but got no answer in time (`slow`) counts toward `fall` like any failure.
 * But a backend that went down only that way is alive (overloaded, or frozen), not gone: when no
 * backend is eligible at all, such a backend still takes requests (`panicEligible`, Envoy's
 * "panic routing"). Otherwise probes that are late on a busy machine, or on app servers all
 * saturated by a spike, take every backend down together and every client gets 503 at once,
 * although the backends would have answered, later.
 * Passive ejection: `ejectAfter` proxied requests in a row that failed at the transport level
 * (refused, reset, timed out) eject the backend even while probes still pass; the next good
 * probe readmits it. This reacts at request rate, far faster than the probe interval, which is
 * what keeps a freshly killed backend from costing a retry on every request until probes notice.
 *
 * Starting state: `up`, and the prober probes at once. Starting `down` would refuse every request
 * for `rise` × interval after a load balancer (re)starts, even with every backend fine; starting
 * `up` risks at most a few failed attempts on a dead backend, which retries and passive ejection
 * absorb, and the immediate first probe settles it within one probe timeout.
 */

export const BACKEND_STATES = ['up', 'down', 'draining'] as const;
export type BackendState = (typeof BACKEND_STATES)[number];

/**
 * `ok`: /readyz 2xx. `draining`: /readyz 503. `slow`: connected, but no answer within the probe's
 * bound. `fail`: anything else: another status, a refused or unreachable address, an error.
 */
export type ProbeOutcome = 'ok' | 'draining' | 'slow' | 'fail';

export interface HealthThresholds {
  /** Consecutive failed probes that take an `up` backend `down`. */
  readonly fall: number;
  /** Consecutive good probes that bring a `down` or `draining` backend back `up`. */
  readonly rise: number;
  /** Consecutive failed proxied requests that eject a backend until its next good probe. */
  readonly ejectAfter: number;
}

export class BackendHealth {
  private current: BackendState = 'up';
  private isEjected = false;
  private goodProbes = 0;
  private badProbes = 0;
  private failedRequests = 0;
  /** How the last failed probe failed (undefined after a good one). */
  private lastBad: 'slow' | 'fail' | undefined;
  /** It answered draining since its last good probe: it asked for no new requests. */
  private drained = false;

  constructor(private readonly t: HealthThresholds) {}

  get state(): BackendState {
    return this.current;
  }

  get ejected(): boolean {
    return this.isEjected;
  }

  /** May new requests go to this backend? */
  get eligible(): boolean {
    return this.current === 'up' && !this.isEjected;
  }

  /**
   * May this backend take requests when no backend is `eligible`? When it is down because its
   * probes connected and then went unanswered (alive but slow), and no proxied request failed
   * at the transport level since (not ejected). Never when draining or refusing connections.
   */
  get panicEligible(): boolean {
    // A draining backend whose probes then time out (one shutting down on a busy machine: CI saw
    // it) went down the slow way, but it still asked for no new requests.
    return this.current === 'down' && this.lastBad === 'slow' && !this.isEjected && !this.drained;
  }

  /** Feeds one probe result; returns true when `state`, `ejected`, `eligible` or `panicEligible` changed. */
  observeProbe(outcome: ProbeOutcome): boolean {
    const before = this.snapshot();
    switch (outcome) {
      case 'ok':
        this.badProbes = 0;
        this.goodProbes += 1;
        // A good probe is "the next successful health check" that ends a passive ejection.
        this.isEjected = false;
        this.failedRequests = 0;
        this.lastBad = undefined;
        this.drained = false;
        if (this.current !== 'up' && this.goodProbes >= this.t.rise) this.current = 'up';
        break;
      case 'draining':
        this.goodProbes = 0;
        this.badProbes = 0;
        this.lastBad = undefined;
        this.drained = true;
        this.current = 'draining';
        break;
      case 'slow':
      case 'fail':
        this.goodProbes = 0;
        this.badProbes += 1;
        this.lastBad = outcome;
        if (this.current !== 'down' && this.badProbes >= this.t.fall) this.current = 'down';
        break;
    }
    return before !== this.snapshot();
  }

  /** A proxied request got response headers: the transport works. Cheap on the hot path. */
  observeRequestSuccess(): void {
    this.failedRequests = 0;
  }

  /** A proxied request failed at the transport level; returns true when this ejected the backend. */
  observeRequestFailure(): boolean {
    this.failedRequests += 1;
    if (!this.isEjected && this.failedRequests >= this.t.ejectAfter) {
      this.isEjected = true;
      return true;
    }
    return false;
  }

  /**
   * The stall watch found the backend frozen (requests unanswered, a liveness probe too): eject
   * it at once, like `ejectAfter` failed requests would; the next good probe readmits it.
   * Returns true when this ejected it (false: it was ejected already).
   */
  observeStall(): boolean {
    if (this.isEjected) return false;
    this.isEjected = true;
    return true;
  }

  private snapshot(): string {
    return `${this.current}/${this.isEjected}/${this.panicEligible}`;
  }
}
