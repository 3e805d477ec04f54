import type { Secrets } from '../config/index.js';
import { targetRoles } from '../registry/index.js';
import { HOST, type ClusterStatus, type Runtime } from '../substrate/index.js';
import { ConfigError, ErrorCode, HastackError } from '../shared/errors.js';
import { pick } from '../shared/random.js';
import { sleep } from '../shared/retry.js';
import type { FaultSpec } from './scenarios.js';

/** `role:<role>` → the service kind and, for engines with a role, the role the probe reports (the descriptors' chaosRoles). */
const ROLES = targetRoles();

export const TARGET_ROLES = [...ROLES.keys()];

function isGalera(status: ClusterStatus): boolean {
  return status.services.some((s) => s.service === 'mariadb' && s.role === 'galera');
}

/**
 * In Galera every node is writable, but the app's router writes through one at a time: the first
 * synced node of the config. `db-primary` is that writer (killing it is the fault that matters:
 * in-flight commits and the router's move to another node); `db-replica` is the first other one.
 */
function galeraTarget(role: string | undefined, status: ClusterStatus, exclude: ReadonlySet<string>): string | undefined {
  const synced = status.services.filter((s) => s.service === 'mariadb' && s.role === 'galera' && s.healthy).map((s) => s.node);
  const writer = synced[0];
  const pool = role === 'primary' ? (writer === undefined ? [] : [writer]) : synced.slice(1);
  return pool.find((n) => !exclude.has(n));
}

/**
 * Picks the node a fault hits: a node name as given, a node playing a role right now (asked of
 * the live cluster, since a failover moves roles), or any node, chosen with the seeded random.
 */
export function resolveTarget(target: string, status: ClusterStatus, random: () => number, exclude: ReadonlySet<string> = new Set()): string {
  const nodes = [...new Set(status.services.map((s) => s.node))].filter((n) => !exclude.has(n));
  if (target === 'random') {
    const n = pick(nodes, random);
    if (!n) throw new HastackError(ErrorCode.NOT_FOUND, 'no node left to pick at random');
    return n;
  }
  if (!target.startsWith('role:')) {
    if (!nodes.includes(target)) throw new ConfigError('target', `no node "${target}" in cluster ${status.cluster}; nodes: ${nodes.join(', ')}`);
    return target;
  }
  const want = ROLES.get(target.slice(5));
  if (!want) throw new ConfigError('target', `unknown role "${target}"; use one of ${TARGET_ROLES.map((r) => `role:${r}`).join(', ')}`);
  const candidates = status.services
    .filter((s) => s.service === want.service && (want.role === undefined || s.role === want.role) && s.healthy && !exclude.has(s.node))
    .map((s) => s.node);
  const n = want.service === 'mariadb' && isGalera(status) ? galeraTarget(want.role, status, exclude) : pick([...new Set(candidates)].sort(), random);
  if (!n) throw new HastackError(ErrorCode.NOT_FOUND, `no healthy node is ${target} right now; see "hastack status"`);
  return n;
}

// A target role nobody holds for a moment (the primary read-only for the 100 ms of a guard's
// fence blip, seen in CI) is looked for again: the fault waits up to this long for it.
const TARGET_WAIT_MS = 5_000;

async function resolveTargets(
  runtime: Runtime,
  secrets: Secrets,
  specs: readonly FaultSpec[],
  random: () => number,
): Promise<{ status: ClusterStatus; plan: Array<{ spec: FaultSpec; node: string }>; chosen: Set<string> }> {
  const deadline = Date.now() + TARGET_WAIT_MS;
  for (;;) {
    const status = await runtime.status(secrets);
    const chosen = new Set<string>();
    try {
      const plan = specs.map((spec) => {
        const node = resolveTarget(spec.target, status, random, chosen);
        chosen.add(node);
        return { spec, node };
      });
      return { status, plan, chosen };
    } catch (e) {
      if (!(e instanceof HastackError && e.code === ErrorCode.NOT_FOUND) || Date.now() > deadline) throw e;
      await sleep(500);
    }
  }
}

