import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SERVICE_KINDS, findService, readSecrets, readTopology, type Secrets, type ServiceInstance, type Topology } from '../config/index.js';
import { driverFor } from '../control/drivers.js';
import { startPlan } from '../control/plan.js';
import type { ProbeResult, ServiceContext } from '../engines/types.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { sleep } from '../shared/retry.js';
import type { AgentPlan, AgentStatus, DeployBundle, FileStatus, NodeUpResult } from './agent-types.js';
import { lineDiff, redact, secretsDiff } from './diff.js';
import { fillPlaceholders, renderCheckScript, renderKeepalivedConf, resolveInterface } from './keepalived.js';
import { serviceManagerFor, type ManagedFile, type ServiceManager } from './service-manager.js';
import { execArgsFile, hasDynamicCommand, keepalivedCheckScript, keepalivedConfFile, unitPrefix, unitsForNode, type UnitSpec, type UnitsOptions } from './units.js';

/**
 * The host side of `hastack deploy`: what one node should have on disk and running, compared
 * with what it has (plan), made so (apply), and unit control. The CLI (src/cli/agent.ts) only
 * parses arguments and prints these results as JSON.
 */

export interface AgentEnv {
  /** `--state`: `<hosts.stateDir>/<cluster>` on this host. */
  readonly stateDir: string;
  readonly nodeBin: string;
  readonly cliMain: string;
}

const asRoot = (): boolean => os.userInfo().uid === 0;

function unitsOptions(env: AgentEnv, secrets: Secrets): UnitsOptions {
  return { nodeBin: env.nodeBin, cliMain: env.cliMain, asRoot: asRoot(), secrets };
}

function checkStateDir(env: AgentEnv, topo: Topology): void {
  if (path.resolve(env.stateDir) !== path.resolve(topo.stateDir)) {
    throw new HastackError(
      ErrorCode.CONFIG_INVALID,
      `--state ${env.stateDir} is not this cluster's state directory ${topo.stateDir} (hosts.stateDir/cluster); run the agent with --state ${topo.stateDir}`,
    );
  }
}

function managerFor(env: AgentEnv, topo: Topology, specs: readonly UnitSpec[]): ServiceManager {
  return serviceManagerFor(topo.config.hosts.serviceManager, { stateDir: topo.stateDir, specs, nodeBin: env.nodeBin, cliMain: env.cliMain });
}

interface DesiredFile extends ManagedFile {
  /** The unit this file belongs to; absent for the cluster's own files (topology, secrets, config). */
  readonly unit?: string;
  readonly secret?: boolean;
}

/** The interface and prefix carrying `address` here (keepalived's `dev`), from `ip -o -4 addr`. */
function hostInterface(address: string): { iface: string; prefix: number } {
  let out = '';
  try {
    out = execFileSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8', timeout: 5_000 });
  } catch (e) {
    throw new HastackError(ErrorCode.SETUP_FAILED, `cannot list this host's addresses with "ip -o -4 addr" (${String(e)}); install iproute2`);
  }
  const r = resolveInterface(out, address);
  if (!r) throw new HastackError(ErrorCode.CONFIG_INVALID, `no network interface of ${os.hostname()} carries ${address}; fix nodes[].address for this host`);
  return r;
}

function desiredFiles(env: AgentEnv, bundle: DeployBundle, node: string, specs: readonly UnitSpec[], manager: ServiceManager): DesiredFile[] {
  const topo = bundle.topology;
  const s = topo.stateDir;
  const files: DesiredFile[] = [
    { path: path.join(s, 'topology.json'), content: JSON.stringify(topo, null, 2) + '\n', mode: 0o644 },
    { path: path.join(s, 'secrets.json'), content: JSON.stringify(bundle.secrets, null, 2) + '\n', mode: 0o600, secret: true },
    { path: path.join(s, 'hastack.yaml'), content: bundle.configYaml, mode: 0o644 },
  ];
  for (const spec of specs) {
    for (const f of manager.files(spec)) files.push({ ...f, unit: spec.name });
    if (spec.role === 'keepalived') {
      const self = topo.nodes.find((n) => n.name === node);
      const nic = hostInterface(self?.address ?? '');
      const script = keepalivedCheckScript(topo, {});
      files.push({ path: script, content: renderCheckScript(topo, node, env.nodeBin), mode: 0o755, unit: spec.name });
      const conf = fillPlaceholders(renderKeepalivedConf({ topo, node, checkScript: script }), nic.iface, nic.prefix);
      files.push({ path: keepalivedConfFile({}), content: conf, mode: 0o644, unit: spec.name });
    }
  }
  return files;
}

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function parseSecretsText(text: string | undefined): Record<string, string> {
  if (text === undefined) return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null) return {};
    return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    return {};
  }
}

interface Compared {
  readonly file: DesiredFile;
  readonly status: FileStatus;
  readonly diff?: string;
}

function compare(files: readonly DesiredFile[], bundle: DeployBundle): Compared[] {
  return files.map((file) => {
    const have = readIfExists(file.path);
    if (have === undefined) return { file, status: 'new' as const };
    if (have === file.content) return { file, status: 'same' as const };
    if (file.secret) return { file, status: 'changed' as const, diff: secretsDiff(parseSecretsText(have), { ...bundle.secrets }) };
    const secrets = [...Object.values(bundle.secrets), ...Object.values(parseSecretsText(readIfExists(path.join(bundle.topology.stateDir, 'secrets.json'))))];
    return { file, status: 'changed' as const, diff: lineDiff(redact(have, secrets), redact(file.content, secrets)) };
  });
}

