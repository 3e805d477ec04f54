/**
 * Review item 7 (issue 17): Galera membership is restricted to the cluster's own nodes. A three
 * node galera cluster comes up through the real CLI; then a throwaway `mariadbd` with the galera
 * provider, on an address outside the cluster but with the right cluster name and the cluster's
 * gcomm:// list, tries to join. Without `wsrep_allowlist` it joins (cluster size 4) and would
 * receive every row by state transfer; with it, every member logs the stranger as "not found in
 * allowlist" and the cluster stays at 3.
 *
 * Then, with `database.tls: on` (what `hosts` gets by default), a second cluster comes up: the
 * joiners' state transfers ran over TLS, and the gcomm port speaks TLS with a certificate of the
 * cluster's own CA, to a peer that shows one (openssl s_client).
 *
 * Addresses 127.0.207.x (this test's range: .1–.4 the first cluster, .9 the stranger, .11–.14
 * the TLS cluster), admin API on 127.0.207.254:9207 and :9209, cluster names `gmember`, `gtls`.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { readSecrets, readTopology, type Secrets, type Topology } from '../../src/config/index.js';
import { galeraPaths, galeraProviderPath } from '../../src/engines/index.js';
import { sleep, waitFor } from '../../src/shared/retry.js';
import { tempDir } from '../helpers/cli.js';
import { upCluster, type TestCluster } from '../helpers/cluster.js';
import { testRange } from '../../kit/addresses.js';
import { dbNodes, ERP_APP, onRange } from '../../kit/configs.js';

const R = testRange('galera-membership');
const CLUSTER = 'gmember';
const DBS = ['db1', 'db2', 'db3'] as const;
const STRANGER = R.address(9);

/** Three Galera nodes and a front node, on span `span` of the row. */
const galeraCluster = (cluster: string, span: number, tls: 'on' | 'off') =>
  onRange('galera-membership', { app: ERP_APP, database: { mode: 'galera', bufferPoolMb: 32, tls }, nodes: dbNodes(DBS.length) }, { cluster, span });
/**
 * How long the stranger gets to join: gcomm retries every ~1.5 s and a join on loopback takes
 * < 2 s, so 10 s is several attempts, each with time to show as a 4th member.
 */
const STRANGER_WINDOW_MS = 10_000;

describe('review item 7: a galera node outside the cluster cannot join it', { timeout: 8 * 60_000 }, () => {
  let cluster: TestCluster | undefined;
  let topo: Topology;
  let secrets: Secrets;
  let stranger: ChildProcess | undefined;
  const strangerDir = tempDir('gmember-stranger');

  const dbAddr = (node: string): string => topo.services.find((s) => s.node === node && s.kind === 'mariadb')?.address ?? assert.fail(`no ${node}`);

  async function clusterSize(node: string): Promise<number> {
    const c = await mysql.createConnection({ host: dbAddr(node), port: 3306, user: 'hastack', password: secrets.dbAppPassword, connectTimeout: 2_000 });
    try {
      const [rows] = await c.query<RowDataPacket[]>("SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'");
      return Number(rows[0]?.['Value']);
    } finally {
      await c.end().catch(() => c.destroy());
    }
  }

  before(async () => {
    // TLS off here, so the refusal below is the allow-list's alone (TLS would refuse it too).
    cluster = await upCluster('gmember', galeraCluster(CLUSTER, 0, 'off'));
    const stateDir = path.join(cluster.dir, '.hastack', CLUSTER);
    topo = readTopology(stateDir);
    secrets = readSecrets(stateDir);
  });

  after(async () => {
    if (stranger?.pid !== undefined && stranger.exitCode === null) {
      stranger.kill('SIGKILL');
      await new Promise((r) => stranger?.once('exit', r));
    }
    await cluster?.down();
    fs.rmSync(strangerDir, { recursive: true, force: true });
  });

  it('refuses a mariadbd that knows the cluster name and the members but has another address', async () => {
    for (const n of DBS) assert.equal(await clusterSize(n), 3, `${n} sees 3 members before the stranger`);
    const cnf = path.join(strangerDir, 'my.cnf');
    const data = path.join(strangerDir, 'data');
    const errLog = path.join(strangerDir, 'mariadb.err');
    fs.mkdirSync(path.join(strangerDir, 'tmp'), { recursive: true });
    fs.writeFileSync(
      cnf,
      [
        '[mysqld]',
        'user=root',
        `datadir=${data}`,
        `socket=${path.join(strangerDir, 'mysqld.sock')}`,
        `pid-file=${path.join(strangerDir, 'mysqld.pid')}`,
        `tmpdir=${path.join(strangerDir, 'tmp')}`,
        `log-error=${errLog}`,
        `bind-address=${STRANGER}`,
        'port=3306',
        'skip-name-resolve',
        'wsrep_on=ON',
        `wsrep_provider=${galeraProviderPath()}`,
        // Everything a stranger can learn from the network: the name and the members' addresses.
        `wsrep_cluster_name=${CLUSTER}`,
        `wsrep_cluster_address=gcomm://${DBS.map(dbAddr).join(',')}`,
        `wsrep_node_address=${STRANGER}`,
        `wsrep_sst_receive_address=${STRANGER}:4444`,
        `wsrep_provider_options="gmcast.listen_addr=tcp://${STRANGER}:4567;ist.recv_addr=${STRANGER}:4568"`,
        'wsrep_sst_method=mariabackup',
        'binlog_format=ROW',
        'innodb_autoinc_lock_mode=2',
        'innodb_buffer_pool_size=32M',
        'innodb_log_file_size=16M',
        'performance_schema=OFF',
        '',
      ].join('\n'),
    );
    const install = spawn('mariadb-install-db', [`--defaults-file=${cnf}`], { stdio: 'ignore' });
    assert.equal(await new Promise((r) => install.once('exit', r)), 0, 'mariadb-install-db for the stranger');
    stranger = spawn('mariadbd', [`--defaults-file=${cnf}`], { stdio: 'ignore' });

    // Watch for the whole window: a join shows as size 4 on a member at any moment in it.
    const sizes = new Set<number>();
    const t0 = Date.now();
    while (Date.now() - t0 < STRANGER_WINDOW_MS) {
      for (const n of DBS) sizes.add(await clusterSize(n));
      await sleep(500);
    }
    const strangerLog = fs.existsSync(errLog) ? fs.readFileSync(errLog, 'utf8') : '';
    const refusals = DBS.map((n) => {
      const svc = topo.services.find((s) => s.node === n && s.kind === 'mariadb') ?? assert.fail();
      return (fs.readFileSync(galeraPaths(svc).errorLog, 'utf8').match(new RegExp(`IP ${STRANGER.replace(/\./g, '\\.')} not found in allowlist`, 'g')) ?? []).length;
    });
    console.log(
      `# cluster sizes seen while the stranger tried for ${STRANGER_WINDOW_MS / 1000} s: ${[...sizes].join(', ')}; refusals logged by ${DBS.join('/')}: ${refusals.join('/')}`,
    );
    assert.deepEqual([...sizes], [3], 'the cluster stayed at 3 members');
    assert.ok(
      refusals.some((r) => r > 0),
      'a member logged the stranger as not in its allowlist',
    );
    assert.doesNotMatch(strangerLog, /Synchronized with group|SST complete/, 'the stranger never received the data');
    // The members are still one healthy 3-node component after the attempt.
    assert.ok(await waitFor(async () => ((await clusterSize('db1')) === 3 ? true : undefined), { timeoutMs: 10_000 }), 'db1 in a 3-node component');
  });
});

