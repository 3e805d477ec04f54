import type { Operation } from './history.js';
import { isQueuedWrite, isRead, isWrite } from './history.js';

/** What a fault does to its target, through the supervisor (which owns the processes). */
export type FaultAction = 'kill-node' | 'pause-node' | 'kill-service' | 'isolate' | 'partition' | 'cut';

export interface FaultSpec {
  /** A node name, `role:<role>` (lb, app, worker, memcached, redis-master, db-primary, db-replica), or `random`. */
  readonly target: string;
  readonly action: FaultAction;
  /** For kill-service: which service of the target node. */
  readonly service?: string;
  /** For isolate: cut the node from the host too (the supervisor and the workload's clients). */
  readonly fromHost?: boolean;
  /**
   * For partition: more nodes on the target's side. Selectors: a node name, `role:<role>` (one
   * node), `all:<role>` (every such node not placed yet), or `@host`.
   */
  readonly with?: readonly string[];
  /** For partition: the other side; for cut: the receiver(s) of the dropped packets. */
  readonly against?: readonly string[];
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
  /** The substrate it needs (partitions need `netns`); absent: any. */
  readonly substrate?: 'netns';
  /**
   * The scenario needs the crash plan: nothing in the cluster moves the service by itself, so run
   * it with `--then-failover` (or with `failover.auto` on). Without it a broken promise is expected.
   */
  readonly crashPlan?: boolean;
  /**
   * No failure: what happens at the fault's time is a planned `hastack switchover` to a replica,
   * run by the command (`chaos run`, `chaos soak`) right then, with the workload running: the
   * write pause as clients see it.
   */
  readonly switchover?: true;
}

