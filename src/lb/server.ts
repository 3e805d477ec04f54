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

export function createHttpServer(handler: http.RequestListener): http.Server {
  // Node's default `clientError` handling (400/408/431, then close) is kept: it already isolates
  // a misbehaving client connection from the rest.
  return http.createServer(
    {
      keepAliveTimeout: CLIENT_KEEPALIVE_MS,
      headersTimeout: CLIENT_HEADERS_TIMEOUT_MS,
      requestTimeout: CLIENT_REQUEST_TIMEOUT_MS,
    },
    handler,
  );
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