/**
 * A partition side's selector to nodes: `all:<role>` is every healthy node in that role not placed
 * yet, `@host` the host, anything else one node as `resolveTarget` picks it.
 */
export function resolveSelector(sel: string, status: ClusterStatus, random: () => number, exclude: ReadonlySet<string>): string[] {
  if (sel === HOST) return [HOST];
  if (!sel.startsWith('all:')) return [resolveTarget(sel, status, random, exclude)];
  const want = ROLES.get(sel.slice(4));
  if (!want) throw new ConfigError('against', `unknown role in "${sel}"; use one of ${TARGET_ROLES.map((r) => `all:${r}`).join(', ')}`);
  const nodes = status.services
    .filter((s) => s.service === want.service && (want.role === undefined || s.role === want.role) && s.healthy && !exclude.has(s.node))
    .map((s) => s.node);
  return [...new Set(nodes)].sort();
}

function resolveSide(sels: readonly string[], status: ClusterStatus, random: () => number, chosen: Set<string>): string[] {
  const side: string[] = [];
  for (const sel of sels) {
    for (const n of resolveSelector(sel, status, random, chosen)) {
      chosen.add(n);
      side.push(n);
    }
  }
  return side;
}

const NETWORK_ACTIONS: ReadonlySet<string> = new Set(['isolate', 'partition', 'cut']);

export interface InjectedFault {
  readonly spec: FaultSpec;
  readonly node: string;
  readonly description: string;
}

export async function injectFaults(runtime: Runtime, secrets: Secrets, specs: readonly FaultSpec[], random: () => number): Promise<InjectedFault[]> {
  const { status, plan, chosen } = await resolveTargets(runtime, secrets, specs, random);
  const done: InjectedFault[] = [];
  for (const { spec, node } of plan) {
    if (spec.action === 'partition') {
      const mine = [node, ...resolveSide(spec.with ?? [], status, random, chosen)];
      const theirs = resolveSide(spec.against ?? [], status, random, chosen);
      await runtime.fault({ action: 'partition', sides: [mine, theirs] });
      done.push({ spec, node, description: `partition [${mine.join(' ')}] | [${theirs.join(' ')}] (${spec.target})` });
    } else if (spec.action === 'isolate') {
      await runtime.fault({ action: 'isolate', node, fromHost: spec.fromHost ?? false });
      done.push({ spec, node, description: `isolate ${node}${spec.fromHost ? ' (from the clients too)' : ''} (${spec.target})` });
    } else if (spec.action === 'cut') {
      const to = resolveSide(spec.against ?? [], status, random, chosen);
      for (const t of to) await runtime.fault({ action: 'cut', from: node, to: t });
      done.push({ spec, node, description: `drop packets ${node} → ${to.join(' ')} (${spec.target})` });
    } else if (spec.action === 'kill-service') {
      if (!spec.service) throw new ConfigError('service', 'kill-service needs a service');
      await runtime.fault({ action: 'kill-service', node, service: spec.service });
      done.push({ spec, node, description: `kill -9 ${node}/${spec.service}` });
    } else {
      await runtime.fault({ action: spec.action, node });
      done.push({ spec, node, description: `${spec.action === 'kill-node' ? 'kill -9 node' : 'SIGSTOP node'} ${node} (${spec.target})` });
    }
  }
  return done;
}

export async function healFaults(runtime: Runtime, faults: readonly InjectedFault[]): Promise<void> {
  // One heal restores every cut link, whichever fault made it.
  if (faults.some((f) => NETWORK_ACTIONS.has(f.spec.action))) await runtime.fault({ action: 'heal-partition' });
  for (const f of faults) {
    if (f.spec.action === 'kill-node') await runtime.fault({ action: 'heal-node', node: f.node });
    if (f.spec.action === 'pause-node') await runtime.fault({ action: 'resume-node', node: f.node });
  }
}
