import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type RawServerDefault } from 'fastify';
import type { Logger } from '../shared/log.js';
import { checkResponseHeaders, isHttpResponse, type AppRequest, type HttpMethod, type Route } from './contract.js';
import { errorAnswer } from './http-errors.js';
import type { ReadinessProbe } from './readiness.js';
import type { AppRuntime } from './runtime.js';

export interface HttpServerOptions {
  /** What the HTTP layer needs of the runtime (narrow, so tests can pass a stand-in). */
  readonly runtime: Pick<AppRuntime, 'app' | 'node' | 'context'>;
  readonly log: Logger;
  readonly readiness: Pick<ReadinessProbe, 'current'>;
  /** Default time a route may take before the client gets 503 TIMEOUT (ms). */
  readonly requestTimeoutMs: number;
  /**
   * Peers whose `X-Forwarded-For` is believed (the cluster's load balancers, which drop the
   * client's own and set it). Loopback peers always are: on one machine every node is.
   */
  readonly trustedProxies?: ReadonlySet<string>;
  /** True while the operator drains this app server (`hastack drain`): /readyz answers 503. */
  readonly drainedByOperator?: () => boolean;
}

/** Fastify typed with our pino logger. */
export type AppFastify = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>;

/** Mutable serving state shared with the host: while draining, /readyz answers 503. */
export interface ServingState {
  draining: boolean;
}

function flatHeaders(h: IncomingHttpHeaders): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(h)) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function isLoopback(a: string): boolean {
  return a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.');
}

/**
 * The client's address: the last `X-Forwarded-For` entry (the one our load balancer wrote) when
 * the peer is a trusted proxy or loopback, else the peer itself, so a client talking to an app
 * server directly from elsewhere cannot pick the address a per-client limit counts it under.
 */
export function clientAddressOf(peer: string | undefined, forwardedFor: string | undefined, trusted: ReadonlySet<string>): string {
  const p = (peer ?? '').replace(/^::ffff:(?=\d+\.)/, '');
  if (forwardedFor !== undefined && (trusted.has(p) || isLoopback(p))) {
    const last = forwardedFor.split(',').pop()?.trim() ?? '';
    // An address, not whatever a header holds: letters of IPv6, digits, dots and colons, bounded.
    if (/^[0-9A-Fa-f.:]{2,45}$/.test(last)) return last;
  }
  return p === '' ? 'unknown' : p;
}

/** Whether the client came over TLS: our load balancer's `X-Forwarded-Proto`, trusted as `clientAddressOf` trusts its `X-Forwarded-For`. */
export function secureOf(peer: string | undefined, forwardedProto: string | undefined, trusted: ReadonlySet<string>): boolean {
  const p = (peer ?? '').replace(/^::ffff:(?=\d+\.)/, '');
  return forwardedProto === 'https' && (trusted.has(p) || isLoopback(p));
}

function toAppRequest(req: FastifyRequest, method: HttpMethod, trusted: ReadonlySet<string>): AppRequest {
  const q = (req.query ?? {}) as Record<string, string | string[]>;
  return {
    method,
    path: req.url.split('?')[0] ?? req.url,
    params: (req.params ?? {}) as Record<string, string>,
    query: q,
    body: req.body,
    headers: flatHeaders(req.headers),
    clientAddress: clientAddressOf(req.socket.remoteAddress, flatHeaders(req.headers)['x-forwarded-for'], trusted),
    secure: secureOf(req.socket.remoteAddress, flatHeaders(req.headers)['x-forwarded-proto'], trusted),
    requestId: req.id,
    signal: req.signal,
  };
}

async function sendResult(reply: FastifyReply, result: unknown): Promise<FastifyReply> {
  if (isHttpResponse(result)) {
    // Again here: the brand is a global symbol, so an object can pass for respond()'s.
    checkResponseHeaders(result.headers);
    reply.code(result.status).headers(result.headers);
    return result.body === undefined ? reply.send() : reply.type('application/json; charset=utf-8').send(JSON.stringify(result.body));
  }
  if (result === undefined) return reply.code(204).send();
  // Always JSON, even for a bare string (Fastify would send it as text/plain).
  return reply.code(200).type('application/json; charset=utf-8').send(JSON.stringify(result));
}

