import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkAvailability,
  checkInvariants,
  checkJobs,
  checkReadLatency,
  checkRun,
  checkSessions,
  checkWrites,
  countStaleReads,
  EJECT_GRACE_MS,
  firstWriteAfterFaultMs,
  longestGapMs,
  percentile,
  recoveryMs,
  WARMUP_MS,
} from './checkers.js';
import type { FinalOrder, FinalState, FinalStock } from './final-state.js';
import { isRead, isWrite, type History, type Operation } from './history.js';

// Hand-made histories, named after the situation they show.
function op(p: Partial<Operation> & Pick<Operation, 'kind' | 'start' | 'end' | 'ok'>): Operation {
  return { client: 0, attempts: 1, ...p };
}
function write(key: string, orderId: number, start: number, end: number, ok = true, jobQueued = true): Operation {
  return op({ kind: 'create-order', key, orderId: ok ? orderId : undefined, start, end, ok, ...(ok ? { jobQueued } : {}) });
}
function read(start: number, end: number, ok = true): Operation {
  return op({ kind: 'read-item', start, end, ok });
}
function history(ops: Operation[], fault?: [number, number], durationMs = 10_000): History {
  return { startedAt: '2026-01-01T00:00:00Z', durationMs, ops, faults: fault ? [{ description: 'kill app1', injectedAt: fault[0], healedAt: fault[1] }] : [] };
}
function order(id: number, key: string, status = 'confirmed'): FinalOrder {
  return { id, idempotencyKey: key, customer: key, status };
}
function stock(sku: string, onHand: number, ledgerSum = onHand, minRunningBalance = 0): FinalStock {
  return { sku, onHand, ledgerSum, minRunningBalance };
}
function state(orders: FinalOrder[], jobRuns: Array<[number, number]> = orders.map((o) => [o.id, 1]), st: FinalStock[] = [stock('A', 5)]): FinalState {
  return { orders, stock: st, jobRuns: new Map(jobRuns) };
}

const cleanRun = (): History => history([write('chaos-1', 1, 0, 50), read(60, 70), write('chaos-2', 2, 100, 150), read(9_900, 9_950)], [5_000, 6_000]);

describe('availability', () => {
  it('counts ok and failed, overall and during the fault', () => {
    const h = history([read(0, 10), read(5_100, 5_200, false), read(5_300, 5_400), read(9_000, 9_100)], [5_000, 6_000]);
    const a = checkAvailability(h);
    assert.equal(a.requests, 4);
    assert.equal(a.failed, 1);
    assert.equal(a.availability, 0.75);
    assert.equal(a.availabilityDuringFault, 0.5);
  });
});

describe('gaps and recovery', () => {
  it('a write outage shows as the longest write gap, reads unaffected', () => {
    const ops = [
      write('chaos-1', 1, 0, 100),
      write('chaos-2', 2, 200, 2_000, false),
      write('chaos-3', 3, 2_500, 3_100),
      read(0, 10),
      read(1_000, 1_010),
      read(2_000, 2_010),
      read(3_000, 3_010),
    ];
    const h = history(ops, [150, 400], 3_200);
    assert.equal(longestGapMs(h, isWrite), 3_000);
    assert.equal(longestGapMs(h, isRead), 1_000);
    assert.equal(recoveryMs(h, isWrite), 3_100 - 150);
  });

  it('the gap to the end of the run counts (writes that never came back)', () => {
    const h = history([write('chaos-1', 1, 0, 100), write('chaos-2', 2, 200, 300, false)], [150, 400], 10_000);
    assert.equal(longestGapMs(h, isWrite), 9_900);
    assert.equal(recoveryMs(h, isWrite), null);
  });

  it('the login before the first read and a run that simply ended are no gap', () => {
    const h = history([write('chaos-1', 1, 600, 700), read(500, 520), read(700, 720), read(900, 910)], undefined, 10_000);
    assert.equal(longestGapMs(h, isRead), 200);
    assert.equal(longestGapMs(h, isWrite), 100);
    assert.equal(longestGapMs(history([], undefined, 1_000), isRead), 0);
  });

  it('a success just after the fault, then nothing until the end, is no recovery', () => {
    const h = history([write('chaos-1', 1, 0, 100), write('chaos-2', 2, 100, 1_035)], [1_000, 5_000], 10_000);
    assert.equal(recoveryMs(h, isWrite), null);
  });

  it('a request that finished just after the kill does not count as recovery', () => {
    const ops = [write('chaos-1', 1, 0, 900), write('chaos-2', 2, 1_001, 1_040), write('chaos-3', 3, 1_050, 6_000), write('chaos-4', 4, 6_010, 6_100)];
    const h = history(ops, [1_000, 5_000], 7_000);
    assert.equal(recoveryMs(h, isWrite), 5_000);
  });

  it('without an outage, recovery is the worst pause in the fault window', () => {
    const ops = [write('chaos-1', 1, 0, 900), write('chaos-2', 2, 950, 1_200), write('chaos-3', 3, 1_210, 1_500), write('chaos-4', 4, 1_600, 1_750)];
    const h = history(ops, [1_000, 2_000], 1_800);
    assert.equal(recoveryMs(h, isWrite), 300);
  });

  it('no fault, no recovery figure', () => {
    assert.equal(recoveryMs(history([read(0, 1)]), isRead), null);
  });
});

