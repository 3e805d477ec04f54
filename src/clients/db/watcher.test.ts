import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { NodeProber, ProbeTarget } from './prober.js';
import type { NodeState } from './routing.js';
import { TopologyWatcher } from './watcher.js';

const nodes: ProbeTarget[] = [
  { id: 'a', address: '127.0.0.1', port: 1 },
  { id: 'b', address: '127.0.0.1', port: 2 },
];

/** A probe of `a` that hangs until released (a partition drops its connect), `b` writable at once. */
function fakeProber(): { prober: NodeProber; release: () => void; probesOfA: () => number } {
  let probesOfA = 0;
  let release = (): void => undefined;
  let first = true;
  const probe = (n: ProbeTarget): Promise<NodeState> => {
    if (n.id === 'b') return Promise.resolve({ id: 'b', reachable: true, readOnly: false, binlogPos: '0-2-5', slavePos: '', replication: 'none' });
    probesOfA++;
    if (first) {
      first = false;
      return Promise.resolve({ id: 'a', reachable: false, error: 'connect ETIMEDOUT' });
    }
    return new Promise((resolve) => {
      release = () => resolve({ id: 'a', reachable: false, error: 'connect ETIMEDOUT' });
    });
  };
  return { prober: { probe, close: () => undefined } as unknown as NodeProber, release: () => release(), probesOfA: () => probesOfA };
}

describe('TopologyWatcher', () => {
  it('a node unreachable in the last round holds the next one at most a moment, and its probe is shared', async () => {
    // The watcher's timers are unref'd (they never keep a process alive): this one keeps the test's.
    const keep = setInterval(() => undefined, 1_000);
    const f = fakeProber();
    const w = new TopologyWatcher(nodes, f.prober, { mode: 'replication', maxLagTransactions: 100 }, 60_000, pino({ level: 'silent' }), () => undefined);
    await w.refresh();
    const t0 = Date.now();
    const plan = await w.refresh();
    assert.ok(Date.now() - t0 < 1_000, 'the round waited for the hanging probe');
    assert.equal(plan.writer, 'b');
    await w.refresh();
    assert.equal(f.probesOfA(), 2, 'the round after it waits on the same probe of a');
    f.release();
    w.close();
    clearInterval(keep);
  });
});
