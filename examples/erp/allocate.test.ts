import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allocate, describeShortage, type Balance } from './allocate.js';

const stock = (...rows: Array<[string, string, number]>): Balance[] => rows.map(([sku, warehouse, onHand]) => ({ sku, warehouse, onHand }));

describe('stock allocation per warehouse', () => {
  it('takes each line from the warehouse with the most on hand', () => {
    const r = allocate(
      [
        { sku: 'A', qty: 2 },
        { sku: 'B', qty: 1 },
      ],
      stock(['A', 'MAIN', 5], ['A', 'EAST', 9], ['B', 'MAIN', 1]),
    );
    assert.deepEqual(r, {
      ok: true,
      allocations: [
        { sku: 'A', qty: 2, warehouse: 'EAST' },
        { sku: 'B', qty: 1, warehouse: 'MAIN' },
      ],
    });
  });

  it('breaks ties by warehouse code, so every app server decides the same', () => {
    const r = allocate([{ sku: 'A', qty: 1 }], stock(['A', 'WEST', 4], ['A', 'EAST', 4]));
    assert.deepEqual(r, { ok: true, allocations: [{ sku: 'A', qty: 1, warehouse: 'EAST' }] });
  });

  it('never splits a line: short when no single warehouse covers it', () => {
    const r = allocate([{ sku: 'A', qty: 6 }], stock(['A', 'MAIN', 5], ['A', 'EAST', 5]));
    assert.deepEqual(r, { ok: false, short: [{ sku: 'A', wanted: 6, available: 5 }] });
  });

  it('uses only the named warehouse when the order names one', () => {
    assert.deepEqual(allocate([{ sku: 'A', qty: 3 }], stock(['A', 'MAIN', 2], ['A', 'EAST', 9]), 'MAIN'), { ok: false, short: [{ sku: 'A', wanted: 3, available: 2 }] });
    assert.deepEqual(allocate([{ sku: 'A', qty: 2 }], stock(['A', 'MAIN', 2], ['A', 'EAST', 9]), 'MAIN'), { ok: true, allocations: [{ sku: 'A', qty: 2, warehouse: 'MAIN' }] });
  });

  it('an item with no stock anywhere is short with 0 available, and the whole order is refused', () => {
    const r = allocate(
      [
        { sku: 'A', qty: 1 },
        { sku: 'B', qty: 1 },
      ],
      stock(['A', 'MAIN', 1]),
    );
    assert.equal(r.ok, false);
    assert.equal(describeShortage(r.ok ? [] : r.short), 'B (wanted 1, have 0)');
  });

  it('allows taking the last unit (balance reaches exactly 0)', () => {
    assert.equal(allocate([{ sku: 'A', qty: 1 }], stock(['A', 'MAIN', 1])).ok, true);
    assert.equal(allocate([{ sku: 'A', qty: 1 }], stock(['A', 'MAIN', 0])).ok, false);
  });
});
