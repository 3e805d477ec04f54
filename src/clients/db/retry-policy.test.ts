import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HastackError, ErrorCode } from '../../shared/errors.js';
import { createDbRetryPolicy, failureKind, mayHaveApplied, type DbFailure, type DbFailureKind, type DbPath, type DbPhase, type DbRetryDecision } from './retry-policy.js';

// random() = 0: the backoff is its floor, minDelayMs / 2 (25 ms at attempt 0), whatever the attempt.
const policy = createDbRetryPolicy({ random: () => 0 });
// random() = 1: the backoff is its cap for the attempt: 50, 100, 200, 400, 500, 500, ...
const ceiling = createDbRetryPolicy({ random: () => 1 });

function failure(kind: DbFailureKind, phase: DbPhase, path: DbPath, idempotent: boolean, over: Partial<DbFailure> = {}): DbFailure {
  return { kind, phase, path, idempotent, attempt: 0, now: 0, deadline: 10_000, closing: false, ...over };
}

const RETRY: DbRetryDecision = { action: 'retry', afterMs: 25 };

describe('db retry policy: what each failure leads to, with budget left', () => {
  // kind, phase, path, idempotent → decision. The rows are the promise: no lost write, no write applied twice.
  const table: ReadonlyArray<readonly [DbFailureKind, DbPhase, DbPath, boolean, DbRetryDecision['action']]> = [
    // Acquire: nothing was sent. Every failure to find or reach the node is retried...
    ['connection', 'acquire', 'write', false, 'retry'],
    ['router', 'acquire', 'write', false, 'retry'],
    ['read-only', 'acquire', 'write', false, 'retry'],
    ['deadlock', 'acquire', 'write', false, 'retry'],
    ['router', 'acquire', 'read', true, 'retry'],
    ['connection', 'acquire', 'read', true, 'retry'],
    // ...but not an error of the caller's own.
    ['other', 'acquire', 'write', false, 'rethrow'],
    ['other', 'acquire', 'read', true, 'rethrow'],
    ['read-only-session', 'acquire', 'write', false, 'rethrow'],
    // The read path's replica is behind the session: the primary answers at once.
    ['replica-behind', 'acquire', 'read', true, 'to-primary'],
    // Inside a transaction before COMMIT: a dropped connection rolls it all back.
    ['connection', 'statement', 'write', false, 'retry'],
    ['deadlock', 'statement', 'write', false, 'retry'],
    ['read-only', 'statement', 'write', false, 'retry'],
    ['other', 'statement', 'write', false, 'rethrow'],
    // The caller's callback threw one of our errors (a nested call that failed): it is theirs.
    ['router', 'statement', 'write', false, 'rethrow'],
    ['read-only-session', 'statement', 'write', false, 'rethrow'],
    // A statement a switchover's fence interrupted (KILL QUERY) rolled back; the transaction is run again.
    ['interrupted', 'statement', 'write', false, 'retry'],
    ['interrupted', 'acquire', 'write', false, 'retry'],
    // COMMIT, or a statement outside a transaction: a lost connection leaves the outcome unknown.
    ['connection', 'commit', 'write', false, 'outcome-unknown'],
    ['connection', 'commit', 'write', true, 'retry'],
    ['connection', 'autocommit', 'write', false, 'outcome-unknown'],
    ['connection', 'autocommit', 'write', true, 'retry'],
    // An interrupted COMMIT is unknown too; an interrupted autocommit statement answered, so it rolled back.
    ['interrupted', 'commit', 'write', false, 'outcome-unknown'],
    ['interrupted', 'commit', 'write', true, 'retry'],
    ['interrupted', 'autocommit', 'write', false, 'retry'],
    // A refusal or a deadlock at commit applied nothing.
    ['read-only', 'commit', 'write', false, 'retry'],
    ['deadlock', 'commit', 'write', false, 'retry'],
    ['read-only', 'autocommit', 'write', false, 'retry'],
    ['deadlock', 'autocommit', 'write', false, 'retry'],
    ['other', 'commit', 'write', true, 'rethrow'],
    ['other', 'autocommit', 'write', false, 'rethrow'],
    // The read path: a read on a read-only session, harmless to run again...
    ['connection', 'commit', 'read', true, 'retry'],
    ['deadlock', 'commit', 'read', true, 'retry'],
    ['interrupted', 'commit', 'read', true, 'retry'],
    ['other', 'commit', 'read', true, 'rethrow'],
    ['router', 'commit', 'read', true, 'rethrow'],
    // ...and a write that reached it is the caller's bug, whichever server refused it.
    ['read-only', 'commit', 'read', true, 'refuse-write'],
    ['read-only-session', 'commit', 'read', true, 'refuse-write'],
  ];
  for (const [kind, phase, path, idempotent, action] of table) {
    it(`${kind} during ${phase} on the ${path} path${idempotent ? ' (idempotent)' : ''}: ${action}`, () => {
      const d = policy.decide(failure(kind, phase, path, idempotent));
      assert.deepEqual(d, action === 'retry' ? RETRY : { action });
    });
  }
});

