import http from 'node:http';
import { ErrorCode, HastackError } from '../shared/errors.js';

export interface HealthAnswer {
  readonly ok: boolean;
  readonly body: Readonly<Record<string, unknown>>;
}

export interface HealthServer {
  close(): Promise<void>;
}

/**
 * A tiny HTTP server for the supervisor: `GET /healthz` answers 200 or 503 with a JSON body from
 * `check`; `extra` adds other read-only GET paths (the dead-letter view). Workers have no traffic
 * port, so this is all they listen on.
 */
export async function startHealthServer(
  address: string,
  port: number,
  check: () => Promise<HealthAnswer>,
  extra: Readonly<Record<string, () => Promise<HealthAnswer>>> = {},
): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
    const send = (status: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    const p = (req.url ?? '').split('?')[0] ?? '';
    const handler = p === '/healthz' ? check : Object.hasOwn(extra, p) ? extra[p] : undefined;
    if (req.method !== 'GET' || !handler) {
      send(404, { error: { code: 'NOT_FOUND', message: `only GET ${['/healthz', ...Object.keys(extra)].join(', ')} are served here` } });
      return;
    }
    handler().then(
      (a) => send(a.ok ? 200 : 503, a.body),
      (e: unknown) => send(503, { status: 'error', detail: e instanceof Error ? e.message : String(e) }),
    );
  });
  // Probes are short; an idle keep-alive socket need not outlive the next probe by much.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      reject(e.code === 'EADDRINUSE' ? new HastackError(ErrorCode.PORT_IN_USE, `${address}:${port} is already in use; is another worker running on this node?`, { cause: e }) : e);
    });
    server.listen(port, address, () => resolve());
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
