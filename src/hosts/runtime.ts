import { hostStateDir, type Secrets, type ServiceInstance, type ServiceReach, type Topology } from '../config/index.js';
import { clusterStatus, reachOf, serviceRows } from '../control/index.js';
import { describeAutoMode } from '../failover/index.js';
import { startPlan } from '../registry/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import {
  runtimeCapabilities,
  type ClusterStatus,
  type FaultRequest,
  type LogTail,
  type Runtime,
  type RuntimeCapabilities,
  type RuntimeDownOptions,
  type RuntimeDownResult,
  type RuntimeUpOptions,
} from '../substrate/index.js';
import { nodeUpResultSchema } from './agent-types.js';
import { downHosts } from './down.js';
import { NODE_TIMEOUT_MS, hostsFault, recordRoleOnHost } from './faults.js';
import { hostLogs } from './logs.js';
import { hostsRunInfo } from './run-info.js';
import { withHost } from './session.js';

/**
 * The hosts runtime (`substrate: hosts`): no supervisor here owns the processes. Each machine's
 * service manager (systemd, or hastack's keeper) runs its units, which `hastack deploy` installed,
 * and hastack's agent there (`_agent`, over SSH) starts, stops, kills and reports them. Faults and
 * the crash plan's fence and role record go to the node's host; partitions are not offered (on
 * real machines the network is the operator's).
 */
export class HostsRuntime implements Runtime {
  readonly kind = 'hosts';
  readonly capabilities: RuntimeCapabilities;

  constructor(private readonly topo: Topology) {
    this.capabilities = runtimeCapabilities(topo.config);
  }

  /**
   * Starts the units `deploy` installed (after `down`): node by node, each node's services in
   * the start order, every group healthy before the next (the agent's `node-up`). Nodes go in the
   * order their first service starts, so the database's node comes before the app's.
   */
  async up(o: RuntimeUpOptions = {}): Promise<void> {
    const plan = startPlan(this.topo).flatMap((s) => (s.type === 'start' ? s.services : []));
    const first = (node: string): number => {
      const i = plan.findIndex((s) => s.node === node);
      return i < 0 ? plan.length : i;
    };
    const nodes = [...this.topo.nodes].sort((a, b) => first(a.name) - first(b.name));
    for (const n of nodes) {
      const r = await withHost(this.topo, n.name, (s) => s.agentJson('node-up', ['--node', n.name], nodeUpResultSchema, { timeoutMs: NODE_TIMEOUT_MS }));
      const sick = Object.entries(r.probes).filter(([, p]) => !p.healthy);
      if (sick.length > 0) {
        throw new HastackError(
          ErrorCode.HEALTH_TIMEOUT,
          `node ${n.name} started, but not healthy: ${sick.map(([id, p]) => `${id} (${p.detail ?? p.role})`).join('; ')}; see "hastack logs ${n.name}"`,
        );
      }
      o.onEvent?.({ ts: new Date().toISOString(), type: 'step', message: `${n.name}: ${r.units.filter((u) => u.active).length} unit(s) running` });
    }
  }

  async down(o: RuntimeDownOptions = {}): Promise<RuntimeDownResult> {
    const r = await downHosts(this.topo, o.say ?? (() => undefined));
    if (r.failed.length > 0) throw new HastackError(ErrorCode.SETUP_FAILED, `stopped ${r.stopped} unit(s), but: ${r.failed.join('; ')}`);
    return { wasRunning: r.stopped > 0, summary: `stopped: ${r.stopped} unit(s) on ${this.topo.nodes.length} host(s); its files and data stay (deploy starts it again)` };
  }

  async status(secrets: Secrets, timeoutMs = 1_500): Promise<ClusterStatus> {
    // On a host itself (the controller's dashboard, the CLI run there) every service is probed
    // from here: SSH is the operator's, not the host's.
    if (this.topo.stateDir === hostStateDir(this.topo.config)) return clusterStatus(this.topo, secrets, timeoutMs);
    const remote = await hostsRunInfo(this.topo);
    const services = await serviceRows(this.topo, secrets, timeoutMs, (id) => remote.units.get(id), remote.probes);
    const state = remote.unreachable.length > 0 ? `deployed; not answering: ${remote.unreachable.join('; ')}` : 'deployed';
    // The automatic failover's mode as the controller hosts hold it (on says nothing, as elsewhere).
    const banner = this.topo.config.failover.auto && remote.autoMode ? describeAutoMode(remote.autoMode) : undefined;
    return {
      cluster: this.topo.cluster,
      supervisorPid: null,
      state,
      services,
      ...(banner ? { autoFailover: banner } : {}),
      ...(remote.archive ? { archive: remote.archive } : {}),
    };
  }

  logs(node: string, service: string | undefined, lines: number): Promise<LogTail[]> {
    return hostLogs(this.topo, node, service, lines);
  }

  fault(f: FaultRequest): Promise<Record<string, unknown>> {
    return hostsFault(this.topo, f);
  }

  async fenceNode(node: string): Promise<void> {
    await hostsFault(this.topo, { action: 'kill-node', node });
  }

  /** The crash plan's fence in one agent call on the node's machine: `db` recorded as replica, then every unit killed. */
  async fenceMachine(node: string, db: ServiceInstance): Promise<void> {
    await withHost(this.topo, node, (s) => s.agent('node-down', ['--node', node, '--record-replica', db.id], { timeoutMs: NODE_TIMEOUT_MS }));
  }

  recordRole(svc: ServiceInstance, role: 'primary' | 'replica'): Promise<void> {
    return recordRoleOnHost(this.topo, svc.id, role);
  }

  reach(svc: ServiceInstance): ServiceReach {
    return reachOf(this.topo, svc);
  }
}
