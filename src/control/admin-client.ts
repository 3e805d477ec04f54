import { request } from 'undici';
import type { Topology } from '../config/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import type { FaultRequest } from '../substrate/index.js';
import { authorizationHeader, readAdminToken } from './admin-token.js';

/**
 * Asks the running supervisor to inject or heal a fault (the supervised runtime's `fault`; on hosts
 * the hosts runtime sends faults to the agents). Bounded: a fault request answers fast.
 */
export async function requestFault(topo: Topology, f: FaultRequest, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  const url = `http://${topo.admin.address}:${topo.admin.port}/v1/faults`;
  // The token is read here, per request, from the state directory: never an argument or a flag.
  const token = readAdminToken(topo.stateDir);
  let res;
  try {
    res = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...authorizationHeader(token) },
      body: JSON.stringify(f),
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
    throw new HastackError(code, `fault ${f.action} refused: ${body.error?.message ?? `HTTP ${res.statusCode}`}`);
  }
  return body;
}
