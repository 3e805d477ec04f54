import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import HashRing from 'hashring';
import { CacheRing } from './ring.js';

const keys = Array.from({ length: 20_000 }, (_, i) => `item:${i}`);
const three = ['127.0.60.1:11211', '127.0.60.2:11211', '127.0.60.3:11211'];

function countBy(ring: CacheRing, usable?: (n: string) => boolean): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) {
    const n = ring.nodeFor(k, usable) ?? 'none';
    m.set(n, (m.get(n) ?? 0) + 1);
  }
  return m;
}

describe('CacheRing', () => {
  it('spreads keys roughly evenly over equal nodes', () => {
    const counts = countBy(new CacheRing(three));
    assert.equal(counts.size, 3);
    for (const [node, n] of counts) {
      const share = n / keys.length;
      // 160 points per node keep each share within a few percent of 1/3.
      assert.ok(share > 0.25 && share < 0.42, `${node} got ${(share * 100).toFixed(1)}%`);
    }
  });

  it('is deterministic: two rings over the same nodes agree on every key', () => {
    const a = new CacheRing(three);
    const b = new CacheRing([...three]);
    for (const k of keys) assert.equal(a.nodeFor(k), b.nodeFor(k));
  });

  it('a skipped node only moves its own keys, each to the node hashring.remove would give', () => {
    const ring = new CacheRing(three);
    const gone = three[1] ?? '';
    const removed = new HashRing(three).remove(gone);
    let moved = 0;
    for (const k of keys) {
      const before = ring.nodeFor(k);
      const after = ring.nodeFor(k, (n) => n !== gone);
      if (before !== gone) assert.equal(after, before, `${k} moved from a live node`);
      else moved++;
      assert.notEqual(after, gone);
      assert.equal(after, removed.get(k));
    }
    assert.ok(moved > keys.length / 5, 'the skipped node owned a fair share');
  });

  it('returns undefined when the ring is empty or no node is usable', () => {
    assert.equal(new CacheRing([]).nodeFor('k'), undefined);
    assert.equal(
      new CacheRing(three).nodeFor('k', () => false),
      undefined,
    );
  });

  it('with one node usable, every key goes there', () => {
    const only = three[2] ?? '';
    const counts = countBy(new CacheRing(three), (n) => n === only);
    assert.deepEqual([...counts.keys()], [only]);
  });
});
