import http from 'node:http';
import { z } from 'zod';
import type { Secrets, Topology } from '../config/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import type { Closeable } from '../shared/lifecycle.js';
import { guardRequest } from './admin-guard.js';
import { loadOrCreateAdminToken } from './admin-token.js';
import { dashboardRoutes } from './dashboard/index.js';
import { cutLinks, faultRequestSchema, isolateLinks, partitionLinks } from '../substrate/index.js';
import { drainTarget, serviceControlSchema } from './service-control.js';
import type { Supervisor } from './supervisor.js';

/**
 * The supervisor's admin API on `<addressBase>.254:<adminPort>`: the status of the cluster and
 * fault injection for `hastack chaos`, which must go through the supervisor because the
 * supervisor owns the processes (a node killed by a fault must stay down, not be restarted).
 * It also serves the status dashboard (src/control/dashboard: the page, `/v1/events`,
 * `/v1/stream`, `/v1/reports`), read-only. It listens on loopback (local, netns), or on real hosts on
 * `hosts.adminAddress` of the controller (default loopback: an SSH tunnel reaches it). Every
 * request passes admin-guard.ts first: its own Host only, no cross-origin request, and the
 * cluster's admin token (admin-token.ts) on anything that changes state.
 */
export type { FaultRequest } from '../substrate/index.js';

/** Bodies are a few hundred bytes; anything bigger is a mistake, not a fault request. */
const MAX_BODY = 16 * 1024;
/**
 * Connections at once: the CLI, a few dashboard pages (each holds one `/v1/stream`) and a flood
 * that must not grow without bound. Past this the kernel queues, then refuses.
 */
export const MAX_ADMIN_CONNECTIONS = 64;
/** A request's headers and body arrive within this, or the connection is closed (slow clients). */
const REQUEST_TIMEOUT_MS = 10_000;

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function applyFault(sup: Supervisor, topo: Topology, f: z.output<typeof faultRequestSchema>): Promise<unknown> {
  switch (f.action) {
    case 'kill-node':
      return { pids: sup.killNode(f.node) };
    case 'heal-node':
      await sup.healNode(f.node);
      return {};
    case 'pause-node':
      return { pids: sup.pauseNode(f.node) };
    case 'resume-node':
      return { pids: sup.resumeNode(f.node) };
    case 'kill-service':
      return { pid: sup.killService(f.node, f.service) ?? null };
    case 'partition':
      return { links: await sup.cutNetwork(partitionLinks(f.sides), `partition [${f.sides[0].join(' ')}] | [${f.sides[1].join(' ')}]`) };
    case 'isolate': {
      const nodes = topo.nodes.map((n) => n.name);
      return { links: await sup.cutNetwork(isolateLinks(f.node, nodes, f.fromHost), `${f.node} isolated from every node${f.fromHost ? ' and the host' : ''}`) };
    }
    case 'cut':
      return { links: await sup.cutNetwork(cutLinks(f.from, f.to), `packets from ${f.from} to ${f.to} dropped`) };
    case 'heal-partition':
      return { healed: await sup.healPartition() };
  }
}

/** `POST /v1/services`: the operator's stop/start/restart/drain (src/control/service-control.ts). */
async function applyServiceControl(sup: Supervisor, topo: Topology, c: z.output<typeof serviceControlSchema>): Promise<unknown> {
  if (c.action === 'drain') {
    sup.drainNode(drainTarget(topo, c.node), c.undo);
    return {};
  }
  const known = new Set(topo.services.map((s) => s.id));
  const missing = c.services.find((id) => !known.has(id));
  if (missing !== undefined) throw new HastackError(ErrorCode.NOT_FOUND, `no service ${missing} in cluster ${topo.cluster}`);
  if (c.action !== 'start') await sup.stopServices(c.services);
  if (c.action !== 'stop') await sup.startServices([...c.services].reverse());
  return {};
}

/** The body of a POST, parsed with `schema`; undefined after answering 400 itself. */
async function parseBody<S extends z.ZodTypeAny>(req: http.IncomingMessage, res: http.ServerResponse, schema: S): Promise<z.output<S> | undefined> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readBody(req));
  } catch {
    send(res, 400, { error: { code: 'BAD_REQUEST', message: 'the body must be JSON' } });
    return undefined;
  }
  const f = schema.safeParse(parsed);
  if (!f.success) {
    const issue = f.error.issues[0];
    send(res, 400, { error: { code: 'BAD_REQUEST', message: `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}` } });
    return undefined;
  }
  return f.data as z.output<S>;
}

const OWNS_NO_PROCESS = 'this controller runs on real hosts and owns no process: run "hastack chaos" from a machine with SSH access to the hosts, it applies faults over SSH';

/**
 * `sup` absent: the controller of a cluster on real hosts (`hastack _controller`), which owns no
 * process: status and the dashboard only; faults are applied by the CLI over SSH.
 */
export function startAdminApi(topo: Topology, secrets: Secrets, sup?: Supervisor): Promise<Closeable> {
  const dashboard = dashboardRoutes(topo, secrets);
  const token = loadOrCreateAdminToken(topo.stateDir);
  const server = http.createServer({ requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS }, (req, res) => {
    void (async () => {
      try {
        const verdict = guardRequest({ method: req.method ?? 'GET', headers: req.headers }, { address: topo.admin.address, token });
        if (!verdict.ok) {
          res.setHeader('connection', 'close');
          return send(res, verdict.status, { error: { code: verdict.code, message: verdict.message } });
        }
        if (req.method === 'GET' && req.url === '/v1/status') {
          // `hastack status --json` plus what the dashboard shows (uptime, lag, lb counters, queues).
          return send(res, 200, await dashboard.feed.snapshot());
        }
        if (dashboard.handle(req, res)) return;
        if (req.method === 'POST' && req.url === '/v1/faults') {
          const body = await parseBody(req, res, faultRequestSchema);
          if (body === undefined) return;
          if (!sup) return send(res, 400, { error: { code: 'BAD_REQUEST', message: OWNS_NO_PROCESS } });
          return send(res, 200, { ok: true, ...((await applyFault(sup, topo, body)) as object) });
        }
        if (req.method === 'POST' && req.url === '/v1/services') {
          const body = await parseBody(req, res, serviceControlSchema);
          if (body === undefined) return;
          if (!sup) return send(res, 400, { error: { code: 'BAD_REQUEST', message: OWNS_NO_PROCESS } });
          return send(res, 200, { ok: true, ...((await applyServiceControl(sup, topo, body)) as object) });
        }
        send(res, 404, { error: { code: 'NOT_FOUND', message: 'GET / (the dashboard), /v1/status, /v1/events, /v1/stream, /v1/reports, or POST /v1/faults, /v1/services' } });
      } catch (e) {
        const code = e instanceof HastackError ? e.code : 'INTERNAL';
        send(res, code === 'NOT_FOUND' ? 404 : code === 'BAD_REQUEST' ? 400 : 500, { error: { code, message: describeError(e) } });
      }
    })();
  });
  server.maxConnections = MAX_ADMIN_CONNECTIONS;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(topo.admin.port, topo.admin.address, () => {
      server.off('error', reject);
      let closed: Promise<void> | undefined;
      resolve({
        close: () =>
          (closed ??= new Promise<void>((r) => {
            dashboard.close();
            server.close(() => r());
            server.closeAllConnections();
          })),
      });
    });
  });
}
