import { readSecrets, readTopology } from '../config/index.js';
import { startAdminApi } from '../control/admin-api.js';
import { describeError } from '../shared/errors.js';

/**
 * `_controller`: the controller unit of a cluster on real hosts, on the node `hosts.controller`
 * names. It serves the admin API and the dashboard (status probed from here, read-only) on that
 * node's address; the services themselves are each host's own units, not its children.
 */
export async function runController(stateDir: string): Promise<void> {
  const topo = readTopology(stateDir);
  const api = await startAdminApi(topo, readSecrets(stateDir));
  process.stdout.write(`controller of cluster ${topo.cluster}: admin API and dashboard on http://${topo.admin.address}:${topo.admin.port}/\n`);
  const stop = (): void => {
    api.close().then(
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
