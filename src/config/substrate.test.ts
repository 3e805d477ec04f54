import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from './load.js';
import { substrateTraits } from './substrate.js';

const config = (substrate: 'local' | 'netns' | 'hosts') =>
  parseConfig({
    cluster: 'traits',
    redis: { quorum: 1 },
    substrate,
    netns: { addressBase: '10.213.213' },
    nodes: [{ name: 'n1', services: ['app', 'lb', 'mariadb', 'redis'], ...(substrate === 'hosts' ? { address: '10.0.0.1', ssh: 'root@10.0.0.1' } : {}) }],
  });

describe('substrateTraits: what code may know about where nodes live', () => {
  it("local: one supervisor, nodes share this machine's loopback, no network of their own", () => {
    assert.deepEqual(substrateTraits(config('local')), { supervised: true, nodesAreMachines: false, sharedLoopback: true, networkFaults: false, tcpReachability: false });
  });
  it("netns: one supervisor, each node its own network (faults, TCP reachability), the bridge's host side", () => {
    assert.deepEqual(substrateTraits(config('netns')), {
      supervised: true,
      nodesAreMachines: false,
      sharedLoopback: false,
      hostSideAddress: '10.213.213.254',
      networkFaults: true,
      tcpReachability: true,
    });
  });
  it('hosts: no supervisor here, each node a machine of its own, no partitions offered', () => {
    assert.deepEqual(substrateTraits(config('hosts')), { supervised: false, nodesAreMachines: true, sharedLoopback: false, networkFaults: false, tcpReachability: false });
  });
});
