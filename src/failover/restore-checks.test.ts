import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareTables } from './restore-checks.js';

const items = { name: 'items', rows: 5, checksum: '111' };
const orders = { name: 'sales_orders', rows: 40, checksum: '222' };

describe('restored tables against the manifest', () => {
  it('exact stats that match pass', () => {
    const r = compareTables('app', [items, orders], [items, orders], true);
    assert.deepEqual(r.problems, []);
    assert.equal(r.checks.length, 2);
  });
  it('a missing table is broken', () => {
    assert.match(compareTables('app', [items, orders], [items], true).problems.join(), /app\.sales_orders is missing/);
  });
  it('a row count that differs is broken', () => {
    assert.match(compareTables('app', [orders], [{ ...orders, rows: 39 }], true).problems.join(), /39 rows after restore, 40 at backup time/);
  });
  it('a checksum that differs is broken', () => {
    assert.match(compareTables('app', [orders], [{ ...orders, checksum: '9' }], true).problems.join(), /CHECKSUM TABLE/);
  });
  it('stats from a primary are not compared, only presence', () => {
    const r = compareTables('app', [orders], [{ ...orders, rows: 41, checksum: '3' }], false);
    assert.deepEqual(r.problems, []);
  });
  it('a backup with no table at all is broken (it restores nothing usable)', () => {
    assert.match(compareTables('app', [], [], true).problems.join(), /no tables/);
  });
});
