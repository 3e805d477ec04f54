import net from 'node:net';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { ChunkedDecoder, headEnd, parseResponseHead, ResponseParseError, type BodyFraming } from './upstream-parse.js';

/**
 * The upstream HTTP/1.1 client: a keep-alive connection pool per backend, one request at a time
 * per connection, on plain `net.Socket`s.
 *
 * Why not undici (which the load balancer used before): measured with wrk (64 connections, 2
 * node:http backends, this 2-core machine), a node:http server answering by itself costs ~15 µs of
 * CPU per request (half of it kernel), the proxy with undici's Pool ~60 µs, the same proxy on this
 * client ~35 µs. undici's cost is general-purpose machinery a proxy does not need: per-request
 * header validation (our headers come from Node's strict parser or from us), a WASM llhttp called
 * back once per header field and value, Buffers per header, a Request object with its own
 * bookkeeping. The proxy's CPU per request is its throughput (ENGINE-NOTES), so this path is ours.
 *
 * Scope, on purpose small: requests with a buffered body (or none); responses framed by
 * Content-Length, chunked or connection close (upstream-parse.ts); no pipelining (with one request
 * per connection a reset concerns exactly one request, which is what makes "reset before response
 * → retry" decidable, retry.ts); no upgrades (the proxy strips `Upgrade`).
 *
 * Errors carry a `code` that retry.ts classifies: the socket's own (ECONNREFUSED, ECONNRESET, ...)
 * or one of UPSTREAM_CODES (an UpstreamError, a HastackError like every error hastack makes).
 */

export const UPSTREAM_CODES = {
  /** The connection was not established within `connectTimeoutMs`: the request never left. */
  connectTimeout: ErrorCode.UPSTREAM_CONNECT_TIMEOUT,
  /** The backend closed the connection before the response was complete. */
  closed: ErrorCode.UPSTREAM_CLOSED,
  headersTimeout: ErrorCode.UPSTREAM_HEADERS_TIMEOUT,
  bodyTimeout: ErrorCode.UPSTREAM_BODY_TIMEOUT,
  /** Aborted by the caller (the client went away, or the stall watch) without a reason of its own. */
  aborted: ErrorCode.UPSTREAM_ABORTED,
  /** The pool is closing and takes no new requests. */
  poolClosed: ErrorCode.UPSTREAM_POOL_CLOSED,
  /** Every connection was busy and the queue full: the request was never sent. */
  queueFull: ErrorCode.UPSTREAM_QUEUE_FULL,
  /** Every connection stayed busy for `queueTimeoutMs`: the request was never sent. */
  queueTimeout: ErrorCode.UPSTREAM_QUEUE_TIMEOUT,
} as const;

export type UpstreamCode = (typeof UPSTREAM_CODES)[keyof typeof UPSTREAM_CODES];

/** One attempt to a backend failed for a reason of the upstream client's own (UPSTREAM_CODES). */
export class UpstreamError extends HastackError {
  constructor(code: UpstreamCode, message: string) {
    super(code, message);
    this.name = 'UpstreamError';
  }
}

export interface UpstreamRequest {
  readonly method: string;
  readonly path: string;
  /** Flat `[name, value, ...]`, already clean of hop-by-hop headers (headers.ts): sent as is. */
  readonly headers: readonly string[];
  readonly body: Buffer | undefined;
}

/** What an attempt's owner (proxy.ts's Exchange) is told; methods, so no closure per request. */
export interface UpstreamHandler {
  /** Synchronously at dispatch: `attempt` can abort it (and resume a paused body). */
  onStart(attempt: UpstreamAttempt): void;
  /** Final (non-1xx) response headers. */
  onHeaders(status: number, headers: string[]): void;
  /** A piece of the body; `false` pauses reading until `attempt.resume()`. */
  onData(chunk: Buffer): boolean;
  /**
   * The response is complete. `last`: its final piece of body, when it arrived with the end (the
   * usual small response): handed here rather than to onData so the proxy can write and end in
   * one call.
   */
  onComplete(last: Buffer | undefined): void;
  /** At most once, and never after onComplete. */
  onError(err: Error): void;
}

