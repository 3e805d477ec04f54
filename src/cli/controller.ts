import { readSecrets, readTopology } from '../config/index.js';
import { startAdminApi, startLockReaper } from '../control/index.js';
import { FailoverController } from '../failover/index.js';
import { controllerTopology } from '../hosts/index.js';
import { runtimeFor } from '../runtime/index.js';
import { LocalSubstrate } from '../substrate/index.js';
import { describeError } from '../shared/errors.js';
import { appendEvent } from '../shared/events.js';

/**
 * `_controller`: the controller unit of a cluster on real hosts, on the node `hosts.controller`
 * names. It serves the admin API and the dashboard (status probed from here, read-only) on that
 * node's address; the services themselves are each host's own units, not its children. With
 * `failover.auto` it also runs the automatic crash plan, fencing other machines over SSH with
 * the key `deploy` gave it (src/hosts/controller-key.ts).
 */
export async function runController(stateDir: string): Promise<void> {
  const topo = readTopology(stateDir);
  const secrets = readSecrets(stateDir);
  const api = await startAdminApi(topo, secrets);
  process.stdout.write(`controller of cluster ${topo.cluster}: admin API and dashboard on http://${topo.admin.address}:${topo.admin.port}/\n`);
  let auto: FailoverController | undefined;
  if (topo.config.failover.auto) {
    // The hosts runtime, reaching the other machines with the controller's own key.
    const runtime = runtimeFor(controllerTopology(topo));
    const local = new LocalSubstrate();
    auto = new FailoverController(
      { topo, secrets, recordRole: (svc, role) => runtime.recordRole(svc, role) },
      { killNode: (node) => runtime.fenceNode(node), isAlive: (pid) => local.isAlive(pid) },
    );
    auto.start();
    appendEvent(stateDir, {
      type: 'failover.decision',
      message:
        `automatic failover on: detection ${topo.config.failover.detectionMs} ms, anti-flap ${topo.config.failover.antiFlapMs} ms (fencing over SSH; ` +
        (topo.config.failover.fence
          ? 'a machine that does not answer is powered off by failover.fence, run here)'
          : 'no failover.fence: a primary whose machine does not answer is never replaced automatically)'),
    });
  }
  // The lock reaper of every database node, from here (TCP as hastack_admin; its own node by socket).
  const reaper = startLockReaper(topo, secrets);
  const stop = (): void => {
    Promise.all([auto?.close(), reaper?.stop()])
      .then(() => api.close())
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