describe('writes', () => {
  it('a clean run loses nothing and stores nothing twice', () => {
    const w = checkWrites(cleanRun(), state([order(1, 'chaos-1'), order(2, 'chaos-2')]));
    assert.deepEqual([w.ackedWrites, w.lostWrites, w.duplicateWrites], [2, 0, 0]);
  });

  it('an acknowledged order missing afterwards is a lost write', () => {
    const w = checkWrites(cleanRun(), state([order(1, 'chaos-1')]));
    assert.equal(w.lostWrites, 1);
    assert.deepEqual(w.lostKeys, ['chaos-2']);
  });

  it('an unacknowledged order that is missing is not lost', () => {
    const h = history([write('chaos-1', 1, 0, 50), write('chaos-2', 2, 60, 90, false)]);
    assert.equal(checkWrites(h, state([order(1, 'chaos-1')])).lostWrites, 0);
  });

  it('one key stored twice is a duplicate, also when the app dropped the key', () => {
    const dupByKey = checkWrites(cleanRun(), state([order(1, 'chaos-1'), order(2, 'chaos-2'), order(3, 'chaos-2')]));
    assert.deepEqual(dupByKey.duplicateKeys, ['chaos-2']);
    const noKey: FinalOrder[] = [
      order(1, 'chaos-1'),
      { id: 2, idempotencyKey: null, customer: 'chaos-2', status: 'pending' },
      { id: 3, idempotencyKey: null, customer: 'chaos-2', status: 'pending' },
    ];
    assert.equal(checkWrites(cleanRun(), state(noKey)).duplicateWrites, 1);
  });
});

describe('invariants', () => {
  it('hold when on-hand equals the ledger and never went negative', () => {
    assert.equal(checkInvariants(state([], [], [stock('A', 3), stock('B', 0)])).invariantsOk, true);
  });
  it('break on a ledger mismatch or a negative balance', () => {
    const r = checkInvariants(state([], [], [stock('A', 3, 4), stock('B', 0, 0, -1)]));
    assert.equal(r.invariantsOk, false);
    assert.equal(r.violations.length, 2);
  });
});

describe('jobs', () => {
  it('a job never run for an acknowledged order is lost', () => {
    const j = checkJobs(cleanRun(), state([order(1, 'chaos-1'), order(2, 'chaos-2', 'pending')], [[1, 1]]));
    assert.equal(j.jobsAcked, 2);
    assert.equal(j.jobsLost, 1);
    assert.deepEqual(j.lostOrderIds, [2]);
  });
  it('a job the queue lost counts even when something else confirmed the order later', () => {
    const j = checkJobs(cleanRun(), state([order(1, 'chaos-1'), order(2, 'chaos-2', 'confirmed')], [[1, 1]]));
    assert.equal(j.jobsLost, 1);
    assert.equal(j.ordersStillPending, 0);
  });
  it('an order answered "deferred" promised no job: not acknowledged, not lost, but must not stay pending', () => {
    const h = history([write('chaos-1', 1, 0, 50), write('chaos-2', 2, 100, 150, true, false)], [5_000, 6_000]);
    const done = checkJobs(h, state([order(1, 'chaos-1'), order(2, 'chaos-2', 'confirmed')], [[1, 1]]));
    assert.equal(done.jobsAcked, 1);
    assert.equal(done.jobsLost, 0);
    const stuck = checkJobs(h, state([order(1, 'chaos-1'), order(2, 'chaos-2', 'pending')], [[1, 1]]));
    assert.equal(stuck.jobsLost, 0);
    assert.equal(stuck.ordersStillPending, 1);
  });
  it('a job run twice is reported as duplicated', () => {
    const j = checkJobs(
      cleanRun(),
      state(
        [order(1, 'chaos-1'), order(2, 'chaos-2')],
        [
          [1, 1],
          [2, 2],
        ],
      ),
    );
    assert.equal(j.jobsDuplicated, 1);
    assert.equal(j.jobsLost, 0);
  });
});

