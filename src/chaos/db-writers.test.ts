import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkWriters, galeraState, type WriterRound, type WriterState } from './db-writers.js';

const round = (at: number, nodes: Record<string, WriterState>): WriterRound => ({ at, nodes });

/** A partition of the primary handled right: the old one is down before the new one opens. */
function cleanFailover(): WriterRound[] {
  return [
    round(0, { db1: 'writable', db2: 'read-only' }),
    round(250, { db1: 'writable', db2: 'read-only' }),
    round(500, { db1: 'down', db2: 'read-only' }),
    round(750, { db1: 'down', db2: 'writable' }),
  ];
}

/** The old primary, cut off but alive, still writable when the replica is promoted. */
function splitBrain(): WriterRound[] {
  return [round(0, { db1: 'writable', db2: 'read-only' }), round(250, { db1: 'writable', db2: 'writable' }), round(500, { db1: 'down', db2: 'writable' })];
}

describe('checkWriters', () => {
  it('a fenced-then-promoted failover never has two writable nodes', () => {
    const c = checkWriters(cleanFailover(), 'replication');
    assert.equal(c.maxWritable, 1);
    assert.deepEqual(c.overlaps, []);
    assert.equal(c.rounds, 4);
  });

  it('flags the round in which the old and the new primary were both writable', () => {
    const c = checkWriters(splitBrain(), 'replication');
    assert.equal(c.maxWritable, 2);
    assert.deepEqual(c.overlaps, [{ at: 250, writable: ['db1', 'db2'] }]);
  });

  it('does not judge Galera, where the whole Primary component is writable, and counts the minority rounds', () => {
    const rounds = [round(0, { a: 'writable', b: 'writable', c: 'writable' }), round(250, { a: 'writable', b: 'writable', c: 'not-serving' })];
    const c = checkWriters(rounds, 'galera');
    assert.equal(c.maxWritable, 3);
    assert.deepEqual(c.overlaps, []);
    assert.deepEqual(c.notServing, { c: 1 });
  });
});

describe('galeraState', () => {
  it('a node outside the Primary component, or not ready, does not serve', () => {
    assert.equal(galeraState(false, 'OFF', 'non-Primary'), 'not-serving');
    assert.equal(galeraState(false, 'OFF', 'Primary'), 'not-serving');
    assert.equal(galeraState(false, 'ON', 'Primary'), 'writable');
    assert.equal(galeraState(true, 'ON', 'Primary'), 'read-only');
  });
});
