import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterEvent } from '../shared/events.js';
import { isHistoryEvent } from './events.js';

const step = (message: string, data: Record<string, unknown>): ClusterEvent => ({ ts: '2026-12-05T10:00:00.000Z', type: 'step', message, data });

describe('hastack history', () => {
  it('shows one line per restore (its outcome) and a failed step, not every step', () => {
    assert.equal(isHistoryEvent(step('restore rs-1: writes stopped on primary', { op: 'restore-cluster', step: 'stop-writes' })), false);
    assert.equal(isHistoryEvent(step('restore rs-1: build failed: disk full', { op: 'restore-cluster', step: 'build' })), true);
    assert.equal(isHistoryEvent(step('restore rs-1: done: cluster c is at 0-1-9', { op: 'restore-cluster', step: 'done' })), true);
    assert.equal(isHistoryEvent(step('replaying 12 transactions', { op: 'restore-pitr', step: 'replay' })), false);
    assert.equal(isHistoryEvent(step('restored to 0-1-9', { op: 'restore-pitr', step: 'restored' })), true);
    assert.equal(isHistoryEvent(step('backup b verified: restores, 9 checks passed', { op: 'restore-verify', step: 'verified' })), true);
    assert.equal(isHistoryEvent({ ts: '2026-12-05T10:00:00.000Z', type: 'failover.done', message: 'failover f done' }), true);
  });
});