describe('the whole check', () => {
  it('a clean run breaks no promise and fills every report field', () => {
    const r = checkRun('app', () => true, cleanRun(), state([order(1, 'chaos-1'), order(2, 'chaos-2')]));
    assert.deepEqual(r.broken, []);
    for (const [k, v] of Object.entries(r.report)) assert.notEqual(v, undefined, k);
  });
  it('a lost write breaks a promise', () => {
    const r = checkRun('app', () => true, cleanRun(), state([order(1, 'chaos-1')]));
    assert.equal(r.broken.length, 1);
    assert.match(r.broken[0] ?? '', /lost/);
  });
});

describe('sessions', () => {
  it('a request answered 401 is a lost session and breaks the promise', () => {
    const h = history(
      [
        op({ kind: 'login', start: 0, end: 5, ok: true }),
        write('chaos-1', 1, 10, 20),
        op({ kind: 'create-order', key: 'chaos-2', start: 5_100, end: 5_110, ok: false, sessionLost: true }),
        op({ kind: 'login', start: 5_120, end: 5_130, ok: true }),
      ],
      [5_000, 6_000],
    );
    assert.deepEqual(checkSessions(h), { sessionsLost: 1, logins: 2 });
    const r = checkRun('app', () => true, h, state([order(1, 'chaos-1')]));
    assert.equal(r.report.sessionsLost, 1);
    assert.ok(
      r.broken.some((b) => /session/.test(b)),
      r.broken.join('; '),
    );
  });

  it('a clean run keeps every session', () => {
    const r = checkRun('app', () => true, cleanRun(), state([order(1, 'chaos-1'), order(2, 'chaos-2')]));
    assert.equal(r.report.sessionsLost, 0);
    assert.deepEqual(r.broken, []);
  });
});

describe('refused orders', () => {
  it('an order refused for want of stock is not an acknowledged write (it cannot be lost)', () => {
    const h = history([op({ kind: 'create-order', key: 'chaos-9', start: 0, end: 10, ok: true, refused: true })]);
    assert.deepEqual(checkWrites(h, state([])), {
      ackedWrites: 0,
      refusedWrites: 1,
      lostWrites: 0,
      lostKeys: [],
      duplicateWrites: 0,
      duplicateKeys: [],
      unknownWrites: 0,
      unknownWritesStored: 0,
    });
  });
});

describe('read p99', () => {
  it('nearest-rank percentile', () => {
    assert.equal(percentile([], 99), null);
    assert.equal(percentile([5], 99), 5);
    assert.equal(
      percentile(
        Array.from({ length: 100 }, (_, i) => i + 1),
        99,
      ),
      99,
    );
    assert.equal(
      percentile(
        Array.from({ length: 100 }, (_, i) => i + 1),
        50,
      ),
      50,
    );
  });

  /** n reads of `ms` each, starting every 10 ms from `from`. */
  const reads = (from: number, n: number, ms: number): Operation[] => Array.from({ length: n }, (_, i) => read(from + i * 10, from + i * 10 + ms));

  it('compares reads after the ejection grace with healthy reads before the fault', () => {
    const inject = WARMUP_MS + 2_000;
    const heal = inject + 10_000;
    // Slow reads during the warm-up (logins, cold caches) are not part of the healthy p99.
    const ops = [...reads(0, 100, 30), ...reads(WARMUP_MS, 200, 2), ...reads(inject + 2_000, 50, 40), ...reads(inject + 2_000 + EJECT_GRACE_MS, 200, 3)];
    const inject2 = inject + 2_000;
    const lat = checkReadLatency(history(ops, [inject2, heal + 2_000], 17_000));
    assert.equal(lat.healthyP99Ms, 2);
    // The slow reads right after the kill (before the ejection) count during the fault only.
    assert.equal(lat.duringFaultP99Ms, 40);
    assert.equal(lat.afterEjectP99Ms, 3);
    assert.equal(lat.afterEjectRatio, 1.5);
  });

  it('warns (does not break a promise) when the memcached scenario exceeds 2x', () => {
    const ops = [...reads(WARMUP_MS, 200, 2), ...reads(5_000 + EJECT_GRACE_MS, 200, 9)];
    const r = checkRun('memcached', () => true, history(ops, [5_000, 15_000], 17_000), state([]));
    assert.equal(r.report.readP99RatioAfterEject, 4.5);
    assert.deepEqual(r.broken, []);
    assert.equal(r.warnings.length, 1);
    // Other scenarios report the figures without judging them.
    assert.deepEqual(checkRun('app', () => true, history(ops, [5_000, 15_000], 17_000), state([])).warnings, []);
  });

  it('has no ratio when a window has too few reads', () => {
    assert.equal(checkReadLatency(history([...reads(0, 10, 2), ...reads(6_000, 10, 2)], [3_000, 13_000], 15_000)).afterEjectRatio, null);
  });
});

