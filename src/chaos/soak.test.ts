import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { median, notWhole, soakStats, soakTable, type SoakFigures } from './soak.js';

const run = (first: number | null, gap: number, over: Partial<SoakFigures> = {}): SoakFigures => ({
  firstWriteAfterFaultMs: first,
  longestWriteGapMs: gap,
  lostWrites: 0,
  duplicateWrites: 0,
  twoPrimaryRounds: 0,
  ...over,
});

describe('chaos soak statistics', () => {
  it('median: the middle value, or the rounded mean of the two middle ones; null when empty', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 3);
    assert.equal(median([1000, 1001]), 1001);
    assert.equal(median([7]), 7);
    assert.equal(median([]), null);
  });
  it('medians and maxima over the runs, sums of the broken promises', () => {
    const s = soakStats([run(2_100, 2_500), run(2_900, 3_100, { lostWrites: 1 }), run(4_800, 5_200, { duplicateWrites: 2, twoPrimaryRounds: 1 })]);
    assert.deepEqual(s, {
      runs: 3,
      medianFirstWriteAfterFaultMs: 2_900,
      maxFirstWriteAfterFaultMs: 4_800,
      runsWithoutWriteAfterFault: 0,
      medianLongestWriteGapMs: 3_100,
      maxLongestWriteGapMs: 5_200,
      lostWrites: 1,
      duplicateWrites: 2,
      twoPrimaryRounds: 1,
    });
  });
  it('a run with no acknowledged write after the fault is counted, not taken as 0 ms', () => {
    const s = soakStats([run(null, 20_000), run(3_000, 3_500)]);
    assert.equal(s.medianFirstWriteAfterFaultMs, 3_000);
    assert.equal(s.maxFirstWriteAfterFaultMs, 3_000);
    assert.equal(s.runsWithoutWriteAfterFault, 1);
    assert.equal(s.maxLongestWriteGapMs, 20_000);
    assert.match(soakTable([run(null, 20_000), run(3_000, 3_500)], s), /1 run\(s\) saw no acknowledged write after the fault/);
  });
  it('no runs: no figures', () => {
    const s = soakStats([]);
    assert.equal(s.medianFirstWriteAfterFaultMs, null);
    assert.equal(s.maxLongestWriteGapMs, null);
    assert.equal(s.lostWrites, 0);
  });
  it('the table has one line per run and the summary', () => {
    const runs = [run(2_100, 2_500), run(2_900, 3_100)];
    const t = soakTable(runs, soakStats(runs)).split('\n');
    assert.equal(t.length, 1 + 2 + 3);
    assert.match(t[3] ?? '', /median: first write 2500 ms, write gap 2800 ms/);
    assert.match(t[4] ?? '', /max: {4}first write 2900 ms, write gap 3100 ms/);
  });
});

describe('a cluster whole enough for the next run', () => {
  it('a fenced old primary (replicating from nobody) and a primary without semi-sync are not', () => {
    const db = (role: string, detail: string): { service: string; role: string; detail: string } => ({ service: 'mariadb', role, detail });
    assert.equal(notWhole(db('replica', 'read-only, replicating from nobody (fenced, or waiting to be pointed at a primary)'), true), true);
    assert.equal(notWhole(db('replica', 'replica of 10.0.0.1:3306, io running, sql running, 0 s behind, gtid 0-1-5'), true), false);
    assert.equal(notWhole(db('replica', 'replica of 10.0.0.1:3306, io running, sql running, 12 s behind, gtid 0-1-5'), true), true);
    assert.equal(notWhole(db('replica', 'replica of 10.0.0.1:3306, io connecting, sql running, lag unknown, gtid 0-1-5'), true), true);
    assert.equal(notWhole(db('primary', 'writable, gtid 0-1-5, semi-sync off'), true), true);
    assert.equal(notWhole(db('primary', 'writable, gtid 0-1-5, semi-sync on, 1 semi-sync replica(s)'), true), false);
    assert.equal(notWhole(db('primary', 'writable, gtid 0-1-5, semi-sync off'), false), false);
    assert.equal(notWhole({ service: 'redis', role: 'master', detail: 'replicating from nobody' }, true), false);
  });
});
