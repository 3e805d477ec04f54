import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SingleFlight } from './single-flight.js';

/** A promise the test resolves by hand, to hold a load open while others arrive. */
function gate<T>(): { promise: Promise<T>; open: (v: T) => void } {
  let open: (v: T) => void = () => undefined;
  const promise = new Promise<T>((r) => (open = r));
  return { promise, open };
}

describe('SingleFlight', () => {
  it('concurrent callers of one key share one load', async () => {
    const sf = new SingleFlight<number>();
    const g = gate<number>();
    let calls = 0;
    const callers = Array.from({ length: 20 }, () =>
      sf.run('k', () => {
        calls++;
        return g.promise;
      }),
    );
    g.open(42);
    assert.deepEqual(await Promise.all(callers), Array(20).fill(42));
    assert.equal(calls, 1);
    assert.equal(sf.joinedCount, 19);
    assert.equal(sf.size, 0, 'the finished load is forgotten');
  });

  it('different keys load independently, and a later call loads again', async () => {
    const sf = new SingleFlight<string>();
    const seen: string[] = [];
    const load = (k: string) => async (): Promise<string> => {
      seen.push(k);
      return k.toUpperCase();
    };
    assert.deepEqual(await Promise.all([sf.run('a', load('a')), sf.run('b', load('b'))]), ['A', 'B']);
    assert.equal(await sf.run('a', load('a')), 'A');
    assert.deepEqual(seen, ['a', 'b', 'a']);
  });

  it('a failed load rejects every caller sharing it, and the next call tries again', async () => {
    const sf = new SingleFlight<number>();
    const g = gate<void>();
    let calls = 0;
    const failing = async (): Promise<number> => {
      calls++;
      await g.promise;
      throw new Error('database down');
    };
    const a = sf.run('k', failing);
    const b = sf.run('k', failing);
    g.open();
    await assert.rejects(a, /database down/);
    await assert.rejects(b, /database down/);
    assert.equal(await sf.run('k', async () => 7), 7);
    assert.equal(calls, 1);
  });

  it('forget marks the running load stale and lets new callers start a fresh one', async () => {
    const sf = new SingleFlight<string>();
    const g = gate<string>();
    let staleSeen: boolean | undefined;
    const first = sf.run('k', async (isStale) => {
      const v = await g.promise;
      staleSeen = isStale();
      return v;
    });
    sf.forget('k');
    const second = sf.run('k', async (isStale) => (isStale() ? 'stale' : 'fresh'));
    g.open('old');
    assert.equal(await first, 'old', 'callers of the first load still get its answer');
    assert.equal(staleSeen, true);
    assert.equal(await second, 'fresh');
    assert.equal(sf.joinedCount, 0);
  });
});
