import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, HastackError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { Backend, BackendSet } from './backends.js';
import { readBody, type BodyHolder } from './body.js';
import type { LbCounters } from './counters.js';
import type { BodyBudget } from './limits.js';
import { downstreamResponseHeaders, upstreamRequestHeaders, type UpstreamRequestHeaders } from './headers.js';
import type { BalancingPolicy } from './policy.js';
import { sendError } from './respond.js';
import { classifyUpstreamError, isRepeatable, QUICK_503_MS, type FailureKind, type RetryPolicy } from './retry.js';
import type { PendingAttempt } from './stall.js';
import type { UpstreamAttempt, UpstreamHandler } from './upstream.js';
import type { WaitList } from './wait-list.js';

/**
 * The request path: read the body (bounded), pick a backend, stream the response back; on a
 * failure before any response byte, ask the retry policy and try another backend.
 *
 * Hot path (ENGINE-NOTES: the proxy's CPU per request is what limits it; profiled with
 * `node --cpu-prof` and `perf` under wrk): one `Exchange` per request is at once the request's
 * state and the handler of its upstream attempts, so there is no per-request closure, promise,
 * stream or options object beyond the header arrays and the request record.
 *
 * Upstream: our own keep-alive client (upstream.ts) instead of undici's Pool. Measured with wrk
 * (64 connections, 2 node:http backends, this 2-core machine; user+system CPU of the proxy per
 * request): undici `pool.dispatch` 39 + 21 µs, upstream.ts 25 + 20 µs; a node:http server that
 * answers by itself, the floor of anything with node:http in front, 7.6 + 7.7 µs. undici spent
 * its share on validating headers that Node's strict parser already validated, on calling its
 * WASM llhttp back once per header field and value, and on per-request Request bookkeeping. The
 * kernel part (four loopback socket calls per request) is the same for every proxy.
 */

/** What happens when a request is over, for metrics and the access log (metrics.ts). */
export interface RequestObserver {
  /**
   * `status` is what the client got (499: the client went away first); `attempts` counts
   * dispatches; `backend` is the last one tried.
   */
  done(x: FinishedRequest): void;
}

export interface FinishedRequest {
  readonly method: string;
  readonly path: string;
  readonly requestId: string;
  readonly status: number;
  readonly startedAt: number;
  readonly attempts: number;
  readonly backendId: string | undefined;
  readonly clientAddress: string | undefined;
}

export interface ProxyDeps {
  readonly backends: BackendSet;
  readonly policy: BalancingPolicy;
  readonly retry: RetryPolicy;
  readonly counters: LbCounters;
  readonly maxBodyBytes: number;
  /** Bytes of request bodies buffered at once, over all requests (`lb.maxBufferedBodyBytes`). */
  readonly bodyBudget: BodyBudget;
  /** A client that reads nothing of its response for this long is cut (`lb.clientSendTimeoutMs`). */
  readonly clientSendTimeoutMs: number;
  readonly log: Logger;
  readonly observer: RequestObserver;
  /** `Strict-Transport-Security` value added to answers over TLS (lb.tls.hsts); undefined: none. */
  readonly hsts?: string;
}

/** How a failure that could not be retried is reported to the client. */
function failureResponse(kind: FailureKind): { status: 502 | 503 | 504; code: ErrorCode; message: string } {
  switch (kind) {
    case 'busy':
      return {
        status: 503,
        code: ErrorCode.OVERLOADED,
        message: 'every app server is busy (all connections in use and the wait for one full or too long); the request was not processed, retry shortly',
      };
    case 'connect':
      // The request never reached a backend: the client may safely send it again.
      return { status: 503, code: ErrorCode.UPSTREAM_UNAVAILABLE, message: 'no app server could be reached; the request was not processed, retry shortly' };
    case 'unavailable':
      // Only when the other backend it was meant for went away in between (proxy.ts checks first).
      return { status: 503, code: ErrorCode.UPSTREAM_UNAVAILABLE, message: 'the app server turned the request away and no other could take it; retry shortly' };
    case 'timeout':
      return { status: 504, code: ErrorCode.TIMEOUT, message: 'the app server did not answer in time; the request may or may not have been processed' };
    case 'reset':
    case 'stalled':
    case 'other':
      return {
        status: 502,
        code: ErrorCode.UPSTREAM_UNAVAILABLE,
        message: 'the app server failed while handling the request; it may or may not have been processed',
      };
  }
}

