/**
 * The load balancer tier: one HTTP listener per lb service, proxying to every app server of the
 * topology with health checks, safe retries and passive ejection.
 *
 * Paths under `/-/` are the load balancer's own (`/-/healthz` on the traffic port; `/-/stats` and
 * `/metrics` only on the admin port, see admin.ts); every other path is the app's. Behaviour in one
 * place:
 * - balancing: `lb.policy` (round-robin, least-connections or p2c; policy.ts);
 * - health: GET /readyz every `lb.healthIntervalMs`, `fall`/`rise`, 503 = draining (health-state.ts);
 * - retries: to another backend, connect failures always, resets before the response only for
 *   idempotent or `Idempotency-Key` requests, at most `lb.retries`, within 10 s (retry.ts);
 * - bodies up to `lb.maxBodyBytes` are buffered for replay, larger ones get 413 (body.ts);
 * - bounds (limits.ts, upstream.ts): client connections, bytes of bodies buffered at once, each
 *   backend's connections and queue (length and wait), client time limits; a bound hit is a 503
 *   with Retry-After; a client that stops reading is cut and never blamed on its backend;
 * - frozen backends: requests unanswered for 200 ms and an unanswered liveness probe eject the
 *   backend and send its repeatable waiting requests elsewhere (stall.ts);
 * - headers: `X-Request-Id` and `X-Forwarded-For/-Proto/-Host` set by us (client values dropped),
 *   hop-by-hop stripped, bad framing refused with 400 (headers.ts, proxy.ts, server.ts); errors
 *   are JSON `{"error":{"code","message","requestId"}}` (respond.ts);
 * - `GET /metrics` and `GET /-/stats` on the admin port (8404) and a sampled JSON access log (metrics.ts).
 */
import diagnostics from 'node:diagnostics_channel';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { appReadiness, appReadyPath, servicesOf, vipIntervalMs } from '../config/index.js';
import type { ServiceContext } from '../registry/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { closeAll, once, type Closeable } from '../shared/lifecycle.js';
import { createLogger } from '../shared/log.js';
import { probeAgent } from '../shared/probe-agent.js';
import { createAdminServer, handleAdmin, isAdminPath } from './admin.js';
import { Backend, BackendSet, type BackendChangeReason } from './backends.js';
import { LbCounters } from './counters.js';
import type { BackendState } from './health-state.js';
import { HealthProber, livenessProbe } from './health.js';
import { BodyBudget, ConnectionGate } from './limits.js';
import { LbMetrics } from './metrics.js';
import { createPolicy } from './policy.js';
import { createProxyHandler, MAX_REQUEST_HEADERS } from './proxy.js';
import { createRetryPolicy, DEFAULT_RETRY_DEADLINE_MS } from './retry.js';
import { closeServer, createHttpServer, listen } from './server.js';
import { DEFAULT_STALL_SETTINGS, StallWatch, type StallSettings } from './stall.js';
import { VipFollower } from './vip-follow.js';
import { VipKeeper } from './vip.js';
import {
  ACME_CHALLENGE_PREFIX,
  certificateFileSources,
  hstsHeader,
  registerTlsMetrics,
  setupEdgeTls,
  type CertificateSet,
  type EdgeTls,
  type EdgeTlsOptions,
} from './tls/index.js';
import type { StoredCert } from './acme/index.js';

export { POLICY_NAMES, createPolicy } from './policy.js';
export type { BalancingPolicy, PolicyCandidate, PolicyName } from './policy.js';
export { BACKEND_STATES } from './health-state.js';
export type { BackendState } from './health-state.js';
export type { BackendView, BackendChangeReason } from './backends.js';
export type { HealthzBody } from './admin.js';
export { ADMIN_PREFIX } from './admin.js';
export {
  ACME_CHALLENGE_PREFIX,
  CertificateSet,
  loadCertificate,
  loadCertificateFiles,
  hstsHeader,
  makeTestCa,
  makeTestCert,
  checkCertificateFiles,
  configuredCertificateSources,
} from './tls/index.js';
export type { CertificatePem, CertificateSource, CertificateView, LoadedCertificate } from './tls/index.js';

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

/** Overrides for tests; the supervisor calls `startLb(ctx)` with none. */
export interface LbOptions {
  readonly clientHeadersTimeoutMs?: number;
  readonly clientRequestTimeoutMs?: number;
  /** Overrides `lb.metricsPort` (the admin port: `/metrics`, `/-/stats`): 0 picks a free port; `false` turns it off. */
  readonly metricsPort?: number | false;
  readonly stall?: StallSettings;
  /** Overrides `ports.https` (0 picks a free port) and other HTTPS settings (tests; ACME's preload). */
  readonly tls?: Pick<EdgeTlsOptions, 'port' | 'handshakeTimeoutMs' | 'now' | 'preload' | 'sni'>;
}

