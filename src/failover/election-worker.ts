/*
 * The entry of the election's thread (election-thread.ts): one Election per controller, each on
 * its own loop on this thread's event loop, writing until when it may act into the memory the
 * controllers read. Told `abandon`, a loop stops without resigning (a killed controller); told
 * `close`, every election resigns, it answers `closed` and lets the thread end.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { appendEvent } from '../shared/events.js';
import { Election, WATCH_MS, quorumClient } from './quorum.js';
import { MAIN_STUCK_MS, type ElectionThreadData, type ElectionThreadMessage } from './election-thread.js';

const data = workerData as ElectionThreadData;
const { topo, secrets } = data;
const actsUntil = new BigInt64Array(data.actsUntil);
const pulse = new BigInt64Array(data.pulse);
/** How long the controllers' own thread has not run (election-thread.ts MAIN_STUCK_MS). */
const mainSilentMs = (): number => Date.now() - Number(Atomics.load(pulse, 0));

interface Loop {
  readonly election: Election;
  timer: NodeJS.Timeout | undefined;
  stopped: boolean;
  running: Promise<void> | undefined;
  /** Stopped as if killed: never resigns. */
  abandoned: boolean;
  last: string;
  /** Stepped down because the controllers' thread is stuck (MAIN_STUCK_MS), until it runs again. */
  stuck: boolean;
}

const loops = data.identities.map((identity, i): Loop => {
  const election = new Election(topo, identity, quorumClient(topo, identity, secrets.etcdRootPassword));
  const loop: Loop = { election, timer: undefined, stopped: false, running: undefined, abandoned: false, last: '', stuck: false };
  const tick = (): void => {
    // The watchdog: a controller whose own loop does not run cannot act, so it must not hold
    // the lead either (this thread would beat for it forever). It steps down at once, so another
    // process's controller takes over without waiting out a term, and stands by until its loop
    // runs again.
    const silent = mainSilentMs();
    if (silent > MAIN_STUCK_MS) {
      if (!loop.stuck) {
        loop.stuck = true;
        Atomics.store(actsUntil, i, 0n);
        appendEvent(topo.stateDir, {
          type: 'quorum.leader',
          message: `controller ${identity}: its loop has not run for ${silent} ms (stuck); it steps down from the election until it runs again`,
          data: { controller: identity, leader: false, stuck: true },
        });
      }
      loop.running = election.resign().then(() => {
        if (!loop.stopped) loop.timer = setTimeout(tick, WATCH_MS);
      });
      return;
    }
    loop.stuck = false;
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
