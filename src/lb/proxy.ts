import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { ErrorCode } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { Backend, BackendSet } from './backends.js';
import { readBody } from './body.js';
import type { LbCounters } from './counters.js';
import { downstreamResponseHeaders, upstreamRequestHeaders, type UpstreamRequestHeaders } from './headers.js';
import type { BalancingPolicy } from './policy.js';
import { sendError } from './respond.js';
import { classifyUpstreamError, type FailureKind, type RetryPolicy } from './retry.js';

/**
 * The request path: read the body (bounded), pick a backend, stream the response back; on a
 * failure before any response byte, ask the retry policy and try another backend.
 * Per request it allocates the header array, one exchange object and the body buffer, nothing
 * else on the success path (ENGINE-NOTES: the proxy's CPU per request is what limits it).
 */

export interface ProxyDeps {
  readonly backends: BackendSet;
  readonly policy: BalancingPolicy;
  readonly retry: RetryPolicy;
  readonly counters: LbCounters;
  readonly maxBodyBytes: number;
  readonly log: Logger;
}

/** One client request on its way through the load balancer; undici's `opaque` for the factory. */
interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  readonly path: string;
  readonly up: UpstreamRequestHeaders;
  readonly body: Buffer | undefined;
  readonly startedAt: number;
  /** The backend of the current attempt. */
  backend: Backend | undefined;
  /** Response headers were written to the client: from here on nothing can be retried. */
  responded: boolean;
}

/** undici calls this when response headers arrive; the client's response is the sink. */
function onUpstreamHeaders(data: Dispatcher.StreamFactoryData<Exchange>): Writable {
  const x = data.opaque;
  // `responseHeaders: 'raw'` makes undici hand over the flat [name, value, ...] array.
  const raw = data.headers as unknown as string[];
  x.res.writeHead(data.statusCode, downstreamResponseHeaders(raw, x.up.requestId));
  x.responded = true;
  x.backend?.health.observeRequestSuccess();
  return x.res;
}

/** How a failure that could not be retried is reported to the client. */
function failureResponse(kind: FailureKind): { status: 502 | 503 | 504; code: ErrorCode; message: string } {
  switch (kind) {
    case 'connect':
      // The request never reached a backend: the client may safely send it again.
      return { status: 503, code: ErrorCode.UPSTREAM_UNAVAILABLE, message: 'no app server could be reached; the request was not processed, retry shortly' };
    case 'timeout':
      return { status: 504, code: ErrorCode.TIMEOUT, message: 'the app server did not answer in time; the request may or may not have been processed' };
    case 'reset':
    case 'other':
      return {
        status: 502,
        code: ErrorCode.UPSTREAM_UNAVAILABLE,
        message: 'the app server failed while handling the request; it may or may not have been processed',
      };
  }
}

