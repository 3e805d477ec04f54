import readline from 'node:readline/promises';
import { readSecrets } from '../config/index.js';
import { requestFault, substrateFor } from '../control/index.js';
import { runFailover, runSwitchover, type FailoverEnv, type NodeFencer } from '../failover/index.js';
import type { Topology } from '../config/index.js';
import { loadRunningTopology, type ConfigOptions } from './config-source.js';
import { invokedAs } from './output.js';

/**
 * What the crash plan works with. On real hosts the database nodes' recorded roles live on their
 * machines: recorded there over SSH (`_agent record-role`), so a restart comes back as recorded;
 * and Redis and Sentinel answer only cluster nodes, so they are asked through the agents.
 */
export async function failoverEnv(topo: Topology): Promise<FailoverEnv> {
  const secrets = readSecrets(topo.stateDir);
  if (topo.config.substrate !== 'hosts') return { topo, secrets };
  const { hostsRedisAdmin } = await import('../hosts/redis-admin.js');
  return { topo, secrets, recordRole: async (svc, role) => (await import('../hosts/faults.js')).recordRoleOnHost(topo, svc.id, role), redisAdmin: hostsRedisAdmin(topo) };
}

/** The supervisor kills and keeps down a node: it owns the processes (a plain kill would be restarted). */
export function supervisorFencer(topo: Topology): NodeFencer {
  const substrate = substrateFor(topo);
  return {
    killNode: async (node) => {
      await requestFault(topo, { action: 'kill-node', node });
    },
    isAlive: (pid) => substrate.isAlive(pid),
  };
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

export interface FailoverCliOptions extends ConfigOptions {
  readonly to?: string;
  readonly dryRun?: boolean;
  readonly yes?: boolean;
  readonly acceptDataLoss?: boolean;
}

export async function failover(o: FailoverCliOptions): Promise<void> {
  const topo = loadRunningTopology(o);
  const env = await failoverEnv(topo);
  const t0 = Date.now();
  const r = await runFailover(env, supervisorFencer(topo), {
    ...(o.to !== undefined ? { to: o.to } : {}),
    ...(o.dryRun ? { dryRun: true } : {}),
    ...(o.acceptDataLoss ? { acceptDataLoss: true } : {}),
    onProgress: (l) => process.stdout.write(`${l}\n`),
    ...(o.yes ? {} : { confirm: (p) => ask(`fence ${p.from} and promote ${p.to}${p.acceptedLoss ? ', LOSING the commits listed above' : ''}?`) }),
  });
  if (r.dryRun) {
    process.stdout.write(`dry run: nothing changed. Run "${invokedAs()} failover${o.to ? ` --to ${o.to}` : ''} --yes" to do it.\n`);
    return;
  }
  process.stdout.write(`failover done in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${r.journal.plan.to} is the primary (journal: ${topo.stateDir}/failover-journal.json)\n`);
}

export async function switchover(o: ConfigOptions & { to: string; dryRun?: boolean }): Promise<void> {
  const topo = loadRunningTopology(o);
  const r = await runSwitchover(await failoverEnv(topo), supervisorFencer(topo), {
    to: o.to,
    ...(o.dryRun ? { dryRun: true } : {}),
    onProgress: (l) => process.stdout.write(`${l}\n`),
  });
  if (r.dryRun) {
    process.stdout.write(`dry run: nothing changed. Run "${invokedAs()} switchover --to ${o.to}" to do it.\n`);
    return;
  }
  process.stdout.write(`switchover done: ${r.journal.plan.to} is the primary${r.writePauseMs !== undefined ? `; writes were refused for ${r.writePauseMs} ms (plus the app's reconnect)` : ''}\n`);
}