describe('review item 7: with database.tls on, galera traffic and state transfer are encrypted', { timeout: 8 * 60_000 }, () => {
  const TLS_CLUSTER = 'gtls';
  let cluster: TestCluster | undefined;
  let topo: Topology;

  before(async () => {
    cluster = await upCluster('gtls', galeraCluster(TLS_CLUSTER, 2, 'on'));
    topo = readTopology(path.join(cluster.dir, '.hastack', TLS_CLUSTER));
  });

  after(async () => {
    await cluster?.down();
  });

  it('joins by state transfer over TLS and speaks TLS with the cluster CA on 4567', () => {
    const tls = path.join(topo.stateDir, 'tls');
    assert.equal(fs.statSync(tls).mode & 0o777, 0o700, 'the tls directory is 0700');
    for (const f of ['ca.key', ...DBS.map((n) => `${n}.key`)]) assert.equal(fs.statSync(path.join(tls, f)).mode & 0o777, 0o600, `${f} is 0600`);
    // db2 and db3 joined db1 by SST at `up`: their logs show the encrypted stream.
    for (const n of ['db2', 'db3']) {
      const svc = topo.services.find((s) => s.node === n && s.kind === 'mariadb') ?? assert.fail();
      const log = fs.readFileSync(galeraPaths(svc).errorLog, 'utf8');
      assert.match(log, /MODE='VERIFY_CA', encrypt='3'/, `${n}: SST with encrypt=3 (TLS, CA verified)`);
      assert.match(log, /Using openssl based encryption with socat/, `${n}: socat over openssl`);
    }
    const db1 = topo.services.find((s) => s.node === 'db1' && s.kind === 'mariadb') ?? assert.fail();
    // A peer that shows a certificate of this cluster: the handshake verifies against our CA.
    const r = spawnSync(
      'openssl',
      [
        's_client',
        '-connect',
        `${db1.address}:4567`,
        '-CAfile',
        path.join(tls, 'ca.crt'),
        '-cert',
        path.join(tls, 'db2.crt'),
        '-key',
        path.join(tls, 'db2.key'),
        '-verify_return_error',
      ],
      { input: '', encoding: 'utf8', timeout: 15_000 },
    );
    const out = r.stdout + r.stderr;
    console.log(
      `# openssl s_client ${db1.address}:4567: ${out
        .split('\n')
        .filter((l) => /^(subject|issuer)=|Verify return code|Protocol|Cipher is/.test(l.trim()))
        .map((l) => l.trim())
        .join(' | ')}`,
    );
    assert.match(out, /Verify return code: 0 \(ok\)/);
    assert.match(out, new RegExp(`issuer=O = hastack, CN = hastack ${TLS_CLUSTER} cluster CA`));
    assert.match(out, /subject=O = hastack, CN = db1/);
  });
});
