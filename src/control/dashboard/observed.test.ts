import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServiceStatus } from '../status.js';
import { observedChanges } from './observed.js';

function s(node: string, service: string, role: string, healthy = true): ServiceStatus {
  return { node, service, address: '127.0.64.1', port: 1, pid: 1, role, healthy, restarts: 0 };
}

describe('observedChanges', () => {
  it('nothing when nothing moved', () => {
    const a = [s('redis1', 'redis', 'master'), s('redis2', 'redis', 'replica')];
    assert.deepEqual(observedChanges(a, a, 't'), []);
  });

  it('a Sentinel failover: the old master turns unhealthy, a replica becomes master', () => {
    const before = [s('redis1', 'redis', 'master'), s('redis2', 'redis', 'replica')];
    const after = [s('redis1', 'redis', 'redis', false), s('redis2', 'redis', 'master')];
    const ev = observedChanges(before, after, 't');
    assert.deepEqual(
      ev.map((e) => [e.type, e.message]),
      [
        ['health.changed', 'redis1/redis turned unhealthy: no detail'],
        ['role.changed', 'redis2/redis is now master (was replica)'],
      ],
    );
  });

  it('a dead node coming back as replica is a health change, not a role change from "redis"', () => {
    const ev = observedChanges([s('redis1', 'redis', 'redis', false)], [s('redis1', 'redis', 'replica')], 't');
    assert.deepEqual(
      ev.map((e) => e.type),
      ['health.changed'],
    );
  });
});
