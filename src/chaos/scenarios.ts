import type { Operation } from './history.js';
import { isQueuedWrite, isRead, isWrite } from './history.js';

/** What a fault does to its target, through the supervisor (which owns the processes). */
export type FaultAction = 'kill-node' | 'pause-node' | 'kill-service';

export interface FaultSpec {
  /** A node name, `role:<role>` (lb, app, worker, memcached, redis-master, db-primary, db-replica), or `random`. */
  readonly target: string;
  readonly action: FaultAction;
  /** For kill-service: which service of the target node. */
  readonly service?: string;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  /** The preset it is meant for (`--up` brings this one up); `any` runs on whatever is running. */
  readonly preset: 'ideal' | 'simple' | 'any';
  readonly faults: readonly FaultSpec[];
  /** How long the fault lasts before it is healed, in seconds (capped to half the run). */
  readonly holdS: number;
  /**
   * Which operations the fault is expected to hurt: recovery is measured on those. `enqueue`:
   * writes whose job was acknowledged as durably queued (a Redis fault does not stop orders, the
   * ERP defers their job, so recovery there is kill → first acknowledged enqueue).
   */
  readonly affected: 'write' | 'read' | 'enqueue' | 'any';
  /**
   * Set while the tier this scenario exercises cannot yet keep the promises: the issue it waits
   * for. Such a run still runs and reports its real numbers; a broken promise is then expected.
   */
  readonly expectedFailure?: string;
  /**
   * The scenario needs the crash plan: nothing in the cluster moves the service by itself, so run
   * it with `--then-failover` (or with `failover.auto` on). Without it a broken promise is expected.
   */
  readonly crashPlan?: boolean;
}

export const SCENARIOS: readonly Scenario[] = [
  { name: 'baseline', description: 'no fault: the workload alone, for comparison', preset: 'any', faults: [], holdS: 0, affected: 'any' },
  { name: 'lb', description: 'kill -9 one load-balancer node (its lb and dns): clients move through DNS', preset: 'ideal', faults: [{ target: 'role:lb', action: 'kill-node' }], holdS: 10, affected: 'any' },
  { name: 'app', description: 'kill -9 one app-server node: the load balancers route around it', preset: 'ideal', faults: [{ target: 'role:app', action: 'kill-node' }], holdS: 10, affected: 'any' },
  { name: 'worker', description: 'kill -9 one worker node while jobs run: its jobs are re-run by the other', preset: 'ideal', faults: [{ target: 'role:worker', action: 'kill-node' }], holdS: 10, affected: 'write' },
  { name: 'memcached', description: 'kill -9 one memcached node: a miss, never an error', preset: 'ideal', faults: [{ target: 'role:memcached', action: 'kill-node' }], holdS: 10, affected: 'read' },
  {
    name: 'redis-master',
    description: 'kill -9 the Redis master node: Sentinel promotes the replica, enqueues follow; no acknowledged job lost',
    preset: 'ideal',
    faults: [{ target: 'role:redis-master', action: 'kill-node' }],
    holdS: 10,
    affected: 'enqueue',
  },
  {
    name: 'pause-redis-master',
    description: 'freeze the Redis master node (SIGSTOP) past the failover, then resume it: it must take no write and rejoin as a replica',
    preset: 'ideal',
    faults: [{ target: 'role:redis-master', action: 'pause-node' }],
    // 10 s: several times down-after (1.5 s) + election, so the failover completes while frozen.
    holdS: 10,
    affected: 'enqueue',
  },
  {
    name: 'db-primary',
    description: 'kill -9 the MariaDB primary node: writes wait for it (no database failover yet: issue 7)',
    preset: 'ideal',
    faults: [{ target: 'role:db-primary', action: 'kill-node' }],
    holdS: 10,
    affected: 'write',
  },
  { name: 'db-replica', description: 'kill -9 the MariaDB replica node: semi-sync must not stall writes for long', preset: 'ideal', faults: [{ target: 'role:db-replica', action: 'kill-node' }], holdS: 10, affected: 'write' },
  {
    name: 'server',
    description: 'kill -9 the simple preset\'s whole primary server: the crash plan moves the service to the standby (run with --then-failover)',
    preset: 'simple',
    faults: [{ target: 'primary', action: 'kill-node' }],
    holdS: 10,
    affected: 'any',
    crashPlan: true,
  },
  {
    name: 'two-nodes',
    description: 'kill -9 an app node and a memcached node at once (two tiers)',
    preset: 'ideal',
    faults: [
      { target: 'role:app', action: 'kill-node' },
      { target: 'role:memcached', action: 'kill-node' },
    ],
    holdS: 10,
    affected: 'any',
  },
  { name: 'pause-app', description: 'freeze one app-server node for 10 s (SIGSTOP): a gray failure', preset: 'ideal', faults: [{ target: 'role:app', action: 'pause-node' }], holdS: 10, affected: 'any' },
];

export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}

export function affectedOps(s: Scenario): (o: Operation) => boolean {
  if (s.affected === 'write') return isWrite;
  if (s.affected === 'read') return isRead;
  if (s.affected === 'enqueue') return isQueuedWrite;
  return () => true;
}

/** When the fault goes in and when it is healed, in ms from the run's start. */
export function faultSchedule(s: Scenario, durationMs: number): { injectAt: number; healAt: number } | undefined {
  if (s.faults.length === 0) return undefined;
  // A quarter of the run (at least 3 s) of steady state before the fault, for comparison.
  const injectAt = Math.max(3_000, Math.round(durationMs * 0.25));
  const hold = Math.min(s.holdS * 1000, Math.round(durationMs * 0.5));
  return { injectAt, healAt: injectAt + hold };
}
