import os from 'node:os';
import type { Secrets, ServiceInstance, ServiceKind, Topology } from '../config/index.js';
import { findService, servicesOf } from '../config/index.js';
import { recordDbRole, type DbRole } from '../engines/index.js';
import type { ServiceContext } from '../registry/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';

/** What every failover step works with: the running cluster's topology and secrets. */
export interface FailoverEnv {
  readonly topo: Topology;
  readonly secrets: Secrets;
  /**
   * Records a database node's role where its next start reads it. Absent: in the node's directory
   * on this machine (local, netns); on real hosts the CLI passes one that goes over SSH.
   */
  readonly recordRole?: (svc: ServiceInstance, role: DbRole) => Promise<void>;
}

/** The role a database node comes back in after a restart (see `FailoverEnv.recordRole`). */
export async function recordRole(env: FailoverEnv, svc: ServiceInstance, role: DbRole): Promise<void> {
  if (env.recordRole) await env.recordRole(svc, role);
  else recordDbRole(ctxOf(env, svc), role);
}

export function ctxOf(env: FailoverEnv, svc: ServiceInstance): ServiceContext {
  return { topo: env.topo, secrets: env.secrets, svc, asRoot: os.userInfo().uid === 0 };
}

export function serviceOn(env: FailoverEnv, node: string, kind: ServiceKind): ServiceInstance {
  const svc = findService(env.topo, node, kind);
  if (!svc) throw new HastackError(ErrorCode.NOT_FOUND, `node ${node} has no ${kind} service; nodes with one: ${servicesOf(env.topo, kind).map((s) => s.node).join(', ')}`);
  return svc;
}

/** The node whose `kind` service listens on host:port, if it is one of the cluster's. */
export function nodeAt(env: FailoverEnv, kind: ServiceKind, host: string, port: number): string | undefined {
  return servicesOf(env.topo, kind).find((s) => s.address === host && s.port === port)?.node;
}
