import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fingerprintSecrets, heldSecrets, parseConfig, resolveTopology, secretsSubset, type SecretName, type Secrets, type Topology } from '../config/index.js';
import { unitsForNode } from '../hosts/index.js';
import { judgeSecrets } from './host-secrets.js';
import { hostNeeds } from './needs.js';

const all: Secrets = { redisPassword: 'r-pass', sentinelPassword: 's-pass', dbRootPassword: 'root-pass', dbAppPassword: 'app-pass', dbReplPassword: 'repl-pass' };

function shop(): Topology {
  const config = parseConfig({
    cluster: 'shop',
    substrate: 'hosts',
    nodes: [
      { name: 'edge', address: '10.0.0.1', ssh: 'root@10.0.0.1', services: ['lb', 'dns'] },
      { name: 'web', address: '10.0.0.2', ssh: 'root@10.0.0.2', services: ['app', 'worker', 'memcached', 'sentinel'] },
      { name: 'db1', address: '10.0.0.3', ssh: 'root@10.0.0.3', services: ['mariadb', 'redis', 'sentinel'] },
      { name: 'db2', address: '10.0.0.4', ssh: 'root@10.0.0.4', services: ['mariadb', 'redis', 'sentinel'] },
      { name: 'ops', address: '10.0.0.5', ssh: 'root@10.0.0.5', services: ['memcached'] },
    ],
    hosts: { controller: 'ops' },
  });
  return resolveTopology(config, { stateRoot: '/ignored', configDir: '/ignored' });
}

const needsOf = (topo: Topology, name: string): readonly SecretName[] => hostNeeds(topo, topo.nodes.find((n) => n.name === name) ?? assert.fail(name)).secrets;

describe('review item 4: a node carries only the secrets its services need', () => {
  it('a load balancer node holds no password; the app holds no database admin password; the controller holds all (vrrpPassword only with a floating address)', () => {
    const topo = shop();
    assert.deepEqual(needsOf(topo, 'edge'), []);
    assert.deepEqual(needsOf(topo, 'web'), ['redisPassword', 'sentinelPassword', 'dbAppPassword', 'sessionKey']);
    assert.deepEqual(needsOf(topo, 'db1'), ['redisPassword', 'sentinelPassword', 'dbRootPassword', 'dbAppPassword', 'dbReplPassword', 'lbDbPassword']);
    assert.deepEqual(needsOf(topo, 'ops'), [
      'redisPassword',
      'sentinelPassword',
      'dbRootPassword',
      'dbAppPassword',
      'dbReplPassword',
      'sessionKey',
      'tlsTicketSecret',
      'lbDbPassword',
      'lbStoreKey',
      'etcdRootPassword',
    ]);
    // With a floating address, the load balancers' keepalived needs the VRRP password, and only it.
    const cfg = topo.config;
    const twoLbs = { ...cfg, nodes: cfg.nodes.map((n) => (n.name === 'web' ? { ...n, services: [...n.services, 'lb' as const] } : n)), lb: { ...cfg.lb, vip: '10.0.0.100' } };
    const vip = resolveTopology(parseConfig(twoLbs), { stateRoot: '/ignored', configDir: '/ignored' });
    assert.deepEqual(needsOf(vip, 'edge'), ['vrrpPassword']);
    assert.deepEqual(needsOf(vip, 'web'), ['redisPassword', 'sentinelPassword', 'dbAppPassword', 'vrrpPassword', 'sessionKey']);
    // VRRPv3 has no authentication: the load balancers get no VRRP password.
    const v3 = resolveTopology(parseConfig({ ...twoLbs, lb: { ...twoLbs.lb, vrrpVersion: 3 } }), { stateRoot: '/ignored', configDir: '/ignored' });
    assert.deepEqual(needsOf(v3, 'edge'), []);
    assert.deepEqual(secretsSubset(all, needsOf(topo, 'edge')), {});
    // With lb.tls.acme the load balancers reach the ACME store: its account password and the key of the sealed private key.
    const acme = resolveTopology(
      parseConfig({ ...cfg, lb: { ...cfg.lb, tls: { acme: { directoryUrl: 'https://acme.example/dir', email: 'ops@shop.example', names: [cfg.serviceName] } } } }),
      {
        stateRoot: '/ignored',
        configDir: '/ignored',
      },
    );
    assert.deepEqual(
      needsOf(acme, 'edge').filter((k) => k.startsWith('lb')),
      ['lbDbPassword', 'lbStoreKey'],
    );
    assert.deepEqual(
      needsOf(topo, 'web').filter((k) => k.startsWith('lb')),
      [],
      'and nothing of it without lb.tls.acme',
    );
  });

  it("issue 23: with failover.auto, an etcd node's controller holds the crash plan's passwords, not the edge's", () => {
    const cfg = shop().config;
    const nodes = cfg.nodes.map((n) => (n.name === 'db1' || n.name === 'db2' || n.name === 'web' ? { ...n, services: [...n.services, 'etcd' as const] } : n));
    const topo = resolveTopology(parseConfig({ ...cfg, nodes, failover: { ...cfg.failover, auto: true } }), { stateRoot: '/ignored', configDir: '/ignored' });
    assert.deepEqual(needsOf(topo, 'web'), ['redisPassword', 'sentinelPassword', 'dbRootPassword', 'dbAppPassword', 'dbReplPassword', 'sessionKey', 'etcdRootPassword']);
    // The admin API's node keeps everything, as before.
    assert.ok(needsOf(topo, 'ops').includes('lbStoreKey'));
  });

  it('a node holding a subset: what it holds reads as before, a missing secret throws naming it, JSON shows only what is held', () => {
    const held = heldSecrets(secretsSubset(all, ['redisPassword']), '/var/lib/hastack/shop/secrets.json');
    assert.equal(held.redisPassword, 'r-pass');
    assert.throws(() => held.dbRootPassword, /does not hold "dbRootPassword"/);
    assert.equal(JSON.stringify(held), '{"redisPassword":"r-pass"}');
    // A service's own copy (src/hosts/service-users.ts) is cut from such a partial set.
    assert.deepEqual(secretsSubset(held, ['redisPassword', 'dbRootPassword']), { redisPassword: 'r-pass' });
    assert.deepEqual(secretsSubset(held, []), {});
  });

  it("every node's units can be rendered on a host that holds none of the secrets (the agent lists all units of the cluster)", () => {
    const topo = shop();
    const none = heldSecrets({}, 'secrets.json');
    for (const n of topo.nodes) assert.ok(unitsForNode(topo, n.name, { nodeBin: '/usr/bin/node', cliMain: '/x/main.js', asRoot: true, secrets: none }).length > 0);
  });
});

