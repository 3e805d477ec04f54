import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { abortRepeatable, isSuspect, StallWatch, type PendingAttempt, type WatchedBackend } from './stall.js';
import { WaitList } from './wait-list.js';

const STALL_MS = 200;

function attempt(sentAt: number, repeatable: boolean, onAbort: () => void = () => {}): PendingAttempt {
  return { sentAt, repeatable, abortStalled: onAbort, waitPrev: undefined, waitNext: undefined, waitList: undefined };
}

function backend(lastProgressAt: number, attempts: PendingAttempt[] = []): WatchedBackend {
  const waiting = new WaitList<PendingAttempt>();
  for (const a of attempts) waiting.add(a);
  return { id: 'app1/app', lastProgressAt, waiting };
}

describe('isSuspect', () => {
  it('is never suspect with nothing waiting', () => {
    assert.equal(isSuspect(backend(0), 10_000, STALL_MS), false);
  });

  it('is not suspect while it answers other requests (slow is not frozen)', () => {
    assert.equal(isSuspect(backend(9_900, [attempt(1_000, true)]), 10_000, STALL_MS), false);
  });

  it('is not suspect when the oldest waiting attempt is young', () => {
    assert.equal(isSuspect(backend(0, [attempt(9_900, true)]), 10_000, STALL_MS), false);
  });

  it('is suspect when an attempt waited long and nothing at all came back meanwhile', () => {
    assert.equal(isSuspect(backend(9_000, [attempt(9_500, true), attempt(9_990, true)]), 10_000, STALL_MS), true);
  });
});

describe('abortRepeatable', () => {
  it('aborts only idempotent or keyed attempts, even as they leave the set', () => {
    const b = backend(0);
    const aborted: string[] = [];
    const a1 = attempt(0, true, () => {
      aborted.push('get');
      b.waiting.delete(a1);
    });
    const a2 = attempt(0, false, () => aborted.push('post'));
    b.waiting.add(a1).add(a2);
    assert.equal(abortRepeatable(b), 1);
    assert.deepEqual(aborted, ['get']);
    assert.equal(b.waiting.size, 1);
  });
});

describe('StallWatch', () => {
  const settings = { sweepMs: 50, stallMs: STALL_MS, livenessTimeoutMs: 100 };

  it('aborts nothing when the liveness probe finds the backend alive, and does not probe again at once', async () => {
    let probes = 0;
    let frozen = 0;
    const b = backend(0, [attempt(0, true, () => assert.fail('aborted a live backend'))]);
    const w = new StallWatch([b], settings, {
      probe: async () => {
        probes += 1;
        return true;
      },
      elsewhere: () => true,
      onFrozen: () => (frozen += 1),
      onRescued: () => {},
    });
    w.sweep(1_000);
    await new Promise((r) => setImmediate(r));
    w.sweep(1_050);
    await new Promise((r) => setImmediate(r));
    assert.equal(probes, 1);
    assert.equal(frozen, 0);
    w.stop();
  });

  it('ejects a frozen backend and aborts its repeatable attempts, one probe at a time', async () => {
    let probes = 0;
    let release: (alive: boolean) => void = () => {};
    const aborted: number[] = [];
    const b = backend(0, [attempt(0, true, () => aborted.push(1)), attempt(0, false, () => aborted.push(2))]);
    const events: string[] = [];
    const w = new StallWatch([b], settings, {
      probe: () => {
        probes += 1;
        return new Promise<boolean>((r) => (release = r));
      },
      elsewhere: () => true,
      onFrozen: () => events.push('frozen'),
      onRescued: (_b, n) => events.push(`rescued ${n}`),
    });
    w.sweep(1_000);
    w.sweep(1_050); // the first probe is still running: no second one
    assert.equal(probes, 1);
    release(false);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(events, ['frozen', 'rescued 1']);
    assert.deepEqual(aborted, [1]);
    w.stop();
  });

  it('never ejects a backend no other could stand in for: neither probed nor aborted while alone, and not ejected when the others went during its probe', async () => {
    let probes = 0;
    let others = false;
    let release: (alive: boolean) => void = () => {};
    const b = backend(0, [attempt(0, true, () => assert.fail('aborted the only backend'))]);
    const events: string[] = [];
    const w = new StallWatch([b], settings, {
      elsewhere: () => others,
      probe: () => {
        probes += 1;
        return new Promise<boolean>((r) => (release = r));
      },
      onFrozen: () => events.push('frozen'),
      onRescued: (_b, n) => events.push(`rescued ${n}`),
    });
    w.sweep(1_000);
    assert.equal(probes, 0, 'alone: not even probed');
    others = true;
    w.sweep(1_050);
    assert.equal(probes, 1);
    others = false;
    release(false);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(events, [], 'the others went while it was probed: kept');
    w.stop();
  });
});
