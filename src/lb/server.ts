import http from 'node:http';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { guardConnections, type ConnectionGate } from './limits.js';

/**
 * The client-facing HTTP listener: creation with timeouts, listening with a typed error, and a
 * bounded graceful close.
 */

/*
 * The client time limits are config keys (`lb.clientHeadersTimeoutMs` 20 s,
 * `lb.clientRequestTimeoutMs` 30 s, `lb.clientIdleTimeoutMs` 65 s: reasons in
 * src/config/schema.ts). The idle one must be the LONGER side of a keep-alive connection: here we
 * are the server, and a client must never send on a connection we are closing at that instant.
 */
/**
 * 16 KiB of request headers (Node's default, stated so it cannot drift): cookies and a bearer
 * token fit many times over; more is refused with 431 before our code runs.
 */
export const CLIENT_MAX_HEADER_BYTES = 16 * 1024;
/**
 * Node checks the two timeouts above only every `connectionsCheckingInterval` (default 30 s, which
 * would let a slowloris connection live up to 50 s); 1 s keeps the bound close to what is stated.
 */
const MAX_CHECK_INTERVAL_MS = 1_000;

/** How often Node checks the header and request timeouts: a quarter of the header timeout, at most 1 s. */
export function checkIntervalOf(limits: ClientLimits): number {
  return Math.min(MAX_CHECK_INTERVAL_MS, Math.max(10, Math.floor(limits.headersTimeoutMs / 4)));
}

export interface ClientLimits {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** Idle time between requests on a keep-alive connection before it is closed. */
  readonly keepAliveMs: number;
  /** Request headers beyond this count are refused with 400 (proxy.ts). */
  readonly maxHeaders: number;
}

/**
 * A listener with its time limits, and its connections counted against `gate` (limits.ts: over
 * the bound, a 503 and close).
 */
export function createHttpServer(handler: http.RequestListener, limits: ClientLimits, gate: ConnectionGate): http.Server {
  // Node's default `clientError` handling (400 for malformed framing, including Content-Length
  // with Transfer-Encoding; 408 for the timeouts; 431 for oversize headers; then close) is kept:
  // it refuses those before any handler runs and isolates the connection from the rest.
  const server = http.createServer(
    {
      keepAliveTimeout: limits.keepAliveMs,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      maxHeaderSize: CLIENT_MAX_HEADER_BYTES,
      connectionsCheckingInterval: checkIntervalOf(limits),
      // Never the lenient parser: it is what lets smuggled requests through.
      insecureHTTPParser: false,
    },
    handler,
  );
  // One more than allowed, so that a request with too many headers is seen (and refused) rather
  // than silently truncated by the parser.
  server.maxHeadersCount = limits.maxHeaders + 1;
  guardConnections(server, gate);
  return server;
}

export function listen(server: http.Server, address: string, port: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      if (e.code === 'EADDRINUSE') {
        reject(new HastackError(ErrorCode.PORT_IN_USE, `${what}: ${address}:${port} is already in use; stop what listens there or change ports in hastack.yaml`, { cause: e }));
      } else if (e.code === 'EADDRNOTAVAIL') {
        reject(new HastackError(ErrorCode.SETUP_FAILED, `${what}: ${address} is not an address of this machine; check the node's address in hastack.yaml`, { cause: e }));
      } else {
        reject(new HastackError(ErrorCode.SETUP_FAILED, `${what}: cannot listen on ${address}:${port}: ${e.message}`, { cause: e }));
      }
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, address);
  });
}

/**
 * Stops accepting, lets requests in flight finish for up to `graceMs`, then cuts what is left.
 * Idle keep-alive connections are closed as soon as they become idle (polled every 100 ms, a
 * tenth of a health interval), so clients reconnect elsewhere instead of waiting 65 s.
 */
export function closeServer(server: http.Server, graceMs: number): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    const poll = setInterval(() => server.closeIdleConnections(), 100);
    const hard = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearInterval(poll);
      clearTimeout(hard);
      resolve();
    });
    server.closeIdleConnections();
  });
}