describe('first order after the fault', () => {
  it('counts only orders that started after the kill', () => {
    const h = history([write('chaos-1', 1, 4_990, 5_010), write('chaos-2', 2, 5_100, 5_200, false), write('chaos-3', 3, 5_300, 7_400)], [5_000, 15_000]);
    assert.equal(firstWriteAfterFaultMs(h), 2_400);
  });
  it('none after the kill: null', () => {
    assert.equal(firstWriteAfterFaultMs(history([write('chaos-1', 1, 4_990, 5_010)], [5_000, 6_000])), null);
  });
});

describe('db writers and stale reads in the verdict', () => {
  it('two writable primaries in one sampling round break the promise', () => {
    const writers = { rounds: 3, maxWritable: 2, overlaps: [{ at: 5_250, writable: ['primary', 'standby'] }], notServing: {} };
    const c = checkRun('partition-db-primary', isWrite, cleanRun(), state([order(1, 'chaos-1'), order(2, 'chaos-2')]), writers);
    assert.equal(c.report.twoPrimaryRounds, 1);
    assert.equal(c.report.maxWritableDbs, 2);
    assert.match(c.broken.join(';'), /two writable primaries at once in 1 sampling round\(s\) \(first at 5\.3 s: primary, standby\)/);
  });
  it('a run without sampling reports no writer count and breaks nothing', () => {
    const c = checkRun('app', () => true, cleanRun(), state([order(1, 'chaos-1'), order(2, 'chaos-2')]));
    assert.equal(c.report.maxWritableDbs, null);
    assert.deepEqual(c.broken, []);
  });
  it('a read-back answered 404 for an acknowledged order is a stale read; other failures are not', () => {
    const h = history([
      write('chaos-1', 1, 0, 50),
      op({ kind: 'read-order', start: 60, end: 70, ok: false, error: 'HTTP 404' }),
      op({ kind: 'read-order', start: 80, end: 90, ok: false, error: 'HTTP 503' }),
    ]);
    assert.equal(countStaleReads(h), 1);
    assert.match(checkRun('x', () => true, h, state([order(1, 'chaos-1')])).warnings.join(';'), /1 read\(s\) did not find an order/);
  });
});

describe('the records workload (chaos.workload: records)', () => {
  const rec = (key: string, id: number, start: number, end: number, ok = true): Operation =>
    op({ kind: 'create-record', key, orderId: ok ? id : undefined, start, end, ok, ...(ok ? { jobQueued: true } : {}) });
  const noStock: FinalStock[] = [];
  it("its writes and reads are counted as the ERP's are", () => {
    const h = history([rec('chaos-1', 1, 0, 50), op({ kind: 'read-record', start: 60, end: 70, ok: true, orderId: 1 }), op({ kind: 'read-recent', start: 80, end: 90, ok: true })]);
    assert.equal(h.ops.filter(isWrite).length, 1);
    assert.equal(h.ops.filter(isRead).length, 2);
    const c = checkRun('db-primary', isWrite, h, state([order(1, 'chaos-1', 'done')], [[1, 1]], noStock));
    assert.deepEqual(c.broken, []);
    assert.equal(c.report.ackedWrites, 1);
    assert.equal(c.report.jobsAcked, 1);
    assert.equal(c.report.invariantsOk, true);
  });
  it('a lost record, a record stored twice, a job never run and one left pending break the promises, named as records', () => {
    const h = history([rec('chaos-1', 1, 0, 50), rec('chaos-2', 2, 60, 90), rec('chaos-3', 3, 100, 150), rec('chaos-4', 4, 160, 200)]);
    const final = state(
      [order(2, 'chaos-2', 'pending'), order(3, 'chaos-3', 'done'), order(4, 'chaos-4', 'done'), order(5, 'chaos-4', 'done')],
      [
        [2, 0],
        [3, 0],
        [4, 1],
        [5, 1],
      ],
      noStock,
    );
    const c = checkRun('redis-master', isWrite, h, final);
    assert.equal(c.report.lostWrites, 1);
    assert.equal(c.report.duplicateWrites, 1);
    assert.equal(c.report.jobsLost, 2);
    assert.match(c.broken.join(';'), /1 acknowledged record\(s\) lost/);
    assert.match(c.broken.join(';'), /1 record\(s\) stored twice for one key/);
    assert.match(c.broken.join(';'), /1 acknowledged record\(s\) still pending/);
  });
  it('a read-back of an acknowledged record answered 404 is a stale read', () => {
    const h = history([rec('chaos-1', 1, 0, 50), op({ kind: 'read-record', start: 60, end: 70, ok: false, error: 'HTTP 404' })]);
    assert.equal(countStaleReads(h), 1);
    assert.match(checkRun('x', () => true, h, state([order(1, 'chaos-1', 'done')], [[1, 1]], noStock)).warnings.join(';'), /did not find a record/);
  });
});
