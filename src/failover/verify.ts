import fs from 'node:fs';
import { Agent, request, type Dispatcher } from 'undici';
import { edgeTlsFiles, httpsPort, lbTlsLocal, servicesOf } from '../config/index.js';
import { resolveService } from '../dns/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { sleep, waitFor } from '../shared/retry.js';
import type { FailoverEnv } from './context.js';
import { customVerify, runCustomVerify } from './verify-custom.js';

// One request through a load balancer on loopback: milliseconds; 10 s covers the app's own
// database retry budget while it finds the new primary.
const HTTP_TIMEOUT_MS = 10_000;
// The ERP confirms an order by a job: at once when the enqueue was durable, else by its sweep
// schedule (every 10 s, and right after a Redis failover no replica acknowledges: "deferred").
const JOB_TIMEOUT_MS = 45_000;

/** The load balancers hastack's DNS hands out now (asked of the servers not on the fenced node). */
export async function dnsAnswer(env: FailoverEnv, fenced: string): Promise<{ addresses: string[]; ttlS: number }> {
  const servers = servicesOf(env.topo, 'dns')
    .filter((s) => s.node !== fenced)
    .map((s) => ({ address: s.address, port: s.port }));
  // 500 ms a server: a DNS server on loopback answers in well under a millisecond.
  return resolveService(servers, env.topo.config.serviceName, 500, (a) => [...a]);
}

async function http(
  method: 'GET' | 'POST',
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
  d?: Dispatcher,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await request(url, {
    ...(d !== undefined ? { dispatcher: d } : {}),
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    headersTimeout: HTTP_TIMEOUT_MS,
    bodyTimeout: HTTP_TIMEOUT_MS,
  });
  const text = await res.body.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON: the status alone speaks
  }
  return { status: res.statusCode, json };
}

/**
 * `POST /login` with `failover.verifyLogin`; returns the session cookie to send, or undefined when
 * the app has no `/login` (404: an app without sessions). Retried like the order (the app may be
 * finding Redis).
 */
async function logIn(base: string, user: { readonly username: string; readonly password: string }, d?: Dispatcher): Promise<string | undefined> {
  let last = '';
  for (let i = 0; i < 10; i++) {
    try {
      const res = await request(`${base}/login`, {
        ...(d !== undefined ? { dispatcher: d } : {}),
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(user),
        headersTimeout: HTTP_TIMEOUT_MS,
        bodyTimeout: HTTP_TIMEOUT_MS,
      });
      await res.body.dump();
      const set = res.headers['set-cookie'];
      const cookie = (Array.isArray(set) ? set[0] : set)?.split(';')[0];
      if (res.statusCode === 200 && cookie) return cookie;
      if (res.statusCode === 404) return undefined;
      last = `HTTP ${res.statusCode}`;
      if (res.statusCode === 401) break;
    } catch (e) {
      last = describeError(e);
    }
    await sleep(500);
  }
  throw new HastackError(ErrorCode.UPSTREAM_UNAVAILABLE, `could not log in as ${user.username} at ${base}/login (${last}); check failover.verifyLogin`);
}

/**
 * End to end, as a client: resolve the service name through hastack's DNS, then through a load
 * balancer it names: a write (an order, with an Idempotency-Key so a re-run finds the same one),
 * a read of it back, and its confirmation job run by a worker. Apps without the ERP's order API
 * get the read of `/` only (the step says so). `failover.verify`, or a command app, replaces all
 * this with its own check (verify-custom.ts).
 */
export async function verifyEndToEnd(env: FailoverEnv, fenced: string, key: string): Promise<string> {
  const answer = await dnsAnswer(env, fenced);
  const lb = answer.addresses[0];
  if (!lb) throw new HastackError(ErrorCode.UPSTREAM_UNAVAILABLE, 'hastack\'s DNS answers with no load balancer; see "hastack status" (lb rows)');
  // With lb.tls, over HTTPS as a client would (plain HTTP may only redirect there: redirectHttp),
  // checking the certificate for the service name against the cluster CA (lb.tls local) or the
  // system store (certificates from files or ACME; NODE_EXTRA_CA_CERTS adds a private root).
  const tls = env.topo.config.lb.tls !== undefined;
  const port = tls ? httpsPort(env.topo.config) : (servicesOf(env.topo, 'lb')[0]?.port ?? 8080);
  const base = `${tls ? 'https' : 'http'}://${lb}:${port}`;
  const d = tls
    ? new Agent({
        connect: {
          servername: env.topo.config.serviceName,
          rejectUnauthorized: true,
          ...(lbTlsLocal(env.topo.config) ? { ca: fs.readFileSync(edgeTlsFiles(env.topo).ca, 'utf8') } : {}),
        },
      })
    : undefined;
  try {
    return await verifyThrough(env, fenced, key, base, d);
  } finally {
    await d?.close();
  }
}

