import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../shared/errors.js';
import { parseConfig, parseConfigYaml, renderConfigYaml } from './load.js';
import { PRESET_NAMES, preset } from './presets.js';
import { vipIntervalMs, vrrpVersion } from './schema.js';

function keyOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e.key;
  }
  assert.fail('expected the config to be rejected');
}

const minimal = (): Record<string, unknown> => ({
  nodes: [{ name: 'a', services: ['lb', 'app', 'mariadb', 'redis'] }],
});

describe('config presets', () => {
  for (const name of PRESET_NAMES) {
    it(`${name} parses and round-trips through YAML`, () => {
      const c = parseConfig(preset(name));
      assert.equal(c.preset, name);
      const again = parseConfigYaml(renderConfigYaml(preset(name)));
      assert.deepEqual(again, c);
    });
  }

  it("ideal has the seed's tiers: 2 lb+dns, 3 app, 2 workers, 2 memcached, 3 redis, 3 sentinels, 3 galera db", () => {
    const c = parseConfig(preset('ideal'));
    const count = (k: string): number => c.nodes.filter((n) => (n.services as string[]).includes(k)).length;
    assert.deepEqual(['lb', 'dns', 'app', 'worker', 'memcached', 'redis', 'sentinel', 'mariadb'].map(count), [2, 2, 3, 2, 2, 3, 3, 3]);
  });

  it('simple is two servers carrying every service, and a witness with the third etcd and Sentinel', () => {
    const c = parseConfig(preset('simple'));
    assert.equal(c.nodes.length, 3);
    for (const n of c.nodes.slice(0, 2)) assert.equal(n.services.length, 9);
    assert.deepEqual(c.nodes[2]?.services, ['etcd', 'sentinel']);
    assert.equal(c.failover.auto, false, 'failover.auto stays opt-in');
  });
});