export interface UpstreamPoolOptions {
  readonly maxConnections: number;
  /** Requests waiting for a connection when all `maxConnections` are busy; more are refused. */
  readonly maxQueue: number;
  /** Longest wait in that queue; then the request fails (never sent, so another backend may take it). */
  readonly queueTimeoutMs: number;
  /** Idle connections are closed after this (capped by the backend's own `Keep-Alive` hint). */
  readonly keepAliveMs: number;
  readonly connectTimeoutMs: number;
  readonly headersTimeoutMs: number;
  /** Longest silence between two pieces of the body. */
  readonly bodyTimeoutMs: number;
  readonly maxHeaderBytes: number;
}

/**
 * A backend's `Keep-Alive: timeout=` hint is shortened by this much, so we close an idle
 * connection before the backend does (the same margin undici used).
 */
const KEEPALIVE_HINT_MARGIN_MS = 2_000;

/** One request on its way through a pool: queued, then on a connection. */
export class UpstreamAttempt {
  /** Set while the attempt runs on a connection. */
  conn: UpstreamConn | undefined = undefined;
  finished = false;
  /** `Date.now()` when it joined the pool's queue (0 when it never waited). */
  queuedAt = 0;

  constructor(
    readonly pool: UpstreamPool,
    readonly req: UpstreamRequest,
    readonly handler: UpstreamHandler,
  ) {}

  /** Stops the attempt; the handler gets `onError(err)` (unless it already finished). */
  abort(err?: Error): void {
    if (this.finished) return;
    const e = err ?? new UpstreamError(UPSTREAM_CODES.aborted, 'the request was aborted');
    if (this.conn !== undefined) this.conn.fail(e);
    else {
      this.pool.unqueue(this);
      this.fail(e);
    }
  }

  /** Reads the response again after the handler's `onData` returned false. */
  resume(): void {
    this.conn?.resumeReading();
  }

  fail(err: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.conn = undefined;
    this.handler.onError(err);
  }
}

export class UpstreamPool {
  private readonly idle: UpstreamConn[] = [];
  private readonly queue: UpstreamAttempt[] = [];
  /** Connections open or opening, idle or busy. */
  private open = 0;
  private closing = false;
  private onDrained: (() => void) | undefined = undefined;
  /** Expires the queue's head when it has waited too long; armed only while something is queued. */
  private queueTimer: NodeJS.Timeout | undefined = undefined;
  /** Every connection of the pool, idle or busy, for `destroy`. */
  readonly conns = new Set<UpstreamConn>();

  constructor(
    readonly host: string,
    readonly port: number,
    readonly opts: UpstreamPoolOptions,
  ) {}

  dispatch(req: UpstreamRequest, handler: UpstreamHandler): void {
    const a = new UpstreamAttempt(this, req, handler);
    handler.onStart(a);
    if (a.finished) return;
    if (this.closing) {
      a.fail(new UpstreamError(UPSTREAM_CODES.poolClosed, 'the load balancer is shutting down'));
      return;
    }
    // The most recently used idle connection: the one least likely to have been closed by the backend.
    const conn = this.idle.pop();
    if (conn !== undefined) conn.run(a);
    else if (this.open < this.opts.maxConnections) {
      this.open += 1;
      new UpstreamConn(this).run(a);
    } else this.enqueue(a);
  }

  /** Requests waiting for a connection now. */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * Every connection is busy: wait in a bounded queue, for a bounded time. Beyond either bound the
   * request fails without having been sent (retry.ts may send it elsewhere; the proxy answers 503
   * otherwise), so an overloaded backend cannot pile up requests and memory without limit.
   */
  private enqueue(a: UpstreamAttempt): void {
    if (this.queue.length >= this.opts.maxQueue) {
      a.fail(new UpstreamError(UPSTREAM_CODES.queueFull, `all ${this.opts.maxConnections} connections to the backend are busy and ${this.opts.maxQueue} requests wait already`));
      return;
    }
    a.queuedAt = Date.now();
    this.queue.push(a);
    this.queueTimer ??= setTimeout(() => this.expireQueue(), this.opts.queueTimeoutMs);
  }

