import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { benchCounts } from './bench.js';

describe('benchCounts', () => {
  it('takes a positive --name N over the default and ignores anything else', () => {
    const d = { rounds: 6, keys: 3_000, ms: 100 };
    assert.deepEqual(benchCounts(d, ['node', 'x', '--rounds', '2', '--keys', '-5', '--ms', 'abc']), { rounds: 2, keys: 3_000, ms: 100 });
    assert.deepEqual(benchCounts(d, ['node', 'x']), d);
  });
});