describe('config validation names the key', () => {
  it('accepts a minimal cluster and fills defaults', () => {
    const c = parseConfig(minimal());
    assert.equal(c.cluster, 'hastack');
    assert.equal(c.redis.quorum, 2);
    assert.equal(c.database.mode, 'replication');
  });

  it('unknown service', () => {
    assert.equal(
      keyOf(() => parseConfig({ nodes: [{ name: 'a', services: ['lb', 'redsi'] }] })),
      'nodes[0].services[1]',
    );
  });

  it('unknown key, top level and nested', () => {
    assert.equal(
      keyOf(() => parseConfig({ ...minimal(), colour: 'blue' })),
      'colour',
    );
    assert.equal(
      keyOf(() => parseConfig({ ...minimal(), redis: { qorum: 2 } })),
      'redis.qorum',
    );
  });

  it('memcached client settings: defaults, and bad values named by key', () => {
    const c = parseConfig(minimal());
    assert.deepEqual(c.memcached, { memoryMb: 64, timeoutMs: 50, failuresToEject: 2, probeMinMs: 500, probeMaxMs: 5_000 });
    assert.equal(parseConfig({ ...minimal(), memcached: { timeoutMs: 20 } }).memcached.timeoutMs, 20);
    assert.equal(
      keyOf(() => parseConfig({ ...minimal(), memcached: { timeoutMs: 0 } })),
      'memcached.timeoutMs',
    );
    assert.equal(
      keyOf(() => parseConfig({ ...minimal(), memcached: { probeMinMs: 1_000, probeMaxMs: 500 } })),
      'memcached.probeMaxMs',
    );
  });

  it('review item 11: load balancer bounds have defaults, and inconsistent ones are named by key', () => {
    const c = parseConfig(minimal());
    assert.equal(c.lb.maxConnections, 4096);
    assert.equal(c.lb.maxBufferedBodyBytes, 64 * 1024 * 1024);
    assert.equal(c.lb.backendQueueTimeoutMs, 5_000);
    assert.equal(c.lb.clientSendTimeoutMs, 30_000);
    assert.equal(
      keyOf(() => parseConfig({ ...minimal(), lb: { clientHeadersTimeoutMs: 5_000, clientRequestTimeoutMs: 1_000 } })),
      'lb.clientRequestTimeoutMs',
    );
    assert.equal(
      keyOf(() => parseConfig({ ...minimal(), lb: { maxBodyBytes: 4_096, maxBufferedBodyBytes: 2_048 } })),
      'lb.maxBufferedBodyBytes',
    );
    assert.equal(
      keyOf(() => parseConfig({ ...minimal(), lb: { maxConnections: 0 } })),
      'lb.maxConnections',
    );
  });

  it('lb.tls.acme: a name the DNS tier does not serve is named by key; the service name is accepted', () => {
    const acme = (names: string[]) => ({ ...minimal(), lb: { tls: { acme: { directoryUrl: 'https://acme.example/directory', email: 'ops@example.com', names } } } });
    const ok = parseConfig(acme(['erp.hastack.test']));
    assert.equal(ok.lb.tls?.acme?.renewBeforeDays, 30);
    assert.equal(
      keyOf(() => parseConfig(acme(['erp.hastack.test', 'www.example.com']))),
      'lb.tls.acme.names[1]',
    );
  });

  it('wrong type', () => {
    assert.equal(
      keyOf(() => parseConfig({ ...minimal(), lb: { retries: 'many' } })),
      'lb.retries',
    );
  });

  it('duplicate node names and addresses', () => {
    const dup = { nodes: [...(minimal().nodes as object[]), { name: 'a', services: ['app'] }] };
    assert.equal(
      keyOf(() => parseConfig(dup)),
      'nodes[1].name',
    );
    const addr = {
      nodes: [
        { name: 'a', address: '127.0.9.1', services: ['lb', 'app', 'mariadb', 'redis'] },
        { name: 'b', address: '127.0.9.1', services: ['app'] },
      ],
    };
    assert.equal(
      keyOf(() => parseConfig(addr)),
      'nodes[1].address',
    );
  });

  it('a non-loopback address on the local substrate', () => {
    assert.equal(
      keyOf(() => parseConfig({ nodes: [{ name: 'a', address: '10.0.0.1', services: ['lb', 'app', 'mariadb', 'redis'] }] })),
      'nodes[0].address',
    );
  });

  it('netns: addresses come from netns.addressBase, and a given one must be inside it', () => {
    const all = ['lb', 'app', 'mariadb', 'redis'];
    assert.equal(
      keyOf(() => parseConfig({ substrate: 'netns', nodes: [{ name: 'a', address: '127.0.9.1', services: all }] })),
      'nodes[0].address',
    );
    assert.equal(
      keyOf(() => parseConfig({ ...minimal(), substrate: 'netns', netns: { addressBase: '8.8.8' } })),
      'netns.addressBase',
    );
    const c = parseConfig({ substrate: 'netns', netns: { addressBase: '10.213.9' }, nodes: [{ name: 'a', address: '10.213.9.7', services: all }] });
    assert.equal(c.nodes[0]?.address, '10.213.9.7');
  });

  it('hosts: every node needs an address and an ssh target; ssh only with hosts; controller must be a node', () => {
    const all = ['lb', 'app', 'mariadb', 'redis'];
    const node = { name: 'a', address: '10.0.0.5', ssh: 'root@10.0.0.5', services: all };
    const c = parseConfig({ substrate: 'hosts', nodes: [node] });
    assert.equal(c.hosts.installDir, '/opt/hastack');
    assert.equal(c.hosts.serviceManager, 'auto');
    assert.equal(
      keyOf(() => parseConfig({ substrate: 'hosts', nodes: [{ ...node, ssh: undefined }] })),
      'nodes[0].ssh',
    );
    assert.equal(
      keyOf(() => parseConfig({ substrate: 'hosts', nodes: [{ name: 'a', ssh: 'root@x', services: all }] })),
      'nodes[0].address',
    );
    assert.equal(
      keyOf(() => parseConfig({ substrate: 'hosts', nodes: [{ ...node, ssh: 'not a target' }] })),
      'nodes[0].ssh',
    );
    assert.equal(
      keyOf(() => parseConfig({ nodes: [{ name: 'a', ssh: 'root@x', services: all }] })),
      'nodes[0].ssh',
    );
    assert.equal(
      keyOf(() => parseConfig({ substrate: 'hosts', hosts: { controller: 'zz' }, nodes: [node] })),
      'hosts.controller',
    );
    assert.equal(
      keyOf(() => parseConfig({ substrate: 'hosts', hosts: { installDir: 'opt' }, nodes: [node] })),
      'hosts.installDir',
    );
  });

  it('a missing required tier', () => {
    assert.equal(
      keyOf(() => parseConfig({ nodes: [{ name: 'a', services: ['lb', 'app', 'redis'] }] })),
      'nodes',
    );
  });

  it('quorum larger than the sentinels', () => {
    const c = { nodes: [{ name: 'a', services: ['lb', 'app', 'mariadb', 'redis', 'sentinel'] }], redis: { quorum: 2 } };
    assert.equal(
      keyOf(() => parseConfig(c)),
      'redis.quorum',
    );
  });

  it('issue 24: a delayed replica is a third database node in replication mode, not the first', () => {
    const nodes = [{ name: 'a', services: ['lb', 'app', 'redis', 'sentinel'] }, ...['db1', 'db2', 'db3'].map((name) => ({ name, services: ['mariadb'] }))];
    const ok = parseConfig({ nodes, redis: { quorum: 1 }, database: { delayedReplica: { node: 'db3', delaySeconds: 3600 } } });
    assert.equal(ok.database.delayedReplica?.delaySeconds, 3600);
    const bad = (database: Record<string, unknown>, n = nodes): string | undefined => keyOf(() => parseConfig({ nodes: n, redis: { quorum: 1 }, database }));
    assert.equal(bad({ delayedReplica: { node: 'db1', delaySeconds: 60 } }), 'database.delayedReplica.node', 'the first database node starts as the primary');
    assert.equal(bad({ delayedReplica: { node: 'a', delaySeconds: 60 } }), 'database.delayedReplica.node', 'no mariadb there');
    assert.equal(
      bad({ delayedReplica: { node: 'db2', delaySeconds: 60 } }, nodes.slice(0, 3)),
      'database.delayedReplica',
      'with two database nodes nothing else could be promoted',
    );
    assert.equal(bad({ mode: 'galera', delayedReplica: { node: 'db3', delaySeconds: 60 } }), 'database.delayedReplica');
  });

  it('galera needs at least three database nodes', () => {
    assert.equal(
      keyOf(() => parseConfig({ ...minimal(), database: { mode: 'galera' } })),
      'database.mode',
    );
    const three = parseConfig({
      nodes: [{ name: 'a', services: ['lb', 'app', 'redis'] }, ...['db1', 'db2', 'db3'].map((name) => ({ name, services: ['mariadb'] }))],
      database: { mode: 'galera' },
    });
    assert.equal(three.database.mode, 'galera');
  });

  it('cross-field: health timeout must be below the interval', () => {
    assert.equal(
      keyOf(() => parseConfig({ ...minimal(), lb: { healthIntervalMs: 500, healthTimeoutMs: 800 } })),
      'lb.healthTimeoutMs',
    );
  });

  it('broken YAML names the line', () => {
    const key = keyOf(() => parseConfigYaml('nodes:\n  - name: a\n   services: [lb\n'));
    assert.match(key, /^line \d+/);
  });
});

