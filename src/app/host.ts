import type { ServiceContext } from '../registry/index.js';
import { isDrainedByOperator, servicesOf } from '../config/index.js';
import { closeAll, once, type Closeable } from '../shared/lifecycle.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { createLogger } from '../shared/log.js';
import { sleep } from '../shared/retry.js';
import { buildHttpServer } from './http.js';
import { defaultDrainDelay } from './drain.js';
import { loadApp } from './load.js';
import { migrationsFor, startMigrationRunner } from './migrate.js';
import { ReadinessProbe } from './readiness.js';
import { openAppRuntime } from './runtime.js';

export interface AppServerOptions {
  /**
   * Time a route may take before the client gets 503 TIMEOUT (ms). 15 s: above the database
   * client's retry budget (10 s, a failover) so a request that rode out a failover still
   * answers, and below the load balancer's 30 s upstream headers timeout, so the client gets our
   * JSON error rather than the balancer's.
   */
  readonly requestTimeoutMs?: number;
  /**
   * After `/readyz` turns 503 at close, keep serving this long so every load balancer sees it
   * and stops sending (ms). Default: lb.healthIntervalMs × lb.fall + lb.healthTimeoutMs (2.5 s
   * with defaults) when the topology has load balancers, else 0.
   */
  readonly drainDelayMs?: number;
  /** Then wait at most this long for requests in flight (ms). 10 s: longer requests have timed out anyway. */
  readonly inflightTimeoutMs?: number;
  /** At start, wait this long for migrations before serving anyway (ms; they keep retrying). */
  readonly migrationBudgetMs?: number;
}

/**
 * Runs the cluster's app on `ctx.svc.address:port`: loads the app module, connects the clients,
 * applies migrations (bounded; an outage does not stop the start), starts dependency checks and
 * the HTTP server. `close()` drains: /readyz → 503, keep serving while the balancers notice,
 * stop accepting, wait (bounded) for requests in flight, then close the clients.
 */
export async function startAppServer(ctx: ServiceContext, opts: AppServerOptions = {}): Promise<Closeable> {
  const log = createLogger('app', { node: ctx.svc.node });
  const app = await loadApp(ctx.topo);
  const runtime = openAppRuntime(ctx, app, log, 'app');
  const readiness = new ReadinessProbe(runtime);
  // 20 s at start: a healthy cluster migrates in well under a second; the supervisor's start
  // health timeout (60 s) leaves room for this plus a slow first connect.
  const migrations = startMigrationRunner(runtime.db, migrationsFor(ctx.topo, app), log, opts.migrationBudgetMs ?? 20_000, (ok, detail) => readiness.setMigrations({ ok, detail }));
  // The load balancers' addresses: their X-Forwarded-For is the client's (AppRequest.clientAddress).
  const trustedProxies = new Set(servicesOf(ctx.topo, 'lb').map((s) => s.address));
  const { server, state } = buildHttpServer({
    runtime,
    log,
    readiness,
    requestTimeoutMs: opts.requestTimeoutMs ?? 15_000,
    trustedProxies,
    drainedByOperator: () => isDrainedByOperator(ctx.svc),
  });
  try {
    await migrations.settled;
    // 5 s for this process's own database and Redis links: tens of ms on a healthy cluster.
    await readiness.start(5_000);
    await server.listen({ host: ctx.svc.address, port: ctx.svc.port });
  } catch (e) {
    await closeAll([() => migrations.stop(), () => readiness.stop(), () => server.close(), () => runtime.close()]).catch(() => undefined);
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new HastackError(ErrorCode.PORT_IN_USE, `${ctx.svc.address}:${ctx.svc.port} is already in use; is another app server running on ${ctx.svc.node}?`, { cause: e });
    }
    throw e;
  }
  log.info({ app: app.name, address: ctx.svc.address, port: ctx.svc.port, migrations: migrations.done() ? 'applied' : 'pending' }, 'app server listening');

  const drainDelayMs = opts.drainDelayMs ?? defaultDrainDelay(ctx);
  const inflightTimeoutMs = opts.inflightTimeoutMs ?? 10_000;
  const close = once(async () => {
    state.draining = true;
    log.info({ drainDelayMs }, 'draining: /readyz answers 503');
    if (drainDelayMs > 0) await sleep(drainDelayMs);
    const force = setTimeout(() => server.server.closeAllConnections(), inflightTimeoutMs);
    try {
      await closeAll([() => server.close(), () => migrations.stop(), () => readiness.stop(), () => runtime.close()]);
    } finally {
      clearTimeout(force);
      log.info('app server closed');
    }
  });
  return { close };
}
