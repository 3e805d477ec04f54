import os from 'node:os';
import type { Secrets, ServiceInstance, ServiceKind, Topology } from '../config/index.js';
import { findService, servicesOf } from '../config/index.js';
import { recordDbRole, type DbRole, type RedisAddress, type RedisRole } from '../engines/index.js';
import type { ProbeResult, ServiceContext } from '../registry/index.js';
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
  /**
   * How Redis and Sentinel are asked. Absent: straight from this machine (local, netns, the
   * controller on its node); on real hosts the operator's CLI passes one that goes through each
   * node's agent, since their ports answer only cluster nodes (src/hosts/firewall.ts).
   */
  readonly redisAdmin?: RedisAdmin;
  /**
   * How a service's health is asked after the promotion. Absent: its driver's probe from this
   * machine. On real hosts the CLI passes one that asks the local endpoints through their
   * host's agent: their probe reads a socket in the service's directory on that machine.
   */
  readonly probe?: (svc: ServiceInstance) => Promise<ProbeResult>;
}

/** One look at the cluster's Redis nodes and Sentinels: what answered, nothing for what did not. */
export interface RedisLook {
  /** ROLE of each Redis service (by id) that answered. */
  readonly roles: ReadonlyMap<string, RedisRole>;
  /** The master each Sentinel (by id) that answered names; null: it names none. */
  readonly named: ReadonlyMap<string, RedisAddress | null>;
}

/** What a Sentinel answered SENTINEL FAILOVER (see `RedisAdmin.sentinelFailover`). */
export interface SentinelFailoverAnswer {
  readonly refused?: { readonly code: string | undefined; readonly message: string };
}

/** The Redis and Sentinel calls of the crash plan (see `FailoverEnv.redisAdmin`). */
export interface RedisAdmin {
  look(): Promise<RedisLook>;
  /**
   * SENTINEL FAILOVER <masterName> on this Sentinel: `{}` when asked, `{ refused }` with Sentinel's
   * error reply (its code: INPROG, NOGOODSLAVE) when it said no; throws when it did not answer.
   */
  sentinelFailover(sentinel: ServiceInstance): Promise<SentinelFailoverAnswer>;
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
  if (!svc)
    throw new HastackError(
      ErrorCode.NOT_FOUND,
      `node ${node} has no ${kind} service; nodes with one: ${servicesOf(env.topo, kind)
        .map((s) => s.node)
        .join(', ')}`,
    );
  return svc;
}

/** The node whose `kind` service listens on host:port, if it is one of the cluster's. */
export function nodeAt(env: FailoverEnv, kind: ServiceKind, host: string, port: number): string | undefined {
  return servicesOf(env.topo, kind).find((s) => s.address === host && s.port === port)?.node;
}