export function createProxyHandler(deps: ProxyDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { backends, policy, retry, counters, log } = deps;

  function fail(x: Exchange, kind: FailureKind): void {
    const f = failureResponse(kind);
    counters.errors[f.status] += 1;
    sendError(x.res, f.status, f.code, f.message, x.up.requestId, f.status === 503 ? { 'retry-after': '1' } : undefined);
  }

  async function forward(x: Exchange): Promise<void> {
    let candidates: readonly Backend[] = backends.eligible;
    let tried: Backend[] | undefined;
    let attempts = 0;
    // The previous attempt's failure, reported if the retry finds no other backend.
    let lastKind: FailureKind = 'connect';
    for (;;) {
      const backend = policy.pick(candidates);
      if (backend === undefined) {
        if (attempts === 0) {
          counters.errors[503] += 1;
          sendError(x.res, 503, ErrorCode.UPSTREAM_UNAVAILABLE, 'no app server is available; retry shortly', x.up.requestId, { 'retry-after': '1' });
        } else {
          // Retrying was allowed but every other backend is down or was tried already.
          fail(x, lastKind);
        }
        return;
      }
      attempts += 1;
      if (attempts > 1) {
        counters.retries += 1;
        backend.counters.retries += 1;
      }
      backend.counters.requests += 1;
      backend.inflight += 1;
      x.backend = backend;
      try {
        await backend.pool.stream<Exchange>(
          { path: x.path, method: x.method, headers: x.up.headers, body: x.body, opaque: x, responseHeaders: 'raw' },
          onUpstreamHeaders,
        );
        return;
      } catch (e) {
        const kind = classifyUpstreamError(e);
        if (x.responded) {
          // Mid-body: undici has already destroyed the client's response. A client that went
          // away is not the backend's fault; a timeout or reset from the backend is.
          counters.aborted += 1;
          if (kind === 'timeout' || kind === 'reset') backends.observeRequestFailure(backend, `${x.method} ${x.path}: ${describe(e)}`);
          return;
        }
        backends.observeRequestFailure(backend, `${x.method} ${x.path}: ${describe(e)}`);
        lastKind = kind;
        if (x.res.destroyed) return; // the client is gone; nobody to retry for
        if (!retry.mayRetry(kind, { method: x.method, hasIdempotencyKey: x.up.hasIdempotencyKey }, attempts, Date.now() - x.startedAt)) {
          log.warn({ requestId: x.up.requestId, backend: backend.id, kind, attempts, err: describe(e) }, 'upstream request failed');
          fail(x, kind);
          return;
        }
        (tried ??= []).push(backend);
        candidates = backends.eligibleExcept(tried);
      } finally {
        backend.inflight -= 1;
      }
    }
  }

  function onError(x: Exchange, e: unknown): void {
    // A bug in our own code: never leave the client hanging.
    log.error({ requestId: x.up.requestId, err: describe(e) }, 'proxy failure');
    if (!x.res.headersSent) {
      counters.errors[502] += 1;
      sendError(x.res, 502, ErrorCode.INTERNAL, 'the load balancer failed to proxy the request', x.up.requestId);
    } else {
      x.res.destroy();
    }
  }

  return function handle(req: IncomingMessage, res: ServerResponse): void {
    counters.requests += 1;
    const up = upstreamRequestHeaders(req.rawHeaders, req.socket.remoteAddress);
    const path = req.url ?? '/';
    const method = req.method ?? 'GET';
    // Only origin-form targets ("/path?q"): we are not a forward proxy.
    if (path.charCodeAt(0) !== 47 /* '/' */) {
      counters.errors[400] += 1;
      sendError(res, 400, ErrorCode.BAD_REQUEST, 'the request target must be a path starting with "/"', up.requestId);
      return;
    }
    if (up.contentLength !== undefined && Number.isNaN(up.contentLength)) {
      counters.errors[400] += 1;
      sendError(res, 400, ErrorCode.BAD_REQUEST, 'malformed Content-Length', up.requestId, { connection: 'close' });
      return;
    }
    if (up.contentLength !== undefined && up.contentLength > deps.maxBodyBytes) {
      tooLarge(res, up.requestId);
      return;
    }
    const hasBody = up.chunked || (up.contentLength !== undefined && up.contentLength > 0);
    if (!hasBody) {
      const x: Exchange = { req, res, method, path, up, body: undefined, startedAt: Date.now(), backend: undefined, responded: false };
      forward(x).catch((e: unknown) => onError(x, e));
      return;
    }
    const startedAt = Date.now();
    readBody(req, deps.maxBodyBytes).then(
      (r) => {
        if (r.kind === 'too-large') {
          tooLarge(res, up.requestId);
          return;
        }
        const x: Exchange = { req, res, method, path, up, body: r.body, startedAt, backend: undefined, responded: false };
        forward(x).catch((e: unknown) => onError(x, e));
      },
      () => {
        // The client went away while sending its body: nothing to answer.
        res.destroy();
      },
    );
  };

  function tooLarge(res: ServerResponse, requestId: string): void {
    counters.errors[413] += 1;
    // `Connection: close`: the rest of the body is still on the wire; ending the connection is
    // cheaper than reading and discarding up to the client's whole upload.
    sendError(res, 413, ErrorCode.BAD_REQUEST, `the request body is larger than the load balancer's limit of ${deps.maxBodyBytes} bytes`, requestId, {
      connection: 'close',
    });
  }
}

function describe(e: unknown): string {
  if (e instanceof Error) return (e as { code?: string }).code ? `${(e as { code?: string }).code}: ${e.message}` : e.message;
  return String(e);
}
