import os from 'node:os';
import { isDrainedByOperator, type Secrets, type ServiceInstance, type Topology } from '../config/index.js';
import { readOperatorStopped } from './service-control.js';
import { driverFor } from '../drivers/index.js';
import { describeAutoMode, readAutoModeSafe } from '../failover/index.js';
import type { ProbeResult } from '../registry/index.js';
import { type ClusterStatus, type ServiceStatus, readRunState } from '../substrate/index.js';

export type { ClusterStatus, ServiceStatus } from '../substrate/index.js';

/** What the process owner (the supervisor, a host's service manager) says about one service. */
export interface ServiceRunInfo {
  readonly pid: number | null;
  readonly restarts: number;
}

/**
 * One status row per service: each probed from here now (in parallel, each bounded by
 * `timeoutMs`) unless `probed` already holds its result (a service only its own host can probe),
 * with the pid and restarts `runInfo` gives.
 */
export async function serviceRows(
  topo: Topology,
  secrets: Secrets,
  timeoutMs: number,
  runInfo: (id: string) => ServiceRunInfo | undefined,
  probed?: ReadonlyMap<string, ProbeResult>,
): Promise<ServiceStatus[]> {
  const asRoot = os.userInfo().uid === 0;
  return Promise.all(
    topo.services.map(async (svc): Promise<ServiceStatus> => {
      const probe = probed?.get(svc.id) ?? (await driverFor(svc.kind).probe({ topo, secrets, svc, asRoot }, timeoutMs));
      const r = runInfo(svc.id);
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
}

/** A row of a service the operator stopped or drained says so, and how to undo it. */
function withOperatorMark(row: ServiceStatus, svc: ServiceInstance | undefined, stopped: ReadonlySet<string>): ServiceStatus {
  if (svc === undefined) return row;
  if (stopped.has(svc.id)) return { ...row, operator: 'stopped', detail: `stopped by the operator ("hastack start ${svc.id}")` };
  if (svc.kind === 'app' && isDrainedByOperator(svc)) {
    return { ...row, operator: 'drained', detail: `drained by the operator ("hastack drain ${svc.node} --undo")${row.detail ? `; ${row.detail}` : ''}` };
  }
  return row;
}

/**
 * Probes every service of the cluster now, with the pids and restarts the supervisor recorded in
 * run.json (none recorded: the hosts controller, whose services are its hosts' units).
 */
export async function clusterStatus(topo: Topology, secrets: Secrets, timeoutMs = 1_500): Promise<ClusterStatus> {
  const run = readRunState(topo.stateDir);
  const stopped = readOperatorStopped(topo.stateDir);
  const rows = await serviceRows(topo, secrets, timeoutMs, (id) => run?.services[id]);
  const services = rows.map((r, i) => withOperatorMark(r, topo.services[i], stopped));
  const banner = topo.config.failover.auto ? describeAutoMode(readAutoModeSafe(topo.stateDir)) : undefined;
  return { cluster: topo.cluster, supervisorPid: run?.supervisorPid ?? null, state: run?.state ?? 'stopped', services, ...(banner ? { autoFailover: banner } : {}) };
}