export interface RunningLb extends Closeable {
  /** Where `/metrics` listens, when it does. */
  readonly metricsUrl: string | undefined;
  /** The admin listener's `http://address:port` (`/metrics`, `/-/stats`), when it runs. */
  readonly adminUrl: string | undefined;
  /** `https://address:port` with lb.tls. */
  readonly httpsUrl: string | undefined;
  /**
   * The certificates the HTTPS listener serves (with lb.tls): `replace(slot, [...])` installs new
   * ones for the next handshakes (ACME renewals use the `acme` slot) while connections in
   * progress keep theirs.
   */
  readonly certificates: CertificateSet | undefined;
}

export async function startLb(ctx: ServiceContext, opts: LbOptions = {}): Promise<RunningLb> {
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
  const backendList = apps.map(
    (a) => new Backend(a.id, a.address, a.port, thresholds, { maxConnections: cfg.backendMaxConnections, maxQueue: cfg.backendQueue, queueTimeoutMs: cfg.backendQueueTimeoutMs }),
  );
  const counters = new LbCounters();
  // One connection bound for the traffic listeners (its address and the floating one): the
  // resources it protects are the process's.
  const gate = new ConnectionGate(cfg.maxConnections);
  const bodyBudget = new BodyBudget(cfg.maxBufferedBodyBytes);
  const metrics = new LbMetrics({
    serviceId: ctx.svc.id,
    counters,
    backends: backendList,
    gate,
    bodyBudget,
    accessLog: createLogger('lb-access', { service: ctx.svc.id }),
    accessLogEvery: cfg.accessLogEvery,
  });
  const backends = new BackendSet(backendList, (b, reason, detail) => {
    const msg: BackendChangeMessage = {
      lb: ctx.svc.id,
      backend: b.id,
      state: b.health.state,
      ejected: b.health.ejected,
      healthy: b.health.eligible,
      reason,
      detail,
    };
    const panic = backends.panicking ? `; no backend is healthy: requests go to the ${backends.eligible.length} that answer their probes late` : '';
    log.info(
      { ...msg, panicking: backends.panicking },
      `backend ${b.id} ${msg.healthy ? 'takes traffic' : 'takes no traffic'} (${msg.state}${msg.ejected ? ', ejected' : ''}): ${detail}${panic}`,
    );
    metrics.backendChanged(b, msg.healthy ? 'up' : msg.ejected ? 'ejected' : msg.state, reason);
    if (channel.hasSubscribers) channel.publish(msg);
  });
  let closing = false;

  const proxy = createProxyHandler({
    backends,
    policy: createPolicy(cfg.policy),
    retry: createRetryPolicy({ retries: cfg.retries, deadlineMs: DEFAULT_RETRY_DEADLINE_MS }),
    counters,
    maxBodyBytes: cfg.maxBodyBytes,
    bodyBudget,
    clientSendTimeoutMs: cfg.clientSendTimeoutMs,
    log,
    observer: metrics,
    ...(cfg.tls !== undefined ? { hsts: hstsHeader(cfg.tls) } : {}),
  });
  let vip: VipKeeper | VipFollower | undefined;
  // lb.tls.acme (src/lb/acme): the shared ACME loop; each certificate it finds in the store goes
  // to the HTTPS listener's `acme` slot. With ACME as the only source, the HTTPS listener starts
  // when the first certificate is there (stored already, or obtained through the plain listener).
  // `edge` is set once the HTTPS side exists (below: it needs the handler, which needs these deps).
  let edge: EdgeTls | undefined;
  let acmeCert: StoredCert | undefined;
  let started = false;
  const installAcme = (c: StoredCert): void => {
    acmeCert = c;
    if (edge !== undefined) acmeModule?.installAcmeCertificate(edge.certificates, c);
    else if (started && !closing) startEdgeLate();
  };
  // Loaded only when configured: ACME brings acme-client and the database and Redis clients
  // (0.5 s of CPU at every load balancer's start where nothing uses them).
  const acmeModule = ctx.topo.config.lb.tls?.acme !== undefined ? await import('./acme/index.js') : undefined;
  const acme = acmeModule?.startAcme({ topo: ctx.topo, secrets: ctx.secrets, lb: ctx.svc.id, log, install: installAcme });
  const adminDeps = {
    serviceId: ctx.svc.id,
    policy: cfg.policy,
    backends,
    counters,
    gate,
    bodyBudget,
    closing: () => closing,
    vip: () => vip?.view(),
    tls: () => (edge === undefined ? undefined : { port: edge.port, certificates: edge.certificates.view(), ...edge.stats.view() }),
    acme: () => acme?.view(),
  };
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    // HTTP-01 answers come from the shared store, whichever load balancer the CA reaches.
    if (acme?.answer(req, res) === true) return;
    if (isAdminPath(req.url ?? '/')) {
      const id = req.headers['x-request-id'];
      handleAdmin(adminDeps, req, res, typeof id === 'string' && id !== '' ? id : randomUUID());
      return;
    }
    proxy(req, res);
  };
  const limits = {
    headersTimeoutMs: opts.clientHeadersTimeoutMs ?? cfg.clientHeadersTimeoutMs,
    requestTimeoutMs: opts.clientRequestTimeoutMs ?? cfg.clientRequestTimeoutMs,
    keepAliveMs: cfg.clientIdleTimeoutMs,
    maxHeaders: MAX_REQUEST_HEADERS,
  };
  const tlsCfg = cfg.tls;
  const makeEdge = (t: NonNullable<typeof tlsCfg>): EdgeTls => {
    const preload = (set: CertificateSet): void => {
      opts.tls?.preload?.(set);
      if (acmeCert !== undefined) acmeModule?.installAcmeCertificate(set, acmeCert);
    };
    const e = setupEdgeTls(ctx, t, { handler, limits, gate, log, ...opts.tls, preload });
    registerTlsMetrics(metrics.registry, e.stats, e.certificates);
    return e;
  };
  const startEdgeLate = (): void => {
    if (tlsCfg === undefined || edge !== undefined) return;
    const e = makeEdge(tlsCfg);
    edge = e;
    e.listen().then(
      () => log.info({ url: e.url }, `HTTPS listener started with the first ACME certificate`),
      (err: unknown) => log.error({ err: String(err) }, 'the HTTPS listener could not start'),
    );
  };
  // The certificate already in the store, if any, before the HTTPS listener is made (bounded).
  await acme?.ready;
  try {
    if (tlsCfg !== undefined && (acme === undefined || acmeCert !== undefined || certificateFileSources(ctx.topo).length > 0)) edge = makeEdge(tlsCfg);
  } catch (e) {
    await acme?.close().catch(() => undefined);
    throw e;
  }
  // Plain HTTP with lb.tls.redirectHttp: 308 to the same path over HTTPS, except ACME's
  // challenge (the CA fetches it over HTTP) and `/-/` (health checks of keepalived, DNS and the
  // supervisor stay on the plain port). Not before the HTTPS listener runs (ACME only, no certificate yet).
  const plainHandler: typeof handler =
    tlsCfg?.redirectHttp !== true
      ? handler
      : (req, res) => {
          const url = req.url ?? '/';
          const https = edge;
          if (https === undefined || url.startsWith(ACME_CHALLENGE_PREFIX) || isAdminPath(url) || !url.startsWith('/')) {
            handler(req, res);
            return;
          }
          redirectToHttps(req, res, ctx.topo.config.serviceName, https.port);
        };
  const server = createHttpServer(plainHandler, limits, gate);

  // Readiness: /readyz, 503 while the app server drains: a module app's on its own port, a
  // command app's on its readiness port (hastack's process around the command answers there).
  // Liveness (the stall watch): a module app's /readyz, a command app's app.healthPath, on the app's port.
  const readyPath = appReadyPath(ctx.topo.config);
  const prober = new HealthProber(backends, {
    intervalMs: cfg.healthIntervalMs,
    timeoutMs: cfg.healthTimeoutMs,
    path: appReadiness(ctx.topo.config, 0).path,
    originOf: (b) => `http://${b.address}:${appReadiness(ctx.topo.config, b.port).port}`,
  });
  // Liveness probes of the stall watch: their own agent, a fresh connection each (see health.ts),
  // the connect bounded by the liveness timeout (shared/probe-agent.ts).
  const stallSettings = opts.stall ?? DEFAULT_STALL_SETTINGS;
  const livenessAgent = probeAgent(stallSettings.livenessTimeoutMs);
  const stall = new StallWatch(backends.all, stallSettings, {
    probe: (b, timeoutMs) => livenessProbe(livenessAgent, b.origin, readyPath, timeoutMs),
    elsewhere: (b) => backends.eligible.some((o) => o !== b),
    onFrozen: (b) => backends.observeStall(b, 'requests unanswered and a liveness probe unanswered: frozen'),
    onRescued: (b, aborted) => {
      if (aborted > 0) log.warn({ backend: b.id, aborted }, `backend ${b.id} froze: ${aborted} repeatable requests sent to other backends`);
    },
  });
  // In the config, 0 turns the listener off; in the test overrides, 0 picks a free port.
  const metricsPort = opts.metricsPort ?? (cfg.metricsPort === 0 ? false : cfg.metricsPort);
  const metricsServer = metricsPort === false ? undefined : createAdminServer(adminDeps, metrics);
  const stopAll = (): Promise<void> =>
    closeAll([
      // The floating address first, so a peer takes it over while this one drains.
      async () => vip?.close(CLOSE_GRACE_MS),
      () => closeServer(server, CLOSE_GRACE_MS),
      async () => edge?.close(CLOSE_GRACE_MS),
      async () => {
        if (metricsServer !== undefined) await closeServer(metricsServer, 0);
      },
      () => stall.stop(),
      () => prober.stop(),
      () => livenessAgent.close(),
      () => backends.close(POOL_CLOSE_GRACE_MS),
      async () => acme?.close(),
    ]);
  prober.start();
  stall.start();
  let metricsUrl: string | undefined;
  let adminUrl: string | undefined;
  try {
    await listen(server, ctx.svc.address, ctx.svc.port, `load balancer ${ctx.svc.id}`);
    await edge?.listen();
    if (metricsServer !== undefined) {
      await listen(metricsServer, ctx.svc.address, metricsPort === false ? 0 : metricsPort, `load balancer ${ctx.svc.id} metrics`);
      const a = metricsServer.address();
      adminUrl = typeof a === 'object' && a !== null ? `http://${a.address}:${a.port}` : undefined;
      metricsUrl = adminUrl === undefined ? undefined : `${adminUrl}/metrics`;
    }
    if (cfg.vip !== undefined && ctx.topo.config.substrate === 'hosts') {
      // keepalived moves the address between hosts; this load balancer serves it while it is here.
      vip = new VipFollower({ vip: cfg.vip, port: ctx.svc.port, createListener: () => createHttpServer(plainHandler, limits, gate), log });
      await vip.start();
    } else if (cfg.vip !== undefined) {
      const lbs = servicesOf(ctx.topo, 'lb').map((l, rank) => ({ id: l.id, address: l.address, rank }));
      const self = lbs.find((l) => l.id === ctx.svc.id);
      if (self === undefined) throw new HastackError(ErrorCode.INTERNAL, `${ctx.svc.id} is not a load balancer of this topology`);
      vip = new VipKeeper({
        cluster: ctx.topo.cluster,
        vip: cfg.vip,
        port: ctx.svc.port,
        intervalMs: vipIntervalMs(ctx.topo.config),
        self,
        peers: lbs.filter((l) => l.id !== self.id),
        createListener: () => createHttpServer(plainHandler, limits, gate),
        log,
      });
      await vip.start();
    }
    started = true;
    // A first ACME certificate that arrived while the listeners were starting.
    if (edge === undefined && acmeCert !== undefined) startEdgeLate();
  } catch (e) {
    await stopAll().catch(() => undefined);
    throw e;
  }
  log.info(
    { address: ctx.svc.address, port: ctx.svc.port, backends: backends.all.map((b) => b.id), policy: cfg.policy },
    `load balancer listening on ${ctx.svc.address}:${ctx.svc.port}`,
  );

  return {
    metricsUrl,
    adminUrl,
    // Getters: with ACME only, the HTTPS listener starts later, with the first certificate.
    get httpsUrl() {
      return edge?.url;
    },
    get certificates() {
      return edge?.certificates;
    },
    close: once(async () => {
      closing = true;
      log.info('load balancer closing');
      await stopAll();
    }),
  };
}

/** Host names and addresses only (no port, no odd bytes): what a redirect may point at. */
const HOST_NAME = /^[A-Za-z0-9.-]{1,253}$/;

/**
 * 308 (method and body kept, RFC 9110 §15.4.9) to the HTTPS URL of the same path. The host is the
 * request's Host without its port when it is a plain name or address, else the service name: a
 * Host header cannot send the client anywhere odd.
 */
function redirectToHttps(req: IncomingMessage, res: ServerResponse, serviceName: string, port: number): void {
  const hostHeader = req.headers.host ?? '';
  const bare = hostHeader.replace(/:\d{1,5}$/, '');
  const host = HOST_NAME.test(bare) ? bare : serviceName;
  const location = `https://${host}${port === 443 ? '' : `:${port}`}${req.url ?? '/'}`;
  const body = JSON.stringify({ error: { code: 'HTTPS_REQUIRED', message: `use ${location}` } });
  res.writeHead(308, { location, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}
