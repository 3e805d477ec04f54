import type { ServiceInstance, Topology } from '../config/index.js';
import { describeDrain, describeServicePlan, drainTarget, parseTarget, requestServiceControl, resolveTarget, type ServiceAction } from '../control/index.js';
import { readDbState } from '../engines/index.js';
import { readAutoModeSafe } from '../failover/index.js';
import { serviceUnitName } from '../hosts/index.js';
import { runtimeCapabilities } from '../runtime/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { loadRunningTopology, type ConfigOptions } from './config-source.js';
import { isJson, type OutputOptions } from './output.js';
import { requireRunning } from './running.js';
import { writeJson } from './plan-json.js';

/**
 * `hastack stop|start|restart NODE[/SERVICE]` and `hastack drain NODE [--undo]` (issue 25). The
 * target is resolved here against the running topology (a typo exits 2 with a "did you mean");
 * the supervisor carries the plan out through its admin API (`POST /v1/services`, the admin token,
 * like a chaos fault), and logs each change to the event log. On `hosts` each service is a
 * systemd unit: refused, naming the systemctl line to run on the host.
 */
type Options = ConfigOptions & OutputOptions & { dryRun?: boolean; force?: boolean };

interface Outcome {
  readonly action: string;
  readonly services: readonly string[];
  readonly dryRun: boolean;
  readonly steps: readonly string[];
}

function print(o: Options, outcome: Outcome): void {
  if (isJson(o)) {
    writeJson(outcome);
    return;
  }
  const lead = outcome.dryRun ? 'would ' : '';
  process.stdout.write(outcome.steps.map((s) => `${lead}${s}\n`).join(''));
  if (!outcome.dryRun) process.stdout.write(`done: ${outcome.action} ${outcome.services.join(', ')}\n`);
}

/**
 * On hosts each service is a systemd unit on its host and no supervisor here owns it: refused
 * (exit 2, like `up` on hosts), naming the systemctl line to run there instead. Undefined where
 * the supervisor can do it.
 */
export function hostsRefusal(topo: Topology, verb: ServiceAction | 'drain', services: readonly ServiceInstance[]): HastackError | undefined {
  if (runtimeCapabilities(topo.config).serviceControl) return undefined;
  const systemctl = verb === 'drain' ? 'stop' : verb;
  const lines = services.map((s) => `ssh ${s.address} sudo systemctl ${systemctl} ${serviceUnitName(topo, s)}`);
  const what = verb === 'drain' ? `; stopping the app server drains it first (its /readyz turns 503 while requests in flight finish)` : '';
  return new HastackError(
    ErrorCode.USAGE,
    `cluster ${topo.cluster} runs on hosts, where each service is a systemd unit: "hastack ${verb}" acts only on a cluster this machine supervises. On the host run${what}:\n  ${lines.join('\n  ')}`,
  );
}

/**
 * Stopping (or restarting) the database recorded as the primary while `failover.auto` acts is a
 * failover nobody asked for: the controllers see the primary gone and promote the replica.
 * Refused without --force, naming the planned way (switchover) and the pause. Undefined otherwise.
 */
export function primaryStopRefusal(topo: Topology, action: ServiceAction, services: readonly ServiceInstance[], force: boolean): HastackError | undefined {
  if (force || action === 'start' || !topo.config.failover.auto || readAutoModeSafe(topo.stateDir).state !== 'on') return undefined;
  const primary = services.find((s) => s.kind === 'mariadb' && readDbState(s)?.role === 'primary');
  if (primary === undefined) return undefined;
  return new HastackError(
    ErrorCode.USAGE,
    `${primary.id} is the primary database and failover.auto is on: ${action === 'stop' ? 'stopping' : 'restarting'} it starts an automatic failover. ` +
      `Move the primary first ("hastack switchover"), or "hastack pause" the automatic failover for the maintenance (then "hastack resume"), or run again with --force to let it fail over`,
  );
}

export async function controlService(action: ServiceAction, target: string, o: Options): Promise<void> {
  const topo = loadRunningTopology(o);
  const services = resolveTarget(topo, parseTarget(target));
  const refused = hostsRefusal(topo, action, services) ?? primaryStopRefusal(topo, action, services, o.force === true);
  if (refused) throw refused;
  const steps = describeServicePlan(action, services);
  const ids = services.map((s) => s.id);
  if (!o.dryRun) {
    requireRunning(topo, o);
    await requestServiceControl(topo, { action, services: ids });
  }
  print(o, { action, services: ids, dryRun: o.dryRun === true, steps });
}

export async function drainNode(node: string, o: Options & { undo?: boolean }): Promise<void> {
  const topo = loadRunningTopology(o);
  const t = parseTarget(node);
  if (t.service !== undefined) throw new HastackError(ErrorCode.USAGE, `drain takes a NODE (its app server is drained), not "${node}"`);
  const app = drainTarget(topo, t.node);
  const refused = hostsRefusal(topo, 'drain', [app]);
  if (refused) throw refused;
  const undo = o.undo === true;
  if (!o.dryRun) {
    requireRunning(topo, o);
    await requestServiceControl(topo, { action: 'drain', node: app.node, undo });
  }
  const lb = topo.config.lb;
  const steps = [describeDrain(app, undo), ...(undo ? [] : [`let the load balancers see it (within ${lb.healthIntervalMs + lb.healthTimeoutMs} ms, one probe)`])];
  print(o, { action: undo ? 'undrain' : 'drain', services: [app.id], dryRun: o.dryRun === true, steps });
}
