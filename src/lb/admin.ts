import type http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode } from '../shared/errors.js';
import { viewOf, type BackendSet, type BackendView } from './backends.js';
import type { LbCounters } from './counters.js';
import { ConnectionGate, type BodyBudget } from './limits.js';
import type { LbMetrics } from './metrics.js';
import { sendError, sendJson } from './respond.js';
import { createHttpServer } from './server.js';
import type { VipView } from './vip.js';
import type { AcmeView } from './acme/index.js';

/**
 * The load balancer's own endpoints.
 *
 * On the traffic port every path belongs to the app except `/-/healthz`, which keepalived's check
 * script, DNS and the supervisor probe there (it must answer where the traffic goes):
 * - `GET /-/healthz`: 200 when at least one backend may take traffic, 503 when none can or the
 *   load balancer is shutting down (so DNS stops handing out an LB that could only answer 503).
 *   `{"ok":true,"backends":[{"id":"app1/app","healthy":true,"state":"up","ejected":false,"inflight":0}]}`
 * Any other `/-/` path there is 404, other methods 405.
 *
 * On the admin port (`lb.metricsPort`, 8404, same address; its own small connection bound), for
 * the operator, the dashboard and Prometheus, never on the traffic port:
 * - `GET /metrics`: Prometheus text (metrics.ts);
 * - `GET /-/stats`: counters since start:
 *   `{"service","policy","uptimeS","requests","retries","aborted","errors":{"400","413","502","503","504"},
 *     "limits":{...},"backends":[{...as above,"panicEligible","address","port","requests","errors","retries","ejections","queued"}]}`
 *   plus `"vip":{"address","holding","heardHolder","heardAgoMs","blocked"}` when `lb.vip` is set,
 *   and `"acme":{"names","serial","notAfter","installedAt","lastError","lastErrorAt"}` with `lb.tls.acme`,
 *   and `"tls":{"port","certificates":[{"slot","source","names","notAfter","fingerprint256"}],
 *   "handshakes":{"full","resumed","previousKey"},"handshakeFailures":{reason: n}}` with `lb.tls`;
 *   per backend, `requests` counts attempts sent, `errors` attempts that failed at the transport
 *   level, `retries` attempts it received as the retry of a failure elsewhere;
 * - `GET /-/healthz`: as on the traffic port.
 */

export const ADMIN_PREFIX = '/-/';

export interface AdminDeps {
  readonly serviceId: string;
  readonly policy: string;
  readonly backends: BackendSet;
  readonly counters: LbCounters;
  /** The traffic listeners' connection bound and the body budget, reported under `limits`. */
  readonly gate: ConnectionGate;
  readonly bodyBudget: BodyBudget;
  /** True once close() began: health turns 503 so DNS and clients move away first. */
  readonly closing: () => boolean;
  /** The floating address as this lb sees it, when `lb.vip` is set. */
  readonly vip?: () => VipView | undefined;
  /** The ACME loop's view (installed certificate, last failure), with `lb.tls.acme`. */
  readonly acme?: () => AcmeView | undefined;
  /** The HTTPS listener's certificates and handshake counters, with lb.tls (tls/index.ts). */
  readonly tls?: () => TlsStatsView | undefined;
}

/** `/-/stats` `tls`: what status and the dashboard show of the HTTPS listener. */
export interface TlsStatsView {
  readonly port: number;
  readonly certificates: ReadonlyArray<{
    readonly slot: string;
    readonly source: string;
    readonly names: readonly string[];
    readonly notAfter: string;
    readonly fingerprint256: string;
  }>;
  readonly handshakes: { readonly full: number; readonly resumed: number; readonly previousKey: number };
  readonly handshakeFailures: Readonly<Record<string, number>>;
}

export interface HealthzBody {
  readonly ok: boolean;
  /** With lb.tls: the certificate expiring first (`hastack status` shows it as the detail of each load balancer); with lb.tls.acme also whether renewal fails. */
  readonly status?: string;
  readonly closing?: boolean;
  readonly backends: readonly BackendView[];
}