describe("review item 3: deploy compares the hosts' secrets with the operator's by keyed fingerprints", () => {
  const key = 'k'.repeat(64);
  const report = (node: string, s: Partial<Secrets> | undefined) => ({ node, present: s !== undefined, fingerprints: s ? fingerprintSecrets(s, key) : {} });

  it('nothing anywhere: a new cluster', () => {
    assert.deepEqual(judgeSecrets(undefined, 'secrets.json', [report('a', undefined)], key, 'hastack'), { kind: 'new' });
  });

  it('no operator file while a host holds secrets: refused, pointing at secrets pull', () => {
    const v = judgeSecrets(undefined, '/st/secrets.json', [report('a', undefined), report('db1', all)], key, 'hastack');
    assert.equal(v.kind, 'refuse');
    assert.match(v.kind === 'refuse' ? v.message : '', /db1 already hold.*hastack secrets pull/);
  });

  it('a host holding another password: refused, naming the host and the secret, never the value', () => {
    const other = { ...all, dbRootPassword: 'other-root' };
    const v = judgeSecrets(all, '/st/secrets.json', [report('edge', {}), report('db1', other), report('web', secretsSubset(all, ['redisPassword']))], key, 'hastack');
    assert.equal(v.kind, 'refuse');
    const msg = v.kind === 'refuse' ? v.message : '';
    assert.match(msg, /db1: dbRootPassword/);
    assert.doesNotMatch(msg, /web|other-root|root-pass/);
  });

  it('hosts whose services need no password hold an empty file: nothing to protect, a new cluster', () => {
    assert.deepEqual(judgeSecrets(undefined, 's', [report('edge', {})], key, 'hastack'), { kind: 'new' });
  });

  it('hosts holding subsets of the same values: same', () => {
    assert.deepEqual(judgeSecrets(all, 's', [report('edge', {}), report('web', secretsSubset(all, ['redisPassword', 'dbAppPassword']))], key, 'hastack'), { kind: 'same' });
  });
});
