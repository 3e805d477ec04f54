import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig, resolveTopology, type ConfigInput, type Topology } from '../config/index.js';
import { chainName, guardedPorts, renderRules } from './firewall.js';

function cluster(extra: Partial<ConfigInput> = {}): Topology {
  const config = parseConfig({
    cluster: 'shop',
    substrate: 'hosts',
    nodes: [
      { name: 'a', address: '10.0.0.1', ssh: 'root@10.0.0.1', services: ['mariadb', 'redis', 'memcached', 'app', 'lb'] },
      { name: 'b', address: '10.0.0.2', ssh: 'root@10.0.0.2', services: ['mariadb', 'redis', 'memcached', 'app', 'lb'] },
      { name: 'c', address: '10.0.0.3', ssh: 'root@10.0.0.3', services: ['mariadb', 'sentinel'] },
    ],
    redis: { quorum: 1 },
    ...extra,
  });
  return resolveTopology(config, { stateRoot: '/ignored', configDir: '/ignored' });
}

describe('review item 2: firewall rules derived from the topology', () => {
  it('memcached answers only cluster nodes; strangers get a reset', () => {
    const rules = renderRules(cluster(), 'a');
    assert.equal(
      rules,
      [
        '*filter',
        ':hastack-shop - [0:0]',
        '-A hastack-shop -s 10.0.0.1/32 -d 10.0.0.1/32 -p tcp -m tcp --dport 11211 -j ACCEPT',
        '-A hastack-shop -s 10.0.0.2/32 -d 10.0.0.1/32 -p tcp -m tcp --dport 11211 -j ACCEPT',
        '-A hastack-shop -s 10.0.0.3/32 -d 10.0.0.1/32 -p tcp -m tcp --dport 11211 -j ACCEPT',
        '-A hastack-shop -d 10.0.0.1/32 -p tcp -m tcp --dport 11211 -m comment --comment "a/memcached: memcached has no authentication" -j REJECT --reject-with tcp-reset',
        'COMMIT',
        '',
      ].join('\n'),
    );
    assert.deepEqual(guardedPorts(cluster(), 'c'), [], 'replication mode: nothing guarded on a database-only node');
  });

  it("Galera's group, IST and SST ports are guarded too", () => {
    const g = guardedPorts(cluster({ database: { mode: 'galera' } }), 'c');
    assert.deepEqual(g.map((x) => x.port), [4567, 4568, 4444]);
  });

  it('loopback nodes (one machine) need no rules; long cluster names get a short chain', () => {
    const local = resolveTopology(
      parseConfig({ cluster: 'shop', substrate: 'hosts', nodes: [{ name: 'a', address: '127.0.0.9', ssh: 'root@127.0.0.9', services: ['memcached', 'mariadb', 'redis', 'app', 'lb'] }] }),
      { stateRoot: '/ignored', configDir: '/ignored' },
    );
    assert.deepEqual(guardedPorts(local, 'a'), []);
    assert.ok(chainName('a-very-long-cluster-name-indeed').length <= 28);
  });
});