/** The error an attempt whose quick 503 was dropped is aborted with (its kind is `unavailable`). */
class TurnedAwayError extends HastackError {
  constructor() {
    super(ErrorCode.UPSTREAM_UNAVAILABLE, 'the app server answered 503 at once; the request goes to another');
  }
}

/** The error the stall watch aborts an attempt with: classified `stalled` by retry.ts. */
class StalledError extends HastackError {
  constructor() {
    super(ErrorCode.UPSTREAM_UNAVAILABLE, 'the app server froze (no answer, liveness probe unanswered); the attempt was aborted');
  }
}

/**
 * Status recorded for a request whose client went away before the answer was complete (nginx's
 * convention; never sent to anyone).
 */
export const CLIENT_CLOSED_STATUS = 499;

/** Shared by every exchange of one load balancer; methods, not closures. */
class ProxyCore {
  constructor(readonly deps: ProxyDeps) {}

  /** Starts the first attempt, or the next one after a retryable failure. */
  next(x: Exchange): void {
    const { backends, policy, counters } = this.deps;
    const candidates = x.tried === undefined ? backends.eligible : backends.eligibleExcept(x.tried);
    const backend = policy.pick(candidates);
    if (backend === undefined) {
      if (x.attempts === 0) {
        this.error(x, 503, ErrorCode.UPSTREAM_UNAVAILABLE, 'no app server is available; retry shortly');
      } else {
        // Retrying was allowed but every other backend is down or was tried already.
        this.fail(x, x.lastKind);
      }
      return;
    }
    x.attempts += 1;
    if (x.attempts > 1) {
      counters.retries += 1;
      backend.counters.retries += 1;
    }
    backend.counters.requests += 1;
    backend.inflight += 1;
    x.backend = backend;
    x.sentAt = Date.now();
    x.attempt = undefined;
    x.stalled = false;
    x.turnedAway = false;
    x.live = true;
    backend.waiting.add(x);
    backend.pool.dispatch(x.options, x);
  }

  fail(x: Exchange, kind: FailureKind): void {
    const f = failureResponse(kind);
    if (kind === 'busy') this.deps.counters.queueRefused += 1;
    this.error(x, f.status, f.code, f.message);
  }

  /** `extra` replaces the headers chosen by status (Retry-After for 503, close for 400/413). */
  error(x: Exchange, status: 400 | 413 | 502 | 503 | 504, code: ErrorCode, message: string, extra?: Readonly<Record<string, string>>): void {
    this.deps.counters.errors[status] += 1;
    sendError(x.res, status, code, message, x.up.requestId, extra ?? (status === 503 ? RETRY_AFTER : status === 502 || status === 504 ? undefined : CLOSE));
    this.finish(x, status);
  }

  /** The request's body no longer needs its place in the budget. */
  releaseBody(x: Exchange): void {
    if (x.reserved !== 0) {
      this.deps.bodyBudget.release(x.reserved);
      x.reserved = 0;
    }
  }

  finish(x: Exchange, status: number): void {
    this.releaseBody(x);
    x.status = status;
    // The exchange itself is the record: no object allocated per request for the observer.
    this.deps.observer.done(x);
  }
}

const RETRY_AFTER: Readonly<Record<string, string>> = { 'retry-after': '1' };
/**
 * 400 and 413 close the connection: after a framing error we cannot know where the next request
 * starts, and after 413 the rest of the body is still on the wire (closing is cheaper than
 * reading and discarding it).
 */
const CLOSE: Readonly<Record<string, string>> = { connection: 'close' };
/** Refused while its body is still on the wire: the client may retry, and this connection ends. */
const RETRY_AFTER_CLOSE: Readonly<Record<string, string>> = { 'retry-after': '1', connection: 'close' };

