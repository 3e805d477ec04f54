import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { outcomeOfError, outcomeOfStatus } from './attempt-outcome.js';
import { attemptStats, checkAttempts } from './attempt-stats.js';
import { checkAvailability, checkRun, checkWrites } from './checkers.js';
import type { FinalOrder, FinalState } from './final-state.js';
import type { Attempt, AttemptOutcome, History, Operation } from './history.js';
import { NAIVE_CLIENTS, clientRole, defaultReaders, naiveCount, readerCount } from './workload.js';

// Hand-made histories (checkers.test.ts style): an operation and its attempts' outcomes.
function tries(start: number, ...outcomes: AttemptOutcome[]): Attempt[] {
  return outcomes.map((outcome, i) => ({ at: start + i * 10, ms: 5, outcome, ...(outcome === '5xx' ? { status: 502 } : {}) }));
}
function op(p: Partial<Operation> & Pick<Operation, 'kind' | 'start' | 'end' | 'ok'>, ...outcomes: AttemptOutcome[]): Operation {
  const t = outcomes.length > 0 ? outcomes : [p.ok ? 'ok' : '5xx'];
  return { client: 0, attempts: t.length, tries: tries(p.start, ...(t as AttemptOutcome[])), ...p };
}
function history(ops: Operation[], fault?: [number, number]): History {
  return { startedAt: '2026-01-01T00:00:00Z', durationMs: 10_000, ops, faults: fault ? [{ description: 'kill lb1', injectedAt: fault[0], healedAt: fault[1] }] : [] };
}
function state(keys: string[]): FinalState {
  const orders: FinalOrder[] = keys.map((k, i) => ({ id: i + 1, idempotencyKey: k, customer: k, status: 'confirmed' }));
  return { orders, stock: [], jobRuns: new Map(orders.map((o) => [o.id, 1])) };
}

describe('attempt outcomes', () => {
  it('sorts errors by whether the request was sent', () => {
    assert.equal(outcomeOfError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), 'unreached');
    assert.equal(outcomeOfError(Object.assign(new Error('Connect Timeout Error'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), 'unreached');
    assert.equal(outcomeOfError(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' })), 'reset');
    assert.equal(outcomeOfError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })), 'reset');
    assert.equal(outcomeOfError(Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' })), 'timeout');
    assert.equal(outcomeOfError(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), 'timeout');
    // fetch-style wrapping: the code is on the cause.
    assert.equal(outcomeOfError(new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) })), 'unreached');
    assert.equal(outcomeOfError('something odd'), 'reset');
  });
  it('sorts answers by status', () => {
    assert.equal(outcomeOfStatus(201, true), 'ok');
    assert.equal(outcomeOfStatus(409, true), 'ok');
    assert.equal(outcomeOfStatus(503, false), '5xx');
    assert.equal(outcomeOfStatus(404, false), 'answered');
  });
});

