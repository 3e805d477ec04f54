import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reportKeyOf, underReorderLevel } from './reorder.js';

describe('ERP reorder report', () => {
  it('keys a report by its schedule tick, the same for every re-run of the tick', () => {
    assert.equal(reportKeyOf('tick-reorder-report-1700000000000'), 'reorder-report@2023-11-14T22:13:20.000Z');
    assert.equal(reportKeyOf('tick-reorder-report-1700000000000'), reportKeyOf('tick-reorder-report-1700000000000'));
    assert.notEqual(reportKeyOf('tick-reorder-report-1700000000000'), reportKeyOf('tick-reorder-report-1700000060000'));
    // A job enqueued by hand keeps its own id.
    assert.equal(reportKeyOf('manual-1'), 'manual-1');
  });

  it('lists items strictly under a non-zero reorder level, by sku', () => {
    const lines = underReorderLevel([
      { sku: 'B', stockOnHand: 2, reorderLevel: 5 },
      { sku: 'A', stockOnHand: 0, reorderLevel: 1 },
      { sku: 'C', stockOnHand: 5, reorderLevel: 5 },
      { sku: 'D', stockOnHand: 0, reorderLevel: 0 },
    ]);
    assert.deepEqual(
      lines.map((l) => l.sku),
      ['A', 'B'],
    );
  });
});
