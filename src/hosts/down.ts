import type { Topology } from '../config/index.js';
import { stopPlan } from '../registry/index.js';
import { describeError } from '../shared/errors.js';
import { agentStatusSchema } from './agent-types.js';
import { closeSessions, openSessions } from './session.js';

/** A stop waits for the unit's own grace (30 s for a database) and a little more. */
const STOP_TIMEOUT_MS = 60_000;

/**
 * `hastack down` on real hosts: stops every hastack unit, in reverse dependency order (the front
 * door first, the database last), through each host's agent. Files, data and units stay, so
 * `deploy` starts the same cluster again. Returns the units stopped and the hosts that failed.
 */
export async function downHosts(topo: Topology, say: (line: string) => void): Promise<{ stopped: number; failed: string[] }> {
  const sessions = openSessions(topo);
  const failed: string[] = [];
  let stopped = 0;
  try {
    const unitOf = new Map<string, { node: string; name: string }>();
    const others: Array<{ node: string; name: string }> = [];
    await Promise.all(
      [...sessions.values()].map(async (s) => {
        try {
          const st = await s.agentJson('status', ['--node', s.node], agentStatusSchema);
          for (const u of st.units.filter((x) => x.active)) {
            if (u.serviceId !== undefined) unitOf.set(u.serviceId, { node: s.node, name: u.name });
            else others.push({ node: s.node, name: u.name });
          }
        } catch (e) {
          failed.push(`${s.node}: ${describeError(e)}`);
        }
      }),
    );
    const stop = async (node: string, names: string[]): Promise<void> => {
      const s = sessions.get(node);
      if (!s || names.length === 0) return;
      try {
        await s.agent('stop', names, { timeoutMs: STOP_TIMEOUT_MS });
        stopped += names.length;
        say(`${node}: stopped ${names.join(', ')}`);
      } catch (e) {
        failed.push(`${node}: ${describeError(e)}`);
      }
    };
    // The controller, backup timer and keepalived first: nothing depends on them.
    await Promise.all(
      [...new Set(others.map((o) => o.node))].map((n) =>
        stop(
          n,
          others.filter((o) => o.node === n).map((o) => o.name),
        ),
      ),
    );
    for (const group of stopPlan(topo)) {
      const byNode = new Map<string, string[]>();
      for (const svc of group) {
        const u = unitOf.get(svc.id);
        if (u) byNode.set(u.node, [...(byNode.get(u.node) ?? []), u.name]);
      }
      await Promise.all([...byNode].map(([node, names]) => stop(node, names)));
    }
    // The firewall rules go with the cluster (deploy installs them again); not on a host where a
    // stop failed, whose memcached may still be listening.
    await Promise.all(
      [...sessions.values()].map(async (s) => {
        if (failed.some((f) => f.startsWith(`${s.node}:`))) return;
        try {
          await s.agent('firewall', ['--node', s.node, '--remove']);
        } catch (e) {
          failed.push(`${s.node}: removing the firewall rules: ${describeError(e)}`);
        }
      }),
    );
  } finally {
    await closeSessions(sessions);
  }
  return { stopped, failed };
}