/** One client request on its way through the load balancer, and the handler of each of its attempts. */
class Exchange implements UpstreamHandler, PendingAttempt, FinishedRequest, BodyHolder {
  // Links of the backend's waiting list (wait-list.ts), while waiting for response headers.
  waitPrev: PendingAttempt | undefined = undefined;
  waitNext: PendingAttempt | undefined = undefined;
  waitList: WaitList<PendingAttempt> | undefined = undefined;
  /** The backend of the current attempt. */
  backend: Backend | undefined = undefined;
  attempts = 0;
  /** Backends that failed this request, so a retry goes elsewhere (allocated on the first retry). */
  tried: Backend[] | undefined = undefined;
  /** The previous attempt's failure, reported if the retry finds no other backend. */
  lastKind: FailureKind = 'connect';
  sentAt = 0;
  /** The current attempt, to abort it or resume its paused body. */
  attempt: UpstreamAttempt | undefined = undefined;
  stalled = false;
  /** We dropped the current attempt's quick 503 to send the request elsewhere. */
  turnedAway = false;
  /** The current attempt holds a place on its backend (inflight, waiting) not yet released. */
  live = false;
  /** We aborted the attempt because the client went away: not the backend's fault. */
  clientGone = false;
  /** Response headers were written to the client: from here on nothing can be retried. */
  responded = false;
  /** The status the client got (set when finished); `upstreamStatus` the backend's answer. */
  status = 0;
  upstreamStatus = 0;
  /** Waiting for the client to drain its response (one set of listeners and one timer at a time). */
  awaitingDrain = false;
  /** Bytes of the body budget this request holds (released when it finishes). */
  reserved = 0;
  /** An idempotent method or an Idempotency-Key the app will see (decided after the header strip). */
  readonly repeatable: boolean;
  /** Set once the body is read (the object is the request's, so `body` may be filled in later). */
  readonly options: { readonly method: string; readonly path: string; readonly headers: readonly string[]; body: Buffer | undefined };

  constructor(
    readonly core: ProxyCore,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly method: string,
    readonly path: string,
    readonly up: UpstreamRequestHeaders,
    readonly startedAt: number,
  ) {
    this.repeatable = isRepeatable({ method, hasIdempotencyKey: up.hasIdempotencyKey });
    this.options = { path, method, headers: up.headers, body: undefined };
  }

  abortStalled(): void {
    if (this.responded) return;
    this.stalled = true;
    this.attempt?.abort(new StalledError());
  }

  /** The attempt is over (answered or failed): the backend no longer holds it. */
  private release(): void {
    const b = this.backend;
    if (b === undefined || !this.live) return;
    this.live = false;
    b.waiting.delete(this);
    b.inflight -= 1;
  }

  /** The client left: stop the upstream attempt (its connection is then closed). */
  private dropClient(): void {
    this.clientGone = true;
    this.attempt?.abort();
  }

  onStart(attempt: UpstreamAttempt): void {
    this.attempt = attempt;
  }

  onHeaders(statusCode: number, rawHeaders: string[]): void {
    // (1xx informational answers never get here: upstream.ts skips them.)
    const b = this.backend as Backend;
    b.waiting.delete(this);
    b.lastProgressAt = Date.now();
    b.health.observeRequestSuccess();
    if (this.res.destroyed) {
      // The client left while the backend worked: stop reading its answer.
      this.dropClient();
      return;
    }
    if (statusCode === 503 && this.mayMoveOn(b)) {
      // Turned away at once (retry.ts `unavailable`): its 503 is dropped, another backend takes it.
      this.turnedAway = true;
      this.attempt?.abort(new TurnedAwayError());
      return;
    }
    const headers = downstreamResponseHeaders(rawHeaders, this.up.requestId);
    const hsts = this.core.deps.hsts;
    if (hsts !== undefined && this.up.secure) headers.push('strict-transport-security', hsts);
    this.res.writeHead(statusCode, headers);
    this.responded = true;
    this.upstreamStatus = statusCode;
  }