describe('lb.vip', () => {
  const twoLbs = (vip: string): Record<string, unknown> => ({
    addressBase: '127.0.10',
    nodes: [
      { name: 'a', services: ['lb', 'app', 'mariadb', 'redis'] },
      { name: 'b', services: ['lb'] },
    ],
    lb: { vip },
  });
  it('accepts a spare loopback address', () => {
    assert.equal(parseConfig(twoLbs('127.0.10.100')).lb.vip, '127.0.10.100');
  });
  it("names the key when the address is a node's, outside loopback, or has nothing to float between", () => {
    assert.equal(
      keyOf(() => parseConfig(twoLbs('127.0.10.2'))),
      'lb.vip',
    );
    assert.equal(
      keyOf(() => parseConfig(twoLbs('10.0.0.5'))),
      'lb.vip',
    );
    assert.equal(
      keyOf(() => parseConfig({ ...minimal(), lb: { vip: '127.0.10.100' } })),
      'lb.vip',
    );
  });
});

describe('lb.vrrpVersion and lb.vipIntervalMs', () => {
  const onHosts = (lb: Record<string, unknown>): Record<string, unknown> => ({
    substrate: 'hosts',
    nodes: [
      { name: 'a', address: '10.0.0.1', ssh: 'root@10.0.0.1', services: ['lb', 'app', 'mariadb', 'redis'] },
      { name: 'b', address: '10.0.0.2', ssh: 'root@10.0.0.2', services: ['lb'] },
    ],
    lb: { vip: '10.0.0.100', ...lb },
  });
  it('defaults: VRRPv2 every second on hosts, a 500 ms heartbeat on one machine', () => {
    const hosts = parseConfig(onHosts({}));
    assert.equal(vrrpVersion(hosts), 2);
    assert.equal(vipIntervalMs(hosts), 1000);
    assert.equal(vipIntervalMs(parseConfig(minimal())), 500);
  });
  it('VRRPv2 takes whole seconds only; VRRPv3 hundredths, from 50 ms', () => {
    assert.equal(vipIntervalMs(parseConfig(onHosts({ vipIntervalMs: 2000 }))), 2000);
    assert.equal(
      keyOf(() => parseConfig(onHosts({ vipIntervalMs: 500 }))),
      'lb.vipIntervalMs',
    );
    assert.equal(
      keyOf(() => parseConfig(onHosts({ vipIntervalMs: 1500 }))),
      'lb.vipIntervalMs',
    );
    assert.equal(vipIntervalMs(parseConfig(onHosts({ vrrpVersion: 3, vipIntervalMs: 200 }))), 200);
    assert.equal(
      keyOf(() => parseConfig(onHosts({ vrrpVersion: 3, vipIntervalMs: 205 }))),
      'lb.vipIntervalMs',
    );
    assert.equal(
      keyOf(() => parseConfig(onHosts({ vrrpVersion: 3, vipIntervalMs: 40 }))),
      'lb.vipIntervalMs',
    );
    assert.equal(
      keyOf(() => parseConfig(onHosts({ vrrpVersion: 4 }))),
      'lb.vrrpVersion',
    );
  });
  it("vrrpVersion is refused off hosts (the load balancers' own heartbeat moves the address there)", () => {
    assert.equal(
      keyOf(() => parseConfig({ ...minimal(), lb: { vrrpVersion: 3 } })),
      'lb.vrrpVersion',
    );
  });
});

