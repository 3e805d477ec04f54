/*
 * The entry of the election's thread (election-thread.ts): one Election per controller, each on
 * its own loop on this thread's event loop, writing until when it may act into the memory the
 * controllers read. Told `abandon`, a loop stops without resigning (a killed controller); told
 * `close`, every election resigns, it answers `closed` and lets the thread end.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Election, quorumClient } from './quorum.js';
import type { ElectionThreadData, ElectionThreadMessage } from './election-thread.js';

const data = workerData as ElectionThreadData;
const { topo, secrets } = data;
const actsUntil = new BigInt64Array(data.actsUntil);

interface Loop {
  readonly election: Election;
  timer: NodeJS.Timeout | undefined;
  stopped: boolean;
  running: Promise<void> | undefined;
  /** Stopped as if killed: never resigns. */
  abandoned: boolean;
  last: string;
}

const loops = data.identities.map((identity, i): Loop => {
  const election = new Election(topo, identity, quorumClient(topo, identity, secrets.etcdRootPassword));
  const loop: Loop = { election, timer: undefined, stopped: false, running: undefined, abandoned: false, last: '' };
  const tick = (): void => {
    loop.running = election.tick().then(() => {
      if (loop.stopped) return;
      Atomics.store(actsUntil, i, BigInt(election.actsUntil()));
      const seen = { holder: election.holder, lastError: election.lastError() };
      const key = JSON.stringify(seen);
      if (key !== loop.last) {
        loop.last = key;
        parentPort?.postMessage({ type: 'seen', identity, ...seen } satisfies ElectionThreadMessage);
      }
      loop.timer = setTimeout(tick, election.nextTickMs());
    });
  };
  tick();
  return loop;
});

const stop = (loop: Loop, i: number): void => {
  loop.stopped = true;
  clearTimeout(loop.timer);
  Atomics.store(actsUntil, i, 0n);
};

parentPort?.on('message', (m: ElectionThreadMessage) => {
  if (m.type === 'abandon') {
    const i = data.identities.indexOf(m.identity);
    const loop = loops[i];
    if (loop) {
      loop.abandoned = true;
      stop(loop, i);
    }
    return;
  }
  if (m.type !== 'close') return;
  loops.forEach(stop);
  const resign = async (l: Loop): Promise<void> => {
    await l.running;
    if (!l.abandoned) await l.election.resign();
  };
  void Promise.all(loops.map(resign)).finally(() => {
    parentPort?.postMessage({ type: 'closed' } satisfies ElectionThreadMessage);
    parentPort?.close();
  });
});
