import { controllerNode, readSecrets, readTopology } from '../config/index.js';
import { startGaleraKeeper, startLockReaper } from '../control/index.js';
import { AutoFailover, hasQuorum, startBinlogArchiver, type FailoverEnv } from '../failover/index.js';
import { controllerTopology } from '../hosts/index.js';
import { runtimeFor } from '../runtime/index.js';
import { runtimeFencer } from './failover.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { appendEvent } from '../shared/events.js';

/**
 * `_controller`: a controller unit of a cluster on real hosts. On the node `hosts.controller`
 * names it serves the admin API and the dashboard (status probed from here, read-only) on that
 * node's address; the services themselves are each host's own units, not its children. With
 * `failover.auto` it also runs the automatic crash plan, fencing other machines over SSH with the
 * key `deploy` gave it (src/hosts/controller-key.ts). With the decision quorum (etcd services)
 * every etcd and database node runs one (`controllerNodes`): each etcd node's takes part in the
 * election through its own member, and each runs the primary guard of its own machine's database
 * (if any); the records they share
 * (journal, semi-sync window, mode) go through etcd (src/failover/shared-records.ts).
 */
export async function runController(stateDir: string, nodeArg?: string): Promise<void> {
  const topo = readTopology(stateDir);
  const secrets = readSecrets(stateDir);
  const adminNode = controllerNode(topo.config, topo.nodes).name;
  // A unit written before `--node` existed ran on the admin API's node only.
  const node = nodeArg ?? adminNode;
  if (!topo.nodes.some((n) => n.name === node)) throw new HastackError(ErrorCode.CONFIG_INVALID, `_controller --node ${node}: no such node in cluster ${topo.cluster}`);
  const admin = node === adminNode;
  const api = admin ? await (await import('../control/admin-api.js')).startAdminApi(topo, secrets) : undefined;
  if (api) process.stdout.write(`controller of cluster ${topo.cluster}: admin API and dashboard on http://${topo.admin.address}:${topo.admin.port}/\n`);
  let auto: AutoFailover | undefined;
  // Without the quorum the admin API's node alone runs the one controller of before.
  if (topo.config.failover.auto && (admin || hasQuorum(topo))) {
    // The hosts runtime, reaching the other machines with the controller's own key.
    const runtime = await runtimeFor(controllerTopology(topo));
    const env: FailoverEnv = { topo, secrets, recordRole: (svc, role) => runtime.recordRole(svc, role) };
    auto = new AutoFailover(env, runtimeFencer(runtime), hasQuorum(topo) ? [node] : undefined);
    auto.start();
    appendEvent(stateDir, {
      type: 'failover.decision',
      message:
        `${auto.describe(env)} on ${node} (fencing over SSH; ` +
        (topo.config.failover.fence
          ? 'a machine that does not answer is powered off by failover.fence, run here)'
          : 'no failover.fence: a primary whose machine does not answer is never replaced automatically)'),
    });
  }
  // The lock reaper of every database node, from the admin API's node (TCP as hastack_admin; its own node by socket).
  const reaper = admin ? startLockReaper(topo, secrets) : undefined;
  // Galera: the quorum keeper, from the same node (src/control/galera-keeper.ts).
  const keeper = admin ? startGaleraKeeper(topo, secrets) : undefined;
  const stop = (): void => {
    Promise.all([auto?.close(), reaper?.stop(), keeper?.stop()])
      .then(() => api?.close())
      .then(
        () => process.exit(0),
        (e: unknown) => {
          process.stderr.write(`stopping the controller: ${describeError(e)}\n`);
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/**
 * `_binlog-archive`: the binlog archiver of a cluster on real hosts (backup.binlogArchive), a unit on
 * the archive's machine (archiveNodeOf): what the supervisor runs beside the backup scheduler on
 * local and netns clusters (failover/binlog-archive.ts).
 */
export async function runArchiver(stateDir: string): Promise<void> {
  const topo = readTopology(stateDir);
  const archiver = startBinlogArchiver(topo, readSecrets(stateDir));
  if (!archiver)
    throw new HastackError(
      ErrorCode.CONFIG_INVALID,
      `cluster ${topo.cluster}: the binlog archive did not start (backup.binlogArchive off, or see ${stateDir}/binlog-archive.json)`,
    );
  process.stdout.write(`binlog archive of cluster ${topo.cluster} started\n`);
  const stop = (): void => {
    archiver.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        process.stderr.write(`stopping the binlog archive: ${describeError(e)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