  /** Fails queued requests that waited `queueTimeoutMs`; re-arms for the next one (FIFO: the head is the oldest). */
  private expireQueue(): void {
    this.queueTimer = undefined;
    const now = Date.now();
    const limit = this.opts.queueTimeoutMs;
    while (this.queue.length > 0 && now - (this.queue[0] as UpstreamAttempt).queuedAt >= limit) {
      (this.queue.shift() as UpstreamAttempt).fail(
        new UpstreamError(UPSTREAM_CODES.queueTimeout, `no connection to the backend became free within ${limit} ms (all ${this.opts.maxConnections} busy)`),
      );
    }
    const head = this.queue[0];
    if (head !== undefined) this.queueTimer = setTimeout(() => this.expireQueue(), Math.max(1, head.queuedAt + limit - now));
  }

  unqueue(a: UpstreamAttempt): void {
    const i = this.queue.indexOf(a);
    if (i >= 0) this.queue.splice(i, 1);
  }

  /** A connection finished its request and may take another. */
  release(conn: UpstreamConn): void {
    const next = this.queue.shift();
    if (next !== undefined) {
      conn.run(next);
      return;
    }
    if (this.closing) {
      conn.destroy();
      return;
    }
    this.idle.push(conn);
  }

  /** A connection is gone (closed by either side). */
  removed(conn: UpstreamConn): void {
    this.open -= 1;
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    // A queued request waits for a free slot: open one now that there is (also while closing:
    // queued requests were accepted before, and close() waits for them).
    const next = this.queue.shift();
    if (next !== undefined) {
      this.open += 1;
      new UpstreamConn(this).run(next);
    }
    if (this.closing && this.open === 0) this.onDrained?.();
  }

  /** Takes no new requests, closes idle connections, resolves when running requests are over. */
  close(): Promise<void> {
    this.closing = true;
    for (const c of [...this.idle]) c.destroy();
    // Queued requests keep their place (close() waits for them) but no timer keeps the process up.
    this.queueTimer?.unref();
    if (this.open === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.onDrained = resolve;
    });
  }

  /** Cuts everything, running and queued requests included. */
  destroy(): void {
    this.closing = true;
    const err = new UpstreamError(UPSTREAM_CODES.poolClosed, 'the load balancer shut down before the backend answered');
    clearTimeout(this.queueTimer);
    this.queueTimer = undefined;
    for (const a of this.queue.splice(0)) a.fail(err);
    for (const c of [...this.conns]) c.fail(err);
  }
}

/** One keep-alive connection to a backend. */
export class UpstreamConn {
  readonly socket: net.Socket;
  private attempt: UpstreamAttempt | undefined = undefined;
  private connected = false;
  private closed = false;
  /** The socket inactivity timeout currently set (changing it allocates a timer: only when needed). */
  private timeoutMs: number;
  // Response state.
  private head: Buffer | undefined = undefined;
  private framing: BodyFraming | undefined = undefined;
  private remaining = 0;
  private chunked: ChunkedDecoder | undefined = undefined;
  private keepAlive = false;
  private idleLimitMs: number;
  private idleSince = 0;

  constructor(private readonly pool: UpstreamPool) {
    pool.conns.add(this);
    this.idleLimitMs = pool.opts.keepAliveMs;
    this.timeoutMs = pool.opts.connectTimeoutMs;
    const s = net.connect({ host: pool.host, port: pool.port, noDelay: true });
    this.socket = s;
    s.setTimeout(this.timeoutMs);
    s.on('connect', () => this.onConnect());
    s.on('data', (d: Buffer) => {
      try {
        this.onData(d);
      } catch (e) {
        // A handler that threw (a bug, or a header Node refuses to send): fail the attempt
        // rather than the process.
        this.fail(e instanceof Error ? e : new Error(String(e)));
      }
    });
    s.on('timeout', () => this.onTimeout());
    s.on('error', (e: Error) => this.fail(e));
    s.on('close', () => this.onClose());
  }

