import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyDbError, isFencedRefusal, isReadOnlyTransactionError, isSessionControlSql } from './errors.js';

describe('read path guards', () => {
  it('recognises the server refusing a write in a read-only session', () => {
    assert.equal(isReadOnlyTransactionError({ code: 'ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION', errno: 1792 }), true);
    assert.equal(isReadOnlyTransactionError({ errno: 1792 }), true);
    assert.equal(isReadOnlyTransactionError({ errno: 1290 }), false, 'read_only (a replica) is a different refusal');
    // Not retried as a connection problem: the statement itself is wrong for the read path.
    assert.equal(classifyDbError({ errno: 1792 }), 'other');
  });
  it('refuses statements that could change the read-only session, and nothing else', () => {
    for (const sql of [
      'SET SESSION tx_read_only = 0',
      '  set @@tx_read_only=0',
      'START TRANSACTION READ WRITE',
      'begin',
      'CALL p()',
      'LOCK TABLES t WRITE',
      'USE other',
      'XA START 1',
    ]) {
      assert.equal(isSessionControlSql(sql), true, sql);
    }
    for (const sql of ['SELECT 1', 'WITH x AS (SELECT 1) SELECT * FROM x', 'INSERT INTO t VALUES (1)', 'SELECT settings FROM t', 'UPDATE t SET a = 1']) {
      assert.equal(isSessionControlSql(sql), false, `${sql} goes to the server (which refuses writes)`);
    }
  });
});

describe('classifyDbError', () => {
  it('takes a fenced primary refusing the app (max_user_connections=-1) as a connection problem: find the writer again', () => {
    assert.equal(classifyDbError({ code: 'ER_TOO_MANY_USER_CONNECTIONS', errno: 1203, fatal: true }), 'connection');
    assert.equal(classifyDbError({ errno: 1203 }), 'connection');
    assert.equal(isFencedRefusal({ errno: 1203 }), true);
    assert.equal(isFencedRefusal({ errno: 1040 }), false, 'too many connections overall is not a fence');
  });
});
