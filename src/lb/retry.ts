import { ErrorCode } from '../shared/errors.js';

/**
 * When a proxied request that failed may be sent again, to another backend.
 *
 * Only failures where no response byte came back are candidates (once the response has started
 * streaming to the client there is nothing to take back). Among those:
 * - `connect`: the connection to the backend was never made (refused, connect timeout,
 *   unreachable), so the backend never saw the request. Retrying cannot run anything twice, and
 *   is allowed for every method. This is HAProxy's `retry-on conn-failure` + `redispatch`, and it
 *   is what lets a POST survive a backend that died a moment before the load balancer noticed.
 * - `reset`: the connection broke after the request was (maybe) sent and before response headers
 *   arrived. The backend may have acted on it, so it is retried only when running it twice is
 *   harmless: an idempotent method (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, PUT, DELETE) or a request
 *   carrying an `Idempotency-Key` (the app deduplicates on it).
 * - `stalled`: the load balancer itself aborted the attempt because its backend froze (no response
 *   from it for a while, and a fresh liveness probe got no answer either: stall.ts). Like
 *   `reset`, the backend may hold the request, so only idempotent or keyed requests move on.
 * - `busy`: every connection to the backend stayed busy and its queue was full or waited too long
 *   (upstream.ts). Never sent, so like `connect` any method may go to another backend; it is not
 *   held against the backend either (a saturated backend ejected would only push its load on the
 *   others).
 * - `unavailable`: the backend answered 503 within `QUICK_503_MS` of getting the request: it did
 *   not serve it (shutting down, its own link to Redis or the database gone) while another
 *   backend may. It may have acted on it (an outcome it could not confirm), so like `reset` only
 *   idempotent or keyed requests move on, and only while another backend is eligible: otherwise
 *   the backend's own 503 goes to the client as it is (proxy.ts decides before dropping it).
 *   HAProxy's `retry-on 503`. A 503 that took longer is the app's answer after waiting on a
 *   shared dependency (a failover outlasting its budget): another backend would wait the same, so
 *   it goes to the client, and an outage is not multiplied by the number of backends.
 * - `timeout` (no response headers in time) and `other` (a malformed response, say) are never
 *   retried: the backend may still be working on the request, and a slow request sent to every
 *   backend in turn would take them all down (a retry storm).
 * Every retry is bounded twice: by `retries` (attempts after the first) and by a deadline counted
 * from when the request arrived, so a request never wanders for longer than a user waits.
 */

export type FailureKind = 'connect' | 'busy' | 'reset' | 'stalled' | 'unavailable' | 'timeout' | 'other';

// Error codes: the socket's own, or those of our upstream client (upstream.ts UPSTREAM_CODES).
// Connection never established: the request never left the load balancer.
const CONNECT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  ErrorCode.UPSTREAM_CONNECT_TIMEOUT,
  // The pool was closing: the request was never sent.
  ErrorCode.UPSTREAM_POOL_CLOSED,
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'EADDRNOTAVAIL',
]);

// The backend's connections were all busy and its queue full or too slow: never sent.
const BUSY_CODES: ReadonlySet<string> = new Set([ErrorCode.UPSTREAM_QUEUE_FULL, ErrorCode.UPSTREAM_QUEUE_TIMEOUT]);

// Established connection broken before response headers: the request may have been processed.
const RESET_CODES: ReadonlySet<string> = new Set([ErrorCode.UPSTREAM_CLOSED, 'ECONNRESET', 'EPIPE', 'ECONNABORTED']);

const TIMEOUT_CODES: ReadonlySet<string> = new Set([ErrorCode.UPSTREAM_HEADERS_TIMEOUT, ErrorCode.UPSTREAM_BODY_TIMEOUT, 'ETIMEDOUT']);

function codeOf(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  // Node wraps some socket errors; the cause carries the errno code.
  const cause = (e as { cause?: unknown }).cause;
  return cause !== undefined && cause !== e ? codeOf(cause) : undefined;
}

/** Sorts a transport error. (`stalled` and `unavailable` are never an error's own kind: the proxy knows it aborted.) */
export function classifyUpstreamError(e: unknown): FailureKind {
  const code = codeOf(e);
  if (code === undefined) return 'other';
  if (CONNECT_CODES.has(code)) return 'connect';
  if (BUSY_CODES.has(code)) return 'busy';
  if (RESET_CODES.has(code)) return 'reset';
  if (TIMEOUT_CODES.has(code)) return 'timeout';
  return 'other';
}

/** RFC 9110 §9.2.2 idempotent methods (TRACE left out: nobody should proxy it). */
export function isIdempotentMethod(method: string): boolean {
  switch (method) {
    case 'GET':
    case 'HEAD':
    case 'OPTIONS':
    case 'PUT':
    case 'DELETE':
      return true;
    default:
      return false;
  }
}

export interface RetryRequestFacts {
  readonly method: string;
  readonly hasIdempotencyKey: boolean;
}

/** May this request run twice without harm: an idempotent method, or a key the app deduplicates on. */
export function isRepeatable(req: RetryRequestFacts): boolean {
  return isIdempotentMethod(req.method) || req.hasIdempotencyKey;
}

export interface RetryPolicy {
  /**
   * May a request that failed with `kind` before any response byte be sent to another backend?
   * `attempt` counts attempts made so far (1 after the first failed); `elapsedMs` is the time
   * since the request arrived.
   */
  mayRetry(kind: FailureKind, req: RetryRequestFacts, attempt: number, elapsedMs: number): boolean;
}

export interface RetryLimits {
  /** Attempts after the first (config `lb.retries`). */
  readonly retries: number;
  /** No new attempt starts this long after the request arrived. */
  readonly deadlineMs: number;
}

/**
 * A 503 this quick (ms from sending the request) is a backend turning it away, not one that
 * waited on a shared dependency and gave up: our app servers hold a request through a failover
 * for seconds before answering 503, and the answer of one that is shutting down or lost its own
 * link comes in milliseconds.
 */
export const QUICK_503_MS = 1_000;

/**
 * 10 s: past that a person has given up on the page, and an automated client has usually timed
 * out and sent its own retry, so another attempt by us only adds load.
 */
export const DEFAULT_RETRY_DEADLINE_MS = 10_000;

export function createRetryPolicy(limits: RetryLimits): RetryPolicy {
  return {
    mayRetry(kind, req, attempt, elapsedMs) {
      if (attempt > limits.retries || elapsedMs >= limits.deadlineMs) return false;
      if (kind === 'connect' || kind === 'busy') return true;
      if (kind === 'reset' || kind === 'stalled' || kind === 'unavailable') return isRepeatable(req);
      return false;
    },
  };
}
