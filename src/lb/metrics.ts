import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from '../shared/log.js';
import type { Backend, BackendChangeReason } from './backends.js';
import type { LbCounters } from './counters.js';
import type { BodyBudget, ConnectionGate } from './limits.js';
import type { FinishedRequest, RequestObserver } from './proxy.js';

/**
 * Prometheus metrics and the JSON access log of one load balancer.
 *
 * Cost on the hot path is what matters (the proxy's CPU per request is its throughput): a request
 * adds one increment in a plain array (by status), one histogram observation and, for the access
 * log, one counter test. Everything else (per-status counters, retries, backend states) is read
 * from plain numbers when Prometheus scrapes (`collect`), never updated per request through
 * prom-client's label lookups.
 *
 * Access log: every request the load balancer answered with an error or that failed (status ≥ 500,
 * 400, 413, 499) or that needed a retry is logged; of the others, one in `accessLogEvery`
 * (default 100). Measured here: one pino line costs ~2.7 µs (microbenchmark, to /dev/null), a
 * proxied request 60–80 µs of CPU; logging every request would add ~4 %, one in 100 ~0.04 %,
 * well inside the benchmark's run-to-run noise on this shared 2-core machine.
 */

/**
 * Latency buckets in seconds: from 1 ms (a cached read on loopback) to 30 s (the upstream headers
 * timeout), dense around 50–500 ms where a stall rescue or a retry shows.
 */
const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Statuses are counted in a flat array; 0–599 covers HTTP and our 499. */
const STATUS_SLOTS = 600;

export interface MetricsOptions {
  readonly serviceId: string;
  readonly counters: LbCounters;
  readonly backends: readonly Backend[];
  /** The traffic listeners' connection bound and the body budget (limits.ts). */
  readonly gate: ConnectionGate;
  readonly bodyBudget: BodyBudget;
  readonly accessLog: Logger;
  /** Log one in this many successful requests; 1 logs all, 0 none. */
  readonly accessLogEvery: number;
}

export class LbMetrics implements RequestObserver {
  readonly registry = new Registry();
  private readonly byStatus = new Float64Array(STATUS_SLOTS);
  private readonly latency: Histogram;
  private readonly stateChanges: Counter<'backend' | 'state' | 'reason'>;
  private sampled = 0;

  constructor(private readonly o: MetricsOptions) {
    const { registry, byStatus } = this;
    registry.setDefaultLabels({ lb: o.serviceId });
    const counters = o.counters;
    new Counter({
      name: 'hastack_lb_requests_total',
      help: 'Client requests finished, by the HTTP status the client got (499: the client went away).',
      labelNames: ['status'],
      registers: [registry],
      collect() {
        this.reset();
        for (let s = 0; s < STATUS_SLOTS; s++) {
          const n = byStatus[s] ?? 0;
          if (n !== 0) this.inc({ status: String(s) }, n);
        }
      },
    });
    new Counter({
      name: 'hastack_lb_retries_total',
      help: 'Attempts after the first, over all requests (each went to another backend).',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(counters.retries);
      },
    });
    const { gate, bodyBudget } = o;
    new Counter({
      name: 'hastack_lb_refused_total',
      help: 'Requests or connections refused because a bound was hit (503), and slow clients cut, by bound.',
      labelNames: ['bound'],
      registers: [registry],
      collect() {
        this.reset();
        this.inc({ bound: 'connections' }, gate.refused);
        this.inc({ bound: 'buffered-bodies' }, bodyBudget.refused);
        this.inc({ bound: 'backend-queue' }, counters.queueRefused);
        this.inc({ bound: 'client-send-timeout' }, counters.slowClientsCut);
      },
    });
    new Gauge({
      name: 'hastack_lb_client_connections',
      help: 'Client connections open on the traffic listeners (bounded by lb.maxConnections).',
      registers: [registry],
      collect() {
        this.set(gate.open);
      },
    });
    new Gauge({
      name: 'hastack_lb_buffered_body_bytes',
      help: 'Bytes of request bodies held at once (bounded by lb.maxBufferedBodyBytes).',
      registers: [registry],
      collect() {
        this.set(bodyBudget.used);
      },
    });
    this.latency = new Histogram({
      name: 'hastack_lb_request_duration_seconds',
      help: 'Time from the request arriving to its answer being complete (or failing).',
      buckets: LATENCY_BUCKETS_S,
      registers: [registry],
    });
    this.stateChanges = new Counter({
      name: 'hastack_lb_backend_state_changes_total',
      help: 'Backend eligibility changes, by backend, new state and cause (probe, ejected, stalled).',
      labelNames: ['backend', 'state', 'reason'],
      registers: [registry],
    });
    const backends = o.backends;
    new Gauge({
      name: 'hastack_lb_backend_up',
      help: '1 when the backend may take new requests, else 0.',
      labelNames: ['backend'],
      registers: [registry],
      collect() {
        for (const b of backends) this.set({ backend: b.id }, b.health.eligible ? 1 : 0);
      },
    });
    new Gauge({
      name: 'hastack_lb_backend_inflight',
      help: 'Requests sent to the backend and not finished.',
      labelNames: ['backend'],
      registers: [registry],
      collect() {
        for (const b of backends) this.set({ backend: b.id }, b.inflight);
      },
    });
    new Counter({
      name: 'hastack_lb_backend_errors_total',
      help: 'Attempts that failed at the transport level (refused, reset, timed out), by backend.',
      labelNames: ['backend'],
      registers: [registry],
      collect() {
        this.reset();
        for (const b of backends) this.inc({ backend: b.id }, b.counters.errors);
      },
    });
  }

  done(r: FinishedRequest): void {
    const status = r.status;
    const slot = status < STATUS_SLOTS ? status : 0;
    this.byStatus[slot] = (this.byStatus[slot] ?? 0) + 1;
    const ms = Date.now() - r.startedAt;
    this.latency.observe(ms / 1000);
    const every = this.o.accessLogEvery;
    const notable = status >= 499 || status === 400 || status === 413 || r.attempts > 1;
    if (notable || (every > 0 && ++this.sampled >= every)) {
      if (!notable) this.sampled = 0;
      this.o.accessLog.info(
        { reqId: r.requestId, method: r.method, path: r.path, status, ms, attempts: r.attempts, backend: r.backendId, client: r.clientAddress, sampled: !notable },
        'request',
      );
    }
  }

  backendChanged(b: Backend, state: string, reason: BackendChangeReason): void {
    this.stateChanges.inc({ backend: b.id, state, reason });
  }

  /** The Prometheus text exposition (content type `registry.contentType`). */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