export const SCENARIOS: readonly Scenario[] = [
  { name: 'baseline', description: 'no fault: the workload alone, for comparison', preset: 'any', faults: [], holdS: 0, affected: 'any' },
  {
    name: 'lb',
    description: 'kill -9 one load-balancer node (its lb and dns): clients move through DNS',
    preset: 'ideal',
    faults: [{ target: 'role:lb', action: 'kill-node' }],
    holdS: 10,
    affected: 'any',
  },
  {
    name: 'app',
    description: 'kill -9 one app-server node: the load balancers route around it',
    preset: 'ideal',
    faults: [{ target: 'role:app', action: 'kill-node' }],
    holdS: 10,
    affected: 'any',
  },
  {
    name: 'worker',
    description: 'kill -9 one worker node while jobs run: its jobs are re-run by the other',
    preset: 'ideal',
    faults: [{ target: 'role:worker', action: 'kill-node' }],
    holdS: 10,
    affected: 'write',
  },
  {
    name: 'memcached',
    description: 'kill -9 one memcached node: a miss, never an error',
    preset: 'ideal',
    faults: [{ target: 'role:memcached', action: 'kill-node' }],
    holdS: 10,
    affected: 'read',
  },
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
    description: 'kill -9 the database writer node (Galera: the node the router writes through; the others keep a majority and take the writes)',
    preset: 'ideal',
    faults: [{ target: 'role:db-primary', action: 'kill-node' }],
    holdS: 10,
    affected: 'write',
  },
  {
    name: 'db-replica',
    description: 'kill -9 a database node that is not the writer (Galera: a reader; replication: the replica, whose semi-sync ack writes wait for)',
    preset: 'ideal',
    faults: [{ target: 'role:db-replica', action: 'kill-node' }],
    holdS: 10,
    affected: 'write',
  },
  {
    name: 'server',
    description:
      "kill -9 the simple preset's whole primary server (the node whose database is the primary): the crash plan moves the service to the standby (run with --then-failover)",
    preset: 'simple',
    // By role, not by the node's name: after a failover the node named `primary` is the replica,
    // and a soak's next run must kill the server that is the primary then.
    faults: [{ target: 'role:db-primary', action: 'kill-node' }],
    holdS: 10,
    affected: 'any',
    crashPlan: true,
  },
  {
    name: 'switchover',
    description: 'a planned "hastack switchover" to the replica under load (no failure): writes are held at the app side while the roles change',
    preset: 'simple',
    faults: [],
    holdS: 10,
    affected: 'write',
    switchover: true,
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
  {
    name: 'pause-app',
    description: 'freeze one app-server node for 10 s (SIGSTOP): a gray failure',
    preset: 'ideal',
    faults: [{ target: 'role:app', action: 'pause-node' }],
    holdS: 10,
    affected: 'any',
  },
  // Partitions (netns substrate). The host (supervisor, workload clients) sees both sides unless a
  // scenario puts it on one: clients reach the old master's side through the app server cut off
  // with it, and the majority side through the others (Jepsen's "clients on both sides").
  {
    name: 'partition-redis-master',
    description:
      'cut the Redis master and one Sentinel off from the other Sentinels and the replicas (Jepsen 2013): the old master takes no acknowledged write, the majority elects a new one, the old one rejoins as a replica',
    preset: 'ideal',
    faults: [{ target: 'role:redis-master', action: 'partition', with: ['role:sentinel'], against: ['all:redis-replica', 'all:sentinel'] }],
    // 12 s: several times down-after (1.5 s) + election + min-replicas-max-lag (2 s).
    holdS: 12,
    affected: 'enqueue',
    substrate: 'netns',
  },
  {
    name: 'partition-lb',
    description: 'make one load-balancer node unreachable (from the nodes and the clients): clients move through DNS',
    preset: 'ideal',
    faults: [{ target: 'role:lb', action: 'isolate', fromHost: true }],
    holdS: 10,
    affected: 'any',
    substrate: 'netns',
  },
  {
    name: 'partition-db-primary',
    description:
      'cut the MariaDB primary server off from its replica and the host (controller, clients) while it stays alive: the automatic failover fences it and promotes the replica; never two writable primaries, 0 lost (run with failover.auto)',
    // Replication mode. On `simple` the cut takes the primary's whole server (its app, worker,
    // Redis and DNS too): that is the seed's own setup, and the only preset in replication mode.
    // The primary's side keeps running: its worker's commits wait for a semi-sync ack that cannot
    // come, and the supervisor, on the same machine, can still kill it (the fence).
    preset: 'simple',
    // With the decision quorum (simple's witness, issue 23) the etcd majority goes with the
    // replica: the primary cannot renew its lease, fences itself, and the majority promotes.
    faults: [{ target: 'role:db-primary', action: 'partition', against: ['all:db-replica', 'all:etcd', '@host'] }],
    // 20 s: the replica notices the silent primary after slave_net_timeout (2 s), the controller
    // waits failover.detectionMs, then the runbook runs (~3 s): the failover completes while cut.
    holdS: 20,
    affected: 'write',
    substrate: 'netns',
    crashPlan: true,
  },
  {
    name: 'partition-galera-minority',
    description: 'cut the Galera node the router writes through off from the other nodes: it must refuse queries while the majority keeps writing and the routers move',
    preset: 'ideal',
    // The writer (role:db-primary in Galera: the first synced node) rather than a reader: the
    // routers must notice the node they write through went silent and move, the harder case.
    // The host still reaches it, so a direct query shows it refusing.
    faults: [{ target: 'role:db-primary', action: 'isolate' }],
    holdS: 15,
    affected: 'write',
    substrate: 'netns',
  },
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
  if (s.faults.length === 0 && s.switchover !== true) return undefined;
  // A quarter of the run (at least 3 s) of steady state before the fault, for comparison.
  const injectAt = Math.max(3_000, Math.round(durationMs * 0.25));
  const hold = Math.min(s.holdS * 1000, Math.round(durationMs * 0.5));
  return { injectAt, healAt: injectAt + hold };
}

/**
 * The schedule once the fault landed at `landedAt`: the heal and the end of the workload move
 * later by as much as it landed late, so the fault is held and followed by the planned time
 * whatever the injection took (seconds on a busy machine: on hosts it asks every agent what
 * runs, then kills over SSH). Pure.
 */
export function landedSchedule(planned: { injectAt: number; healAt: number }, durationMs: number, landedAt: number): { healAt: number; workloadEndsAt: number } {
  const late = Math.max(0, landedAt - planned.injectAt);
  return { healAt: planned.healAt + late, workloadEndsAt: durationMs + late };
}
