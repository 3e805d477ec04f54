import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode } from '../shared/errors.js';
import { viewOf, type BackendSet, type BackendView } from './backends.js';
import type { LbCounters } from './counters.js';
import { sendError, sendJson } from './respond.js';
import type { VipView } from './vip.js';

/**
 * The load balancer's own endpoints. Every path belongs to the app except those under `/-/`,
 * which the load balancer answers itself on its one port (no second listener to configure):
 *
 * - `GET /-/healthz`: 200 when at least one backend may take traffic, 503 when none can or the
 *   load balancer is shutting down (so DNS stops handing out an LB that could only answer 503).
 *   `{"ok":true,"backends":[{"id":"app1/app","healthy":true,"state":"up","ejected":false,"inflight":0}]}`
 * - `GET /-/stats`: counters since start:
 *   `{"service","policy","uptimeS","requests","retries","aborted","errors":{"400","413","502","503","504"},
 *     "backends":[{...as above,"address","port","requests","errors","retries","ejections"}]}`
 *   plus `"vip":{"address","holding","heardHolder","heardAgoMs","blocked"}` when `lb.vip` is set;
 *   per backend, `requests` counts attempts sent, `errors` attempts that failed at the transport
 *   level, `retries` attempts it received as the retry of a failure elsewhere.
 * Anything else under `/-/` is 404; methods other than GET and HEAD are 405.
 */

export const ADMIN_PREFIX = '/-/';

export interface AdminDeps {
  readonly serviceId: string;
  readonly policy: string;
  readonly backends: BackendSet;
  readonly counters: LbCounters;
  /** True once close() began: health turns 503 so DNS and clients move away first. */
  readonly closing: () => boolean;
  /** The floating address as this lb sees it, when `lb.vip` is set. */
  readonly vip?: () => VipView | undefined;
}

export interface HealthzBody {
  readonly ok: boolean;
  readonly closing?: boolean;
  readonly backends: readonly BackendView[];
}

export function isAdminPath(url: string): boolean {
  return url.startsWith(ADMIN_PREFIX);
}

export function handleAdmin(deps: AdminDeps, req: IncomingMessage, res: ServerResponse, requestId: string): void {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendError(res, 405, ErrorCode.BAD_REQUEST, `${path} answers GET only`, requestId, { allow: 'GET, HEAD' });
    return;
  }
  switch (path) {
    case '/-/healthz': {
      const closing = deps.closing();
      const ok = !closing && deps.backends.eligible.length > 0;
      const body: HealthzBody = { ok, ...(closing ? { closing } : {}), backends: deps.backends.all.map(viewOf) };
      sendJson(res, ok ? 200 : 503, body);
      return;
    }
    case '/-/stats': {
      const c = deps.counters;
      sendJson(res, 200, {
        service: deps.serviceId,
        policy: deps.policy,
        uptimeS: Math.round((Date.now() - c.startedAt) / 1000),
        requests: c.requests,
        retries: c.retries,
        aborted: c.aborted,
        errors: c.errors,
        ...(deps.vip?.() ? { vip: deps.vip() } : {}),
        backends: deps.backends.all.map((b) => ({ ...viewOf(b), address: b.address, port: b.port, ...b.counters })),
      });
      return;
    }
    default:
      sendError(res, 404, ErrorCode.NOT_FOUND, `${path} is not a load balancer endpoint; /-/healthz and /-/stats are`, requestId);
  }
}
