import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findService, readSecrets, readTopology, type Secrets, type ServiceInstance, type Topology } from '../config/index.js';
import { driverFor } from '../drivers/index.js';
import { recordDbRole, type DbRole } from '../engines/index.js';
import { startPlan, type ProbeResult, type ServiceContext } from '../registry/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { writeFileAtomic } from '../shared/files.js';
import { sleep } from '../shared/retry.js';
import { asRoot, managerFor, unitsOptions, type AgentEnv } from './agent-env.js';
import type { AgentStatus, NodeUpResult } from './agent-types.js';
import type { ServiceManager } from './service-manager.js';
import { applyFirewall, guardedPorts, removeFirewall } from './firewall.js';
import { handOverServiceDir } from './service-users.js';
import { execArgsFile, hasDynamicCommand, unitsForNode, type UnitSpec } from './units.js';

/**
 * The host side of `hastack deploy` once installed: unit control, probes, wiring, prepare, and
 * the node-down/node-up faults. The CLI (src/cli/agent.ts) only parses arguments and prints
 * these results as JSON; plan/apply live in install.ts.
 */

function installedTopology(env: AgentEnv): Topology {
  if (!fs.existsSync(path.join(env.stateDir, 'topology.json'))) {
    throw new HastackError(ErrorCode.CLUSTER_NOT_RUNNING, `nothing is installed under ${env.stateDir} on ${os.hostname()}: run "hastack deploy" first (or check --state)`);
  }
  return readTopology(env.stateDir);
}

/** The node's units and manager from what `apply` installed on this host. */
export function installed(env: AgentEnv, node?: string): { topo: Topology; secrets: Secrets; specs: UnitSpec[]; manager: ServiceManager } {
  const topo = installedTopology(env);
  const secrets = readSecrets(env.stateDir);
  const nodes = node !== undefined ? [node] : topo.nodes.map((n) => n.name);
  const specs = nodes.flatMap((n) => unitsForNode(topo, n, unitsOptions(env, secrets)));
  return { topo, secrets, specs, manager: managerFor(env, topo, specs) };
}

/** The manager of the installed units, and the unit names as given (checked by the manager). */
function namesOf(env: AgentEnv, names: readonly string[]): { manager: ServiceManager; names: string[] } {
  const inst = installed(env);
  return { manager: inst.manager, names: [...names] };
}

export async function agentStart(env: AgentEnv, names: readonly string[]): Promise<AgentStatus> {
  const { manager, names: n } = namesOf(env, names);
  await manager.start(n);
  return { manager: manager.kind, units: await manager.status(n) };
}

export async function agentStop(env: AgentEnv, names: readonly string[]): Promise<AgentStatus> {
  const { manager, names: n } = namesOf(env, names);
  await manager.stop(n);
  return { manager: manager.kind, units: await manager.status(n) };
}

export async function agentRestart(env: AgentEnv, names: readonly string[]): Promise<AgentStatus> {
  const { manager, names: n } = namesOf(env, names);
  await manager.restart(n);
  return { manager: manager.kind, units: await manager.status(n) };
}

export async function agentStatus(env: AgentEnv, node: string): Promise<AgentStatus> {
  const { specs, manager } = installed(env, node);
  const units = await manager.status(specs.map((s) => s.name));
  // A controller's host: the automatic failover's mode as it holds it (auto-mode-hosts.ts).
  const autoMode = specs.some((s) => s.role === 'controller') ? await (await import('./auto-mode-hosts.js')).agentAutoMode(env) : undefined;
  // The binlog archive's host: the archiver's status line, from the file it keeps here.
  const archive = specs.some((s) => s.role === 'archive') ? (await import('../failover/binlog-archive.js')).describeArchiveStatus(installedTopology(env)) : undefined;
  return { manager: manager.kind, units, ...(autoMode ? { autoMode } : {}), ...(archive ? { archive } : {}) };
}

function serviceContext(env: AgentEnv, id: string): ServiceContext {
  const topo = installedTopology(env);
  const [node, kind] = id.split('/');
  const svc = topo.services.find((s) => s.id === id) ?? (node && kind ? findService(topo, node, kind as ServiceInstance['kind']) : undefined);
  if (!svc)
    throw new HastackError(ErrorCode.NOT_FOUND, `no service "${id}" in ${env.stateDir}/topology.json; services are named node/kind, like ${topo.services[0]?.id ?? 'db1/mariadb'}`);
  return { topo, secrets: readSecrets(env.stateDir), svc, asRoot: asRoot() };
}

/** One bounded probe; never throws for an unhealthy service (that is the answer). */
export async function agentProbe(env: AgentEnv, id: string, timeoutMs: number): Promise<ProbeResult> {
  const ctx = serviceContext(env, id);
  return driverFor(ctx.svc.kind).probe(ctx, timeoutMs);
}

export async function agentWire(env: AgentEnv, id: string): Promise<{ wired: string }> {
  const ctx = serviceContext(env, id);
  await driverFor(ctx.svc.kind).afterHealthy?.(ctx);
  return { wired: id };
}

/**
 * `record-role`: the role a database node starts in next time (the crash plan's fence, run from
 * another machine: the record lives here, beside the node's data).
 */