async function planFor(
  env: AgentEnv,
  bundle: DeployBundle,
  node: string,
): Promise<{ plan: AgentPlan; compared: Compared[]; stale: string[]; specs: UnitSpec[]; manager: ServiceManager }> {
  const topo = bundle.topology;
  checkStateDir(env, topo);
  const specs = unitsForNode(topo, node, unitsOptions(env, bundle.secrets));
  const manager = managerFor(env, topo, specs);
  const desired = desiredFiles(env, bundle, node, specs, manager);
  const compared = compare(desired, bundle);
  // Units installed here that the topology no longer puts on this node (a service moved away).
  const wanted = new Set(desired.map((f) => f.path));
  // Only this node's service units and the cluster-level ones: several nodes sharing one host
  // (a test bed) must not remove each other's services.
  const prefix = `${unitPrefix(topo.cluster)}-`;
  const mine = (f: string): boolean => {
    const base = path.basename(f).replace(/\.(service|timer|json)$/, '');
    return SERVICE_KINDS.some((k) => base === `${prefix}${node}-${k}`) || ['controller', 'keepalived', 'backup'].some((r) => base === `${prefix}${r}`);
  };
  const stale = manager.installedFiles(topo.cluster).filter((f) => !wanted.has(f) && mine(f));
  const clusterChanged = compared.some((c) => c.file.unit === undefined && c.status !== 'same');
  const statuses = await manager.status(specs.map((s) => s.name));
  const plan: AgentPlan = {
    manager: manager.kind,
    ...(manager.note !== undefined ? { managerNote: manager.note } : {}),
    files: [
      ...compared.map((c) => ({ path: c.file.path, status: c.status, ...(c.diff !== undefined ? { diff: c.diff } : {}) })),
      ...stale.map((f) => ({ path: f, status: 'changed' as const, diff: `- (no longer wanted on ${node}: apply stops the unit and removes this file)` })),
    ],
    units: specs.map((s, i) => ({
      name: s.name,
      ...(s.serviceId !== undefined ? { serviceId: s.serviceId } : {}),
      role: s.role,
      changed: clusterChanged || compared.some((c) => c.file.unit === s.name && c.status !== 'same'),
      active: statuses[i]?.active ?? false,
    })),
  };
  return { plan, compared, stale, specs, manager };
}

/** `plan --node N`: what `apply` would change; changes nothing. */
export async function agentPlan(env: AgentEnv, bundle: DeployBundle, node: string): Promise<AgentPlan> {
  return (await planFor(env, bundle, node)).plan;
}

function writeAtomic(file: string, content: string, mode: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, content, { mode });
  // writeFileSync's mode applies only to a new file (and through the umask): set it exactly.
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}

/** `apply --node N`: writes what differs, makes the manager see it (no start). Prints the plan it applied. */
export async function agentApply(env: AgentEnv, bundle: DeployBundle, node: string): Promise<AgentPlan> {
  const { plan, compared, stale, specs, manager } = await planFor(env, bundle, node);
  fs.mkdirSync(bundle.topology.stateDir, { recursive: true, mode: 0o700 });
  await manager.remove(stale);
  for (const c of compared) if (c.status !== 'same') writeAtomic(c.file.path, c.file.content, c.file.mode);
  // systemd opens StandardOutput=append: files itself and does not create their directories.
  for (const s of specs) {
    fs.mkdirSync(path.dirname(s.logFile), { recursive: true, mode: 0o700 });
    fs.mkdirSync(s.cwd, { recursive: true, mode: 0o700 });
  }
  await manager.install(specs, compared.some((c) => c.file.unit !== undefined && c.status !== 'same'));
  return plan;
}

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
  return { manager: manager.kind, units: await manager.status(specs.map((s) => s.name)) };
}

function serviceContext(env: AgentEnv, id: string): ServiceContext {
  const topo = installedTopology(env);
  const [node, kind] = id.split('/');
  const svc = topo.services.find((s) => s.id === id) ?? (node && kind ? findService(topo, node, kind as ServiceInstance['kind']) : undefined);
  if (!svc) throw new HastackError(ErrorCode.NOT_FOUND, `no service "${id}" in ${env.stateDir}/topology.json; services are named node/kind, like ${topo.services[0]?.id ?? 'db1/mariadb'}`);
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

export async function agentPrepare(env: AgentEnv, id: string): Promise<{ prepared: string }> {
  const ctx = serviceContext(env, id);
  const driver = driverFor(ctx.svc.kind);
  await driver.prepare(ctx);
  if (hasDynamicCommand(ctx.topo, ctx.svc)) {
    const cmd = driver.command(ctx);
    const argv = [cmd.command, ...cmd.args];
    const blank = argv.find((a) => a === '' || /\s/.test(a));
    if (blank !== undefined) throw new HastackError(ErrorCode.INTERNAL, `${id}: the argument ${JSON.stringify(blank)} has a blank, which the unit's sh -c cannot pass; use paths without spaces`);
    fs.writeFileSync(execArgsFile(ctx.svc), argv.join(' ') + '\n');
  }
  return { prepared: id };
}

/** `node-down`: every process of every unit of the node SIGKILLed, and left stopped. */
export async function agentNodeDown(env: AgentEnv, node: string): Promise<AgentStatus> {
  const { specs, manager } = installed(env, node);
  const names = specs.map((s) => s.name);
  await manager.killAll(names);
  return { manager: manager.kind, units: await manager.status(names) };
}

/** How often node-up probes a starting service: one cheap query per 200 ms. */
const PROBE_INTERVAL_MS = 200;
const PROBE_TIMEOUT_MS = 1_000;

/**
 * `node-up`: the node's units again, services in the order of `up` (plan.ts) filtered to this
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