describe('attempt stats', () => {
  it('counts first-attempt successes, retried ops, client-visible errors and the longest op', () => {
    const s = attemptStats([
      op({ kind: 'read-item', start: 0, end: 5, ok: true }),
      // refused (never sent) then ok on the next load balancer: retried, nothing visible
      op({ kind: 'read-item', start: 10, end: 30, ok: true }, 'unreached', 'ok'),
      // a 502, a reset, then ok: two visible errors
      op({ kind: 'create-order', key: 'k1', start: 40, end: 400, ok: true }, '5xx', 'reset', 'ok'),
      // timed out three times: failed, three visible errors
      op({ kind: 'read-item', start: 500, end: 15_500, ok: false }, 'timeout', 'timeout', 'timeout'),
      // a 404 answer is not an error the stack made
      op({ kind: 'read-order', start: 600, end: 610, ok: false }, 'answered'),
    ]);
    assert.equal(s.ops, 5);
    assert.equal(s.firstAttemptAvailability, 0.2);
    assert.equal(s.retriedOps, 3);
    assert.equal(s.clientVisibleErrors, 5);
    assert.equal(s.maxOpLatencyMs, 15_000);
    assert.equal(s.naiveOps, 0);
    assert.equal(s.naiveAvailability, 1, 'no naive op: nothing failed');
    assert.deepEqual(s.outcomes, { ok: 3, answered: 1, '5xx': 1, unreached: 1, reset: 1, timeout: 3 });
  });

  it('splits by reads and writes, overall and during the fault; naive clients on their own ratio', () => {
    const h = history(
      [
        op({ kind: 'login', start: 0, end: 5, ok: true }),
        op({ kind: 'read-item', start: 100, end: 110, ok: true, naive: true }),
        op({ kind: 'read-item', start: 5_100, end: 5_110, ok: false, naive: true }, 'reset'),
        op({ kind: 'create-order', key: 'n1', start: 5_200, end: 5_300, ok: false, naive: true }, 'unreached', 'timeout'),
        op({ kind: 'create-order', key: 'r1', start: 5_400, end: 7_400, ok: true }, 'reset', 'ok'),
        op({ kind: 'read-item', start: 8_000, end: 8_010, ok: true, naive: true }, 'unreached', 'ok'),
      ],
      [5_000, 6_000],
    );
    const a = checkAttempts(h);
    assert.equal(a.overall.all.ops, 6);
    assert.equal(a.overall.all.naiveOps, 4);
    assert.equal(a.overall.all.naiveAvailability, 0.5);
    // The last read: refused on one address, answered on the next. The write refused then timed out: not one.
    assert.equal(a.overall.all.naiveFellOver, 1);
    assert.equal(a.overall.reads.naiveAvailability, 0.66667);
    assert.equal(a.overall.writes.ops, 2);
    assert.equal(a.overall.writes.clientVisibleErrors, 2);
    assert.equal(a.overall.writes.firstAttemptAvailability, 0);
    assert.equal(a.overall.writes.maxOpLatencyMs, 2_000);
    assert.equal(a.duringFault.all.ops, 3);
    assert.equal(a.duringFault.all.clientVisibleErrors, 3);
    assert.equal(a.duringFault.reads.naiveAvailability, 0);
    assert.equal(a.duringFault.all.maxOpLatencyMs, 2_000);
    // The retrying clients' availability leaves the naive ones out: 2 of 2.
    const av = checkAvailability(h);
    assert.equal(av.requests, 2);
    assert.equal(av.availability, 1);
  });

  it('counts the errors in flight on a killed node as it died, apart from any other', () => {
    const killed = { description: 'kill -9 node lb2', injectedAt: 5_000, healedAt: 9_000, killed: ['127.0.10.2'] };
    const on = (address: string, at: number, ms: number, outcome: AttemptOutcome): Attempt => ({ at, ms, outcome, address });
    const one = (t: Attempt): Operation => ({ kind: 'create-order', key: `k${t.at}`, client: 0, start: t.at, end: t.at + t.ms, ok: false, attempts: 1, tries: [t] });
    const ops = [
      // on lb2's connections, reset as it died: before the kill request returned, or just after
      one(on('127.0.10.2', 4_990, 8, 'reset')),
      one(on('127.0.10.2', 4_995, 100, 'reset')),
      one(on('127.0.10.2', 5_003, 30, 'reset')),
      // the same on the other balancer, or long before the kill: not the kill's
      one(on('127.0.10.1', 4_990, 8, 'reset')),
      one(on('127.0.10.2', 1_000, 8, 'reset')),
      // after the death: refused (never sent), or a reset long after, which no death explains
      one(on('127.0.10.2', 5_010, 1, 'unreached')),
      one(on('127.0.10.2', 7_000, 5, 'reset')),
      // a 5xx or a timeout is never the kill's
      one(on('127.0.10.2', 4_990, 8, '5xx')),
      one(on('127.0.10.2', 4_000, 1_005, 'timeout')),
    ];
    const s = attemptStats(ops, [killed]);
    assert.equal(s.clientVisibleErrors, 8);
    assert.equal(s.diedInFlight, 3);
    assert.equal(attemptStats(ops).diedInFlight, 0, 'no fault window, nothing to blame on one');
    assert.equal(checkAttempts({ ...history(ops), faults: [killed] }).overall.writes.diedInFlight, 3);
  });

  it('a reset the HTTP stack resent is counted apart: not an error anyone saw, and not one the kill left', () => {
    const killed = { description: 'kill -9 node lb2', injectedAt: 5_000, healedAt: 9_000, killed: ['127.0.10.2'] };
    const resent: Attempt = { at: 4_995, ms: 3, outcome: 'reset', address: '127.0.10.2', resent: true };
    const refused: Attempt = { at: 4_998, ms: 1, outcome: 'unreached', address: '127.0.10.2' };
    const answered: Attempt = { at: 4_999, ms: 20, outcome: 'ok', address: '127.0.10.1' };
    const ops: Operation[] = [
      // a naive client's order: resent on its own address (refused there), answered on the next one
      { kind: 'create-order', key: 'k1', client: 1, naive: true, start: 4_995, end: 5_019, ok: true, attempts: 3, tries: [resent, refused, answered] },
      // a reset on a new connection is final for a naive client: seen, and the kill's
      { kind: 'read-item', client: 1, naive: true, start: 4_990, end: 4_998, ok: false, attempts: 1, tries: [{ at: 4_990, ms: 8, outcome: 'reset', address: '127.0.10.2' }] },
    ];
    const s = attemptStats(ops, [killed]);
    assert.equal(s.resentAttempts, 1);
    assert.equal(s.clientVisibleErrors, 1);
    assert.equal(s.diedInFlight, 1);
    assert.equal(s.naiveAvailability, 0.5);
    assert.equal(s.naiveResent, 1, 'the order succeeded only through the resend');
    assert.equal(s.naiveFellOver, 1);
  });
});