describe('db retry policy: backoff and budget', () => {
  it('backs off 50 ms doubling to a 500 ms cap (full jitter below the cap)', () => {
    const caps = [0, 1, 2, 3, 4, 5, 9].map((attempt) => ceiling.decide(failure('connection', 'acquire', 'write', false, { attempt })));
    assert.deepEqual(
      caps.map((d) => (d.action === 'retry' ? d.afterMs : d.action)),
      [50, 100, 200, 400, 500, 500, 500],
    );
  });

  it('gives up with DB_UNAVAILABLE once the next wait would end past the deadline', () => {
    assert.deepEqual(ceiling.decide(failure('connection', 'acquire', 'write', false, { now: 9_950, deadline: 10_000 })), { action: 'retry', afterMs: 50 });
    assert.deepEqual(ceiling.decide(failure('connection', 'acquire', 'write', false, { now: 9_951, deadline: 10_000 })), { action: 'give-up', error: 'unavailable' });
  });

  it('a zero budget (ping) never waits', () => {
    assert.deepEqual(policy.decide(failure('router', 'acquire', 'write', true, { now: 5, deadline: 5 })), { action: 'give-up', error: 'unavailable' });
  });

  it('a deadlock that outlasts the budget is thrown as the server said it', () => {
    assert.deepEqual(policy.decide(failure('deadlock', 'statement', 'write', false, { now: 10_000 })), { action: 'give-up', error: 'cause' });
  });

  it('a closing client starts no new attempt', () => {
    assert.deepEqual(policy.decide(failure('connection', 'statement', 'write', false, { closing: true })), { action: 'give-up', error: 'unavailable' });
  });

  it('the budget never turns an unknown outcome, a refusal or a caller error into a retry or a give-up', () => {
    const spent = { now: 20_000 };
    assert.deepEqual(policy.decide(failure('connection', 'commit', 'write', false, spent)), { action: 'outcome-unknown' });
    assert.deepEqual(policy.decide(failure('read-only', 'commit', 'read', true, spent)), { action: 'refuse-write' });
    assert.deepEqual(policy.decide(failure('other', 'statement', 'write', false, spent)), { action: 'rethrow' });
    assert.deepEqual(policy.decide(failure('replica-behind', 'acquire', 'read', true, spent)), { action: 'to-primary' });
  });
});

describe('failureKind', () => {
  const err = (code: string, errno?: number, fatal?: boolean): Error => Object.assign(new Error(code), { code, errno, fatal });
  it('sorts driver and server errors, the router own errors and read-only sessions', () => {
    assert.equal(failureKind(err('ECONNREFUSED')), 'connection');
    assert.equal(failureKind(err('PROTOCOL_CONNECTION_LOST', undefined, true)), 'connection');
    assert.equal(failureKind(err('ER_OPTION_PREVENTS_STATEMENT', 1290)), 'read-only');
    assert.equal(failureKind(err('ER_LOCK_DEADLOCK', 1213)), 'deadlock');
    assert.equal(failureKind(err('ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION', 1792)), 'read-only-session');
    assert.equal(failureKind(err('ER_DUP_ENTRY', 1062)), 'other');
    assert.equal(failureKind(err('ER_QUERY_INTERRUPTED', 1317)), 'interrupted');
    // KILL CONNECTION: the connection is gone, whatever the statement's own error said.
    assert.equal(failureKind(err('ER_QUERY_INTERRUPTED', 1317, true)), 'connection');
    assert.equal(failureKind(new HastackError(ErrorCode.DB_UNAVAILABLE, 'no writable MariaDB')), 'router');
    assert.equal(failureKind(new HastackError(ErrorCode.DB_SPLIT_BRAIN, 'two primaries')), 'router');
    assert.equal(failureKind(new Error('thrown by the caller')), 'other');
  });
});

describe('mayHaveApplied', () => {
  it('only a connection lost while a write on the primary was committing, or an interrupted COMMIT', () => {
    assert.equal(mayHaveApplied({ kind: 'connection', phase: 'commit', path: 'write' }), true);
    assert.equal(mayHaveApplied({ kind: 'connection', phase: 'autocommit', path: 'write' }), true);
    assert.equal(mayHaveApplied({ kind: 'interrupted', phase: 'commit', path: 'write' }), true);
    assert.equal(mayHaveApplied({ kind: 'interrupted', phase: 'autocommit', path: 'write' }), false);
    assert.equal(mayHaveApplied({ kind: 'connection', phase: 'statement', path: 'write' }), false);
    assert.equal(mayHaveApplied({ kind: 'connection', phase: 'acquire', path: 'write' }), false);
    assert.equal(mayHaveApplied({ kind: 'connection', phase: 'commit', path: 'read' }), false);
    assert.equal(mayHaveApplied({ kind: 'deadlock', phase: 'commit', path: 'write' }), false);
    assert.equal(mayHaveApplied({ kind: 'read-only', phase: 'commit', path: 'write' }), false);
  });
});
