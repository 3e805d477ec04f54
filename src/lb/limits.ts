import type http from 'node:http';
import type net from 'node:net';

/**
 * The load balancer's resource bounds that are not per request: how many client connections it
 * holds, and how many bytes of request bodies it buffers at once. When one is hit the client gets
 * a clear `503` with `Retry-After` (nothing was processed, it may send again) instead of the load
 * balancer running out of file descriptors or memory and failing everyone.
 */

/** Client connections held by one load balancer (its listeners share one gate), bounded. */
export class ConnectionGate {
  open = 0;
  /** Connections refused because `max` were open. */
  refused = 0;

  constructor(readonly max: number) {}

  /** Bound once, so no closure is made per connection. */
  readonly closed = (): void => {
    this.open -= 1;
  };
}

/**
 * Refused connections get a complete answer, so a client sees why rather than a reset: HAProxy and
 * nginx answer 503 the same way when full. `Connection: close`; the socket is ended after it.
 */
const REFUSAL_BODY = JSON.stringify({
  error: { code: 'OVERLOADED', message: 'the load balancer holds as many connections as it may (lb.maxConnections); retry shortly' },
});
const REFUSAL = Buffer.from(
  'HTTP/1.1 503 Service Unavailable\r\n' +
    'content-type: application/json; charset=utf-8\r\n' +
    `content-length: ${Buffer.byteLength(REFUSAL_BODY)}\r\n` +
    'cache-control: no-store\r\n' +
    'retry-after: 1\r\n' +
    'connection: close\r\n\r\n' +
    REFUSAL_BODY,
  'latin1',
);
/**
 * A refused socket is read (and what it sends discarded) for up to 1 s before it is cut, so the
 * kernel does not answer the client's unread request with a reset that could destroy our 503
 * before the client reads it; 1 s bounds what a refused client can hold.
 */
const REFUSAL_LINGER_MS = 1_000;

function refuse(socket: net.Socket): void {
  socket.on('error', () => socket.destroy());
  socket.end(REFUSAL);
  socket.resume();
  setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
}

/**
 * Puts `server` behind `gate`: a connection over the bound is answered 503 (`close`: only closed) before
 * Node's HTTP layer sees it. (Node's own `server.maxConnections` only closes the socket, with no
 * answer.) The HTTP server's own connection listener is wrapped, not replaced.
 */
export function guardConnections(server: http.Server, gate: ConnectionGate, refusal: 'http' | 'close' = 'http'): void {
  const inner = server.listeners('connection') as Array<(socket: net.Socket) => void>;
  server.removeAllListeners('connection');
  server.on('connection', (socket: net.Socket) => {
    if (gate.open >= gate.max) {
      gate.refused += 1;
      // Over TLS a plain-text 503 would be garbage to the client, and finishing a handshake to
      // send one costs the CPU the bound protects: the connection is closed instead.
      if (refusal === 'close') socket.destroy();
      else refuse(socket);
      return;
    }
    gate.open += 1;
    socket.once('close', gate.closed);
    for (const l of inner) l.call(server, socket);
  });
}

/**
 * Bytes of request bodies buffered at once (each body is held from its first byte until its
 * request is over, for replay on a retry). Reservation is explicit: the proxy reserves a declared
 * Content-Length up front and a chunked body piece by piece, and releases when the request ends.
 */
export class BodyBudget {
  used = 0;
  /** Requests refused because their body did not fit. */
  refused = 0;

  constructor(readonly max: number) {}

  /** Takes `n` bytes if they fit; false (and nothing taken) when they do not. */
  reserve(n: number): boolean {
    if (this.used + n > this.max) return false;
    this.used += n;
    return true;
  }

  release(n: number): void {
    this.used -= n;
  }
}
