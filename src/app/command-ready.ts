import http from 'node:http';
import { appHealthPath, commandReadyPort, isDrainedByOperator, READY_PATH } from '../config/index.js';
import type { ServiceContext } from '../registry/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';

/**
 * A command app's drain signal: the load balancers probe `GET /readyz` on the app server's
 * readiness port (`app.readyPort`, default its port + 1; src/config appReadiness), answered here by
 * hastack's process around the command, as a module app's own `/readyz` answers:
 * - while hastack drains the server before stopping it: 503, so every load balancer stops sending
 *   it new requests while the requests in flight finish;
 * - otherwise the app's own answer on `app.healthPath` (2xx/3xx: 200; anything else, or no answer
 *   within the probe's time: 502), so a sick app leaves the rotation as before.
 */
export interface CommandReadiness {
  /** From now on `/readyz` answers 503. */
  drain(): void;
  close(): Promise<void>;
}

/** Probes come from the load balancers, a few per second each: 32 connections bound a stranger. */
const MAX_CONNECTIONS = 32;
/** A probe must answer within the load balancer's probe timeout (lb.healthTimeoutMs, 1 s by default); 5 s bounds a slow client. */
const REQUEST_TIMEOUT_MS = 5_000;
/** The app's own health answer, asked once per probe: under the load balancers' probe timeout. */
const APP_PROBE_TIMEOUT_MS = 900;

function askApp(address: string, port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: address, port, path, timeout: APP_PROBE_TIMEOUT_MS, agent: false, headers: { 'user-agent': 'hastack-ready' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', () => resolve(0));
  });
}

export async function startCommandReadiness(ctx: ServiceContext): Promise<CommandReadiness> {
  const { address, port } = ctx.svc;
  const readyPort = commandReadyPort(ctx.topo.config, port);
  const healthPath = appHealthPath(ctx.topo.config);
  let draining = false;
  const server = http.createServer((req, res) => {
    const reply = (status: number, body: Record<string, unknown>): void => {
      const text = `${JSON.stringify(body)}\n`;
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
      res.end(req.method === 'HEAD' ? undefined : text);
    };
    if ((req.method !== 'GET' && req.method !== 'HEAD') || (req.url ?? '') !== READY_PATH) {
      reply(404, { status: 'not found', path: READY_PATH });
      return;
    }
    if (draining || isDrainedByOperator(ctx.svc)) {
      reply(503, { status: draining ? 'draining' : 'drained', node: ctx.svc.node });
      return;
    }
    void askApp(address, port, healthPath).then((status) => {
      if (status >= 200 && status < 400) reply(200, { status: 'ready', node: ctx.svc.node });
      else reply(502, { status: 'app not healthy', node: ctx.svc.node, app: status === 0 ? 'no answer' : `HTTP ${status}` });
    });
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = REQUEST_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE'
          ? new HastackError(
              ErrorCode.PORT_IN_USE,
              `${address}:${readyPort} (the app's readiness port, app.readyPort) is already in use on ${ctx.svc.node}; set app.readyPort to a free port`,
              { cause: e },
            )
          : e,
      ),
    );
    server.listen(readyPort, address, () => resolve());
  });
  return {
    drain: () => {
      draining = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
