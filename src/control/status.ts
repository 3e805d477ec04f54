import os from 'node:os';
import type { Secrets, Topology } from '../config/index.js';
import { driverFor } from './drivers.js';
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
  const run = readRunState(topo.stateDir);
  const asRoot = os.userInfo().uid === 0;
  const services = await Promise.all(
    topo.services.map(async (svc): Promise<ServiceStatus> => {
      const probe = await driverFor(svc.kind).probe({ topo, secrets, svc, asRoot }, timeoutMs);
      const r = run?.services[svc.id];
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
  return { cluster: topo.cluster, supervisorPid: run?.supervisorPid ?? null, state: run?.state ?? 'stopped', services };
}
