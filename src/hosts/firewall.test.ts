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
  it('memcached and redis answer only cluster nodes; strangers get a reset', () => {
    const rules = renderRules(cluster(), 'a');
    const accept = (port: number): string[] =>
      ['10.0.0.1', '10.0.0.2', '10.0.0.3'].map((src) => `-A hastack-shop -s ${src}/32 -d 10.0.0.1/32 -p tcp -m tcp --dport ${port} -j ACCEPT`);
    assert.equal(
      rules,
      [
        '*filter',
        ':hastack-shop - [0:0]',
        ...accept(6379),
        '-A hastack-shop -d 10.0.0.1/32 -p tcp -m tcp --dport 6379 -m comment --comment "a/redis: redis has only a password and replicates in clear" -j REJECT --reject-with tcp-reset',
        ...accept(11211),
        '-A hastack-shop -d 10.0.0.1/32 -p tcp -m tcp --dport 11211 -m comment --comment "a/memcached: memcached has no authentication" -j REJECT --reject-with tcp-reset',
        'COMMIT',
        '',
      ].join('\n'),
    );
  });

  it('review item 7: Redis and Sentinel ports answer only cluster nodes (a database-only node has nothing guarded)', () => {
    assert.deepEqual(
      guardedPorts(cluster(), 'c').map((g) => `${g.serviceId}:${g.port}`),
      ['c/sentinel:26379'],
    );
    assert.deepEqual(
      guardedPorts(cluster(), 'b')
        .map((g) => g.serviceId)
        .sort(),
      ['b/memcached', 'b/redis'],
    );
    const dbOnly = resolveTopology(
      parseConfig({
        cluster: 'shop',
        substrate: 'hosts',
        nodes: [
          { name: 'a', address: '10.0.0.1', ssh: 'root@10.0.0.1', services: ['redis', 'sentinel', 'app', 'lb'] },
          { name: 'd', address: '10.0.0.4', ssh: 'root@10.0.0.4', services: ['mariadb'] },
        ],
        redis: { quorum: 1 },
      }),
      { stateRoot: '/ignored', configDir: '/ignored' },
    );
    assert.deepEqual(guardedPorts(dbOnly, 'd'), [], 'replication mode: nothing guarded on a database-only node');
  });

  it("Galera's group, IST and SST ports are guarded too", () => {
    const g = guardedPorts(cluster({ database: { mode: 'galera' } }), 'c');
    assert.deepEqual(
      g.filter((x) => x.serviceId === 'c/mariadb').map((x) => x.port),
      [4567, 4568, 4444],
    );
  });

  it('loopback nodes (one machine) need no rules; long cluster names get a short chain', () => {
    const local = resolveTopology(
      parseConfig({
        cluster: 'shop',
        substrate: 'hosts',
        nodes: [{ name: 'a', address: '127.0.0.9', ssh: 'root@127.0.0.9', services: ['memcached', 'mariadb', 'redis', 'app', 'lb'] }],
      }),
      { stateRoot: '/ignored', configDir: '/ignored' },
    );
    assert.deepEqual(guardedPorts(local, 'a'), []);
    assert.ok(chainName('a-very-long-cluster-name-indeed').length <= 28);
  });

  it('the local endpoints answer only their own node', () => {
    const rules = renderRules(cluster({ endpoints: { enabled: true } }), 'a');
    for (const port of [6033, 6034, 6380]) {
      assert.ok(rules.includes(`-A hastack-shop -s 10.0.0.1/32 -d 10.0.0.1/32 -p tcp -m tcp --dport ${port} -j ACCEPT`), String(port));
      assert.ok(!rules.includes(`-s 10.0.0.2/32 -d 10.0.0.1/32 -p tcp -m tcp --dport ${port} `), String(port));
      assert.ok(rules.includes(`--dport ${port} -m comment --comment "a/`), String(port));
    }
    assert.deepEqual(
      guardedPorts(cluster({ endpoints: { enabled: true } }), 'c').filter((g) => g.serviceId.endsWith('-endpoint')),
      [],
    );
  });
});
