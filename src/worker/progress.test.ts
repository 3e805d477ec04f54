import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProgressMonitor } from './progress.js';

const bounds = { busyStallMs: 60_000, idleStallMs: 15_000 };

function workerAt(t0: number): ProgressMonitor {
  return new ProgressMonitor(bounds, 4, t0);
}

describe('ProgressMonitor', () => {
  it('an idle worker with an empty queue is fine however long it waits', () => {
    const m = workerAt(0);
    m.sampleWaiting(0, 100_000);
    assert.equal(m.verdict(1_000_000).ok, true);
  });

  it('a worker finishing jobs is fine', () => {
    const m = workerAt(0);
    m.started(1_000);
    m.finished(1_010);
    m.started(50_000);
    assert.equal(m.verdict(100_000).ok, true);
  });

  it('a worker holding a job with no progress past the bound is stuck', () => {
    const m = workerAt(0);
    m.started(1_000);
    assert.equal(m.verdict(60_000).ok, true);
    const v = m.verdict(61_001);
    assert.equal(v.ok, false);
    assert.match(v.detail, /1 job\(s\) held/);
  });

  it('jobs waiting while this worker takes none: stuck after the bound (a dead connection)', () => {
    const m = workerAt(0);
    m.sampleWaiting(5, 1_000);
    m.sampleWaiting(7, 10_000);
    assert.equal(m.verdict(15_000).ok, true);
    m.sampleWaiting(9, 16_500);
    assert.equal(m.verdict(16_500).ok, false);
  });

  it('a brief failover (waiting count unreadable, then jobs taken again) is not stuck', () => {
    const m = workerAt(0);
    m.sampleWaiting(5, 1_000);
    m.sampleWaiting(undefined, 4_000);
    m.sampleWaiting(3, 12_000);
    m.started(13_000);
    m.finished(13_010);
    assert.equal(m.verdict(20_000).ok, true);
  });

  it('a worker whose slots are all busy is not blamed for waiting jobs', () => {
    const m = new ProgressMonitor(bounds, 1, 0);
    m.started(500);
    m.sampleWaiting(10, 1_000);
    assert.equal(m.verdict(30_000).ok, true);
  });
});
