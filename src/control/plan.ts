import type { ServiceInstance, ServiceKind, Topology } from '../config/index.js';
import { servicesOf } from '../config/index.js';

/** One step of `up`: start a group of services together, or a cluster-wide action. */
export type StartStep =
  | { readonly type: 'start'; readonly label: string; readonly services: readonly ServiceInstance[] }
  | { readonly type: 'sentinels-ready' }
  | { readonly type: 'migrate' };

/**
 * The seed's dependency order: database → Redis → Sentinel → memcached → migrations → app →
 * worker → load balancer → DNS. The initial primary/master starts alone before its replicas, so
 * the replicas have something to attach to. `dbPrimary` is the node recorded as primary on disk
 * (after a failover it is no longer the initial one). Steps with nothing to start are left out.
 */
export function startPlan(topo: Topology, dbPrimary: string = topo.initialDbPrimary): StartStep[] {
  const steps: StartStep[] = [];
  const group = (label: string, services: ServiceInstance[]): void => {
    if (services.length > 0) steps.push({ type: 'start', label, services });
  };
  const dbs = servicesOf(topo, 'mariadb');
  group('database primary', dbs.filter((s) => s.node === dbPrimary));
  if (topo.config.database.mode === 'galera') {
    // One joiner at a time: each needs a state transfer from a donor, and a donor serves one.
    for (const s of dbs.filter((x) => x.node !== dbPrimary)) group(`database node ${s.node} (joins)`, [s]);
  } else {
    group('database replicas', dbs.filter((s) => s.node !== dbPrimary));
  }
  const redis = servicesOf(topo, 'redis');
  group('redis master', redis.filter((s) => s.node === topo.initialRedisMaster));
  group('redis replicas', redis.filter((s) => s.node !== topo.initialRedisMaster));
  const sentinels = servicesOf(topo, 'sentinel');
  group('sentinels', sentinels);
  if (sentinels.length > 0) steps.push({ type: 'sentinels-ready' });
  group('memcached', servicesOf(topo, 'memcached'));
  steps.push({ type: 'migrate' });
  group('app servers', servicesOf(topo, 'app'));
  group('workers', servicesOf(topo, 'worker'));
  group('load balancers', servicesOf(topo, 'lb'));
  group('dns', servicesOf(topo, 'dns'));
  return steps;
}

/** Reverse dependency order: the front door closes first, the database last. */
export const STOP_ORDER: readonly ServiceKind[] = ['dns', 'lb', 'worker', 'app', 'memcached', 'sentinel', 'redis', 'mariadb'];

export function stopPlan(topo: Topology): ServiceInstance[][] {
  const groups: ServiceInstance[][] = [];
  for (const kind of STOP_ORDER) {
    const of = servicesOf(topo, kind);
    if (kind === 'mariadb' || kind === 'redis') {
      // replicas before the primary/master, so no replica is left pointing at nothing mid-stop
      const first = kind === 'mariadb' ? topo.initialDbPrimary : topo.initialRedisMaster;
      groups.push(of.filter((s) => s.node !== first), of.filter((s) => s.node === first));
    } else {
      groups.push(of);
    }
  }
  return groups.filter((g) => g.length > 0);
}

/** How long a service gets between SIGTERM and SIGKILL: a database flushes, the rest drain. */
export function stopGraceMs(kind: ServiceKind): number {
  if (kind === 'mariadb') return 30_000;
  // app servers drain in-flight requests (bounded at 10 s by the host) before exiting
  if (kind === 'app' || kind === 'worker') return 15_000;
  return 10_000;
}
