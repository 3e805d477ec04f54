import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig } from './load.js';
import { preset } from './presets.js';
import { remoteTopology, resolveTopology, servicesOf } from './topology.js';

describe('topology', () => {
  const topo = resolveTopology(parseConfig(preset('ideal')), { stateRoot: '/tmp/x', configDir: '/srv/app' });

  it('gives every node its own loopback address, in order, and every service its usual port', () => {
    assert.deepEqual(
      topo.nodes.slice(0, 3).map((n) => n.address),
      ['127.0.10.1', '127.0.10.2', '127.0.10.3'],
    );
    assert.equal(new Set(topo.nodes.map((n) => n.address)).size, topo.nodes.length);
    assert.deepEqual(
      servicesOf(topo, 'mariadb').map((s) => s.port),
      [3306, 3306, 3306],
    );
    assert.equal(servicesOf(topo, 'lb')[0]?.port, 8080);
  });

  it('places state under <root>/<cluster>/<node>/<service>', () => {
    const s = servicesOf(topo, 'redis')[0];
    assert.equal(s?.dir, path.join('/tmp/x', 'hastack', 'redis1', 'redis'));
    assert.equal(topo.appModule, path.resolve('/srv/app', 'examples/erp'));
  });

  it('the first database and redis nodes start as primary and master', () => {
    assert.equal(topo.initialDbPrimary, 'db1');
    assert.equal(topo.initialRedisMaster, 'redis1');
  });

  it('on hosts, state and the app live at the configured places on every machine; the admin API on the controller', () => {
    const nodes = ['primary', 'standby'].map((name, i) => ({
      name,
      address: `10.9.0.${i + 1}`,
      ssh: `root@10.9.0.${i + 1}`,
      services: ['lb', 'app', 'mariadb', 'redis'] as const,
    }));
    const cfg = parseConfig({ substrate: 'hosts', hosts: { controller: 'standby', stateDir: '/srv/hs' }, nodes: nodes.map((n) => ({ ...n, services: [...n.services] })) });
    const t = resolveTopology(cfg, { stateRoot: '/home/op/.hastack', configDir: '/home/op' });
    assert.equal(t.stateDir, '/home/op/.hastack/hastack');
    assert.equal(remoteTopology(t).stateDir, '/srv/hs/hastack');
    assert.equal(servicesOf(t, 'mariadb')[1]?.dir, '/srv/hs/hastack/standby/mariadb');
    assert.equal(t.appModule, '/opt/hastack/current/examples/erp');
    assert.deepEqual(t.admin, { address: '127.0.0.1', port: 9090 }, 'review item 5: loopback unless an admin network is configured');
    const onNet = resolveTopology(parseConfig({ ...cfg, hosts: { ...cfg.hosts, adminAddress: '10.9.0.2' } }), { stateRoot: '/home/op/.hastack', configDir: '/home/op' });
    assert.deepEqual(onNet.admin, { address: '10.9.0.2', port: 9090 });
  });

  it('on netns, nodes get addresses from netns.addressBase and the admin API stays on loopback', () => {
    const t = resolveTopology(parseConfig({ ...preset('ideal'), substrate: 'netns', netns: { addressBase: '10.213.9' } }), { stateRoot: '/tmp/x', configDir: '/srv/app' });
    assert.deepEqual(
      t.nodes.slice(0, 2).map((n) => n.address),
      ['10.213.9.1', '10.213.9.2'],
    );
    assert.equal(t.admin.address, '127.0.10.254');
  });
});
