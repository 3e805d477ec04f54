import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectedReplicas } from './queue.js';

describe('the replicas a master lists in ROLE (no WAIT when there are none)', () => {
  it('counts the replicas of a master', () => {
    assert.equal(connectedReplicas(['master', 3129, [['10.0.0.2', '6379', '3129']]]), 1);
    assert.equal(connectedReplicas(['master', 3129, []]), 0);
  });
  it('anything else is unknown (WAIT decides)', () => {
    assert.equal(connectedReplicas(['slave', '10.0.0.1', 6379, 'connected', 3129]), undefined);
    assert.equal(connectedReplicas(null), undefined);
    assert.equal(connectedReplicas(['master', 1]), undefined);
  });
});
