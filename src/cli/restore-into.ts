import readline from 'node:readline/promises';
import { substrateTraits } from '../config/index.js';
import { restoreIntoCluster, supervisedRestoreMachines } from '../control/index.js';
import { describeStop, type StopAt } from '../failover/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { abortOnSignal } from './backup.js';
import { loadRunningTopology, type ConfigOptions } from './config-source.js';
import { failoverEnv } from './failover.js';
import { runtimeFor } from '../runtime/index.js';

/**
 * `hastack restore --into-cluster [--to-time T | --to-gtid G | --latest] [--dry-run] [--confirm NAME]`
 * (src/control/restore-cluster.ts does the work). The plan is printed first; then the cluster's
 * name must be typed (or given with --confirm): a restore into the cluster takes back every write
 * after the target, so a restore into the wrong cluster (frappe press #878) must not be one keypress.
 */
export interface RestoreIntoOptions extends ConfigOptions {
  readonly confirm?: string;
  readonly dryRun?: boolean;
}

async function typedName(cluster: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  try {
    return (await rl.question(`every write after the target is taken back. Type the cluster's name (${cluster}) to go ahead: `)).trim() === cluster;
  } finally {
    rl.close();
  }
}

export async function restoreInto(stop: StopAt, o: RestoreIntoOptions): Promise<number> {
  const topo = loadRunningTopology(o);
  const env = await failoverEnv(topo, await runtimeFor(topo));
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  const machines = substrateTraits(topo.config).nodesAreMachines ? (await import('../hosts/index.js')).hostsRestoreMachines(topo) : supervisedRestoreMachines(env);
  const plan = await restoreIntoCluster(env, machines, { stop, dryRun: true, onProgress: out });
  if (o.dryRun) {
    out('dry run: nothing changed');
    return 0;
  }
  const resuming = Object.keys(plan.journal.steps).length > 0 || plan.journal.runs > 0;
  if (!resuming && o.confirm !== topo.cluster && !(o.confirm === undefined && (await typedName(topo.cluster)))) {
    throw new HastackError(
      ErrorCode.USAGE,
      o.confirm === undefined
        ? `not confirmed: restoring cluster ${topo.cluster} to ${describeStop(stop)} needs its name typed, or --confirm ${topo.cluster}`
        : `--confirm ${o.confirm} does not name this cluster (${topo.cluster}): nothing changed`,
    );
  }
  const { signal, dispose } = abortOnSignal();
  try {
    const r = await restoreIntoCluster(env, machines, { stop, dryRun: false, onProgress: out, signal, printPlan: false });
    out(
      `cluster ${topo.cluster} restored to ${r.journal.gtidState ?? '?'} (${describeStop(r.journal.stop)}); the backup taken just before: ${r.journal.preRestoreBackup ?? '-'} ("hastack backup list")`,
    );
    return 0;
  } finally {
    dispose();
  }
}
