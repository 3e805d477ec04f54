import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dueTicks, tickJobId, tickOf } from './schedules.js';

describe('schedule ticks', () => {
  it('every worker computes the same tick within a period, whatever its phase', () => {
    assert.equal(tickOf(5_000, 1_700_000_000_001), 1_700_000_000_000);
    assert.equal(tickOf(5_000, 1_700_000_004_999), 1_700_000_000_000);
    assert.equal(tickOf(5_000, 1_700_000_005_000), 1_700_000_005_000);
  });
  it('the previous tick is due too, for catch-up after an outage shorter than a period', () => {
    assert.deepEqual(dueTicks(10_000, 1_700_000_012_345), [1_700_000_000_000, 1_700_000_010_000]);
  });
  it('a tick has one stable job id that BullMQ accepts (no ":", not only digits)', () => {
    const id = tickJobId('sweep-pending-orders', 1_700_000_000_000);
    assert.equal(id, 'tick-sweep-pending-orders-1700000000000');
    assert.equal(id.includes(':'), false);
    assert.equal(tickJobId('sweep-pending-orders', 1_700_000_000_000), id);
  });
});