describe('naive writes and the write checkers', () => {
  const h = history([
    // acknowledged and stored: fine
    op({ kind: 'create-order', key: 'a', orderId: 1, start: 0, end: 10, ok: true, naive: true }),
    // an error after the request went out: it landed (the answer was lost)...
    op({ kind: 'create-order', key: 'b', start: 20, end: 30, ok: false, naive: true }, 'reset'),
    // ...or it did not: either is a correct outcome, neither lost nor duplicated
    op({ kind: 'create-order', key: 'c', start: 40, end: 50, ok: false, naive: true }, 'timeout'),
    // a retrying client's write that spent its budget: unknown too
    op({ kind: 'create-order', key: 'd', start: 60, end: 20_060, ok: false }, '5xx', '5xx'),
  ]);

  it('an errored write is of unknown outcome: not lost when absent, not a duplicate when present', () => {
    const w = checkWrites(h, state(['a', 'b', 'd']));
    assert.equal(w.ackedWrites, 1);
    assert.equal(w.lostWrites, 0);
    assert.equal(w.duplicateWrites, 0);
    assert.equal(w.unknownWrites, 3);
    assert.equal(w.unknownWritesStored, 2);
    const r = checkRun('lb', () => true, h, state(['a', 'b', 'd']));
    assert.deepEqual(r.broken, []);
    assert.equal(r.report.naiveAvailability, 0.33333);
    assert.equal(r.report.naiveRequests, 3);
    assert.equal(r.report.clientVisibleErrors, 4);
  });

  it('an acknowledged naive write that is missing is lost all the same', () => {
    const w = checkWrites(h, state(['b']));
    assert.deepEqual(w.lostKeys, ['a']);
    assert.match(checkRun('lb', () => true, h, state(['b'])).broken.join(), /1 acknowledged order\(s\) lost/);
  });
});

describe('how many clients are naive', () => {
  it('2 by default, as asked otherwise, and at least one client always retries', () => {
    assert.equal(NAIVE_CLIENTS, 2);
    assert.equal(naiveCount(8), 2);
    assert.equal(naiveCount(8, 0), 0);
    assert.equal(naiveCount(8, 5), 5);
    assert.equal(naiveCount(2), 1);
    assert.equal(naiveCount(1), 0);
  });
});

describe('reader clients (browse only)', () => {
  it('a quarter of the clients by default, at least one', () => {
    assert.equal(defaultReaders(8), 2);
    assert.equal(defaultReaders(16), 4);
    assert.equal(defaultReaders(3), 1);
    assert.equal(readerCount(8), 2);
    assert.equal(readerCount(8, 2, 0), 0);
    assert.equal(readerCount(8, 0, 5), 5);
  });

  it('never a naive client, and at least one retrying client keeps the full mix (the writes)', () => {
    assert.equal(readerCount(8, 2, 7), 5);
    assert.equal(readerCount(2), 0);
    assert.equal(readerCount(3), 0);
    assert.equal(readerCount(4), 1);
    assert.equal(readerCount(3, 0), 1);
    assert.equal(readerCount(1), 0);
  });

  it('8 clients by default: ids 0-3 full mix, 4-5 readers, 6-7 naive (the retrying full-mix clients keep their ids and seeds)', () => {
    const roles = Array.from({ length: 8 }, (_, i) => clientRole(i, 8));
    assert.deepEqual(roles, ['full', 'full', 'full', 'full', 'reader', 'reader', 'naive', 'naive']);
    assert.deepEqual(
      Array.from({ length: 4 }, (_, i) => clientRole(i, 4, 0, 3)),
      ['full', 'reader', 'reader', 'reader'],
    );
  });
});
