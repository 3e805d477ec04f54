import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig, resolveTopology, type Secrets } from '../config/index.js';
import { openSessions } from '../hosts/index.js';
import { hostSecretPayloads } from './host-secrets.js';

const all: Secrets = { redisPassword: 'r', sentinelPassword: 's', dbRootPassword: 'd', dbAppPassword: 'a', dbReplPassword: 'p', vrrpPassword: 'v', sessionKey: 'k'.repeat(16) };

describe('review item 3: what secrets rotate pushes is what deploy sends', () => {
  it("each node's subset; nodes sharing one machine share the union; the load-balancer host holds nothing without lb.vip", () => {
    const config = parseConfig({
      cluster: 'shop',
      substrate: 'hosts',
      nodes: [
        { name: 'data', address: '10.0.0.1', ssh: 'root@10.0.0.1', services: ['mariadb', 'redis', 'sentinel'] },
        { name: 'web', address: '10.0.0.2', ssh: 'root@10.0.0.2', services: ['app', 'worker'] },
        { name: 'edge', address: '10.0.0.3', ssh: 'root@10.0.0.3', services: ['lb', 'dns'] },
        // the same machine as web (one SSH target): one secrets.json for both
        { name: 'web-dns', address: '10.0.0.5', ssh: 'root@10.0.0.2', services: ['dns'] },
      ],
      redis: { quorum: 1 },
      hosts: { controller: 'data' },
    });
    const topo = resolveTopology(config, { stateRoot: '/ignored', configDir: '/ignored' });
    // Opening sessions connects nowhere (ssh runs on the first command).
    const p = hostSecretPayloads(topo, openSessions(topo), all);
    assert.deepEqual(p.get('edge'), {});
    assert.deepEqual(Object.keys(p.get('web') ?? {}), ['redisPassword', 'sentinelPassword', 'dbAppPassword', 'sessionKey']);
    assert.deepEqual(p.get('web-dns'), p.get('web'));
    assert.deepEqual(
      Object.keys(p.get('data') ?? {}),
      ['redisPassword', 'sentinelPassword', 'dbRootPassword', 'dbAppPassword', 'dbReplPassword', 'sessionKey'],
      "the controller node: everything but keepalived's (no lb.vip)",
    );
  });
});
