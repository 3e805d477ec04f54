/**
 * The load balancer tier: one HTTP listener per lb service, proxying to every app server of the
 * topology with health checks, safe retries and passive ejection.
 *
 * Paths under `/-/` are the load balancer's own (`/-/healthz`, `/-/stats`, see admin.ts); every
 * other path is the app's. Behaviour in one place:
 * - balancing: `lb.policy` (round-robin, least-connections or p2c; policy.ts);
 * - health: GET /readyz every `lb.healthIntervalMs`, `fall`/`rise`, 503 = draining (health-state.ts);
 * - retries: to another backend, connect failures always, resets before the response only for
 *   idempotent or `Idempotency-Key` requests, at most `lb.retries`, within 10 s (retry.ts);
 * - bodies up to 1 MiB are buffered for replay, larger ones get 413 (body.ts);
 * - headers: `X-Request-Id` kept or made, `X-Forwarded-For` appended, hop-by-hop stripped
 *   (headers.ts); errors are JSON `{"error":{"code","message","requestId"}}` (respond.ts).
 */
import diagnostics from 'node:diagnostics_channel';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { servicesOf } from '../config/index.js';
import type { ServiceContext } from '../engines/types.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { closeAll, once, type Closeable } from '../shared/lifecycle.js';
import { createLogger } from '../shared/log.js';
import { handleAdmin, isAdminPath } from './admin.js';
import { Backend, BackendSet, type BackendChangeReason } from './backends.js';
import { MAX_BODY_BYTES } from './body.js';
import { LbCounters } from './counters.js';
import type { BackendState } from './health-state.js';
import { HealthProber } from './health.js';
import { createPolicy } from './policy.js';
import { createProxyHandler } from './proxy.js';
import { createRetryPolicy, DEFAULT_RETRY_DEADLINE_MS } from './retry.js';
import { closeServer, createHttpServer, listen } from './server.js';

export { POLICY_NAMES, createPolicy } from './policy.js';
export type { BalancingPolicy, PolicyCandidate, PolicyName } from './policy.js';
export { BACKEND_STATES } from './health-state.js';
export type { BackendState } from './health-state.js';
export type { BackendView, BackendChangeReason } from './backends.js';
export type { HealthzBody } from './admin.js';
export { ADMIN_PREFIX } from './admin.js';

/** Path probed on every app server: the app contract's readiness endpoint (200 ready, 503 draining). */
export const BACKEND_READY_PATH = '/readyz';

/**
 * Named diagnostics channel: one message per backend state or eligibility change, for the
 * dashboard and chaos harness to subscribe to without this tier knowing them.
 */
export const BACKEND_CHANNEL = 'hastack:lb:backend';
export interface BackendChangeMessage {
  readonly lb: string;
  readonly backend: string;
  readonly state: BackendState;
  readonly ejected: boolean;
  readonly healthy: boolean;
  readonly reason: BackendChangeReason;
  readonly detail: string;
}

/**
 * In-flight client requests get 10 s to finish after close() begins: the same as the retry
 * deadline, so a request that arrived just before can still run all its attempts.
 */
const CLOSE_GRACE_MS = DEFAULT_RETRY_DEADLINE_MS;
/** Upstream pools are closed after the listener, when nothing uses them any more; 2 s is slack. */
const POOL_CLOSE_GRACE_MS = 2_000;

export async function startLb(ctx: ServiceContext): Promise<Closeable> {
  const cfg = ctx.topo.config.lb;
  const log = createLogger('lb', { service: ctx.svc.id });
  const apps = servicesOf(ctx.topo, 'app');
  if (apps.length === 0) {
    throw new HastackError(ErrorCode.CONFIG_INVALID, `load balancer ${ctx.svc.id}: the topology has no app service to send traffic to; add "app" to a node`);
  }

  const channel = diagnostics.channel(BACKEND_CHANNEL);
  const thresholds = {
    fall: cfg.fall,
    rise: cfg.rise,
    // Passive ejection reuses `fall`: the same "this many failures in a row" judgement, applied
    // to real requests, which arrive far more often than probes.
    ejectAfter: cfg.fall,
  };
  const backends = new BackendSet(
    apps.map((a) => new Backend(a.id, a.address, a.port, thresholds)),
    (b, reason, detail) => {
      const msg: BackendChangeMessage = {
        lb: ctx.svc.id,
        backend: b.id,
        state: b.health.state,
        ejected: b.health.ejected,
        healthy: b.health.eligible,
        reason,
        detail,
      };
      log.info(msg, `backend ${b.id} ${msg.healthy ? 'takes traffic' : 'takes no traffic'} (${msg.state}${msg.ejected ? ', ejected' : ''}): ${detail}`);
      if (channel.hasSubscribers) channel.publish(msg);
    },
  );
  const counters = new LbCounters();
  let closing = false;

  const proxy = createProxyHandler({
    backends,
    policy: createPolicy(cfg.policy),
    retry: createRetryPolicy({ retries: cfg.retries, deadlineMs: DEFAULT_RETRY_DEADLINE_MS }),
    counters,
    maxBodyBytes: MAX_BODY_BYTES,
    log,
  });
  const adminDeps = { serviceId: ctx.svc.id, policy: cfg.policy, backends, counters, closing: () => closing };
  const server = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    if (isAdminPath(req.url ?? '/')) {
      const id = req.headers['x-request-id'];
      handleAdmin(adminDeps, req, res, typeof id === 'string' && id !== '' ? id : randomUUID());
      return;
    }
    proxy(req, res);
  });

  const prober = new HealthProber(backends, { intervalMs: cfg.healthIntervalMs, timeoutMs: cfg.healthTimeoutMs, path: BACKEND_READY_PATH });
  prober.start();
  try {
    await listen(server, ctx.svc.address, ctx.svc.port, `load balancer ${ctx.svc.id}`);
  } catch (e) {
    await closeAll([() => prober.stop(), () => backends.close(0)]).catch(() => undefined);
    throw e;
  }
  log.info(
    { address: ctx.svc.address, port: ctx.svc.port, backends: backends.all.map((b) => b.id), policy: cfg.policy },
    `load balancer listening on ${ctx.svc.address}:${ctx.svc.port}`,
  );

  return {
    close: once(async () => {
      closing = true;
      log.info('load balancer closing');
      await closeAll([() => closeServer(server, CLOSE_GRACE_MS), () => prober.stop(), () => backends.close(POOL_CLOSE_GRACE_MS)]);
    }),
  };
}
