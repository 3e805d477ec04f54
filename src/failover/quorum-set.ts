import { servicesOf } from '../config/index.js';
import { appendEvent } from '../shared/events.js';
import { FailoverController } from './auto.js';
import type { FailoverEnv } from './context.js';
import type { NodeFencer } from './fence.js';
import { BEAT_MS, FENCE_AFTER_MS, TERM_MS, hasQuorum, quorumClient } from './quorum.js';
import { ElectionThread } from './election-thread.js';
import { GuardThread } from './guard-thread.js';
import { SharedRecords } from './shared-records.js';

/**
 * The automatic mode of a cluster with the decision quorum (etcd services): one controller per
 * etcd node, each in the election through its own node's member (exactly one acts), and one
 * primary guard per database node (the lease and the self-fence). Without etcd: the single
 * controller of before.
 *
 * On `local`/`netns` they run inside the supervisor, each talking to its own node's etcd member
 * and database: a node cut off from the etcd majority makes its member fail every renewal, which
 * is what its controller and guard react to (README, "Automatic failover decided by a quorum").
 * The guards run on a thread of their own (guard-thread.ts): the supervisor's stalls must not
 * delay a renewal.
 */
export class AutoFailover {
  readonly controllers: FailoverController[];
  readonly guards: GuardThread | undefined;
  /** Quorum mode: the controllers' election, on a thread of its own (election-thread.ts). */
  private readonly election: ElectionThread | undefined;

  /**
   * `on`: the nodes this process runs for (hosts: its own machine's, `_controller --node`): their
   * controllers and guards only, the records shared through etcd (shared-records.ts). Absent:
   * every node's, in one process sharing one state directory (local/netns).
   */
  constructor(env: FailoverEnv, fencer: NodeFencer, on?: readonly string[]) {
    const topo = env.topo;
    const password = env.secrets.etcdRootPassword;
    if (!hasQuorum(topo)) {
      this.controllers = [new FailoverController(env, fencer)];
      this.guards = undefined;
      this.election = undefined;
      return;
    }
    const nodes = servicesOf(topo, 'etcd')
      .map((s) => s.node)
      .filter((n) => on === undefined || on.includes(n));
    const election = nodes.length > 0 ? new ElectionThread(topo, env.secrets, nodes) : undefined;
    this.election = election;
    this.controllers = nodes.flatMap((node) => {
      if (!election) return [];
      const client = quorumClient(topo, node, password);
      const records = on === undefined ? {} : { records: new SharedRecords(topo, client) };
      return [new FailoverController(env, fencer, Date.now, { election: election.election(node), client, ...records })];
    });
    const guarded = on === undefined || servicesOf(topo, 'mariadb').some((db) => on.includes(db.node));
    this.guards = guarded ? new GuardThread(topo, env.secrets, fencer, on) : undefined;
  }

  start(): void {
    this.guards?.start();
    this.election?.start();
    for (const c of this.controllers) c.start();
  }

  describe(env: FailoverEnv): string {
    const cfg = env.topo.config.failover;
    const guards = this.guards?.count ?? 0;
    if (!hasQuorum(env.topo)) return `automatic failover on: detection ${cfg.detectionMs} ms, anti-flap ${cfg.antiFlapMs} ms`;
    const all = servicesOf(env.topo, 'etcd').length;
    return (
      `automatic failover on, decided through etcd: ${this.controllers.length === all ? all : `${this.controllers.length} here of ${all}`} controllers (one acts: it beats every ${BEAT_MS} ms, another takes over ${TERM_MS} ms after its last beat), ` +
      `${guards} primary guard(s) (a primary that cannot renew fences itself after ${FENCE_AFTER_MS} ms), anti-flap ${cfg.antiFlapMs} ms`
    );
  }

  announce(env: FailoverEnv): void {
    appendEvent(env.topo.stateDir, { type: 'failover.decision', message: this.describe(env) });
  }

  /** The controller acting now (quorum mode), if any. */
  leader(): FailoverController | undefined {
    return this.controllers.find((c) => c.isLeader());
  }

  async close(): Promise<void> {
    await Promise.all([...this.controllers.map((c) => c.close()), this.guards?.close()]);
    // After the controllers: none acts on while its election resigns.
    await this.election?.close();
  }
}
