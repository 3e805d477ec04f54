import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig } from './load.js';
import { preset } from './presets.js';
import { resolveTopology, servicesOf } from './topology.js';

describe('topology', () => {
  const topo = resolveTopology(parseConfig(preset('ideal')), { stateRoot: '/tmp/x', configDir: '/srv/app' });

  it('gives every node its own loopback address, in order, and every service its usual port', () => {
    assert.deepEqual(topo.nodes.slice(0, 3).map((n) => n.address), ['127.0.10.1', '127.0.10.2', '127.0.10.3']);
    assert.equal(new Set(topo.nodes.map((n) => n.address)).size, topo.nodes.length);
    assert.deepEqual(servicesOf(topo, 'mariadb').map((s) => s.port), [3306, 3306, 3306]);
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

  it('on netns, nodes get addresses from netns.addressBase and the admin API stays on loopback', () => {
    const t = resolveTopology(parseConfig({ ...preset('ideal'), substrate: 'netns', netns: { addressBase: '10.213.9' } }), { stateRoot: '/tmp/x', configDir: '/srv/app' });
    assert.deepEqual(t.nodes.slice(0, 2).map((n) => n.address), ['10.213.9.1', '10.213.9.2']);
    assert.equal(t.admin.address, '127.0.10.254');
  });
});