  /** After a quick 503 from `b`: may the request go to another backend (one is eligible)? */
  private mayMoveOn(b: Backend): boolean {
    const now = Date.now();
    const { backends, retry } = this.core.deps;
    return (
      now - this.sentAt <= QUICK_503_MS &&
      retry.mayRetry('unavailable', this, this.attempts, now - this.startedAt) &&
      backends.eligible.some((o) => o !== b && this.tried?.includes(o) !== true)
    );
  }

  onData(chunk: Buffer): boolean {
    if (this.res.write(chunk)) return true;
    if (this.res.destroyed) {
      this.dropClient();
      return false;
    }
    // Back-pressure: the client reads slower than the backend sends; the upstream socket pauses
    // (and its body timeout with it: upstream.ts) until 'drain'. A client that leaves, or reads
    // nothing for `clientSendTimeoutMs`, is dropped: the attempt is aborted as the client's doing,
    // never counted against the backend. Closures and a timer only on this rare path. (A chunked
    // read can hand several pieces over after the first refusal: one wait covers them.)
    if (this.awaitingDrain) return false;
    this.awaitingDrain = true;
    const attempt = this.attempt;
    const res = this.res;
    const onDrain = (): void => {
      this.awaitingDrain = false;
      clearTimeout(timer);
      res.off('close', onClose);
      attempt?.resume();
    };
    const onClose = (): void => {
      clearTimeout(timer);
      res.off('drain', onDrain);
      this.dropClient();
    };
    const timer = setTimeout(() => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      this.core.deps.counters.slowClientsCut += 1;
      this.dropClient();
      res.destroy();
    }, this.core.deps.clientSendTimeoutMs);
    res.once('drain', onDrain);
    res.once('close', onClose);
    return false;
  }

  onComplete(last: Buffer | undefined): void {
    this.release();
    // One call for the common small response: headers and body leave in one write.
    if (last !== undefined) this.res.end(last);
    else this.res.end();
    this.core.finish(this, this.upstreamStatus);
  }

  onError(err: Error): void {
    this.release();
    const core = this.core;
    const { backends, counters, log, retry } = core.deps;
    const backend = this.backend as Backend;
    const kind = this.stalled ? 'stalled' : this.turnedAway ? 'unavailable' : classifyUpstreamError(err);
    if (this.clientGone || (this.res.destroyed && !this.responded)) {
      // The client is gone: nobody to answer or retry for, and not the backend's fault.
      counters.aborted += 1;
      core.finish(this, CLIENT_CLOSED_STATUS);
      return;
    }
    if (this.responded) {
      // Mid-body: nothing to take back. Cut the client's response so it sees a truncated answer,
      // not a silently short one.
      counters.aborted += 1;
      if (kind === 'timeout' || kind === 'reset') backends.observeRequestFailure(backend, `${this.method} ${this.path}: ${describe(err)}`);
      this.res.destroy();
      core.finish(this, CLIENT_CLOSED_STATUS);
      return;
    }
    // A stalled backend was already judged by the stall watch; do not count it twice. A busy one
    // (connections and queue full) is working, not failing: ejecting it would only move its load.
    // One that turned the request away answered: its probes say whether it takes traffic.
    if (kind !== 'stalled' && kind !== 'busy' && kind !== 'unavailable') backends.observeRequestFailure(backend, `${this.method} ${this.path}: ${describe(err)}`);
    this.lastKind = kind;
    if (!retry.mayRetry(kind, this, this.attempts, Date.now() - this.startedAt)) {
      log.warn({ requestId: this.up.requestId, backend: backend.id, kind, attempts: this.attempts, err: describe(err) }, 'upstream request failed');
      core.fail(this, kind);
      return;
    }
    (this.tried ??= []).push(backend);
    core.next(this);
  }

  /** For RetryRequestFacts: read from the headers sent upstream, after every strip (headers.ts). */
  get hasIdempotencyKey(): boolean {
    return this.up.hasIdempotencyKey;
  }

  // For FinishedRequest (read only by metrics and the sampled access log).
  get requestId(): string {
    return this.up.requestId;
  }

  get backendId(): string | undefined {
    return this.backend?.id;
  }

  get clientAddress(): string | undefined {
    return this.req.socket.remoteAddress;
  }
}

