import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterEvent } from '../../shared/events.js';
import { EjectionTracker } from './ejections.js';

function cacheEvent(type: 'cache.ejected' | 'cache.rejoined', node: string, pid: number): ClusterEvent {
  return { ts: '2026-01-01T00:00:00.000Z', type, message: `${node} ${type}`, node, service: 'memcached', data: { pid } };
}

describe('EjectionTracker', () => {
  it('a node ejected by one client is out until that client takes it back', () => {
    const t = new EjectionTracker();
    t.apply([cacheEvent('cache.ejected', 'cache1', 10)]);
    assert.deepEqual(t.ejected(), ['cache1']);
    t.apply([cacheEvent('cache.rejoined', 'cache1', 10)]);
    assert.deepEqual(t.ejected(), []);
  });

  it('stays out while another client still has it ejected', () => {
    const t = new EjectionTracker();
    t.apply([cacheEvent('cache.ejected', 'cache1', 10), cacheEvent('cache.ejected', 'cache1', 11), cacheEvent('cache.rejoined', 'cache1', 10)]);
    assert.deepEqual(t.ejected(), ['cache1']);
  });

  it('ignores other events, and forgets the ejections of clients that died', () => {
    const t = new EjectionTracker();
    t.apply([{ ts: 'x', type: 'service.exited', message: 'm', node: 'cache2' }, cacheEvent('cache.ejected', 'cache2', 42)]);
    assert.deepEqual(t.ejected(), ['cache2']);
    t.forgetPids((pid) => pid !== 42);
    assert.deepEqual(t.ejected(), []);
  });
});
