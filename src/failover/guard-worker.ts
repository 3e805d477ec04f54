/*
 * The entry of the guards' thread (guard-thread.ts): one PrimaryGuard per database node, as
 * quorum-set.ts ran them before, on this thread's own event loop. Told `close`, it stops them
 * (revoking their leases), answers `closed` and lets the thread end.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { servicesOf } from '../config/index.js';
import { quorumClient } from './quorum.js';
import { PrimaryGuard } from './self-fence.js';
import type { GuardThreadData, GuardThreadMessage } from './guard-thread.js';

const { topo, secrets } = workerData as GuardThreadData;
const guards = servicesOf(topo, 'mariadb').map((db) => new PrimaryGuard({ topo, secrets }, db, quorumClient(topo, db.node, secrets.etcdRootPassword)));
for (const g of guards) g.start();

parentPort?.on('message', (m: GuardThreadMessage) => {
  if (m.type !== 'close') return;
  void Promise.all(guards.map((g) => g.close())).finally(() => {
    parentPort?.postMessage({ type: 'closed' } satisfies GuardThreadMessage);
    parentPort?.close();
  });
});