/**
 * Refuses requests whose framing or target we do not accept, before anything reaches a backend.
 * Node's parser has already refused the worst (both Content-Length and chunked, bad chunk sizes,
 * oversize or malformed headers: 400/431 and the connection closed); this covers what it lets
 * through. Returns the reason, or undefined when the request may go on.
 */
function refusal(path: string, up: UpstreamRequestHeaders, headerCount: number, maxHeaders: number): string | undefined {
  // Only origin-form targets ("/path?q"): we are not a forward proxy.
  if (path.charCodeAt(0) !== 47 /* '/' */) return 'the request target must be a path starting with "/"';
  if (headerCount > maxHeaders) return `more than ${maxHeaders} request headers`;
  if (up.invalid !== undefined) return `malformed request framing: ${up.invalid}`;
  if (up.contentLength !== undefined && Number.isNaN(up.contentLength)) return 'malformed Content-Length';
  return undefined;
}

/**
 * 100 request headers at most: a browser sends 10–20, an API client fewer; more is an attack on
 * the parsers behind us (Node's own limit, 2000, is for compatibility, not defence).
 */
export const MAX_REQUEST_HEADERS = 100;

export function createProxyHandler(deps: ProxyDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const core = new ProxyCore(deps);
  const { counters } = deps;

  function start(x: Exchange): void {
    try {
      core.next(x);
    } catch (e) {
      // A bug in our own code: never leave the client hanging.
      deps.log.error({ requestId: x.up.requestId, err: describe(e) }, 'proxy failure');
      if (!x.res.headersSent) core.error(x, 502, ErrorCode.INTERNAL, 'the load balancer failed to proxy the request');
      else x.res.destroy();
    }
  }

  return function handle(req: IncomingMessage, res: ServerResponse): void {
    const startedAt = Date.now();
    counters.requests += 1;
    const up = upstreamRequestHeaders(req.rawHeaders, req.socket.remoteAddress, (req.socket as { encrypted?: boolean }).encrypted === true);
    const path = req.url ?? '/';
    const x = new Exchange(core, req, res, req.method ?? 'GET', path, up, startedAt);
    const refused = refusal(path, up, req.rawHeaders.length / 2, MAX_REQUEST_HEADERS);
    if (refused !== undefined) {
      core.error(x, 400, ErrorCode.BAD_REQUEST, refused);
      return;
    }
    const length = up.contentLength;
    if (length !== undefined && length > deps.maxBodyBytes) {
      tooLarge(x);
      return;
    }
    const hasBody = up.chunked || (length !== undefined && length > 0);
    if (!hasBody) {
      start(x);
      return;
    }
    // A declared length takes its place in the budget before a byte is read; a chunked body
    // piece by piece (body.ts).
    if (length !== undefined) {
      if (!deps.bodyBudget.reserve(length)) {
        overloaded(x);
        return;
      }
      x.reserved = length;
    }
    readBody(req, deps.maxBodyBytes, deps.bodyBudget, x).then(
      (r) => {
        if (r.kind === 'ok') {
          x.options.body = r.body;
          start(x);
        } else if (r.kind === 'too-large') tooLarge(x);
        else overloaded(x);
      },
      () => {
        // The client went away while sending its body: nothing to answer.
        core.releaseBody(x);
        res.destroy();
      },
    );
  };

  function tooLarge(x: Exchange): void {
    core.error(x, 413, ErrorCode.BAD_REQUEST, `the request body is larger than the load balancer's limit of ${deps.maxBodyBytes} bytes`);
  }

  function overloaded(x: Exchange): void {
    deps.bodyBudget.refused += 1;
    core.error(
      x,
      503,
      ErrorCode.OVERLOADED,
      'the load balancer is buffering as many request bodies as it may (lb.maxBufferedBodyBytes); the request was not processed, retry shortly',
      RETRY_AFTER_CLOSE,
    );
  }
}

function describe(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: string }).code;
    return code ? `${code}: ${e.message}` : e.message;
  }
  return String(e);
}