describe('backup config', () => {
  it('defaults: keep 7, no schedule', () => {
    const c = parseConfig(minimal());
    assert.equal(c.backup.keep, 7);
    assert.equal(c.backup.schedule, undefined);
  });
  it('accepts an interval or a cron expression', () => {
    assert.equal(parseConfig({ ...minimal(), backup: { schedule: '6h' } }).backup.schedule, '6h');
    assert.equal(parseConfig({ ...minimal(), backup: { schedule: '0 3 * * *' } }).backup.schedule, '0 3 * * *');
  });
  it('names the key of a bad schedule, keep or target', () => {
    assert.equal(
      keyOf(() => parseConfig({ ...minimal(), backup: { schedule: 'daily' } })),
      'backup.schedule',
    );
    assert.equal(
      keyOf(() => parseConfig({ ...minimal(), backup: { keep: 0 } })),
      'backup.keep',
    );
    assert.equal(
      keyOf(() => parseConfig({ ...minimal(), backup: { target: 'nope' } })),
      'backup.target',
    );
  });
  it('backup.targets: nodes and directories, each with a keep; checked names, no key inside a target', () => {
    const nodeName = String((minimal()['nodes'] as Array<{ name: string }>)[0]?.name);
    const c = parseConfig({ ...minimal(), backup: { keyFile: '/etc/k', targets: [nodeName, { name: 'vault', dir: '/mnt/v', keep: 30 }] } });
    assert.equal(c.backup.targets?.length, 2);
    assert.equal(
      keyOf(() => parseConfig({ ...minimal(), backup: { targets: ['nope'] } })),
      'backup.targets.0',
    );
    assert.equal(
      keyOf(() => parseConfig({ ...minimal(), backup: { targets: [{ name: nodeName, dir: '/mnt/v' }] } })),
      'backup.targets.0.name',
    );
    assert.equal(
      keyOf(() => parseConfig({ ...minimal(), backup: { keyFile: '/mnt/v/k', targets: [{ name: 'vault', dir: '/mnt/v' }] } })),
      'backup.keyFile',
    );
    const ssh = parseConfig({
      ...minimal(),
      backup: { targets: [{ name: 'offsite', ssh: 'backup@192.0.2.7:2222', dir: '/srv/b', keep: 3, hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOq' }] },
    });
    assert.equal(ssh.backup.targets?.length, 1);
    for (const bad of [
      { name: 'offsite', ssh: 'backup@host; rm -rf /', dir: '/srv/b' },
      { name: 'offsite', ssh: 'backup@host', dir: '/srv/my backups' },
      { name: 'offsite', ssh: 'backup@host', dir: '/srv/b', hostKey: 'AAAA' },
      { name: 'offsite', ssh: 'backup@host', dir: '/srv/b', hostKey: 'ssh-ed25519 AAAA', knownHostsFile: '/k' },
    ]) {
      assert.match(
        keyOf(() => parseConfig({ ...minimal(), backup: { targets: [bad] } })),
        /^backup\.targets(\.|\[)0/,
        JSON.stringify(bad),
      );
    }
    assert.equal(
      keyOf(() => parseConfig({ ...minimal(), backup: { targets: [{ name: nodeName, ssh: 'backup@host', dir: '/srv/b' }] } })),
      'backup.targets.0.name',
    );
    assert.equal(
      keyOf(() =>
        parseConfig({
          ...minimal(),
          backup: {
            targets: [
              { name: 'v', dir: '/mnt/v' },
              { name: 'v', ssh: 'b@h', dir: '/b' },
            ],
          },
        }),
      ),
      'backup.targets.1.name',
    );
    assert.equal(
      keyOf(() => parseConfig({ ...minimal(), backup: { keyFile: 'relative' } })),
      'backup.keyFile',
    );
    assert.equal(
      keyOf(() => parseConfig({ ...minimal(), backup: { target: nodeName, targets: [nodeName] } })),
      'backup.targets',
    );
    assert.equal(
      keyOf(() => parseConfig({ ...minimal(), backup: { drill: 'weekly' } })),
      'backup.drill',
    );
  });
});