async function verifyThrough(env: FailoverEnv, fenced: string, key: string, base: string, d: Dispatcher | undefined): Promise<string> {
  const custom = customVerify(env);
  if (custom !== undefined) return `via DNS → ${await runCustomVerify(env, fenced, base, custom, d)}`;
  const t0 = Date.now();
  // Log in first when the config names an account: the example ERP answers every business read,
  // not only writes, with 401 without a session.
  const login = env.topo.config.failover.verifyLogin;
  const headers: Record<string, string> = { 'idempotency-key': key };
  const session: Record<string, string> = {};
  const cookie = login === undefined ? undefined : await logIn(base, login, d);
  if (cookie !== undefined) session['cookie'] = headers['cookie'] = cookie;
  const skus = await http('GET', `${base}/api/items`, undefined, session, d);
  if (skus.status === 401 && login === undefined) {
    throw new HastackError(ErrorCode.CONFIG_INVALID, `the app wants a login to read (HTTP 401 at ${base}/api/items); set failover.verifyLogin to an account the check may use`);
  }
  if (skus.status === 404) {
    const root = await http('GET', `${base}/`, undefined, {}, d);
    if (root.status !== 200) throw new HastackError(ErrorCode.UPSTREAM_UNAVAILABLE, `GET ${base}/ answered ${root.status}`);
    return `GET ${base}/ → 200 (the app has no /api/orders: write and job checks skipped)`;
  }
  const items = (skus.json['items'] ?? skus.json) as unknown;
  const sku = Array.isArray(items) ? String((items[0] as { sku?: unknown } | undefined)?.sku ?? 'WIDGET-RED') : 'WIDGET-RED';
  let created: { status: number; json: Record<string, unknown> } | undefined;
  let lastErr = '';
  // The app may need a moment to find the new primary (its DbClient probes read_only): retry the
  // same idempotent request, bounded.
  for (let i = 0; i < 10 && !created; i++) {
    try {
      const r = await http('POST', `${base}/api/orders`, { customer: key, lines: [{ sku, qty: 1 }] }, headers, d);
      if (r.status === 200 || r.status === 201) created = r;
      else if (r.status === 401 && login === undefined) {
        throw new HastackError(
          ErrorCode.CONFIG_INVALID,
          `the app wants a login to write (HTTP 401 at ${base}/api/orders); set failover.verifyLogin to an account the check may use`,
        );
      } else lastErr = `HTTP ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`;
    } catch (e) {
      if (e instanceof HastackError && e.code === ErrorCode.CONFIG_INVALID) throw e;
      lastErr = describeError(e);
    }
    if (!created) await sleep(500);
  }
  if (!created) throw new HastackError(ErrorCode.UPSTREAM_UNAVAILABLE, `no order could be written through ${base}: ${lastErr}`);
  const id = Number(created.json['id']);
  const wroteMs = Date.now() - t0;
  const read = await http('GET', `${base}/api/orders/${id}`, undefined, session, d);
  if (read.status !== 200) throw new HastackError(ErrorCode.UPSTREAM_UNAVAILABLE, `order ${id} written but reading it back answered ${read.status}`);
  const confirmed = await waitFor(
    async () => {
      const r = await http('GET', `${base}/api/orders/${id}`, undefined, session, d);
      return r.json['status'] !== 'pending' ? String(r.json['status']) : undefined;
    },
    // 500 ms: a worker confirms within a few hundred ms of the enqueue.
    { timeoutMs: JOB_TIMEOUT_MS, intervalMs: 500 },
  );
  if (!confirmed)
    throw new HastackError(ErrorCode.TIMEOUT, `order ${id} written and read back, but no worker confirmed it within ${JOB_TIMEOUT_MS / 1000} s; see "hastack logs" of the workers`);
  return `via DNS → ${base}: order ${id} written (${created.json['confirmation'] as string}) in ${wroteMs} ms, read back, ${confirmed} by a worker after ${Date.now() - t0} ms`;
}
