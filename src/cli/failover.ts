import readline from 'node:readline/promises';
import os from 'node:os';
import { ENDPOINT_KINDS, readSecrets, substrateTraits, type ServiceInstance } from '../config/index.js';
import { driverFor } from '../drivers/index.js';
import type { ProbeResult } from '../registry/index.js';
import { LocalSubstrate } from '../substrate/index.js';
import { runtimeFor, type Runtime } from '../runtime/index.js';
import { journalFile, runFailover, runSwitchover, type FailoverEnv, type NodeFencer } from '../failover/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import type { Topology } from '../config/index.js';
import { loadRunningTopology, type ConfigOptions } from './config-source.js';
import { invokedAs, isJson, type OutputOptions } from './output.js';
import { progressLines, roleChangeDocument, writeJson } from './plan-json.js';

/**
/**
 * What the crash plan works with: the runtime records a database node's role where its next start
 * reads it (its directory here, or its machine over SSH), so a restart comes back as recorded.
 * Nodes that are machines of their own answer Redis and Sentinel only to cluster nodes (the hosts
 * firewall), so the crash plan asks them through the agents.
 */
export async function failoverEnv(topo: Topology, runtime: Runtime): Promise<FailoverEnv> {
  const env: FailoverEnv = { topo, secrets: readSecrets(topo.stateDir), recordRole: (svc, role) => runtime.recordRole(svc, role) };
  if (!substrateTraits(topo.config).nodesAreMachines) return env;
  const { hostsRedisAdmin } = await import('../hosts/redis-admin.js');
  const { probeOnHost } = await import('../hosts/run-info.js');
  const here = (svc: ServiceInstance): Promise<ProbeResult> => driverFor(svc.kind).probe({ topo, secrets: env.secrets, svc, asRoot: os.userInfo().uid === 0 }, 1_000);
  // The local endpoints are probed through a socket on their own machine: through its agent.
  return { ...env, redisAdmin: hostsRedisAdmin(topo), probe: (svc) => ((ENDPOINT_KINDS as readonly string[]).includes(svc.kind) ? probeOnHost(topo, svc) : here(svc)) };
}

/**
 * The runtime kills and keeps down a node (the supervisor owns its processes, a plain kill would be
 * restarted; on hosts the agent stops the units). The lock's pid is this machine's own.
 */
export function runtimeFencer(runtime: Runtime): NodeFencer {
  const here = new LocalSubstrate();
  const oneCall = runtime.fenceMachine?.bind(runtime);
  return { killNode: (node) => runtime.fenceNode(node), ...(oneCall ? { fenceMachine: oneCall } : {}), isAlive: (pid) => here.isAlive(pid) };
}

async function ask(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) {
    process.stdout.write(`${question} no terminal to ask on: pass --yes to go ahead\n`);
    return false;
  }
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

export interface FailoverCliOptions extends ConfigOptions, OutputOptions {
  readonly to?: string;
  readonly dryRun?: boolean;
  readonly yes?: boolean;
  readonly acceptDataLoss?: boolean;
  readonly machineOff?: string;
}

/**
 * `failover` / `switchover` under `-o json`: one document, the plan (`--dry-run`) or what was
 * done (the progress on stderr meanwhile). A real failover asks first, which JSON output cannot:
 * it takes --yes (usage error, exit 2, otherwise).
 */
export async function failover(o: FailoverCliOptions): Promise<void> {
  const json = isJson(o);
  if (json && !o.dryRun && !o.yes) {
    throw new HastackError(ErrorCode.USAGE, `failover -o json asks no question: pass --yes to go ahead (or --dry-run for the plan)`);
  }
  const topo = loadRunningTopology(o);
  const runtime = await runtimeFor(topo);
  const env = await failoverEnv(topo, runtime);
  const t0 = Date.now();
  const r = await runFailover(env, runtimeFencer(runtime), {
    ...(o.to !== undefined ? { to: o.to } : {}),
    ...(o.dryRun ? { dryRun: true } : {}),
    ...(o.acceptDataLoss ? { acceptDataLoss: true } : {}),
    ...(o.machineOff !== undefined ? { machineOff: o.machineOff } : {}),
    onProgress: progressLines(json, o.dryRun === true),
    ...(o.yes ? {} : { confirm: (p) => ask(`fence ${p.from} and promote ${p.to}${p.acceptedLoss ? ', LOSING the commits listed above' : ''}?`) }),
  });
  const next = `${invokedAs()} failover${o.to ? ` --to ${o.to}` : ''} --yes`;
  if (json) {
    writeJson(roleChangeDocument(r, r.dryRun ? { next } : { durationMs: Date.now() - t0, journalFile: journalFile(topo.stateDir) }));
    return;
  }
  if (r.dryRun) {
    process.stdout.write(`dry run: nothing changed. Run "${next}" to do it.\n`);
    return;
  }
  process.stdout.write(`failover done in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${r.journal.plan.to} is the primary (journal: ${topo.stateDir}/failover-journal.json)\n`);
}

export async function switchover(o: ConfigOptions & OutputOptions & { to: string; dryRun?: boolean }): Promise<void> {
  const json = isJson(o);
  const topo = loadRunningTopology(o);
  const runtime = await runtimeFor(topo);
  const r = await runSwitchover(await failoverEnv(topo, runtime), runtimeFencer(runtime), {
    to: o.to,
    ...(o.dryRun ? { dryRun: true } : {}),
    onProgress: progressLines(json, o.dryRun === true),
  });
  const next = `${invokedAs()} switchover --to ${o.to}`;
  if (json) {
    writeJson(roleChangeDocument(r, r.dryRun ? { next } : { writePauseMs: r.writePauseMs ?? null, journalFile: journalFile(topo.stateDir) }));
    return;
  }
  if (r.dryRun) {
    process.stdout.write(`dry run: nothing changed. Run "${next}" to do it.\n`);
    return;
  }
  process.stdout.write(
    `switchover done: ${r.journal.plan.to} is the primary${r.writePauseMs !== undefined ? `; writes were refused for ${r.writePauseMs} ms (plus the app's reconnect)` : ''}\n`,
  );
}
