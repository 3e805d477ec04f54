import type { FaultRequest } from '../substrate/index.js';
import type { Topology } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { agentStatusSchema } from './agent-types.js';
import { withHost, type HostSession } from './session.js';
import { shq } from './ssh.js';

/** A node-down or node-up restarts or stops every unit of a node: bounded like a service start. */
export const NODE_TIMEOUT_MS = 120_000;

/** The main pids of a node's units, as its agent reports them. */
async function unitPids(s: HostSession, serviceId?: string): Promise<number[]> {
  const st = await s.agentJson('status', ['--node', s.node], agentStatusSchema);
  return st.units.filter((u) => u.active && u.pid !== undefined && (serviceId === undefined ? u.serviceId !== undefined : u.serviceId === serviceId)).map((u) => u.pid ?? 0);
}

/**
 * Faults on real hosts (`substrate: hosts`), applied over SSH from wherever the CLI runs: there
 * is no supervisor owning the processes, each host's own service manager does, so a node is
 * killed through its agent (`node-down`: SIGKILL, and nothing restarts it until `node-up`).
 * Partitions need the netns substrate: on real machines use your network's own tools.
 */
export async function hostsFault(topo: Topology, f: FaultRequest): Promise<Record<string, unknown>> {
  if (!('node' in f)) {
    throw new HastackError(
      ErrorCode.BAD_REQUEST,
      `fault ${f.action} needs nodes in network namespaces ("hastack up --substrate netns"); on real hosts cut the network with your own tools`,
    );
  }
  return withHost(topo, f.node, async (s) => {
    switch (f.action) {
      case 'kill-node':
        return { node: f.node, out: (await s.agent('node-down', ['--node', f.node], { timeoutMs: NODE_TIMEOUT_MS })).trim() };
      case 'heal-node':
        return { node: f.node, out: (await s.agent('node-up', ['--node', f.node], { timeoutMs: NODE_TIMEOUT_MS })).trim() };
      case 'kill-service': {
        const pids = await unitPids(s, `${f.node}/${f.service}`);
        if (pids.length === 0) throw new HastackError(ErrorCode.NOT_FOUND, `node ${f.node} runs no ${f.service} now`);
        await s.ssh.run(`kill -KILL ${pids.map((p) => shq(String(p))).join(' ')}`);
        return { pid: pids[0] };
      }
      case 'pause-node':
      case 'resume-node': {
        const pids = await unitPids(s);
        const sig = f.action === 'pause-node' ? 'STOP' : 'CONT';
        if (pids.length > 0) await s.ssh.run(`kill -${sig} ${pids.map((p) => shq(String(p))).join(' ')}`);
        return { pids };
      }
      default:
        throw new HastackError(ErrorCode.BAD_REQUEST, `fault ${f.action} is not supported on real hosts`);
    }
  });
}

/** Runs `_agent record-role` on the database node's host: its next start comes back in that role. */
export async function recordRoleOnHost(topo: Topology, serviceId: string, role: 'primary' | 'replica'): Promise<void> {
  await withHost(topo, serviceId.split('/')[0] ?? '', (s) => s.agent('record-role', ['--id', serviceId, '--role', role]));
}
