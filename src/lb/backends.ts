import { BackendHealth, type BackendState, type HealthThresholds, type ProbeOutcome } from './health-state.js';
import type { PolicyCandidate } from './policy.js';
import type { PendingAttempt, WatchedBackend } from './stall.js';
import { WaitList } from './wait-list.js';
import { UpstreamPool } from './upstream.js';

/**
 * The backends (app servers) of one load balancer: their connection pools, health and counters.
 * The set owns membership and eligibility (who may take new requests); a balancing policy only
 * picks among what `eligible` hands it.
 */

// Upstream connection settings. Each number is chosen against the app host (Fastify on node:http).

/**
 * Idle keep-alive connections to a backend are closed by us after 60 s. The rule: the client side
 * of a keep-alive connection must close idle connections BEFORE the server does, otherwise the
 * server may close one at the moment we send a request on it, and that request fails with a reset
 * that may not be safely retryable. Fastify's default keepAliveTimeout is 72 s, so ours is LOWER
 * (60 s). `keepAliveMaxTimeout` caps the `Keep-Alive: timeout=` hint the app sends, so a backend
 * advertising a longer one cannot lift us above 60 s; a backend that advertises less is honoured
 * minus 2 s (upstream.ts), which keeps us below it.
 */
export const UPSTREAM_KEEPALIVE_MS = 60_000;

/**
 * 1 s to establish a connection. On a LAN or loopback a handshake takes well under a millisecond,
 * so a connect still pending after 1 s is a dead or cut-off host; moving the request to another
 * backend beats waiting for the kernel's SYN retransmits (1 s, 3 s, 7 s, ...). ENGINE-NOTES: a
 * short connect timeout is what keeps HAProxy's redispatch from stalling a second.
 */
export const UPSTREAM_CONNECT_TIMEOUT_MS = 1_000;

/**
 * 30 s for a backend to start answering (response headers), and at most 30 s of silence between
 * body chunks. A page that has not started after 30 s has lost its user; this bounds the requests
 * a frozen (SIGSTOPped) backend can hold, while health checks move new requests elsewhere within
 * `fall` × interval. Not retried (see retry.ts): the backend may still be running the request.
 */
export const UPSTREAM_HEADERS_TIMEOUT_MS = 30_000;
export const UPSTREAM_BODY_TIMEOUT_MS = 30_000;

/**
 * Connections and queue per backend: the config's `lb.backendMaxConnections`, `lb.backendQueue`,
 * `lb.backendQueueTimeoutMs` (reasons in src/config/schema.ts). The connection bound bounds file
 * descriptors (ENGINE-NOTES: the default fd limit here refuses HAProxy's maxconn 20000); beyond it
 * requests wait in a bounded queue, for a bounded time, instead of opening more sockets to an
 * already saturated app.
 */
export interface BackendLimits {
  readonly maxConnections: number;
  readonly maxQueue: number;
  readonly queueTimeoutMs: number;
}

/** 16 KiB of response headers, like our own limit for clients (server.ts) and undici's default. */
export const UPSTREAM_MAX_HEADER_BYTES = 16 * 1024;

export interface BackendCounters {
  /** Attempts sent to this backend (first tries and retries). */
  requests: number;
  /** Attempts that failed at the transport level (refused, reset, timed out, malformed answer). */
  errors: number;
  /** Attempts this backend received as a retry of an attempt that failed on another backend. */
  retries: number;
  /** Times passive checks ejected it. */
  ejections: number;
}

export class Backend implements PolicyCandidate, WatchedBackend {
  /** Requests sent to it and not yet finished; read by least-connections and p2c. */
  inflight = 0;
  /** Attempts waiting for response headers, oldest first: what the stall watch may rescue. */
  readonly waiting = new WaitList<PendingAttempt>();
  /** `Date.now()` of its last response headers: a backend that answers anything is not frozen. */
  lastProgressAt = 0;
  readonly counters: BackendCounters = { requests: 0, errors: 0, retries: 0, ejections: 0 };
  readonly health: BackendHealth;
  readonly pool: UpstreamPool;
  /** `http://address:port`. */
  readonly origin: string;

