import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { choosePrimary, type NodeProbe } from './discovery.js';
import { classifyDbError, isDuplicateKeyError, isReadOnlySql } from './errors.js';

const up = (id: string, readOnly: boolean): NodeProbe => ({ id, reachable: true, readOnly });
const down = (id: string): NodeProbe => ({ id, reachable: false, error: 'ECONNREFUSED' });

function primaryDeadReplicaPromoted(): NodeProbe[] {
  return [down('db1'), up('db2', false)];
}
function failoverInProgress(): NodeProbe[] {
  return [down('db1'), up('db2', true)];
}
function healthyPair(): NodeProbe[] {
  return [up('db1', false), up('db2', true)];
}
function splitBrain(): NodeProbe[] {
  return [up('db1', false), up('db2', false)];
}

describe('choosePrimary', () => {
  it('picks the writable node of a healthy pair', () => {
    assert.equal(choosePrimary(healthyPair(), undefined).primary, 'db1');
  });
  it('follows a promotion', () => {
    const c = choosePrimary(primaryDeadReplicaPromoted(), 'db1');
    assert.equal(c.primary, 'db2');
  });
  it('finds none while only read-only nodes answer, and says why', () => {
    const c = choosePrimary(failoverInProgress(), 'db1');
    assert.equal(c.primary, undefined);
    assert.match(c.reason, /db1: ECONNREFUSED; db2: read_only/);
  });
  it('keeps the current primary when several are writable, and flags it', () => {
    const c = choosePrimary(splitBrain(), 'db2');
    assert.equal(c.primary, 'db2');
    assert.equal(c.multipleWritable, true);
  });
});

describe('classifyDbError', () => {
  it('sorts mysql2 errors into retry classes', () => {
    assert.equal(classifyDbError({ code: 'ECONNREFUSED' }), 'connection');
    assert.equal(classifyDbError({ code: 'PROTOCOL_CONNECTION_LOST', fatal: true }), 'connection');
    assert.equal(classifyDbError({ code: 'ER_SOMETHING', fatal: true }), 'connection');
    assert.equal(classifyDbError({ code: 'ER_OPTION_PREVENTS_STATEMENT', errno: 1290 }), 'read-only');
    assert.equal(classifyDbError({ code: 'ER_LOCK_DEADLOCK', errno: 1213 }), 'deadlock');
    assert.equal(classifyDbError({ code: 'ER_DUP_ENTRY', errno: 1062 }), 'other');
    assert.equal(classifyDbError(new Error('x')), 'other');
    assert.equal(classifyDbError(undefined), 'other');
  });
  it('recognises duplicate keys and read-only SQL', () => {
    assert.equal(isDuplicateKeyError({ code: 'ER_DUP_ENTRY', errno: 1062 }), true);
    assert.equal(isDuplicateKeyError({ code: 'ER_NO_SUCH_TABLE' }), false);
    assert.equal(isReadOnlySql('  select 1'), true);
    assert.equal(isReadOnlySql('SELECT * FROM t FOR UPDATE'), false);
    assert.equal(isReadOnlySql('INSERT INTO t VALUES (1)'), false);
  });
});
