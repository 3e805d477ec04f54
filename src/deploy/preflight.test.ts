import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig, resolveTopology } from '../config/index.js';
import { hostNeeds } from './needs.js';
import { judgeHost, missingPackages, parseFacts, preflightScript } from './preflight.js';

const topo = resolveTopology(
  parseConfig({
    substrate: 'hosts',
    nodes: [
      { name: 'primary', address: '10.0.0.1', ssh: 'root@10.0.0.1', services: ['mariadb', 'redis', 'sentinel', 'memcached', 'app', 'worker', 'lb', 'dns'] },
      { name: 'standby', address: '10.0.0.2', ssh: 'root@10.0.0.2', services: ['mariadb', 'redis', 'sentinel', 'memcached', 'app', 'worker', 'lb', 'dns'] },
    ],
    lb: { vip: '10.0.0.100' },
  }),
  { stateRoot: '/tmp/x', configDir: '/tmp' },
);
const primary = topo.nodes[0];
if (!primary) throw new Error('no node');
const needs = hostNeeds(topo, primary);

const good = [
  'os=debian 12',
  'uid=0',
  'node=/usr/bin/node',
  'nodeVersion=v20.20.2',
  'pid1=systemd',
  'systemd=yes',
  'apt=yes',
  'bin.redis-server=/usr/bin/redis-server',
  'bin.redis-sentinel=/usr/bin/redis-sentinel',
  'bin.memcached=/usr/bin/memcached',
  'bin.mariadbd=/usr/sbin/mariadbd',
  'bin.mariadb-install-db=/usr/bin/mariadb-install-db',
  'bin.mariabackup=/usr/bin/mariabackup',
  'bin.mariadb=/usr/bin/mariadb',
  'bin.rsync=/usr/bin/rsync',
  'pkg.keepalived=yes',
  'pkg.iptables=yes',
  'stamp=abc',
  'listen=127.0.0.1:22',
  'listen=0.0.0.0:22',
  'clock=1000000',
].join('\n');

function judge(text: string, extra: Partial<Parameters<typeof judgeHost>[0]> = {}) {
  return judgeHost({ needs, facts: parseFacts(text), target: 'root@10.0.0.1:22', sentAtMs: 999_900, receivedAtMs: 1_000_100, maxClockSkewMs: 2000, ownPorts: new Set(), ...extra });
}

describe('deploy preflight', () => {
  it('a host needs the engines of its services, rsync for the database, keepalived for a floating address', () => {
    assert.deepEqual(needs.binaries.map((b) => b.binary).sort(), [
      'mariabackup',
      'mariadb',
      'mariadb-install-db',
      'mariadbd',
      'memcached',
      'redis-sentinel',
      'redis-server',
      'rsync',
    ]);
    assert.deepEqual(needs.packages, ['keepalived', 'iptables'], 'iptables: the firewall closing memcached to strangers');
    assert.equal(needs.listens.length, 8);
    assert.match(preflightScript(needs, '/opt/hastack', '.hastack-bundle'), /bin\.mariadbd=/);
  });

  it('a ready host passes', () => {
    const f = parseFacts(good);
    assert.equal(f.systemd, true);
    assert.equal(f.bundleStamp, 'abc');
    assert.deepEqual(missingPackages(needs, f), []);
    assert.deepEqual(judge(good), []);
  });

  it('missing engines are packages to install, an error only without apt-get', () => {
    const text = good.replace('bin.memcached=/usr/bin/memcached', 'bin.memcached=\napt.memcached=yes').replace('pkg.keepalived=yes', 'apt.keepalived=yes');
    assert.deepEqual(missingPackages(needs, parseFacts(text)), ['memcached', 'keepalived']);
    assert.deepEqual(judge(text), []);
    const noCandidate = judge(text.replace('apt.keepalived=yes', ''));
    assert.match(noCandidate[0]?.message ?? '', /lacks keepalived and apt has no candidate for it: run "apt-get update"/);
    const noApt = judge(text.replace('apt=yes', 'apt=no'));
    assert.equal(noApt.length, 1);
    assert.match(noApt[0]?.message ?? '', /host primary \(root@10\.0\.0\.1:22\) lacks memcached, keepalived/);
  });

  it('old or missing Node, non-root login', () => {
    assert.match(judge(good.replace('v20.20.2', 'v18.19.0'))[0]?.message ?? '', /Node\.js v18\.19\.0 .* needs 20/);
    assert.match(judge(good.replace('node=/usr/bin/node', 'node=').replace('nodeVersion=v20.20.2', ''))[0]?.message ?? '', /has no Node\.js/);
    assert.match(judge(good.replace('uid=0', 'uid=1000'))[0]?.message ?? '', /needs root/);
  });

  it('a port taken by another program is an error naming it; our own running unit is not', () => {
    const taken = `${good}\nlisten=0.0.0.0:6379\nlisten=[::]:3306`;
    const v = judge(taken);
    assert.equal(v.length, 2);
    assert.match(v.map((x) => x.message).join('\n'), /port 6379 \(for primary\/redis\) is already taken by another program listening on 0\.0\.0\.0:6379/);
    assert.equal(judge(taken, { ownPorts: new Set([6379, 3306]) }).length, 0);
    assert.equal(judge(`${good}\nlisten=10.0.0.9:6379`).length, 0, 'another address of the host is not ours');
  });

  it('clock skew beyond the bound, net of the round trip', () => {
    assert.deepEqual(judge(good.replace('clock=1000000', 'clock=1002050')), [], 'within bound + half the round trip');
    const v = judge(good.replace('clock=1000000', 'clock=1005000'));
    assert.match(v[0]?.message ?? '', /clock is 5\.0 s ahead/);
    assert.match(judge(good.replace('clock=1000000', 'clock=990000'))[0]?.message ?? '', /10\.0 s behind/);
  });
});