/** Request ids come from the load balancer; cap what we echo into logs and headers. */
const MAX_REQUEST_ID = 200;

/**
 * The app server's HTTP surface: `/healthz`, `/readyz`, the app's routes, JSON errors carrying
 * the request id, `X-Served-By` on every response.
 */
export function buildHttpServer(opts: HttpServerOptions): { server: AppFastify; state: ServingState } {
  const { runtime, log, readiness } = opts;
  const node = runtime.node;
  const state: ServingState = { draining: false };
  const server = Fastify({
    loggerInstance: log,
    // Per-request info lines cost CPU on a machine shared with the engines; onResponse below
    // logs at debug, and at warn for 5xx.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: 'x-request-id',
    genReqId: () => `${node}-${randomUUID()}`,
    handlerTimeout: opts.requestTimeoutMs,
    // The load balancer closes idle upstream connections after 60 s; the server side must keep
    // them longer, or it may close one just as the balancer sends on it (src/lb/backends.ts).
    keepAliveTimeout: 72_000,
    // While closing, requests that still arrive on open connections are served, not refused
    // with 503: the balancer stops sending once /readyz says draining.
    return503OnClosing: false,
    // 1 MB bodies: far above any JSON form, small enough that a flood cannot exhaust memory.
    bodyLimit: 1024 * 1024,
  });

  server.addHook('onRequest', async (req, reply) => {
    if (req.id.length > MAX_REQUEST_ID) req.id = req.id.slice(0, MAX_REQUEST_ID);
    reply.header('x-served-by', node);
    reply.header('x-request-id', req.id);
  });
  server.addHook('onResponse', async (req, reply) => {
    const fields = { reqId: req.id, method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) };
    // /readyz answers 503 on purpose while draining.
    if (reply.statusCode >= 500 && !(state.draining && req.url === '/readyz')) log.warn(fields, 'request failed');
    else log.debug(fields, 'request');
  });

  server.setErrorHandler(async (err: unknown, req, reply) => {
    const a = errorAnswer(err, req.id);
    if (a.unexpected) log.error({ reqId: req.id, err }, 'unexpected error in a route');
    else if (a.status >= 500) log.warn({ reqId: req.id, code: a.body.error.code, err: a.body.error.message }, 'dependency error');
    if (a.status === 503) reply.header('retry-after', '1');
    return reply.code(a.status).send(a.body);
  });
  server.setNotFoundHandler(async (req, reply) =>
    reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no route for ${req.method} ${req.url.split('?')[0] ?? ''}`, requestId: req.id } }),
  );

  server.get('/healthz', async () => ({ status: 'alive', node }));
  server.get('/readyz', async (_req, reply) => {
    if (state.draining) return reply.code(503).send({ status: 'draining', node });
    if (opts.drainedByOperator?.() === true) return reply.code(503).send({ status: 'drained', node });
    const r = readiness.current();
    return reply.code(200).send({ status: r.status, node, checks: r.checks, checkedAt: r.checkedAt });
  });

  const trusted = opts.trustedProxies ?? new Set<string>();
  for (const route of runtime.app.routes) addRoute(server, route, runtime, log, trusted);
  return { server, state };
}

function addRoute(server: AppFastify, route: Route, runtime: Pick<AppRuntime, 'context'>, log: Logger, trusted: ReadonlySet<string>): void {
  server.route({
    method: route.method,
    url: route.url,
    ...(route.timeoutMs === undefined ? {} : { handlerTimeout: route.timeoutMs }),
    handler: async (req, reply) => {
      const ctx = runtime.context(log.child({ reqId: req.id }));
      const result: unknown = await route.handler(toAppRequest(req, route.method, trusted), ctx);
      return sendResult(reply, result);
    },
  });
}
