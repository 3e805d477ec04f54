/*
 * The entry of the guards' thread (guard-thread.ts): one PrimaryGuard per database node, as
 * quorum-set.ts ran them before, on this thread's own event loop, each beating into the memory
 * its watchdog reads. Told `close`, it stops them (revoking their leases), answers `closed` and
 * lets the thread end.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { quorumClient } from './quorum.js';
import { PrimaryGuard } from './self-fence.js';
import { guardedDbs, type GuardThreadData, type GuardThreadMessage } from './guard-thread.js';

const data = workerData as GuardThreadData;
const { topo, secrets } = data;
const beats = new BigInt64Array(data.beats);
const holding = new Int32Array(data.holding);
// Each round's start, and whether its guard holds the primary, for the watchdog (guard-thread.ts).
const beat = (i: number, holds: boolean): void => {
  Atomics.store(beats, i, BigInt(Date.now()));
  Atomics.store(holding, i, holds ? 1 : 0);
};
const guards = guardedDbs(topo, data.only).map(
  (db, i) => new PrimaryGuard({ topo, secrets }, db, quorumClient(topo, db.node, secrets.etcdRootPassword), Date.now, (holds) => beat(i, holds)),
);
for (const g of guards) g.start();

parentPort?.on('message', (m: GuardThreadMessage) => {
  if (m.type !== 'close') return;
  void Promise.all(guards.map((g) => g.close())).finally(() => {
    parentPort?.postMessage({ type: 'closed' } satisfies GuardThreadMessage);
    parentPort?.close();
  });
});
