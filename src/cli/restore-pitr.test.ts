import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseStop } from './restore-pitr.js';

describe('restore --to-time / --to-gtid / --latest', () => {
  it('a time without a zone is UTC, to the second', () => {
    assert.deepEqual(parseStop({ toTime: '2026-12-04 14:05:07' }), { kind: 'time', unixS: Date.UTC(2026, 11, 4, 14, 5, 7) / 1000 });
    assert.deepEqual(parseStop({ toTime: '2026-12-04T15:05:07.900+01:00' }), { kind: 'time', unixS: Date.UTC(2026, 11, 4, 14, 5, 7) / 1000 });
  });
  it('one GTID, or latest, or nothing (plain --verify)', () => {
    assert.deepEqual(parseStop({ toGtid: '0-2-379' }), { kind: 'gtid', gtid: { domain: 0, server: 2, seq: 379 } });
    assert.deepEqual(parseStop({ latest: true }), { kind: 'latest' });
    assert.equal(parseStop({}), undefined);
  });
  it('refuses what it cannot read, naming the flag', () => {
    assert.throws(() => parseStop({ toTime: 'yesterday' }), /--to-time/);
    assert.throws(() => parseStop({ toGtid: '0-1-2,1-1-3' }), /one GTID/);
    assert.throws(() => parseStop({ toGtid: 'x' }), /one GTID/);
    assert.throws(() => parseStop({ toTime: '2026-12-04T00:00:00Z', latest: true }), /one of/);
  });
});
