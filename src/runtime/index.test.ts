import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig, resolveTopology } from '../config/index.js';
import { substrateFor } from '../substrate/index.js';
import { runtimeCapabilities, runtimeFor } from './index.js';

const topo = (substrate: 'local' | 'netns' | 'hosts') =>
  resolveTopology(
    parseConfig({
      cluster: 'rtchoose',
      redis: { quorum: 1 },
      substrate,
      nodes: [{ name: 'n1', services: ['app', 'lb', 'mariadb', 'redis'], ...(substrate === 'hosts' ? { address: '10.0.0.1', ssh: 'root@10.0.0.1' } : {}) }],
    }),
    { stateRoot: '/nonexistent/hastack-state', configDir: '/nonexistent' },
  );

describe('runtimeFor: the one place that picks where the cluster runs', () => {
  it('local and netns: the supervised runtime; network faults and TCP reachability on netns only', async () => {
    const local = await runtimeFor(topo('local'));
    assert.equal(local.kind, 'supervised');
    assert.deepEqual(local.capabilities, { networkFaults: false, tcpReachability: false, startsFromNothing: true, secretsOnNodes: false, serviceControl: true });
    const netns = await runtimeFor(topo('netns'));
    assert.equal(netns.kind, 'supervised');
    assert.equal(netns.capabilities.networkFaults, true);
    assert.equal(netns.capabilities.tcpReachability, true);
  });
  it('hosts: the hosts runtime, installed by deploy, secrets on the nodes, no partitions; no substrate here', async () => {
    const hosts = await runtimeFor(topo('hosts'));
    assert.equal(hosts.kind, 'hosts');
    assert.deepEqual(hosts.capabilities, { networkFaults: false, tcpReachability: false, startsFromNothing: false, secretsOnNodes: true, serviceControl: false });
    assert.throws(() => substrateFor(topo('hosts')), /runs on its hosts/);
  });
  it('runtimeCapabilities: what each runtime says of itself, without loading it', async () => {
    for (const s of ['local', 'netns', 'hosts'] as const) assert.deepEqual(runtimeCapabilities(topo(s).config), (await runtimeFor(topo(s))).capabilities, s);
  });
  it('reach: a database over its socket on this machine, over TCP from another machine than its host', async () => {
    const local = topo('local');
    const db = local.services.find((s) => s.kind === 'mariadb');
    assert.ok(db);
    assert.equal((await runtimeFor(local)).reach(db).via, 'socket');
    const hosts = topo('hosts');
    const remote = hosts.services.find((s) => s.kind === 'mariadb');
    assert.ok(remote);
    assert.deepEqual((await runtimeFor(hosts)).reach(remote), { via: 'tcp', host: '10.0.0.1', port: remote.port });
  });
});
