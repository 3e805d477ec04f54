import { controllerNodes, type Topology } from '../config/index.js';
import { describeError, ErrorCode, HastackError } from '../shared/errors.js';
import type { AgentEnv } from './agent-env.js';
import { autoModeSchema, type HostAutoMode } from './agent-types.js';
import { closeSessions, HostSession } from './session.js';

/*
 * The automatic failover's mode (on, paused, off: src/failover/auto-mode.ts) on real hosts. Each
 * controller host keeps it in its own state directory, and the controllers sync it through etcd
 * every cycle, the newer change winning (src/failover/shared-records.ts). So `hastack pause` and
 * `resume` write it on every controller host that answers (one is enough: the others take it
 * from etcd), and `status` shows the newest of what they hold.
 */

/** `_agent auto-mode [--set on|paused] [--why TEXT]` on a controller host: its mode, read or changed. */
export async function agentAutoMode(env: AgentEnv, set?: string, why?: string): Promise<HostAutoMode> {
  // One file, not failover's index: an agent call loads only what it runs (start-up time).
  const mode = await import('../failover/auto-mode.js');
  if (set === undefined) return mode.readAutoModeSafe(env.stateDir);
  if (set !== 'on' && set !== 'paused') throw new HastackError(ErrorCode.BAD_REQUEST, `auto-mode --set ${set}: on or paused (a failed failover alone turns it off)`);
  return mode.writeAutoMode(env.stateDir, { state: set, ...(why !== undefined && why !== '' ? { why } : {}), by: 'operator' });
}

/** The newest of some modes (by `since`; a host that never had one reads as on, since the start). */
export function newestMode(modes: readonly HostAutoMode[]): HostAutoMode | undefined {
  const at = (m: HostAutoMode): number => (m.since !== undefined ? Date.parse(m.since) || 0 : 0);
  return [...modes].sort((a, b) => at(b) - at(a))[0];
}

export interface HostsAutoMode {
  /** The newest mode among the controller hosts that answered; undefined when none did. */
  readonly mode: HostAutoMode | undefined;
  readonly answered: readonly string[];
  readonly unreachable: readonly string[];
}

/** Reads (or, with `set`, changes) the mode on every controller host, in parallel, over the operator's SSH. */
export async function hostsAutoMode(topo: Topology, set?: HostAutoMode): Promise<HostsAutoMode> {
  const sessions = new Map(controllerNodes(topo.config, topo.nodes).map((n) => [n.name, new HostSession(topo, n)]));
  const modes: HostAutoMode[] = [];
  const answered: string[] = [];
  const unreachable: string[] = [];
  const args = set === undefined ? [] : ['--set', set.state, ...(set.why !== undefined ? ['--why', set.why] : [])];
  try {
    await Promise.all(
      [...sessions.values()].map(async (s) => {
        try {
          modes.push(await s.agentJson('auto-mode', args, autoModeSchema, { timeoutMs: 15_000 }));
          answered.push(s.node);
        } catch (e) {
          unreachable.push(`${s.node}: ${describeError(e)}`);
        }
      }),
    );
  } finally {
    await closeSessions(sessions);
  }
  return { mode: newestMode(modes), answered: answered.sort(), unreachable };
}
