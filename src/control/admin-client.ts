import { request } from 'undici';
import type { Topology } from '../config/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import type { FaultRequest } from '../substrate/index.js';
import { authorizationHeader, readAdminToken } from './admin-token.js';
import type { ServiceControlRequest } from './service-control.js';

/**
 * Asks the running supervisor to inject or heal a fault (the supervised runtime's `fault`; on hosts
 * the hosts runtime sends faults to the agents). Bounded: a fault request answers fast.
 */
export function requestFault(topo: Topology, f: FaultRequest, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  return postAdmin(topo, '/v1/faults', f, `fault ${f.action}`, timeoutMs);
}

/**
 * The operator's stop/start/restart/drain (src/control/service-control.ts), by the same path as a
 * fault. A start waits for health: bounded by the start health timeout plus a margin.
 */
export function requestServiceControl(topo: Topology, c: ServiceControlRequest): Promise<Record<string, unknown>> {
  return postAdmin(topo, '/v1/services', c, c.action, topo.config.supervisor.healthTimeoutMs * 2 + 30_000);
}

async function postAdmin(topo: Topology, path: string, payload: unknown, what: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const url = `http://${topo.admin.address}:${topo.admin.port}${path}`;
  // The token is read here, per request, from the state directory: never an argument or a flag.
  const token = readAdminToken(topo.stateDir);
  let res;
  try {
    res = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...authorizationHeader(token) },
      body: JSON.stringify(payload),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
  } catch (e) {
    throw new HastackError(ErrorCode.CLUSTER_NOT_RUNNING, `cannot reach the supervisor at ${url} (${describeError(e)}); is the cluster up ("hastack status")?`);
  }
  const body = (await res.body.json()) as Record<string, unknown> & { error?: { code?: string; message?: string } };
  if (res.statusCode !== 200) {
    const code =
      res.statusCode === 404 ? ErrorCode.NOT_FOUND : res.statusCode === 400 ? ErrorCode.BAD_REQUEST : res.statusCode === 401 ? ErrorCode.UNAUTHORIZED : ErrorCode.INTERNAL;
    throw new HastackError(code, `${what} refused: ${body.error?.message ?? `HTTP ${res.statusCode}`}`);
  }
  return body;
}
