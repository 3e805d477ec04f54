import type { ServiceInstance, ServiceKind, Topology } from '../config/index.js';
import { servicesOf } from '../config/index.js';
import type { Leader } from './descriptor.js';
import { SERVICES, kindsInStartOrder } from './kinds.js';

/** One step of `up`: start a group of services together, or a cluster-wide action. */
export type StartStep =
  { readonly type: 'start'; readonly label: string; readonly services: readonly ServiceInstance[] } | { readonly type: 'sentinels-ready' } | { readonly type: 'migrate' };

/**
 * The seed's dependency order, from the descriptors' start ranks: database → Redis → Sentinel →
 * memcached → migrations → app → worker → load balancer → DNS. A leader (the database primary,
 * the Redis master) starts alone before the others, so they have something to attach to.
 * `dbPrimary` is the node recorded as primary on disk (after a failover it is no longer the
 * initial one). Steps with nothing to start are left out.
 */
export function startPlan(topo: Topology, dbPrimary: string = topo.initialDbPrimary): StartStep[] {
  const steps: StartStep[] = [];
  const group = (label: string, services: ServiceInstance[]): void => {
    if (services.length > 0) steps.push({ type: 'start', label, services });
  };
  const leaderOf = (l: Leader): string => (l === 'db-primary' ? dbPrimary : topo.initialRedisMaster);
  for (const kind of kindsInStartOrder()) {
    const d = SERVICES[kind];
    if (d.stepBefore !== undefined) steps.push({ type: d.stepBefore });
    const of = servicesOf(topo, kind);
    const g = d.start;
    if (g.type === 'together') {
      group(g.label, of);
    } else {
      const leader = leaderOf(g.leader);
      group(
        g.leaderLabel,
        of.filter((s) => s.node === leader),
      );
      const rest = of.filter((s) => s.node !== leader);
      if (g.oneAtATime?.when(topo.config)) for (const s of rest) group(g.oneAtATime.label(s.node), [s]);
      else group(g.restLabel, rest);
    }
    if (d.stepAfter !== undefined && of.length > 0) steps.push({ type: d.stepAfter });
  }
  return steps;
}

/** Reverse dependency order: the front door closes first, the database last. */
export function stopOrder(): ServiceKind[] {
  return kindsInStartOrder().reverse();
}

/**
 * The groups `down` stops, one after the other. Within a kind with a leader, the others stop
 * before it, so no replica is left pointing at nothing mid-stop.
 */
export function stopPlan(topo: Topology): ServiceInstance[][] {
  const groups: ServiceInstance[][] = [];
  for (const kind of stopOrder()) {
    const of = servicesOf(topo, kind);
    const g = SERVICES[kind].start;
    if (g.type === 'leader-first') {
      // the initial leader: what `up` started first when the cluster was made
      const first = g.leader === 'db-primary' ? topo.initialDbPrimary : topo.initialRedisMaster;
      groups.push(
        of.filter((s) => s.node !== first),
        of.filter((s) => s.node === first),
      );
    } else {
      groups.push(of);
    }
  }
  return groups.filter((g) => g.length > 0);
}

/** How long a service gets between SIGTERM and SIGKILL: a database flushes, the rest drain. */
export function stopGraceMs(kind: ServiceKind): number {
  return SERVICES[kind].stopGraceMs;
}
