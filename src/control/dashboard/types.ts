import type { ClusterEvent } from '../../shared/events.js';
import type { ClusterStatus, ServiceStatus } from '../status.js';

/**
 * The JSON the dashboard reads: `GET /v1/status`, and each `status` message of `GET /v1/stream`.
 * A superset of `hastack status --json` (ClusterStatus), so older readers keep working. Raw
 * counters only: rates and percentiles are computed by the page from two snapshots in a row.
 */
export interface DashboardService extends ServiceStatus {
  /** Seconds since the supervisor (re)started this process; null when it is not running. */
  readonly uptimeS: number | null;
  /** MariaDB replica: Seconds_Behind_Master (null: unknown or not replicating). */
  readonly lagS?: number | null;
  /** Redis master: the largest replica offset lag in bytes. */
  readonly lagBytes?: number;
}

/** One load balancer's counters (from its admin port, `:8404/-/stats` and `:8404/metrics`); `error` when unreachable. */
export interface LbSnapshot {
  readonly id: string;
  readonly requests: number;
  readonly retries: number;
  /** Requests answered with a status of 500 or more (from `hastack_lb_requests_total`). */
  readonly errors5xx: number;
  /** Cumulative latency histogram: finite `le` bounds in seconds, counts cumulative. */
  readonly latency: ReadonlyArray<{ readonly le: number; readonly count: number }>;
  /** Requests observed by the histogram (its `+Inf` bucket, which JSON cannot carry as a bound). */
  readonly latencyCount: number;
  readonly backends: ReadonlyArray<{ readonly id: string; readonly healthy: boolean; readonly state: string; readonly ejected: boolean }>;
  /** With lb.tls.acme: the certificate this LB serves (expiry) and the ACME loop's last failure (a warning, never an outage). */
  readonly acme?: { readonly serial?: string; readonly notAfter?: string; readonly lastError?: string; readonly lastErrorAt?: string };
  /** With lb.tls: the certificates this load balancer serves and their expiry (ISO time). */
  readonly certificates?: ReadonlyArray<{ readonly slot: string; readonly names: readonly string[]; readonly notAfter: string }>;
  readonly error?: string;
}

/** One BullMQ queue, read with a handful of O(1) Redis commands on the master. */
export interface QueueSnapshot {
  readonly name: string;
  readonly waiting: number;
  readonly active: number;
  readonly delayed: number;
  readonly failed: number;
  /** Jobs ever created (BullMQ's id counter): with the outstanding count gives the processing rate. */
  readonly created: number;
}

export interface DashboardStatus extends ClusterStatus {
  /** Milliseconds since the epoch when this snapshot was taken. */
  readonly ts: number;
  readonly services: DashboardService[];
  readonly lbs: LbSnapshot[];
  readonly queues: QueueSnapshot[];
  /** Memcached nodes that some cache client has taken out of its ring and not put back. */
  readonly ejectedCaches: string[];
  /** The config file `up` was given, for the CLI commands the page suggests (absent if unknown). */
  readonly configFile?: string;
}

/** A chaos report as listed by `GET /v1/reports`. */
export interface ReportSummary {
  readonly id: string;
  readonly scenario: string;
  readonly startedAt: string;
  readonly availability: number;
  /** Issue 22's figures: null in a report written before they existed. */
  readonly firstAttemptAvailability: number | null;
  readonly naiveAvailability: number | null;
  readonly promisesBroken: string[];
}

/** Messages of `GET /v1/stream` (server-sent events, `event:` is the type). */
export type StreamMessage = { readonly type: 'status'; readonly status: DashboardStatus } | { readonly type: 'events'; readonly events: ClusterEvent[] };