  run(a: UpstreamAttempt): void {
    this.attempt = a;
    a.conn = this;
    this.head = undefined;
    this.framing = undefined;
    this.chunked = undefined;
    if (this.connected) {
      this.setTimeoutMs(this.pool.opts.headersTimeoutMs);
      this.send(a.req);
    }
    // Not connected yet: sent on 'connect'.
  }

  private onConnect(): void {
    this.connected = true;
    const a = this.attempt;
    if (a === undefined) return;
    this.setTimeoutMs(this.pool.opts.headersTimeoutMs);
    this.send(a.req);
  }

  /**
   * Writes the request as is: no validation here, because every piece was validated already:
   * method, target and client headers by Node's strict parser (no CR/LF can get through), the
   * rest made by headers.ts.
   */
  private send(req: UpstreamRequest): void {
    let head = `${req.method} ${req.path} HTTP/1.1\r\n`;
    const h = req.headers;
    let hasHost = false;
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i] as string;
      if (name.length === 4 && name.toLowerCase() === 'host') hasHost = true;
      head += `${name}: ${h[i + 1] as string}\r\n`;
    }
    // An HTTP/1.0 client may send no Host; HTTP/1.1 requires one upstream (RFC 9112 §3.2).
    if (!hasHost) head += `host: ${this.pool.host}:${this.pool.port}\r\n`;
    const body = req.body;
    if (body !== undefined) head += `content-length: ${body.length}\r\n`;
    // Methods that normally carry a body get an explicit empty one (what undici and curl send).
    else if (req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH') head += 'content-length: 0\r\n';
    head += '\r\n';
    if (body === undefined || body.length === 0) {
      this.socket.write(head, 'latin1');
    } else {
      this.socket.cork();
      this.socket.write(head, 'latin1');
      this.socket.write(body);
      this.socket.uncork();
    }
  }

  /**
   * The client reads slower than the backend sends: stop reading, and stop the body timeout too.
   * The silence that follows is the client's, not the backend's; were the timeout left running it
   * would fail the attempt as the backend's fault and count towards ejecting a healthy backend.
   * The proxy bounds a client that stops reading (`lb.clientSendTimeoutMs`) instead.
   */
  private pauseReading(): void {
    this.socket.pause();
    this.setTimeoutMs(0);
  }

  resumeReading(): void {
    if (this.attempt !== undefined && this.framing !== undefined) this.setTimeoutMs(this.pool.opts.bodyTimeoutMs);
    this.socket.resume();
  }

  private setTimeoutMs(ms: number): void {
    if (ms === this.timeoutMs) return;
    this.timeoutMs = ms;
    this.socket.setTimeout(ms);
  }

  private onData(d: Buffer): void {
    const a = this.attempt;
    if (a === undefined) {
      // Bytes on an idle connection: the backend is confused; never reuse it.
      this.destroy();
      return;
    }
    if (this.framing === undefined) {
      this.onHeadBytes(a, d);
      return;
    }
    this.onBodyBytes(a, d);
  }

  private onHeadBytes(a: UpstreamAttempt, d: Buffer): void {
    const prev = this.head;
    const buf = prev === undefined ? d : Buffer.concat([prev, d]);
    const end = headEnd(buf, prev === undefined ? 0 : prev.length);
    if ((end < 0 ? buf.length : end) > this.pool.opts.maxHeaderBytes) {
      this.fail(new ResponseParseError(`the backend's response headers exceed ${this.pool.opts.maxHeaderBytes} bytes`));
      return;
    }
    if (end < 0) {
      this.head = buf;
      return;
    }
    this.head = undefined;
    let parsed;
    try {
      parsed = parseResponseHead(buf, end, a.req.method);
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    if (parsed.status < 200) {
      // 1xx (100 Continue, 103 Early Hints): not forwarded; the final head follows.
      if (buf.length > end) this.onHeadBytes(a, buf.subarray(end));
      return;
    }
    this.keepAlive = parsed.keepAlive;
    if (parsed.keepAliveHintMs !== undefined) {
      this.idleLimitMs = Math.min(this.pool.opts.keepAliveMs, Math.max(0, parsed.keepAliveHintMs - KEEPALIVE_HINT_MARGIN_MS));
    }
    this.framing = parsed.framing;
    this.setTimeoutMs(this.pool.opts.bodyTimeoutMs);
    a.handler.onHeaders(parsed.status, parsed.headers);
    if (this.attempt !== a) return; // aborted from onHeaders
    switch (parsed.framing.kind) {
      case 'none':
        this.complete(a, buf.length > end);
        return;
      case 'length':
        this.remaining = parsed.framing.length;
        break;
      case 'chunked':
        this.chunked = new ChunkedDecoder();
        break;
      case 'close':
        break;
    }
    if (buf.length > end) this.onBodyBytes(a, buf.subarray(end));
  }

  private onBodyBytes(a: UpstreamAttempt, d: Buffer): void {
    const framing = this.framing as BodyFraming;
    if (framing.kind === 'length') {
      const n = Math.min(this.remaining, d.length);
      this.remaining -= n;
      const piece = n === d.length ? d : d.subarray(0, n);
      if (this.remaining === 0) {
        this.complete(a, d.length > n, piece);
        return;
      }
      if (!a.handler.onData(piece) && this.attempt === a) this.pauseReading();
      return;
    }
    if (framing.kind === 'chunked') {
      const dec = this.chunked as ChunkedDecoder;
      let more = true;
      let used;
      try {
        used = dec.push(d, (c) => {
          if (this.attempt === a && !a.handler.onData(c)) more = false;
        });
      } catch (e) {
        this.fail(e as Error);
        return;
      }
      if (this.attempt !== a) return;
      if (dec.done) this.complete(a, used < d.length);
      else if (!more) this.pauseReading();
      return;
    }
    // Until close: the body is everything; the end comes with 'close'.
    if (!a.handler.onData(d) && this.attempt === a) this.pauseReading();
  }

  /** The response is complete. `extra`: bytes after it, which no request asked for. */
  private complete(a: UpstreamAttempt, extra: boolean, last?: Buffer): void {
    this.attempt = undefined;
    a.finished = true;
    a.conn = undefined;
    this.framing = undefined;
    this.chunked = undefined;
    const reuse = this.keepAlive && !extra && !this.closed;
    if (reuse) {
      this.socket.resume();
      this.idleSince = Date.now();
      this.setTimeoutMs(Math.min(this.idleLimitMs, this.pool.opts.headersTimeoutMs));
    }
    a.handler.onComplete(last);
    if (reuse) this.pool.release(this);
    else this.destroy();
  }

  private onTimeout(): void {
    const a = this.attempt;
    if (a === undefined) {
      // Idle: close once the keep-alive limit is reached (the timer may be shorter than the limit).
      const left = this.idleLimitMs - (Date.now() - this.idleSince);
      if (left <= 0) this.destroy();
      else {
        // Directly: a fired timer is re-armed only by activity or a new setTimeout.
        this.timeoutMs = left;
        this.socket.setTimeout(left);
      }
      return;
    }
    const code = !this.connected ? UPSTREAM_CODES.connectTimeout : this.framing === undefined ? UPSTREAM_CODES.headersTimeout : UPSTREAM_CODES.bodyTimeout;
    this.fail(new UpstreamError(code, `no answer from the backend within ${this.timeoutMs} ms (${code})`));
  }

  /** Ends the current attempt (if any) with `err` and closes the connection. */
  fail(err: Error): void {
    const a = this.attempt;
    this.attempt = undefined;
    this.destroy();
    a?.fail(err);
  }

  destroy(): void {
    if (!this.socket.destroyed) this.socket.destroy();
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.pool.conns.delete(this);
    const a = this.attempt;
    this.attempt = undefined;
    if (a !== undefined) {
      if (this.framing !== undefined && this.framing.kind === 'close') {
        // The close is the end of this body.
        a.finished = true;
        a.conn = undefined;
        a.handler.onComplete(undefined);
      } else {
        a.fail(new UpstreamError(UPSTREAM_CODES.closed, 'the backend closed the connection before the response was complete'));
      }
    }
    this.pool.removed(this);
  }
}
