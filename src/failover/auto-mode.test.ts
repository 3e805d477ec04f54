import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { afterHeldFailover } from './auto-mode.js';

const FENCE_RETRY_BUDGET_MS = 30_000;

describe('afterHeldFailover: a failover that changed nothing, retried or the automatic mode off', () => {
  it('a failing fence is retried from its first failure for the budget, then the mode goes off', () => {
    const first = afterHeldFailover('FENCE_FAILED', undefined, 1_000, FENCE_RETRY_BUDGET_MS);
    assert.deepEqual(first, { next: 'retry', failingSince: 1_000 });
    assert.deepEqual(afterHeldFailover('FENCE_FAILED', 1_000, 1_000 + FENCE_RETRY_BUDGET_MS - 1, FENCE_RETRY_BUDGET_MS), { next: 'retry', failingSince: 1_000 });
    assert.deepEqual(afterHeldFailover('FENCE_FAILED', 1_000, 1_000 + FENCE_RETRY_BUDGET_MS, FENCE_RETRY_BUDGET_MS), { next: 'off', attemptsForMs: FENCE_RETRY_BUDGET_MS });
  });

  it('a refused plan (no replica holds every acknowledged commit) waits as long as it lasts, and keeps a fence streak as it was', () => {
    for (const code of ['FAILOVER_REFUSED', 'DATA_LOSS_REFUSED']) {
      assert.deepEqual(afterHeldFailover(code, undefined, 10 * FENCE_RETRY_BUDGET_MS, FENCE_RETRY_BUDGET_MS), { next: 'retry', failingSince: undefined });
      assert.deepEqual(afterHeldFailover(code, 5, 10 * FENCE_RETRY_BUDGET_MS, FENCE_RETRY_BUDGET_MS), { next: 'retry', failingSince: 5 });
    }
  });
});
