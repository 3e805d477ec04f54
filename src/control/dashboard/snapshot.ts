import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { servicesOf, type Secrets, type ServiceInstance, type Topology } from '../../config/index.js';
import { redisRole, replicationStatus } from '../../engines/index.js';
import { readRunStateForDisplay } from '../../substrate/index.js';
import { clusterStatus } from '../status.js';
import { lbSnapshot } from './lb-stats.js';
import { queueSnapshots } from './queue-stats.js';
import type { DashboardService, DashboardStatus } from './types.js';

/**
 * Probe timeout for one snapshot: the page refreshes every second, so a snapshot must finish in
 * about that; a loopback service answers in milliseconds, and one that takes 800 ms is shown
 * unhealthy, which is what an operator watching a frozen node needs to see.
 */
export const SNAPSHOT_TIMEOUT_MS = 800;

/** The config file next to the state root (`<dir>/.hastack/<cluster>` ← `<dir>/hastack.yaml`), if there. */
function configFileOf(topo: Topology): string | undefined {
  const candidate = path.join(path.dirname(path.dirname(topo.stateDir)), 'hastack.yaml');
  return fs.existsSync(candidate) ? candidate : undefined;
}

async function lagOf(topo: Topology, secrets: Secrets, svc: ServiceInstance, role: string, healthy: boolean): Promise<Partial<DashboardService>> {
  if (!healthy) return {};
  const ctx = { topo, secrets, svc, asRoot: os.userInfo().uid === 0 };
  try {
    if (svc.kind === 'mariadb' && role === 'replica') {
      return { lagS: (await replicationStatus(ctx, SNAPSHOT_TIMEOUT_MS)).secondsBehindMaster };
    }
    if (svc.kind === 'redis' && role === 'master') {
      const r = await redisRole(ctx, SNAPSHOT_TIMEOUT_MS);
      if (r.role === 'master' && r.replicas.length > 0) return { lagBytes: Math.max(0, ...r.replicas.map((x) => r.offset - x.offset)) };
    }
  } catch {
    // lag is extra information: the probe already says whether the service is healthy
  }
  return {};
}

/**
 * One snapshot for the dashboard: `hastack status` plus uptimes, replica lag, load-balancer
 * counters and queue depths, gathered in parallel, each part bounded by SNAPSHOT_TIMEOUT_MS.
 */
export async function dashboardSnapshot(topo: Topology, secrets: Secrets, ejectedCaches: string[]): Promise<DashboardStatus> {
  const now = Date.now();
  const [base, lbs] = await Promise.all([
    clusterStatus(topo, secrets, SNAPSHOT_TIMEOUT_MS),
    Promise.all(servicesOf(topo, 'lb').map((lb) => lbSnapshot(lb, topo.config.lb.metricsPort, SNAPSHOT_TIMEOUT_MS))),
  ]);
  const run = readRunStateForDisplay(topo.stateDir);
  const master = base.services.find((s) => s.service === 'redis' && s.role === 'master' && s.healthy);
  const [services, queues] = await Promise.all([
    Promise.all(
      base.services.map(async (s, i): Promise<DashboardService> => {
        const svc = topo.services[i];
        const started = svc ? run?.services[svc.id]?.startedAt : undefined;
        const uptimeS = s.pid !== null && started !== undefined ? Math.max(0, Math.round((now - Date.parse(started)) / 1000)) : null;
        return { ...s, uptimeS, ...(svc ? await lagOf(topo, secrets, svc, s.role, s.healthy) : {}) };
      }),
    ),
    master ? queueSnapshots(master.address, master.port, secrets, SNAPSHOT_TIMEOUT_MS) : Promise.resolve([]),
  ]);
  const configFile = configFileOf(topo);
  return { ...base, ts: now, services, lbs, queues, ejectedCaches, ...(configFile ? { configFile } : {}) };
}
