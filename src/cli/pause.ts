import { describeAutoMode, planModeChange, readAutoMode, writeAutoMode, type AutoMode } from '../failover/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { loadRunningTopology, type ConfigOptions } from './config-source.js';
import { isJson, type OutputOptions } from './output.js';
import { pauseDocument, writeJson } from './plan-json.js';

/**
 * `hastack pause` / `hastack resume` (issue 23): the automatic failover's maintenance switch.
 * `pause` stops it from acting (the controllers keep watching and logging what they would do);
 * `resume` turns it back on, also after a failed automatic failover turned it off. The state is
 * `failover-auto-mode.json` in the cluster's state directory, read by the controllers every
 * cycle; each change is a `failover.mode` event. On real hosts it is written on every controller
 * host over SSH (they sync it through etcd). `-o json`: one document (plan-json.ts).
 */
export async function pauseOrResume(want: 'pause' | 'resume', opts: ConfigOptions & OutputOptions & { dryRun?: boolean; reason?: string }): Promise<void> {
  const topo = loadRunningTopology(opts);
  if (!topo.config.failover.auto) {
    throw new HastackError(
      ErrorCode.CONFIG_INVALID,
      `failover.auto is off in cluster ${topo.cluster}: there is no automatic failover to ${want} (set failover.auto: true and run "hastack up")`,
    );
  }
  // On real hosts the mode is each controller host's, synced through etcd (src/hosts/auto-mode-hosts.ts).
  const hosts = topo.config.substrate === 'hosts' ? await import('../hosts/auto-mode-hosts.js') : undefined;
  const onHosts = hosts ? await hosts.hostsAutoMode(topo) : undefined;
  if (onHosts && onHosts.mode === undefined) {
    throw new HastackError(
      ErrorCode.HOST_UNREACHABLE,
      `no controller host answered (${onHosts.unreachable.join('; ')}); nothing was changed: check SSH to them and run this again`,
    );
  }
  const current = onHosts?.mode ?? readAutoMode(topo.stateDir);
  const plan = planModeChange(current, want, opts.reason);
  const dryRun = opts.dryRun === true;
  if (dryRun || plan.next === undefined) {
    if (isJson(opts)) writeJson(pauseDocument(want, current, plan, dryRun));
    else process.stdout.write(`${dryRun && plan.next ? 'would change: ' : ''}${plan.change}\n`);
    return;
  }
  let next: AutoMode;
  if (hosts) {
    const set = await hosts.hostsAutoMode(topo, plan.next);
    if (set.mode === undefined) throw new HastackError(ErrorCode.HOST_UNREACHABLE, `no controller host took the change (${set.unreachable.join('; ')}); run this again`);
    next = set.mode;
    if (!isJson(opts)) {
      const missed = set.unreachable.length > 0 ? `; not reached: ${set.unreachable.join('; ')} (they take it from etcd within a second)` : '';
      process.stdout.write(`written on ${set.answered.join(', ')}${missed}\n`);
    }
  } else next = writeAutoMode(topo.stateDir, plan.next);
  if (isJson(opts)) writeJson(pauseDocument(want, current, plan, false, next));
  else process.stdout.write(`${plan.change}\n${describeAutoMode(next) ?? 'automatic failover is on: the acting controller fails over a lost primary again'}\n`);
}
