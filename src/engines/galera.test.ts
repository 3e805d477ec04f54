import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, resolveTopology } from '../config/index.js';
import { galeraAllowlist, galeraHealth, galeraPaths, renderGaleraCnf } from './galera.js';

const topo = resolveTopology(
  parseConfig({
    cluster: 'unit',
    addressBase: '127.0.54',
    database: { mode: 'galera', bufferPoolMb: 32 },
    nodes: [
      { name: 'web', services: ['app', 'lb', 'redis'] },
      { name: 'db1', services: ['mariadb'] },
      { name: 'db2', services: ['mariadb'] },
      { name: 'db3', services: ['mariadb'] },
    ],
  }),
  { stateRoot: '/tmp/hastack-unit', configDir: '/tmp' },
);

function cnfFor(node: string, asRoot = true): string {
  const svc = topo.services.find((s) => s.node === node && s.kind === 'mariadb');
  assert.ok(svc);
  return renderGaleraCnf({
    id: svc.id,
    cluster: topo.cluster,
    nodeName: node,
    asRoot,
    paths: galeraPaths(svc),
    address: svc.address,
    port: svc.port,
    peers: topo.services.filter((s) => s.kind === 'mariadb').map((s) => s.address),
    allowlist: galeraAllowlist(topo),
    bufferPoolMb: 32,
    providerPath: '/usr/lib/galera/libgalera_smm.so',
    sstPassword: 'pw',
    sstMethod: 'mariabackup',
  });
}

describe('renderGaleraCnf', () => {
  it('lists every node in gcomm:// and listens on its own address', () => {
    const cnf = cnfFor('db2');
    assert.match(cnf, /^wsrep_cluster_address=gcomm:\/\/127\.0\.54\.2,127\.0\.54\.3,127\.0\.54\.4$/m);
    assert.match(cnf, /^wsrep_node_address=127\.0\.54\.3$/m);
    assert.match(cnf, /gmcast\.listen_addr=tcp:\/\/127\.0\.54\.3:4567/);
    assert.match(cnf, /ist\.recv_addr=127\.0\.54\.3:4568/);
    assert.match(cnf, /^wsrep_sst_receive_address=127\.0\.54\.3:4444$/m);
  });
  it('carries the settings Galera requires and the measured failure detection', () => {
    const cnf = cnfFor('db1');
    for (const line of ['wsrep_on=ON', 'binlog_format=ROW', 'innodb_autoinc_lock_mode=2', 'wsrep_sst_method=mariabackup', 'user=root']) {
      assert.ok(cnf.split('\n').includes(line), `${line} in my.cnf`);
    }
    for (const opt of [
      'evs.suspect_timeout=PT2S',
      'evs.inactive_timeout=PT4S',
      'evs.keepalive_period=PT0.5S',
      'evs.inactive_check_period=PT0.5S',
      'gcache.recover=yes',
      'pc.recovery=FALSE',
    ]) {
      assert.ok(cnf.includes(opt), `${opt} in wsrep_provider_options`);
    }
    assert.match(cnf, /^\[sst\]\nsst-log-archive-dir=\/tmp\/hastack-unit\/unit\/db1\/mariadb\/sst-logs$/m);
    // The state transfer's listener on the node's address only (not *:4444, shared by every cluster here).
    assert.match(cnf, /^\[sst\]\n(?:.*\n)*?sockopt=bind=127\.0\.54\.2$/m);
  });
  it('allows only the galera nodes to connect (plus 127.0.0.1, the IST source, on local)', () => {
    assert.match(cnfFor('db1'), /^wsrep_allowlist=127\.0\.54\.2,127\.0\.54\.3,127\.0\.54\.4,127\.0\.0\.1$/m);
    const hosts = resolveTopology(
      parseConfig({
        cluster: 'unit',
        substrate: 'hosts',
        database: { mode: 'galera' },
        nodes: [
          { name: 'web', address: '10.0.0.1', ssh: 'root@10.0.0.1', services: ['app', 'lb', 'redis'] },
          ...[2, 3, 4].map((i) => ({ name: `db${i - 1}`, address: `10.0.0.${i}`, ssh: `root@10.0.0.${i}`, services: ['mariadb' as const] })),
        ],
      }),
      { stateRoot: '/tmp/hastack-unit', configDir: '/tmp' },
    );
    assert.deepEqual(galeraAllowlist(hosts), ['10.0.0.2', '10.0.0.3', '10.0.0.4']);
  });
  it("with TLS: gcomm/IST over TLS with the cluster CA, the server's certificate, SST verified against the CA", () => {
    const svc = topo.services.find((s) => s.node === 'db1' && s.kind === 'mariadb') ?? assert.fail();
    const tls = { ca: '/s/tls/ca.crt', cert: '/s/tls/db1.crt', key: '/s/tls/db1.key' };
    const cnf = renderGaleraCnf({
      id: svc.id,
      cluster: topo.cluster,
      nodeName: 'db1',
      asRoot: true,
      paths: galeraPaths(svc),
      address: svc.address,
      port: svc.port,
      peers: [svc.address],
      allowlist: [svc.address],
      bufferPoolMb: 32,
      providerPath: '/usr/lib/galera/libgalera_smm.so',
      sstPassword: 'pw',
      sstMethod: 'mariabackup',
      tls,
    });
    assert.match(cnf, /socket\.ssl=YES;socket\.ssl_ca=\/s\/tls\/ca\.crt;socket\.ssl_cert=\/s\/tls\/db1\.crt;socket\.ssl_key=\/s\/tls\/db1\.key"$/m);
    for (const line of ['ssl_ca=/s/tls/ca.crt', 'ssl_cert=/s/tls/db1.crt', 'ssl_key=/s/tls/db1.key', 'ssl-mode=VERIFY_CA']) assert.ok(cnf.split('\n').includes(line), line);
    assert.ok(cnf.indexOf('ssl-mode=VERIFY_CA') > cnf.indexOf('[sst]'), 'ssl-mode in [sst]');
    assert.doesNotMatch(cnfFor('db1'), /ssl/, 'no TLS lines when TLS is off');
  });
  it('omits user=root when not root', () => {
    assert.ok(!cnfFor('db1', false).split('\n').includes('user=root'));
  });
});

describe('galeraHealth', () => {
  const vars = (over: Record<string, string>): Record<string, string> => ({
    wsrep_cluster_status: 'Primary',
    wsrep_local_state: '4',
    wsrep_ready: 'ON',
    wsrep_cluster_size: '3',
    wsrep_last_committed: '42',
    ...over,
  });
  it('is healthy when synced in the Primary component', () => {
    const h = galeraHealth(vars({}));
    assert.equal(h.healthy, true);
    assert.equal(h.detail, 'synced, cluster size 3, seqno 42');
  });
  it('keeps a donor healthy (it still serves) but not synced', () => {
    const h = galeraHealth(vars({ wsrep_local_state: '2' }));
    assert.equal(h.healthy, true);
    assert.equal(h.synced, false);
    assert.match(h.detail, /^donor/);
  });
  it('is unhealthy while joining', () => {
    assert.equal(galeraHealth(vars({ wsrep_local_state: '1' })).healthy, false);
    assert.equal(galeraHealth(vars({ wsrep_local_state: '3' })).healthy, false);
  });
  it('is unhealthy without quorum, and says so', () => {
    const h = galeraHealth(vars({ wsrep_cluster_status: 'non-Primary', wsrep_ready: 'OFF', wsrep_cluster_size: '1' }));
    assert.equal(h.healthy, false);
    assert.equal(h.primary, false);
    assert.match(h.detail, /non-Primary \(no quorum\), not ready/);
  });
});
