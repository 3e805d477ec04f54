import { readSecrets } from '../config/index.js';
import { recoverGalera } from '../control/index.js';
import { loadRunningTopology, type ConfigOptions } from './config-source.js';
import { progressPrinter } from './output.js';

/** `hastack db recover [--dry-run]`: full-cluster recovery of a Galera cluster (src/control/galera-recovery.ts). */
export async function dbRecover(opts: ConfigOptions & { dryRun?: boolean }): Promise<void> {
  const topo = loadRunningTopology(opts);
  const out = await recoverGalera(topo, readSecrets(topo.stateDir), { dryRun: opts.dryRun ?? false, onEvent: progressPrinter() });
  const summary: Record<typeof out.result, string> = {
    'nothing-to-do': 'every galera node is synced in a Primary component: nothing to recover',
    planned: out.plan && !out.plan.ok ? `recovery would be refused: ${out.plan.reason}` : 'dry run: the plan above was not applied',
    recovered: 'galera cluster recovered: every node is synced',
    applied: 'plan applied to the nodes\' files; run "hastack up" to start them',
  };
  process.stdout.write(`${summary[out.result]}\n`);
  if (out.plan && !out.plan.ok) process.exitCode = 1;
}
