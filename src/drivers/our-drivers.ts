import fs from 'node:fs';
import path from 'node:path';
import { request } from 'undici';
import { appHealthPath, isCommandApp } from '../config/index.js';
import { resolveService } from '../dns/index.js';
import { readStatus, statusSocketPath } from '../endpoints/index.js';
import type { OwnKind, ProbeResult, ProcessSpec, ServiceContext, ServiceDriver } from '../registry/index.js';
import { describeError } from '../shared/errors.js';
import { packageRoot } from '../shared/module-path.js';
import { sharedProbeAgent } from '../shared/probe-agent.js';

/**
 * The CLI as tsc built it. It runs what loads the user's app (the app and worker tiers,
 * `_migrate`): the app imports the SDK (`hastack/app`) from dist/src, and a process must hold one
 * copy of it. Hosts run it too (their units name the installed package's dist/src).
 */
export const CLI_MAIN = path.join(packageRoot(), 'dist/src/cli/main.js');
const BUNDLE_MAIN = path.join(packageRoot(), 'dist/cli/main.js');

/**
 * The same CLI bundled with its dependencies (scripts/bundle-cli.mjs): it starts in about half
 * the CPU. The supervisor and our tiers that do not load the app (lb, dns, the endpoints) run it.
 * CLI_MAIN stands in when the build made no bundle (hosts: deploy installs dist/src), or when tsc
 * ran after it (`tsc` alone, not `npm run build`): the bundle would run older code.
 */
export const CLI_BUNDLE = bundleIsFresh() ? BUNDLE_MAIN : CLI_MAIN;

function bundleIsFresh(): boolean {
  const bundle = fs.statSync(BUNDLE_MAIN, { throwIfNoEntry: false });
  const compiled = fs.statSync(path.join(packageRoot(), 'dist/.tsbuildinfo'), { throwIfNoEntry: false });
  return bundle !== undefined && bundle.mtimeMs >= (compiled?.mtimeMs ?? 0);
}

/** The kinds whose process loads the user's app. */
const LOADS_APP: ReadonlySet<string> = new Set<OwnKind>(['app', 'worker']);

function serviceCommand(ctx: ServiceContext): ProcessSpec {
  const main = LOADS_APP.has(ctx.svc.kind) ? CLI_MAIN : CLI_BUNDLE;
  return {
    command: process.execPath,
    args: [main, '_service', ctx.svc.kind, '--state', ctx.topo.stateDir, '--node', ctx.svc.node],
  };
}

/** What a probe accepts: our own tiers answer 200; a command app is ready on any 2xx or 3xx (a login redirect on `/`). */
type Accept = (status: number) => boolean;
const only200: Accept = (s) => s === 200;
const twoOrThree: Accept = (s) => s >= 200 && s < 400;

/** GET `path` on the service; healthy when `accept` takes the status. The body's `status` (if any) becomes the detail. */
async function httpProbe(ctx: ServiceContext, urlPath: string, timeoutMs: number, accept: Accept = only200): Promise<ProbeResult> {
  const role = ctx.svc.kind;
  try {
    const res = await request(`http://${ctx.svc.address}:${ctx.svc.port}${urlPath}`, {
      // The connect bounded too (shared/probe-agent.ts): a cut-off node's probe fails in timeoutMs, not 10 s.
      dispatcher: sharedProbeAgent(timeoutMs),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.body.text();
    let detail: string | undefined;
    try {
      const body = JSON.parse(text) as { status?: unknown };
      if (typeof body.status === 'string') detail = body.status;
    } catch {
      // not JSON: no detail
    }
    return accept(res.statusCode)
      ? { healthy: true, role, ...(detail !== undefined ? { detail } : {}) }
      : { healthy: false, role, detail: `HTTP ${res.statusCode}${detail ? ` (${detail})` : ''}` };
  } catch (e) {
    return { healthy: false, role, detail: describeError(e) };
  }
}

async function noPrepare(ctx: ServiceContext): Promise<void> {
  fs.mkdirSync(ctx.svc.dir, { recursive: true });
}

/** One of our HTTP tiers: run as `_service KIND`, healthy when `healthPath` answers 200. */
function httpDriver(healthPath: string): ServiceDriver {
  return { prepare: noPrepare, command: serviceCommand, probe: (ctx, t) => httpProbe(ctx, healthPath, t) };
}

const dnsDriver: ServiceDriver = {
  prepare: noPrepare,
  command: serviceCommand,
  async probe(ctx, timeoutMs): Promise<ProbeResult> {
    try {
      const answer = await resolveService([{ address: ctx.svc.address, port: ctx.svc.port }], ctx.topo.config.serviceName, timeoutMs);
      return answer.addresses.length > 0
        ? { healthy: true, role: 'dns', detail: `${ctx.topo.config.serviceName} → ${answer.addresses.join(', ')}` }
        : { healthy: false, role: 'dns', detail: 'empty answer' };
    } catch (e) {
      return { healthy: false, role: 'dns', detail: describeError(e) };
    }
  },
};

/**
 * A local endpoint (src/endpoints): healthy when it has somewhere to send new connections. Probed
 * on its status socket, not through its port (that would open a database or Redis connection).
 */
const endpointDriver: ServiceDriver = {
  prepare: noPrepare,
  command: serviceCommand,
  async probe(ctx, timeoutMs): Promise<ProbeResult> {
    const role = ctx.svc.kind;
    try {
      const s = await readStatus(statusSocketPath(ctx.svc.dir), timeoutMs);
      return { healthy: s.healthy, role, detail: s.detail };
    } catch (e) {
      return { healthy: false, role, detail: describeError(e) };
    }
  },
};

/** The drivers of hastack's own tiers (the registry's `ours` kinds); a missing one is a compile error. */
/**
 * The app server: module or command app alike, run as `_service app` (for a command app, a small
 * parent of `app.command`: src/app/command.ts). Probed on `app.healthPath`.
 */
const appDriver: ServiceDriver = {
  prepare: noPrepare,
  command: serviceCommand,
  probe: (ctx, t) => httpProbe(ctx, appHealthPath(ctx.topo.config), t, isCommandApp(ctx.topo.config) ? twoOrThree : only200),
};

export const ourDrivers: Readonly<Record<OwnKind, ServiceDriver>> = {
  app: appDriver,
  // The worker's /healthz fails only when it makes no progress (src/worker/progress.ts), or, for
  // worker.command, when the command is down or crash-looping (src/worker/command.ts): three
  // failed probes in a row (~6 s past that bound) and the supervisor restarts it.
  worker: { ...httpDriver('/healthz'), livenessFailures: 3 },
  // `/-/` is the load balancer's own path space; everything else is proxied to the app.
  lb: httpDriver('/-/healthz'),
  dns: dnsDriver,
  'db-endpoint': endpointDriver,
  'db-read-endpoint': endpointDriver,
  'redis-endpoint': endpointDriver,
};
