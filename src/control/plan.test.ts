import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig, preset, resolveTopology } from '../config/index.js';
import { startPlan, stopPlan } from './plan.js';

const topo = (name: 'ideal' | 'simple') => resolveTopology(parseConfig(preset(name)), { stateRoot: '/tmp/s', configDir: '/tmp' });
/** `ideal` with a replicated database (primary db1, replicas db2 and db3). */
const replicated = () => {
  const p = preset('ideal');
  return resolveTopology(parseConfig({ ...p, database: { mode: 'replication' } }), { stateRoot: '/tmp/s', configDir: '/tmp' });
};

describe('start plan', () => {
  it('follows the dependency order, primary before replicas', () => {
    const labels = startPlan(replicated()).map((s) => (s.type === 'start' ? `${s.label}:${s.services.map((x) => x.node).join(',')}` : s.type));
    assert.deepEqual(labels, [
      'database primary:db1',
      'database replicas:db2,db3',
      'redis master:redis1',
      'redis replicas:redis2,redis3',
      'sentinels:app1,app2,app3',
      'sentinels-ready',
      'memcached:cache1,cache2',
      'migrate',
      'app servers:app1,app2,app3',
      'workers:worker1,worker2',
      'load balancers:lb1,lb2',
      'dns:lb1,lb2',
    ]);
  });

  it('starts every service exactly once', () => {
    for (const name of ['ideal', 'simple'] as const) {
      const t = topo(name);
      const started = startPlan(t).flatMap((s) => (s.type === 'start' ? s.services.map((x) => x.id) : []));
      assert.deepEqual([...started].sort(), t.services.map((s) => s.id).sort());
    }
  });
});

describe('start plan in galera mode', () => {
  // `ideal` is a three-node Galera cluster.
  const galera = () => topo('ideal');

  it('starts the bootstrap node alone, then one joiner at a time', () => {
    const labels = startPlan(galera(), 'db2')
      .filter((s) => s.type === 'start' && s.services.some((x) => x.kind === 'mariadb'))
      .map((s) => (s.type === 'start' ? s.services.map((x) => x.node).join(',') : ''));
    assert.deepEqual(labels, ['db2', 'db1', 'db3']);
  });
});

describe('stop plan', () => {
  it('is the reverse: front door first, database primary last', () => {
    const groups = stopPlan(topo('simple')).map((g) => g.map((s) => s.id).join(','));
    assert.equal(groups[0], 'primary/dns,standby/dns');
    assert.equal(groups[groups.length - 1], 'primary/mariadb');
    assert.equal(groups[groups.length - 2], 'standby/mariadb');
  });
});
