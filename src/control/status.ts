import os from 'node:os';
import { hostStateDir, type Secrets, type Topology } from '../config/index.js';
import { driverFor } from '../drivers/index.js';
import { readRunState } from './run-state.js';

/** One row of `hastack status`; the JSON form is the public contract of `status --json`. */
export interface ServiceStatus {
  readonly node: string;
  readonly service: string;
  readonly address: string;
  readonly port: number;
  readonly pid: number | null;
  readonly role: string;
  readonly healthy: boolean;
  readonly detail?: string;
  readonly restarts: number;
}

export interface ClusterStatus {
  readonly cluster: string;
  readonly supervisorPid: number | null;
  readonly state: string;
  readonly services: ServiceStatus[];
}

/** Probes every service of the cluster now (in parallel, each bounded by `timeoutMs`). */
export async function clusterStatus(topo: Topology, secrets: Secrets, timeoutMs = 1_500): Promise<ClusterStatus> {
  // On real hosts no supervisor of ours owns the processes: each host's agent says what runs.
  // (Not on a host itself, the controller: there it probes, and SSH is the operator's, not its.)
  const remote = topo.config.substrate === 'hosts' && topo.stateDir !== hostStateDir(topo.config) ? await (await import('../hosts/run-info.js')).hostsRunInfo(topo) : undefined;
  const run = remote ? undefined : readRunState(topo.stateDir);
  const asRoot = os.userInfo().uid === 0;
  const services = await Promise.all(
    topo.services.map(async (svc): Promise<ServiceStatus> => {
      const probe = remote?.probes.get(svc.id) ?? (await driverFor(svc.kind).probe({ topo, secrets, svc, asRoot }, timeoutMs));
      const r = remote ? remote.units.get(svc.id) : run?.services[svc.id];
      return {
        node: svc.node,
        service: svc.kind,
        address: svc.address,
        port: svc.port,
        pid: r?.pid ?? null,
        role: probe.role,
        healthy: probe.healthy,
        ...(probe.detail !== undefined ? { detail: probe.detail } : {}),
        restarts: r?.restarts ?? 0,
      };
    }),
  );
  if (remote) {
    const state = remote.unreachable.length > 0 ? `deployed; not answering: ${remote.unreachable.join('; ')}` : 'deployed';
    return { cluster: topo.cluster, supervisorPid: null, state, services };
  }
  return { cluster: topo.cluster, supervisorPid: run?.supervisorPid ?? null, state: run?.state ?? 'stopped', services };
}
