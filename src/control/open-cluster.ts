import { readSecrets, type Topology } from '../config/index.js';
import { AutoFailover } from '../failover/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { appendEvent, type ClusterEvent } from '../shared/events.js';
import { closeAll, once, type Closeable } from '../shared/lifecycle.js';
import { substrateFor } from '../substrate/index.js';
import { startAdminApi } from './admin-api.js';
import { startGaleraKeeper, type GaleraKeeper } from './galera-keeper.js';
import { startLockReaper, type LockReaper } from './lock-reaper.js';
import { Supervisor } from './supervisor.js';

// Apart from cluster.ts: the supervisor, the automatic failover and the admin API are what only
// the supervising process runs; `status`, `down` and the other commands load cluster.ts without them.

export interface RunningCluster {
  readonly supervisor: Supervisor;
  /** Starts every service in order; on failure stops what started and rethrows. */
  start(): Promise<void>;
  /** Stops the cluster and the admin API. Idempotent. */
  stop(): Promise<void>;
}

/** The supervisor and its admin API, as `up` (foreground) and `_supervise` (detached) run them. */
export async function openCluster(topo: Topology, onEvent?: (e: ClusterEvent) => void): Promise<RunningCluster> {
  const secrets = readSecrets(topo.stateDir);
  const substrate = substrateFor(topo);
  // Before the substrate's setup: the supervisor records its start time, and `down` recognises a
  // live supervisor by that time (5 s slack); netns setup of a big cluster on a loaded machine
  // took longer than that, `down` then took the supervisor for dead and it outlived the cluster.
  const supervisor = new Supervisor({ topo, secrets, substrate, ...(onEvent ? { onEvent } : {}) });
  if (substrate.prepare) {
    const t0 = Date.now();
    await substrate.prepare();
    // Appended even without a listener: `up --detach` follows the event log, not this process.
    const e = appendEvent(topo.stateDir, {
      type: 'step',
      message: `${substrate.name} substrate ready in ${Date.now() - t0} ms: ${topo.nodes.length} nodes, each in its own network namespace`,
    });
    onEvent?.(e);
  }
  let admin: Closeable;
  try {
    admin = await startAdminApi(topo, secrets, supervisor);
  } catch (e) {
    await substrate.release?.().catch(() => undefined);
    throw new HastackError(
      ErrorCode.PORT_IN_USE,
      `cannot listen on ${topo.admin.address}:${topo.admin.port} for the admin API (${describeError(e)}); set supervisor.adminPort to a free port`,
    );
  }
  // failover.auto: the controller runs here, beside the processes it may fence (killNode is the
  // supervisor's own), and only once the cluster is up. With etcd services: one controller per
  // etcd node (one acts, elected through etcd) and a lease guard per database node (issue 23).
  const auto = topo.config.failover.auto
    ? new AutoFailover({ topo, secrets }, { killNode: async (node) => void supervisor.killNode(node), isAlive: (pid) => substrate.isAlive(pid) })
    : undefined;
  let reaper: LockReaper | undefined;
  let keeper: GaleraKeeper | undefined;
  const stop = once(() =>
    closeAll([
      () => reaper?.stop() ?? Promise.resolve(),
      () => keeper?.stop() ?? Promise.resolve(),
      () => auto?.close() ?? Promise.resolve(),
      () => supervisor.stop(),
      () => admin.close(),
      async () => substrate.release?.(),
    ]),
  );
  return {
    supervisor,
    stop,
    async start() {
      try {
        await supervisor.start();
      } catch (e) {
        await stop();
        throw e;
      }
      reaper = startLockReaper(topo, secrets);
      keeper = startGaleraKeeper(topo, secrets);
      if (auto) {
        auto.start();
        auto.announce({ topo, secrets });
      }
    },
  };
}
