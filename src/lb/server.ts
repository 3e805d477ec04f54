import http from 'node:http';
import { ErrorCode, HastackError } from '../shared/errors.js';

/**
 * The client-facing HTTP listener: creation with timeouts, listening with a typed error, and a
 * bounded graceful close.
 */

/**
 * 65 s idle keep-alive towards clients. Here we are the server, so ours must be the LONGER one:
 * common clients close idle connections sooner (undici 4 s, browsers ~60 s, AWS ALB 60 s), so a
 * client never sends a request on a connection we are closing at that instant.
 */
export const CLIENT_KEEPALIVE_MS = 65_000;
/** 20 s to receive request headers: generous for a slow phone, bounded against slowloris. */
export const CLIENT_HEADERS_TIMEOUT_MS = 20_000;
/** 30 s to receive the whole request, body included (1 MiB at ~35 KB/s); Node needs it ≥ headers. */
export const CLIENT_REQUEST_TIMEOUT_MS = 30_000;
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

export interface ClientLimits {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** Request headers beyond this count are refused with 400 (proxy.ts). */
  readonly maxHeaders: number;
}

export const DEFAULT_CLIENT_LIMITS: Omit<ClientLimits, 'maxHeaders'> = {
  headersTimeoutMs: CLIENT_HEADERS_TIMEOUT_MS,
  requestTimeoutMs: CLIENT_REQUEST_TIMEOUT_MS,
};

export function createHttpServer(handler: http.RequestListener, limits: ClientLimits): http.Server {
  // Node's default `clientError` handling (400 for malformed framing, including Content-Length
  // with Transfer-Encoding; 408 for the timeouts; 431 for oversize headers; then close) is kept:
  // it refuses those before any handler runs and isolates the connection from the rest.
  const server = http.createServer(
    {
      keepAliveTimeout: CLIENT_KEEPALIVE_MS,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      maxHeaderSize: CLIENT_MAX_HEADER_BYTES,
      connectionsCheckingInterval: Math.min(MAX_CHECK_INTERVAL_MS, Math.max(10, Math.floor(limits.headersTimeoutMs / 4))),
      // Never the lenient parser: it is what lets smuggled requests through.
      insecureHTTPParser: false,
    },
    handler,
  );
  // One more than allowed, so that a request with too many headers is seen (and refused) rather
  // than silently truncated by the parser.
  server.maxHeadersCount = limits.maxHeaders + 1;
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
