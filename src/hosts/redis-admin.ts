import { z } from 'zod';
import { servicesOf, type ServiceInstance, type Topology } from '../config/index.js';
import { waitSentinelsReady, type RedisAddress, type RedisRole, type SentinelView } from '../engines/index.js';
import type { ProbeResult } from '../registry/index.js';
import { driverFor } from '../drivers/index.js';
import { lookAtRedisDirect, sentinelFailoverDirect, type RedisAdmin, type RedisLook, type SentinelFailoverAnswer } from '../failover/index.js';
import { describeError, ErrorCode, HastackError } from '../shared/errors.js';
import { installed } from './agent.js';
import type { AgentEnv } from './agent-env.js';
import { asRoot } from './agent-env.js';
import { guardedPorts } from './firewall.js';
import { withHost, type HostSession } from './session.js';

/**
 * Redis and Sentinel from a machine that is not a cluster node. On hosts their ports answer only
 * the cluster's nodes (firewall.ts), so the operator's `failover`, `deploy` (waiting for the
 * Sentinels) and `status` ask each host's agent, which asks its own services over the node's
 * address (a cluster source). Host side: the `_agent` verbs below; operator side:
 * `hostsRedisAdmin` (the crash plan's `FailoverEnv.redisAdmin`) and `sentinelsReadyOnHosts`.
 */

const addressSchema = z.object({ host: z.string(), port: z.number().int() });
const redisRoleSchema = z.discriminatedUnion('role', [
  z.object({ role: z.literal('master'), offset: z.number(), replicas: z.array(z.object({ host: z.string(), port: z.number(), offset: z.number() })) }),
  z.object({ role: z.literal('replica'), master: addressSchema, linkState: z.string(), linkUp: z.boolean(), offset: z.number() }),
]);

/** What `_agent redis-look --node N` prints: the node's Redis ROLEs and its Sentinels' named master. */
export const redisLookSchema = z.object({
  roles: z.record(redisRoleSchema),
  named: z.record(addressSchema.nullable()),
});
/** As printed: RedisRole's readonly arrays are plain JSON arrays. */
export interface RedisLookJson {
  readonly roles: Record<string, RedisRole>;
  readonly named: Record<string, RedisAddress | null>;
}

const sentinelViewSchema = z.object({
  sentinel: z.string(),
  master: z.string().optional(),
  replicas: z.number().int(),
  otherSentinels: z.number().int(),
  error: z.string().optional(),
});

// --- host side ---------------------------------------------------------------------------------

/** `redis-look --node N`: ROLE of N's Redis and the master N's Sentinel names (what answered). */
export async function agentRedisLook(env: AgentEnv, node: string): Promise<RedisLookJson> {
  const { topo, secrets } = installed(env, node);
  const svcs = topo.services.filter((s) => s.node === node && (s.kind === 'redis' || s.kind === 'sentinel'));
  const look = await lookAtRedisDirect(topo, secrets, svcs);
  return { roles: Object.fromEntries(look.roles), named: Object.fromEntries(look.named) };
}

/** What `_agent sentinel-failover` prints: asked, or Sentinel's refusal with its error code. */
export const sentinelFailoverSchema = z.object({
  refused: z.object({ code: z.string().optional(), message: z.string() }).optional(),
});

/**
 * `sentinel-failover --id N/sentinel`: SENTINEL FAILOVER on that Sentinel; its refusal (INPROG,
 * NOGOODSLAVE) is an answer (exit 0), only no answer fails.
 */
export async function agentSentinelFailover(env: AgentEnv, id: string): Promise<SentinelFailoverAnswer> {
  const { topo, secrets } = installed(env);
  const svc = topo.services.find((s) => s.id === id);
  if (!svc || svc.kind !== 'sentinel') throw new HastackError(ErrorCode.BAD_REQUEST, `${id} is not a sentinel of cluster ${topo.cluster}`);
  return sentinelFailoverDirect(topo, secrets, svc);
}

/** `sentinels-ready --timeout-ms T`: waitSentinelsReady run from this host (a cluster node). */
export async function agentSentinelsReady(env: AgentEnv, timeoutMs: number): Promise<{ views: SentinelView[] }> {
  const { topo, secrets } = installed(env);
  return { views: await waitSentinelsReady(topo, secrets, timeoutMs) };
}

/**
 * `probes --node N [--timeout-ms T]`: each of N's guarded services (memcached, Redis, Sentinel,
 * Galera's MariaDB) probed from this host, in parallel: one SSH round trip per host for `status`.
 */
export async function agentGuardedProbes(env: AgentEnv, node: string, timeoutMs: number): Promise<{ probes: Record<string, ProbeResult> }> {
  const { topo, secrets } = installed(env, node);
  const ids = new Set(guardedPorts(topo, node).map((g) => g.serviceId));
  const svcs = topo.services.filter((s) => ids.has(s.id));
  const out: Record<string, ProbeResult> = {};
  await Promise.all(
    svcs.map(async (svc) => {
      out[svc.id] = await driverFor(svc.kind).probe({ topo, secrets, svc, asRoot: asRoot() }, timeoutMs);
    }),
  );
  return { probes: out };
}

// --- operator side -----------------------------------------------------------------------------

/** One agent call spawns the CLI on the host: a few hundred ms; 15 s means the host is stuck. */
const AGENT_TIMEOUT_MS = 15_000;

/**
 * The crash plan's Redis calls through the agents (`FailoverEnv.redisAdmin`): one agent call per
 * host and look, each over its own SSH connection, closed after (the crash plan, chaos and
 * switchover hold no session open between steps, so nothing is left behind if they throw).
 */
export function hostsRedisAdmin(topo: Topology): RedisAdmin {
  const nodes = [...new Set([...servicesOf(topo, 'redis'), ...servicesOf(topo, 'sentinel')].map((s) => s.node))];
  return {
    async look(): Promise<RedisLook> {
      const roles = new Map<string, RedisRole>();
      const named = new Map<string, RedisAddress | null>();
      await Promise.all(
        nodes.map(async (n) => {
          // A host that does not answer: its services are left out, as unreachable ones are.
          const r = await withHost(topo, n, (s) => s.agentJson('redis-look', ['--node', n], redisLookSchema, { timeoutMs: AGENT_TIMEOUT_MS })).catch(() => undefined);
          for (const [id, role] of Object.entries(r?.roles ?? {})) roles.set(id, role);
          for (const [id, a] of Object.entries(r?.named ?? {})) named.set(id, a);
        }),
      );
      return { roles, named };
    },
    async sentinelFailover(sentinel: ServiceInstance): Promise<SentinelFailoverAnswer> {
      const r = await withHost(topo, sentinel.node, (s) => s.agentJson('sentinel-failover', ['--id', sentinel.id], sentinelFailoverSchema, { timeoutMs: AGENT_TIMEOUT_MS }));
      return r.refused ? { refused: { code: r.refused.code, message: r.refused.message } } : {};
    },
  };
}

/** `deploy`'s wait for the Sentinels, run by the agent of the first Sentinel's host. */
export async function sentinelsReadyOnHosts(session: HostSession, timeoutMs: number): Promise<SentinelView[]> {
  try {
    return (
      await session.agentJson('sentinels-ready', ['--timeout-ms', String(timeoutMs)], z.object({ views: z.array(sentinelViewSchema) }), { timeoutMs: timeoutMs + AGENT_TIMEOUT_MS })
    ).views;
  } catch (e) {
    if (e instanceof HastackError) throw e;
    throw new HastackError(ErrorCode.HEALTH_TIMEOUT, `the sentinels are not ready, as ${session.node} sees them: ${describeError(e)}`);
  }
}
