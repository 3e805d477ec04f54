import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, resolveTopology, type Topology } from '../config/index.js';
import { adminHosts, dbRoleOf, describeReplication, isAddressHost, mariadbPaths, parseSlaveStatus, renderMyCnf, semiSyncAtBoot, serverIdOf, type MyCnfParams } from './mariadb.js';

function twoDbTopology(semiSync = true): Topology {
  const config = parseConfig({
    cluster: 'unit',
    addressBase: '127.0.50',
    database: { semiSync, bufferPoolMb: 32, semiSyncTimeoutMs: 3000 },
    nodes: [
      { name: 'web', services: ['app', 'lb', 'redis'] },
      { name: 'db1', services: ['mariadb'] },
      { name: 'db2', services: ['mariadb'] },
    ],
  });
  return resolveTopology(config, { stateRoot: '/tmp/hastack-unit', configDir: '/tmp' });
}

function params(topo: Topology, node: string, over: Partial<MyCnfParams> = {}): MyCnfParams {
  const svc = topo.services.find((s) => s.node === node && s.kind === 'mariadb');
  assert.ok(svc);
  return {
    id: svc.id,
    asRoot: true,
    paths: mariadbPaths(svc),
    address: svc.address,
    port: svc.port,
    serverId: serverIdOf(topo, node),
    bufferPoolMb: topo.config.database.bufferPoolMb,
    role: node === topo.initialDbPrimary ? 'primary' : 'replica',
    semiSync: topo.config.database.semiSync,
    semiSyncMasterAtBoot: false,
    semiSyncTimeoutMs: topo.config.database.semiSyncTimeoutMs,
    ...over,
  };
}

function settings(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('[')) {
      if (line !== '[mysqld]' && m.size > 0) break; // only [mysqld]
      continue;
    }
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const i = t.indexOf('=');
    m.set(i < 0 ? t : t.slice(0, i), i < 0 ? '' : t.slice(i + 1));
  }
  return m;
}

describe('renderMyCnf', () => {
  const topo = twoDbTopology();

  it('with database.tls: the server offers TLS with its node certificate and the cluster CA, in [mysqld]', () => {
    const tls = { ca: '/s/tls/ca.crt', cert: '/s/tls/db2.crt', key: '/s/tls/db2.key' };
    const text = renderMyCnf(params(topo, 'db2', { tls }));
    const mysqld = text.slice(0, text.indexOf('[client]'));
    for (const line of ['ssl_ca=/s/tls/ca.crt', 'ssl_cert=/s/tls/db2.crt', 'ssl_key=/s/tls/db2.key']) assert.ok(mysqld.split('\n').includes(line), line);
    assert.doesNotMatch(renderMyCnf(params(topo, 'db2')), /ssl_/);
  });

  it('renders the initial primary: writable, binlog + GTID strict, durable, own files', () => {
    const p = params(topo, 'db1');
    const s = settings(renderMyCnf(p));
    assert.equal(s.get('user'), 'root');
    assert.equal(s.get('datadir'), p.paths.dataDir);
    assert.equal(s.get('socket'), p.paths.socket);
    assert.equal(s.get('tmpdir'), p.paths.tmpDir);
    assert.equal(s.get('log-error'), p.paths.errorLog);
    assert.equal(s.get('bind-address'), '127.0.50.2');
    assert.equal(s.get('port'), '3306');
    assert.equal(s.get('server_id'), '2');
    assert.equal(s.get('read_only'), '0');
    assert.equal(s.get('gtid_strict_mode'), '1');
    assert.equal(s.get('binlog_format'), 'ROW');
    assert.equal(s.get('log_slave_updates'), '1');
    assert.equal(s.get('sync_binlog'), '1');
    assert.equal(s.get('innodb_flush_log_at_trx_commit'), '1');
    assert.equal(s.get('innodb_buffer_pool_size'), '32M');
    assert.equal(s.get('rpl_semi_sync_master_wait_point'), 'AFTER_SYNC');
    assert.equal(s.get('rpl_semi_sync_master_timeout'), '3000');
    assert.equal(s.get('rpl_semi_sync_master_enabled'), '0', 'off at first boot: no replica yet');
    assert.ok(s.has('skip-name-resolve'));
    assert.equal(s.get('performance_schema'), 'OFF');
  });

  it('renders a replica read-only, acknowledging semi-sync, with its own server_id', () => {
    const s = settings(renderMyCnf(params(topo, 'db2')));
    assert.equal(s.get('read_only'), '1');
    assert.equal(s.get('rpl_semi_sync_slave_enabled'), '1');
    assert.equal(s.get('server_id'), '3');
    // Non-zero, or the fence could not shut the app out at runtime (max_user_connections=-1).
    assert.ok(Number(s.get('max_user_connections')) > 0);
  });

  it('leaves user=root out when not running as root, and semi-sync out when disabled', () => {
    const s = settings(renderMyCnf(params(twoDbTopology(false), 'db1', { asRoot: false })));
    assert.equal(s.has('user'), false);
    assert.equal(s.has('rpl_semi_sync_master_enabled'), false);
  });
});