export function isAdminPath(url: string): boolean {
  return url.startsWith(ADMIN_PREFIX);
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** `https: erp.example.com until 2027-03-01 (+1 more)`: the certificate that expires first. */
export function certificateStatus(tls: TlsStatsView): string {
  const first = [...tls.certificates].sort((a, b) => a.notAfter.localeCompare(b.notAfter))[0];
  if (first === undefined) return `https :${tls.port}: no certificate`;
  const more = tls.certificates.length - 1;
  return `https :${tls.port}: ${first.names[0] ?? first.source} until ${first.notAfter.slice(0, 10)}${more > 0 ? ` (+${more} more)` : ''}`;
}

/**
 * What `status` adds for ACME: no certificate yet (the HTTPS listener waits for it), and whether
 * renewal fails, never why (this is the traffic port; the reason is in the event log, on the admin
 * port and the dashboard). A failing renewal never makes the load balancer unhealthy.
 */
function acmeStatus(a: AcmeView, https: string | undefined): string {
  const cert = https ?? (a.notAfter === undefined ? 'no ACME certificate yet' : `ACME certificate until ${a.notAfter.slice(0, 10)}`);
  return a.lastError === undefined ? cert : `${cert}; ACME renewal failing since ${a.lastErrorAt ?? '?'}`;
}

function healthz(deps: AdminDeps, res: ServerResponse): void {
  const closing = deps.closing();
  const ok = !closing && deps.backends.eligible.length > 0;
  const tls = deps.tls?.();
  const acme = deps.acme?.();
  const https = tls !== undefined ? certificateStatus(tls) : undefined;
  const status = acme !== undefined ? acmeStatus(acme, https) : https;
  const body: HealthzBody = { ok, ...(closing ? { closing } : {}), ...(status !== undefined ? { status } : {}), backends: deps.backends.all.map(viewOf) };
  sendJson(res, ok ? 200 : 503, body);
}

function stats(deps: AdminDeps, res: ServerResponse): void {
  const c = deps.counters;
  const vip = deps.vip?.();
  const acme = deps.acme?.();
  const tls = deps.tls?.();
  sendJson(res, 200, {
    service: deps.serviceId,
    policy: deps.policy,
    uptimeS: Math.round((Date.now() - c.startedAt) / 1000),
    requests: c.requests,
    retries: c.retries,
    aborted: c.aborted,
    errors: c.errors,
    panicking: deps.backends.panicking,
    limits: {
      connections: { open: deps.gate.open, max: deps.gate.max, refused: deps.gate.refused },
      bufferedBodyBytes: { used: deps.bodyBudget.used, max: deps.bodyBudget.max, refused: deps.bodyBudget.refused },
      queueRefused: c.queueRefused,
      slowClientsCut: c.slowClientsCut,
    },
    ...(vip !== undefined ? { vip } : {}),
    ...(acme !== undefined ? { acme } : {}),
    ...(tls !== undefined ? { tls } : {}),
    backends: deps.backends.all.map((b) => ({
      ...viewOf(b),
      // Down, but would take requests if no backend were healthy (health-state.ts, panic routing).
      panicEligible: b.health.panicEligible,
      address: b.address,
      port: b.port,
      ...b.counters,
      queued: b.pool.queued,
    })),
  });
}

/** `/-/` on the traffic port: only the health check lives there. */
export function handleAdmin(deps: AdminDeps, req: IncomingMessage, res: ServerResponse, requestId: string): void {
  const path = pathOf(req);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendError(res, 405, ErrorCode.BAD_REQUEST, `${path} answers GET only`, requestId, { allow: 'GET, HEAD' });
    return;
  }
  if (path === '/-/healthz') {
    healthz(deps, res);
    return;
  }
  sendError(res, 404, ErrorCode.NOT_FOUND, `${path} is not a load balancer endpoint here; /-/healthz is (the rest is on the admin port)`, requestId);
}

/**
 * The admin listener's bounds: a scraper and a dashboard or two need a handful of connections;
 * 32 keeps a flood of them from costing the traffic port anything. Short time limits for the same
 * reason: every request here is one small GET.
 */
const ADMIN_LIMITS = { headersTimeoutMs: 5_000, requestTimeoutMs: 10_000, keepAliveMs: 5_000, maxHeaders: 50 };
const ADMIN_MAX_CONNECTIONS = 32;

/** The admin port: `GET /metrics`, `GET /-/stats`, `GET /-/healthz`; nothing else. */
export function createAdminServer(deps: AdminDeps, metrics: LbMetrics): http.Server {
  return createHttpServer(
    (req, res) => {
      const path = pathOf(req);
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' });
        res.end('GET only\n');
        return;
      }
      switch (path) {
        case '/-/stats':
          stats(deps, res);
          return;
        case '/-/healthz':
          healthz(deps, res);
          return;
        case '/metrics':
          metrics.text().then(
            (text) => {
              res.writeHead(200, { 'content-type': metrics.registry.contentType });
              res.end(text);
            },
            (e: unknown) => {
              res.writeHead(500, { 'content-type': 'text/plain' });
              res.end(`metrics failed: ${e instanceof Error ? e.message : String(e)}\n`);
            },
          );
          return;
        default:
          res.writeHead(404, { 'content-type': 'text/plain' });
          res.end('only GET /metrics, /-/stats and /-/healthz here\n');
      }
    },
    ADMIN_LIMITS,
    new ConnectionGate(ADMIN_MAX_CONNECTIONS),
  );
}
