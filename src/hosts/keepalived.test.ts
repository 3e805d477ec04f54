import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig, resolveTopology, type Topology } from '../config/index.js';
import { advertInt, fillPlaceholders, renderCheckScript, renderKeepalivedConf, resolveInterface, virtualRouterId, vrrpPriority } from './keepalived.js';

function lbPair(lb: Record<string, unknown> = {}): Topology {
  const config = parseConfig({
    cluster: 'shop',
    substrate: 'hosts',
    lb: { vip: '10.0.0.100', ...lb },
    nodes: [
      { name: 'lb1', address: '10.0.0.1', ssh: 'root@10.0.0.1', services: ['lb', 'app', 'mariadb', 'redis'] },
      { name: 'lb2', address: '10.0.0.2', ssh: 'root@10.0.0.2', services: ['lb', 'app'] },
      { name: 'lb3', address: '10.0.0.3', ssh: 'root@10.0.0.3', services: ['lb'] },
    ],
  });
  return resolveTopology(config, { stateRoot: '/x', configDir: '/x' });
}

describe('keepalived for lb.vip', () => {
  it('renders one BACKUP/nopreempt instance with unicast peers, priority by lb order (golden)', () => {
    const conf = renderKeepalivedConf({ topo: lbPair(), node: 'lb2', checkScript: '/etc/keepalived/hastack-shop-lb-check.sh', authPass: 'Ab3_x-9Z' });
    assert.equal(
      fillPlaceholders(conf, 'eth0', 24),
      `# Written by hastack for cluster shop on lb2; "hastack deploy" overwrites it.
global_defs {
  router_id hastack_shop_lb2
  script_user root
  enable_script_security
}

vrrp_script hastack_shop_lb {
  script "/etc/keepalived/hastack-shop-lb-check.sh"
  interval 1
  timeout 2
  fall 2
  rise 2
}

vrrp_instance hastack_shop {
  state BACKUP
  nopreempt
  interface eth0
  virtual_router_id ${virtualRouterId('shop')}
  priority 140
  advert_int 1
  unicast_src_ip 10.0.0.2
  check_unicast_src
  unicast_peer {
    10.0.0.1
    10.0.0.3
  }
  authentication {
    auth_type PASS
    auth_pass Ab3_x-9Z
  }
  virtual_ipaddress {
    10.0.0.100/24 dev eth0
  }
  track_script {
    hastack_shop_lb
  }
}
`,
    );
  });

  it("review item 13: adverts need the cluster's VRRP password and a peer's source address", () => {
    const conf = renderKeepalivedConf({ topo: lbPair(), node: 'lb1', checkScript: '/c.sh', authPass: 'pw12345x' });
    assert.match(conf, /^ {2}authentication \{\n {4}auth_type PASS\n {4}auth_pass pw12345x\n {2}\}$/m);
    assert.match(conf, /^ {2}check_unicast_src$/m);
    // VRRPv2 carries 8 characters: a longer or unquotable password is refused, not silently cut.
    for (const bad of ['', '123456789', 'has space', 'quo"te']) {
      assert.throws(() => renderKeepalivedConf({ topo: lbPair(), node: 'lb1', checkScript: '/c.sh', authPass: bad }), /vrrpPassword/);
    }
  });

  it('lb.vrrpVersion 3: sub-second adverts in hundredths of a second, no authentication (VRRPv3 has none), no password needed', () => {
    const conf = renderKeepalivedConf({ topo: lbPair({ vrrpVersion: 3, vipIntervalMs: 200 }), node: 'lb1', checkScript: '/c.sh' });
    assert.match(conf, /^ {2}version 3\n {2}advert_int 0\.2$/m);
    assert.doesNotMatch(conf, /authentication|auth_pass/);
    assert.match(conf, /^ {2}check_unicast_src$/m, 'the source check stays: with v3 it is what keeps strangers out (with the firewall)');
    assert.equal(advertInt(lbPair({ vrrpVersion: 3, vipIntervalMs: 50 })), '0.05');
    assert.equal(advertInt(lbPair({ vipIntervalMs: 3000 })), '3');
    assert.equal(advertInt(lbPair()), '1', 'hosts default: VRRPv2 every second');
    assert.doesNotMatch(renderKeepalivedConf({ topo: lbPair(), node: 'lb1', checkScript: '/c.sh', authPass: 'abcdefgh' }), /version 3/);
    // VRRPv2 still needs its password.
    assert.throws(() => renderKeepalivedConf({ topo: lbPair(), node: 'lb1', checkScript: '/c.sh' }), /vrrpPassword/);
  });

  it('the router id is stable, in 1..255, and differs between clusters', () => {
    assert.equal(virtualRouterId('shop'), virtualRouterId('shop'));
    const ids = ['a', 'b', 'c', 'shop', 'erp', 'hastack'].map(virtualRouterId);
    for (const id of ids) assert.ok(id >= 1 && id <= 255);
    assert.ok(new Set(ids).size > 1);
    assert.equal(vrrpPriority(0), 150);
    assert.equal(vrrpPriority(100), 1);
  });

  it("the check script asks our load balancer's own health path", () => {
    const s = renderCheckScript(lbPair(), 'lb3', '/usr/bin/node');
    assert.match(s, /curl -fsS --max-time 1 -o \/dev\/null 'http:\/\/10\.0\.0\.3:8080\/-\/healthz'/);
    assert.match(s, /exec '\/usr\/bin\/node' -e/);
    assert.match(s, /^#!\/bin\/sh\n/);
  });

  it('finds the interface carrying an address, or the subnet containing it', () => {
    const ip = [
      '1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever',
      '2: eth0    inet 10.0.0.2/24 brd 10.0.0.255 scope global eth0\\       valid_lft forever preferred_lft forever',
      '3: veth1@if4    inet 192.168.7.5/16 scope global veth1',
    ].join('\n');
    assert.deepEqual(resolveInterface(ip, '10.0.0.2'), { iface: 'eth0', prefix: 24 });
    assert.deepEqual(resolveInterface(ip, '127.0.75.1'), { iface: 'lo', prefix: 8 });
    assert.deepEqual(resolveInterface(ip, '192.168.200.1'), { iface: 'veth1', prefix: 16 });
    assert.equal(resolveInterface(ip, '172.16.0.1'), undefined);
  });
});
