import { describeAutoMode, planModeChange, readAutoMode, writeAutoMode } from '../failover/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { loadRunningTopology, type ConfigOptions } from './config-source.js';
import { isJson, type OutputOptions } from './output.js';
import { pauseDocument, writeJson } from './plan-json.js';

/**
 * `hastack pause` / `hastack resume` (issue 23): the automatic failover's maintenance switch.
 * `pause` stops it from acting (the controllers keep watching and logging what they would do);
 * `resume` turns it back on, also after a failed automatic failover turned it off. The state is
 * `failover-auto-mode.json` in the cluster's state directory, read by the controllers every
 * cycle; each change is a `failover.mode` event. `-o json`: one document (plan-json.ts).
 */
export async function pauseOrResume(want: 'pause' | 'resume', opts: ConfigOptions & OutputOptions & { dryRun?: boolean; reason?: string }): Promise<void> {
  const topo = loadRunningTopology(opts);
  if (!topo.config.failover.auto) {
    throw new HastackError(
      ErrorCode.CONFIG_INVALID,
      `failover.auto is off in cluster ${topo.cluster}: there is no automatic failover to ${want} (set failover.auto: true and run "hastack up")`,
    );
  }
  const current = readAutoMode(topo.stateDir);
  const plan = planModeChange(current, want, opts.reason);
  const dryRun = opts.dryRun === true;
  if (dryRun || plan.next === undefined) {
    if (isJson(opts)) writeJson(pauseDocument(want, current, plan, dryRun));
    else process.stdout.write(`${dryRun && plan.next ? 'would change: ' : ''}${plan.change}\n`);
    return;
  }
  const next = writeAutoMode(topo.stateDir, plan.next);
  if (isJson(opts)) writeJson(pauseDocument(want, current, plan, false, next));
  else process.stdout.write(`${plan.change}\n${describeAutoMode(next) ?? 'automatic failover is on: the acting controller fails over a lost primary again'}\n`);
}
