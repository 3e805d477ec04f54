import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterStatus, ServiceStatus } from '../control/index.js';
import { ConfigError, HastackError } from '../shared/errors.js';
import { resolveSelector, resolveTarget } from './faults.js';
import { seededRandom } from '../shared/random.js';

function svc(node: string, service: string, role = service, healthy = true): ServiceStatus {
  return { node, service, address: '127.0.0.1', port: 1, pid: 1, role, healthy, restarts: 0 };
}
const afterRedisFailover: ClusterStatus = {
  cluster: 'c',
  supervisorPid: 1,
  state: 'ready',
  services: [
    svc('lb1', 'lb'),
    svc('lb2', 'lb'),
    svc('redis1', 'redis', 'replica'),
    svc('redis2', 'redis', 'master'),
    svc('db1', 'mariadb', 'primary'),
    svc('db2', 'mariadb', 'replica', false),
  ],
};

describe('fault targets', () => {
  const r = seededRandom(1);
  it('a role resolves to the node playing it now, not the one that started as it', () => {
    assert.equal(resolveTarget('role:redis-master', afterRedisFailover, r), 'redis2');
    assert.equal(resolveTarget('role:db-primary', afterRedisFailover, r), 'db1');
  });
  it('an unhealthy node is not a target', () => {
    assert.throws(() => resolveTarget('role:db-replica', afterRedisFailover, r), HastackError);
  });
  it('in Galera, db-primary is the writer (first synced node) and db-replica another synced node', () => {
    const galera: ClusterStatus = {
      ...afterRedisFailover,
      services: [svc('db1', 'mariadb', 'galera', false), svc('db2', 'mariadb', 'galera'), svc('db3', 'mariadb', 'galera')],
    };
    assert.equal(resolveTarget('role:db-primary', galera, r), 'db2');
    assert.equal(resolveTarget('role:db-replica', galera, r), 'db3');
    assert.throws(() => resolveTarget('role:db-replica', galera, r, new Set(['db3'])), HastackError);
  });
  it('two faults of one scenario never pick the same node', () => {
    const first = resolveTarget('role:lb', afterRedisFailover, r);
    const second = resolveTarget('role:lb', afterRedisFailover, r, new Set([first]));
    assert.notEqual(first, second);
  });
  it('the same seed picks the same random node', () => {
    assert.equal(resolveTarget('random', afterRedisFailover, seededRandom(7)), resolveTarget('random', afterRedisFailover, seededRandom(7)));
  });
  it('an unknown node or role names the problem', () => {
    assert.throws(() => resolveTarget('db9', afterRedisFailover, r), ConfigError);
    assert.throws(() => resolveTarget('role:toaster', afterRedisFailover, r), /unknown role/);
  });
  it('all:<role> is every healthy node in the role not placed yet; @host is the host', () => {
    const status: ClusterStatus = {
      ...afterRedisFailover,
      services: [...afterRedisFailover.services, svc('redis3', 'redis', 'replica'), svc('redis4', 'redis', 'replica', false)],
    };
    assert.deepEqual(resolveSelector('all:redis-replica', status, r, new Set(['redis1'])), ['redis3']);
    assert.deepEqual(resolveSelector('@host', status, r, new Set()), ['@host']);
    assert.throws(() => resolveSelector('all:toaster', status, r, new Set()), ConfigError);
  });
});