  constructor(
    /** The app service id, `<node>/app`. */
    readonly id: string,
    readonly address: string,
    readonly port: number,
    thresholds: HealthThresholds,
    limits: BackendLimits,
  ) {
    this.origin = `http://${address}:${port}`;
    this.health = new BackendHealth(thresholds);
    // No pipelining (upstream.ts): with one request per connection, a reset concerns exactly one
    // request, which is what makes "reset before response → retry" decidable.
    this.pool = new UpstreamPool(address, port, {
      maxConnections: limits.maxConnections,
      maxQueue: limits.maxQueue,
      queueTimeoutMs: limits.queueTimeoutMs,
      keepAliveMs: UPSTREAM_KEEPALIVE_MS,
      connectTimeoutMs: UPSTREAM_CONNECT_TIMEOUT_MS,
      headersTimeoutMs: UPSTREAM_HEADERS_TIMEOUT_MS,
      bodyTimeoutMs: UPSTREAM_BODY_TIMEOUT_MS,
      maxHeaderBytes: UPSTREAM_MAX_HEADER_BYTES,
    });
  }
}

export type BackendChangeReason = 'probe' | 'ejected' | 'stalled';

/** Called when a backend's state or eligibility changed (for logs and the diagnostics channel). */
export type BackendChangeListener = (b: Backend, reason: BackendChangeReason, detail: string) => void;

export class BackendSet {
  readonly all: readonly Backend[];
  /** Recomputed on every change (rare) so that picking needs no filtering (every request). */
  private eligibleNow: readonly Backend[] = [];
  private panic = false;

  constructor(
    backends: readonly Backend[],
    private readonly onChange: BackendChangeListener = () => {},
  ) {
    this.all = backends;
    this.recompute();
  }

  /**
   * Backends that may take new requests, in a stable order. Do not mutate. The healthy ones; when
   * there is none, the ones that are down only for answering their probes late (`panicking`).
   */
  get eligible(): readonly Backend[] {
    return this.eligibleNow;
  }

  /** No backend is healthy, and requests go to those that are alive but slow (health-state.ts). */
  get panicking(): boolean {
    return this.panic;
  }

  /** Eligible backends minus those already tried by this request (the retry path only). */
  eligibleExcept(tried: readonly Backend[]): Backend[] {
    return this.eligibleNow.filter((b) => !tried.includes(b));
  }

  observeProbe(b: Backend, outcome: ProbeOutcome, detail: string): void {
    if (b.health.observeProbe(outcome)) {
      this.recompute();
      this.onChange(b, 'probe', detail);
    }
  }

  observeRequestFailure(b: Backend, detail: string): void {
    b.counters.errors += 1;
    if (b.health.observeRequestFailure()) {
      b.counters.ejections += 1;
      this.recompute();
      this.onChange(b, 'ejected', detail);
    }
  }

  /** The stall watch found `b` frozen: no new requests until a good health check. */
  observeStall(b: Backend, detail: string): void {
    if (b.health.observeStall()) {
      b.counters.ejections += 1;
      this.recompute();
      this.onChange(b, 'stalled', detail);
    }
  }

  /** Waits for in-flight requests up to `graceMs`, then destroys whatever is left. */
  async close(graceMs: number): Promise<void> {
    await Promise.all(
      this.all.map(async (b) => {
        let timer: NodeJS.Timeout | undefined;
        const gentle = b.pool.close().then(() => true);
        const late = new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), graceMs);
          timer.unref();
        });
        try {
          const closed = await Promise.race([gentle, late]);
          if (!closed) b.pool.destroy();
        } finally {
          clearTimeout(timer);
        }
      }),
    );
  }

  private recompute(): void {
    const healthy = this.all.filter((b) => b.health.eligible);
    this.panic = healthy.length === 0 && this.all.some((b) => b.health.panicEligible);
    this.eligibleNow = this.panic ? this.all.filter((b) => b.health.panicEligible) : healthy;
  }
}

export interface BackendView {
  readonly id: string;
  readonly healthy: boolean;
  readonly state: BackendState;
  readonly ejected: boolean;
  readonly inflight: number;
}

export function viewOf(b: Backend): BackendView {
  return { id: b.id, healthy: b.health.eligible, state: b.health.state, ejected: b.health.ejected, inflight: b.inflight };
}
