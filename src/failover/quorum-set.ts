import { servicesOf } from '../config/index.js';
import { appendEvent } from '../shared/events.js';
import { FailoverController } from './auto.js';
import type { FailoverEnv } from './context.js';
import type { NodeFencer } from './fence.js';
import { Election, FENCE_AFTER_MS, KEEPALIVE_MS, LEASE_TTL_S, hasQuorum, quorumClient } from './quorum.js';
import { GuardThread } from './guard-thread.js';

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

  constructor(env: FailoverEnv, fencer: NodeFencer) {
    const topo = env.topo;
    const password = env.secrets.etcdRootPassword;
    if (!hasQuorum(topo)) {
      this.controllers = [new FailoverController(env, fencer)];
      this.guards = undefined;
      return;
    }
    this.controllers = servicesOf(topo, 'etcd').map((s) => {
      const client = quorumClient(topo, s.node, password);
      return new FailoverController(env, fencer, Date.now, { election: new Election(topo, s.node, client), client });
    });
    this.guards = new GuardThread(topo, env.secrets, fencer);
  }

  start(): void {
    this.guards?.start();
    for (const c of this.controllers) c.start();
  }

  describe(env: FailoverEnv): string {
    const cfg = env.topo.config.failover;
    const guards = this.guards?.count ?? 0;
    if (this.controllers.length <= 1 && guards === 0) return `automatic failover on: detection ${cfg.detectionMs} ms, anti-flap ${cfg.antiFlapMs} ms`;
    return (
      `automatic failover on, decided through etcd: ${this.controllers.length} controllers (one acts: lease ${LEASE_TTL_S} s, renewed every ${KEEPALIVE_MS} ms), ` +
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
  }
}
