import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig, resolveTopology, type ConfigInput, type Secrets, type Topology } from '../config/index.js';
import { keepalivedPre, serviceInputs, unitsForNode, type UnitsOptions } from './units.js';

const secrets: Secrets = { redisPassword: 'r', sentinelPassword: 's', dbRootPassword: 'd', dbAppPassword: 'a', dbReplPassword: 'p', sessionKey: 'k' };
const opts: UnitsOptions = { nodeBin: '/usr/bin/node', cliMain: '/opt/hastack/dist/src/cli/main.js', asRoot: true, secrets };

function twoHosts(extra: Partial<ConfigInput> = {}): Topology {
  const config = parseConfig({
    cluster: 'shop',
    substrate: 'hosts',
    nodes: [
      { name: 'primary', address: '10.0.0.1', ssh: 'root@10.0.0.1', services: ['mariadb', 'redis', 'memcached', 'app', 'lb'] },
      { name: 'standby', address: '10.0.0.2', ssh: 'root@10.0.0.2', services: ['mariadb', 'redis', 'app', 'lb'] },
    ],
    ...extra,
  });
  return resolveTopology(config, { stateRoot: '/ignored', configDir: '/ignored' });
}

describe('the units a host needs', () => {
  it('one service unit per service, running the driver command with the agent prepare before it', () => {
    const units = unitsForNode(twoHosts(), 'standby', opts);
    assert.deepEqual(
      units.map((u) => u.name),
      ['hastack-shop-standby-mariadb', 'hastack-shop-standby-redis', 'hastack-shop-standby-app', 'hastack-shop-standby-lb'],
    );
    const redis = units[1];
    assert.ok(redis);
    assert.equal(redis.serviceId, 'standby/redis');
    assert.deepEqual(redis.exec, ['redis-server', '/var/lib/hastack/shop/standby/redis/redis.conf']);
    assert.deepEqual(redis.pre, ['/usr/bin/node', '/opt/hastack/dist/src/cli/main.js', '_agent', 'prepare', '--state', '/var/lib/hastack/shop', '--id', 'standby/redis']);
    assert.equal(redis.logFile, '/var/lib/hastack/shop/standby/redis/service.log');
    assert.equal(redis.restartSec, 0.2);
    assert.equal(redis.restartMaxSec, 5);
  });

  it('stop timeouts follow the descriptors: the database gets the longest', () => {
    const units = unitsForNode(twoHosts(), 'standby', opts);
    assert.equal(units.find((u) => u.serviceId === 'standby/mariadb')?.stopTimeoutMs, 30_000);
    assert.equal(units.find((u) => u.serviceId === 'standby/app')?.stopTimeoutMs, 15_000);
  });

  it('review item 4: every service runs as its own unprivileged user, writing only its directory; never "-u root"', () => {
    const units = unitsForNode(twoHosts(), 'primary', opts);
    const mc = units.find((u) => u.serviceId === 'primary/memcached');
    assert.equal(mc?.user, 'hastack-memcached');
    assert.deepEqual(mc?.writablePaths, ['/var/lib/hastack/shop/primary/memcached']);
    assert.ok(!mc?.exec.includes('-u'), 'the engine is not told to stay root');
    for (const u of units.filter((x) => x.role === 'service')) assert.equal(u.user, `hastack-${u.serviceId?.split('/')[1]}`);
    // keepalived and the controller keep root (VRRP; fencing over SSH): see service-users.ts.
    assert.equal(units.find((u) => u.role === 'controller')?.user, undefined);
    // An agent that is not root cannot switch users: the services run as its own.
    const asUser = unitsForNode(twoHosts(), 'primary', { ...opts, asRoot: false }).find((u) => u.serviceId === 'primary/memcached');
    assert.equal(asUser?.user, undefined);
    assert.ok(!asUser?.exec.includes('-u'));
  });

  it('review item 4: a service on a port below 1024 keeps only CAP_NET_BIND_SERVICE', () => {
    const lb = unitsForNode(twoHosts({ ports: { lb: 80 } }), 'primary', opts).find((u) => u.serviceId === 'primary/lb');
    assert.deepEqual(lb?.capabilities, ['CAP_NET_BIND_SERVICE']);
    const redis = unitsForNode(twoHosts(), 'primary', opts).find((u) => u.serviceId === 'primary/redis');
    assert.equal(redis?.capabilities, undefined);
  });

  it('the controller unit only on the controller node (default: the first)', () => {
    const first = unitsForNode(twoHosts(), 'primary', opts).filter((u) => u.role === 'controller');
    assert.equal(first.length, 1);
    assert.deepEqual(first[0]?.exec.slice(2), ['_controller', '--state', '/var/lib/hastack/shop', '--node', 'primary']);
    assert.equal(unitsForNode(twoHosts(), 'standby', opts).filter((u) => u.role === 'controller').length, 0);
    const moved = twoHosts({ hosts: { controller: 'standby' } });
    assert.equal(unitsForNode(moved, 'standby', opts).filter((u) => u.role === 'controller').length, 1);
    assert.equal(unitsForNode(moved, 'primary', opts).filter((u) => u.role === 'controller').length, 0);
  });

  it('issue 23: with failover.auto, a controller unit on every etcd and database node too (each decides through its own member, each guards its own primary)', () => {
    const nodes: ConfigInput['nodes'] = [
      { name: 'primary', address: '10.0.0.1', ssh: 'root@10.0.0.1', services: ['mariadb', 'redis', 'sentinel', 'app', 'lb', 'etcd'] },
      { name: 'standby', address: '10.0.0.2', ssh: 'root@10.0.0.2', services: ['mariadb', 'redis', 'sentinel', 'app', 'lb', 'etcd'] },
      { name: 'witness', address: '10.0.0.3', ssh: 'root@10.0.0.3', services: ['sentinel', 'etcd'] },
      // A database node without an etcd member: its unit runs its primary guard only.
      { name: 'db3', address: '10.0.0.4', ssh: 'root@10.0.0.4', services: ['mariadb'] },
    ];
    const withAuto = twoHosts({ nodes, hosts: { controller: 'witness' }, failover: { auto: true } });
    const exec = (t: Topology, n: string): string[][] =>
      unitsForNode(t, n, opts)
        .filter((u) => u.role === 'controller')
        .map((u) => u.exec.slice(2));
    for (const n of ['primary', 'standby', 'witness', 'db3']) assert.deepEqual(exec(withAuto, n), [['_controller', '--state', '/var/lib/hastack/shop', '--node', n]], n);
    // Without the automatic mode only the admin API's node runs one.
    const manual = twoHosts({ nodes, hosts: { controller: 'witness' } });
    assert.deepEqual(
      ['primary', 'standby', 'witness', 'db3'].map((n) => exec(manual, n).length),
      [0, 0, 1, 0],
    );
  });

  it('keepalived on every lb node when lb.vip is set, replacing the distribution unit', () => {
    const topo = twoHosts({ lb: { vip: '10.0.0.100' } });
    for (const node of ['primary', 'standby']) {
      const k = unitsForNode(topo, node, opts).find((u) => u.role === 'keepalived');
      assert.ok(k, node);
      assert.equal(k.exec[0], 'keepalived');
      assert.ok(k.exec.includes('--use-file=/etc/keepalived/keepalived.conf'));
      assert.deepEqual(k.conflicts, ['keepalived.service']);
      assert.deepEqual(k.pre, keepalivedPre(`/var/lib/hastack/shop/${node}/keepalived`));
    }
    assert.equal(unitsForNode(twoHosts(), 'primary', opts).filter((u) => u.role === 'keepalived').length, 0);
  });

  it("keepalived's pre step removes a pid file naming a zombie (never a live process's): a SIGKILLed keepalived comes back; it lets the lb bind the address early", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ka-pre-'));
    // The first `sleep` exits and its parent execs another, which never reaps it: a zombie, as an orphaned
    // VRRP child is under a PID 1 that does not reap.
    const holder = spawn('sh', ['-c', `sleep 0.01 & echo $! > ${dir}/vrrp.pid; exec sleep 30`], { stdio: 'ignore' });
    try {
      fs.writeFileSync(path.join(dir, 'keepalived.pid'), `${process.pid}\n`);
      const deadline = Date.now() + 5_000;
      while (!fs.existsSync(path.join(dir, 'vrrp.pid')) && Date.now() < deadline) execFileSync('sleep', ['0.02']);
      execFileSync('sleep', ['0.1']);
      fs.mkdirSync(path.join(dir, 'sys/net/ipv4'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'sys/net/ipv4/ip_nonlocal_bind'), '0\n');
      const [cmd, ...args] = keepalivedPre(dir, path.join(dir, 'sys'));
      execFileSync(cmd ?? '', args);
      assert.equal(fs.existsSync(path.join(dir, 'vrrp.pid')), false, "the zombie's pid file is gone");
      assert.equal(fs.existsSync(path.join(dir, 'keepalived.pid')), true, 'a live process keeps its pid file');
      assert.equal(fs.readFileSync(path.join(dir, 'sys/net/ipv4/ip_nonlocal_bind'), 'utf8'), '1\n', 'the lb may bind the floating address before it comes');
      execFileSync(cmd ?? '', keepalivedPre(dir, path.join(dir, 'no-such-sys')).slice(1));
    } finally {
      holder.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a backup schedule becomes a timer unit on every database node, each taking the backup only when the source is its own', () => {
    const topo = twoHosts({ backup: { schedule: '0 3 * * *' } });
    for (const node of ['primary', 'standby']) {
      const b = unitsForNode(topo, node, opts).find((u) => u.role === 'backup');
      assert.deepEqual(b?.timer, { kind: 'calendar', onCalendar: ['*-*-* 03:00:00 UTC'], cron: '0 3 * * *' });
      assert.deepEqual(b?.exec.slice(2), ['backup', '-f', '/var/lib/hastack/shop/hastack.yaml', '--state-root', '/var/lib/hastack', '--only-on', node]);
    }
    // The roles, not the layout, decide: a configured target changes where it lands, not where it runs.
    const toPrimary = twoHosts({ backup: { schedule: '6h', target: 'primary' } });
    assert.equal(unitsForNode(toPrimary, 'standby', opts).filter((u) => u.role === 'backup').length, 1);
  });

  it('the binlog archive is a unit on the archive node alone (the first database node, else backup.target), which must carry mariadb', () => {
    const archiveUnits = (topo: Topology, node: string): string[][] =>
      unitsForNode(topo, node, opts)
        .filter((u) => u.role === 'archive')
        .map((u) => u.exec.slice(2));
    const topo = twoHosts({ backup: { binlogArchive: true } });
    assert.deepEqual(archiveUnits(topo, 'primary'), [['_binlog-archive', '--state', '/var/lib/hastack/shop']]);
    assert.deepEqual(archiveUnits(topo, 'standby'), []);
    assert.deepEqual(archiveUnits(twoHosts({ backup: { binlogArchive: true, target: 'standby' } }), 'standby').length, 1);
    assert.deepEqual(archiveUnits(twoHosts(), 'primary'), []);
    assert.throws(
      () =>
        parseConfig({
          cluster: 'shop',
          substrate: 'hosts',
          backup: { binlogArchive: true, target: 'web' },
          nodes: [
            { name: 'db', address: '10.0.0.1', ssh: 'root@10.0.0.1', services: ['mariadb', 'redis'] },
            { name: 'web', address: '10.0.0.2', ssh: 'root@10.0.0.2', services: ['app', 'lb'] },
          ],
        }),
      /backup\.target.*must carry "mariadb"/,
    );
  });

  it('a service restarts only for the settings it depends on: a memcached change leaves the database and redis alone', () => {
    const before = twoHosts();
    const after = twoHosts({ memcached: { memoryMb: 96 } });
    const changed = before.services.filter((svc, i) => {
      const other = after.services[i];
      return other === undefined || JSON.stringify(serviceInputs(before, svc)) !== JSON.stringify(serviceInputs(after, other));
    });
    assert.deepEqual(changed.map((x) => x.kind).sort(), ['app', 'app', 'memcached']);
  });

  it('galera: the command prepare chose is read from a file at each start', () => {
    const config = parseConfig({
      cluster: 'shop',
      substrate: 'hosts',
      database: { mode: 'galera' },
      nodes: ['db1', 'db2', 'db3'].map((name, i) => ({
        name,
        address: `10.0.0.${i + 1}`,
        ssh: `root@10.0.0.${i + 1}`,
        services: i === 0 ? ['mariadb', 'redis', 'app', 'lb'] : ['mariadb'],
      })),
    });
    const topo = resolveTopology(config, { stateRoot: '/x', configDir: '/x' });
    const db = unitsForNode(topo, 'db2', opts).find((u) => u.serviceId === 'db2/mariadb');
    assert.deepEqual(db?.exec, ['/bin/sh', '-c', 'set -f; exec $(cat "$0")', '/var/lib/hastack/shop/db2/mariadb/exec-args']);
    const redis = unitsForNode(topo, 'db1', opts).find((u) => u.serviceId === 'db1/redis');
    assert.equal(redis?.exec[0], 'redis-server');
  });

  it('an unknown node is a NOT_FOUND error naming the nodes', () => {
    assert.throws(() => unitsForNode(twoHosts(), 'nope', opts), /no node "nope".*primary, standby/);
  });
});