export async function agentRecordRole(env: AgentEnv, id: string, role: string): Promise<{ recorded: string; role: DbRole }> {
  if (role !== 'primary' && role !== 'replica') throw new HastackError(ErrorCode.BAD_REQUEST, `--role must be primary or replica, not "${role}"`);
  const ctx = serviceContext(env, id);
  if (ctx.svc.kind !== 'mariadb') throw new HastackError(ErrorCode.BAD_REQUEST, `${id} is not a database node`);
  recordDbRole(ctx, role);
  return { recorded: id, role };
}

export async function agentPrepare(env: AgentEnv, id: string): Promise<{ prepared: string }> {
  const ctx = serviceContext(env, id);
  const driver = driverFor(ctx.svc.kind);
  // Before the engine listens, at every start (a reboot clears iptables): its guarded ports
  // answer only cluster nodes.
  if (ctx.asRoot && guardedPorts(ctx.topo, ctx.svc.node).some((g) => g.serviceId === id)) applyFirewall(ctx.topo, ctx.svc.node);
  await driver.prepare(ctx);
  if (hasDynamicCommand(ctx.topo, ctx.svc)) {
    // The engine runs as its own user (units.ts): no "run as root anyway" flag in its command.
    const cmd = driver.command({ ...ctx, asRoot: false });
    const argv = [cmd.command, ...cmd.args];
    const blank = argv.find((a) => a === '' || /\s/.test(a));
    if (blank !== undefined)
      throw new HastackError(ErrorCode.INTERNAL, `${id}: the argument ${JSON.stringify(blank)} has a blank, which the unit's sh -c cannot pass; use paths without spaces`);
    writeFileAtomic(execArgsFile(ctx.svc), argv.join(' ') + '\n', 0o644);
  }
  // Last: the directory (data, configs with passwords, logs) goes to the service's own user.
  if (ctx.asRoot) handOverServiceDir(ctx.svc, ctx.secrets);
  return { prepared: id };
}

/**
 * `node-down`: every process of every unit of the node SIGKILLed, and left stopped. With
 * `recordReplica` (a database service of the node), its role is recorded as replica first: the
 * crash plan's whole fence in one call (one start of the CLI on this machine, not two).
 */
export async function agentNodeDown(env: AgentEnv, node: string, recordReplica?: string): Promise<AgentStatus> {
  if (recordReplica !== undefined && recordReplica !== '') {
    if (!recordReplica.startsWith(`${node}/`)) throw new HastackError(ErrorCode.BAD_REQUEST, `--record-replica ${recordReplica} is not a service of node ${node}`);
    await agentRecordRole(env, recordReplica, 'replica');
  }
  const { specs, manager } = installed(env, node);
  const names = specs.map((s) => s.name);
  await manager.killAll(names);
  return { manager: manager.kind, units: await manager.status(names) };
}

/** How often node-up probes a starting service: one cheap query per 200 ms. */
const PROBE_INTERVAL_MS = 200;
const PROBE_TIMEOUT_MS = 1_000;

/**
 * `node-up`: the node's units again, services in the order of `up` (the registry's startPlan) filtered to this
 * node, each group waited for (bounded by supervisor.healthTimeoutMs) before the next, then the
 * controller, keepalived and the backup timer.
 */
export async function agentNodeUp(env: AgentEnv, node: string): Promise<NodeUpResult> {
  const { topo, secrets, specs, manager } = installed(env, node);
  const probes: Record<string, ProbeResult> = {};
  const byService = new Map(specs.filter((s) => s.serviceId !== undefined).map((s) => [s.serviceId as string, s]));
  for (const step of startPlan(topo)) {
    if (step.type !== 'start') continue;
    const mine = step.services.filter((s) => s.node === node);
    if (mine.length === 0) continue;
    await manager.start(mine.flatMap((s) => byService.get(s.id)?.name ?? []));
    await Promise.all(
      mine.map(async (svc) => {
        const ctx: ServiceContext = { topo, secrets, svc, asRoot: asRoot() };
        const deadline = Date.now() + topo.config.supervisor.healthTimeoutMs;
        let last = await driverFor(svc.kind).probe(ctx, PROBE_TIMEOUT_MS);
        while (!last.healthy && Date.now() < deadline) {
          await sleep(PROBE_INTERVAL_MS);
          last = await driverFor(svc.kind).probe(ctx, PROBE_TIMEOUT_MS);
        }
        probes[svc.id] = last;
      }),
    );
  }
  const rest = specs.filter((s) => s.role !== 'service').map((s) => s.name);
  if (rest.length > 0) await manager.start(rest);
  return { manager: manager.kind, units: await manager.status(specs.map((s) => s.name)), probes: probes as NodeUpResult['probes'] };
}

/**
 * `firewall --node N [--remove]`: installs the node's rules (what `apply` does too) or removes
 * the cluster's chain (`hastack down`).
 */
export async function agentFirewall(env: AgentEnv, node: string, remove: boolean): Promise<{ chain: string; rules: number }> {
  const topo = installedTopology(env);
  if (remove) {
    removeFirewall(topo.cluster);
    return { chain: '', rules: 0 };
  }
  return applyFirewall(topo, node);
}