describe('semiSyncAtBoot', () => {
  const topo = twoDbTopology();
  it('is off at the first boot of a primary (no replica attached yet)', () => {
    assert.equal(semiSyncAtBoot(topo, { role: 'primary', wired: false }), false);
  });
  it('is on when a wired primary restarts: its replicas reconnect within a second', () => {
    assert.equal(semiSyncAtBoot(topo, { role: 'primary', wired: true }), true);
  });
  it('is off on replicas, when disabled, and with no replica in the topology', () => {
    assert.equal(semiSyncAtBoot(topo, { role: 'replica', wired: true }), false);
    assert.equal(semiSyncAtBoot(twoDbTopology(false), { role: 'primary', wired: true }), false);
    const single = resolveTopology(parseConfig({ addressBase: '127.0.50', nodes: [{ name: 'one', services: ['app', 'lb', 'redis', 'mariadb'] }] }), {
      stateRoot: '/tmp/hastack-unit',
      configDir: '/tmp',
    });
    assert.equal(semiSyncAtBoot(single, { role: 'primary', wired: true }), false);
  });
});

describe('parseSlaveStatus and dbRoleOf', () => {
  const running = {
    Master_Host: '127.0.50.2',
    Master_Port: 3306,
    Slave_IO_Running: 'Yes',
    Slave_SQL_Running: 'Yes',
    Seconds_Behind_Master: 0,
    Gtid_IO_Pos: '0-2-17',
    Last_IO_Errno: 0,
    Last_IO_Error: '',
    Last_SQL_Errno: 0,
    Last_SQL_Error: '',
  };

  it('a writable node with no replication configured is the primary', () => {
    const s = parseSlaveStatus(undefined);
    assert.equal(s.configured, false);
    assert.equal(dbRoleOf(false, s), 'primary');
    assert.equal(dbRoleOf(true, s), 'replica', 'read-only with no primary: a fenced node, not a primary');
  });

  it('a streaming replica', () => {
    const s = parseSlaveStatus(running);
    assert.equal(s.ioThread, 'running');
    assert.equal(s.sqlThread, 'running');
    assert.equal(s.secondsBehindMaster, 0);
    assert.equal(dbRoleOf(true, s), 'replica');
    assert.equal(describeReplication(s, '0-2-17'), 'replica of 127.0.50.2:3306, io running, sql running, 0 s behind, gtid 0-2-17');
  });

  it('a replica whose primary is gone: connecting, lag unknown (NULL, not 0)', () => {
    const s = parseSlaveStatus({ ...running, Slave_IO_Running: 'Connecting', Seconds_Behind_Master: null, Last_IO_Errno: 2003, Last_IO_Error: "Can't connect" });
    assert.equal(s.ioThread, 'connecting');
    assert.equal(s.secondsBehindMaster, null);
    assert.match(describeReplication(s, ''), /io connecting, sql running, lag unknown, gtid empty, io error 2003/);
  });
});

describe('serverIdOf', () => {
  it('is the 1-based node position, unique per node', () => {
    const topo = twoDbTopology();
    assert.deepEqual(
      ['web', 'db1', 'db2'].map((n) => serverIdOf(topo, n)),
      [1, 2, 3],
    );
    assert.throws(() => serverIdOf(topo, 'nope'));
  });
});

describe('isAddressHost', () => {
  it('keeps hosts the server matches under skip-name-resolve, and not machine names', () => {
    for (const h of ['localhost', '127.0.0.1', '::1', '%', '127.0.50.%', '10.0.0.0/255.0.0.0']) assert.equal(isAddressHost(h), true, h);
    for (const h of ['vm', 'db1.example.com']) assert.equal(isAddressHost(h), false, h);
  });
});

describe("review item 4: the database admin account's host part", () => {
  it("the cluster's node addresses and the machine's loopback, never %", () => {
    const hosts = adminHosts(twoDbTopology());
    assert.deepEqual(hosts, ['localhost', '127.0.0.1', '::1', '127.0.50.1', '127.0.50.2', '127.0.50.3']);
    assert.ok(!hosts.includes('%'));
  });

  it("netns adds the bridge's host side (the supervisor and the CLI); database.adminFrom adds an operator machine", () => {
    const topo = resolveTopology(
      parseConfig({
        substrate: 'netns',
        netns: { addressBase: '10.213.99' },
        database: { adminFrom: ['192.168.7.20'] },
        nodes: [{ name: 'one', services: ['app', 'lb', 'redis', 'mariadb'] }],
      }),
      { stateRoot: '/tmp/hastack-unit', configDir: '/tmp' },
    );
    assert.deepEqual(adminHosts(topo), ['localhost', '127.0.0.1', '::1', '10.213.99.1', '10.213.99.254', '192.168.7.20']);
  });
});
