/**
 * Review item 7 (issue 17), MariaDB replication between machines: with `database.tls: on` (what
 * `substrate: hosts` gets by default) the `simple` preset's standby replicates from the primary
 * over TLS, having checked the primary's certificate against the cluster's CA; the replication
 * account requires a client certificate of that CA (REQUIRE X509), so its password alone, from
 * any other machine, gets nothing; and orders still reach the standby.
 *
 * Namespace: addresses 127.0.207.31-32 (and the supervisor's 127.0.207.254:9210), cluster
 * `repltls`, state in a fresh temp directory; stopped with `down`, every recorded pid checked.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { readSecrets, readTopology, type Secrets, type Topology } from '../../src/config/index.js';
import { mariadbPaths } from '../../src/engines/index.js';
import { waitFor } from '../../src/shared/retry.js';
import { upCluster, type TestCluster } from '../helpers/cluster.js';
import { postOrder } from '../helpers/orders.js';
import { testRange } from '../../kit/addresses.js';
import { simpleCluster } from '../../kit/configs.js';

const CLUSTER = testRange('replication-tls').cluster;

describe('review item 7: MariaDB replication over TLS with the cluster CA', { timeout: 6 * 60_000 }, () => {
  let cluster: TestCluster | undefined;
  let topo: Topology;
  let secrets: Secrets;
  const db = (node: string) => topo.services.find((s) => s.node === node && s.kind === 'mariadb') ?? assert.fail(`no ${node}`);

  /** SQL as root over the node's unix socket (the mariadb client; no password on argv). */
  function rootSql(node: string, sql: string, columnNames = false): string {
    const r = spawnSync('mariadb', [`--defaults-file=${mariadbPaths(db(node)).conf}`, '-uroot', ...(columnNames ? [] : ['-N']), '-B', '-e', sql], {
      encoding: 'utf8',
      timeout: 15_000,
      env: { ...process.env, MYSQL_PWD: secrets.dbRootPassword },
    });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  }

  before(async () => {
    cluster = await upCluster('repltls', simpleCluster('replication-tls', { database: { mode: 'replication', tls: 'on' } }));
    const stateDir = path.join(cluster.dir, '.hastack', CLUSTER);
    topo = readTopology(stateDir);
    secrets = readSecrets(stateDir);
  });

  after(async () => {
    await cluster?.down();
  });

  it('the standby replicates over verified TLS, and the replication password alone is refused', async () => {
    const status = rootSql('standby', 'SHOW SLAVE STATUS\\G', true);
    const field = (name: string): string => new RegExp(`^\\s*${name}: (.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
    assert.equal(field('Slave_IO_Running'), 'Yes', status);
    assert.equal(field('Master_SSL_Allowed'), 'Yes');
    assert.equal(field('Master_SSL_Verify_Server_Cert'), 'Yes');
    assert.match(field('Master_SSL_CA_File'), /\/tls\/ca\.crt$/);
    // The account itself demands a certificate of the cluster CA (so also TLS) from whoever uses it.
    assert.match(rootSql('primary', "SELECT JSON_VALUE(Priv, '$.ssl_type') FROM mysql.global_priv WHERE User = 'repl' AND Host = '%'"), /^2$/, 'repl REQUIRE X509 (ssl_type 2)');

    // The replication password without a certificate of the cluster CA: refused, with or without TLS.
    const primary = db('primary');
    for (const ssl of [undefined, { rejectUnauthorized: false }]) {
      const err = await mysql
        .createConnection({ host: primary.address, port: primary.port, user: 'repl', password: secrets.dbReplPassword, connectTimeout: 3_000, ...(ssl ? { ssl } : {}) })
        .then(async (c) => {
          await c.end();
          return undefined;
        })
        .catch((e: { code?: string }) => e.code);
      assert.equal(err, 'ER_ACCESS_DENIED_ERROR', `repl without a client certificate (${ssl ? 'TLS' : 'clear'}) is refused`);
    }

    // Replication still carries the app's writes.
    const r = await postOrder(`http://${primary.address}:8080`, 'rtls-order-1');
    assert.equal(r.status, 201);
    const seen = await waitFor(
      async () => {
        const c = await mysql.createConnection({ host: db('standby').address, port: 3306, user: 'hastack', password: secrets.dbAppPassword, database: 'app' });
        try {
          const [rows] = await c.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM sales_orders WHERE id = ?', [r.id]);
          return Number(rows[0]?.['n']) === 1 ? true : undefined;
        } finally {
          await c.end();
        }
      },
      { timeoutMs: 20_000, intervalMs: 250 },
    );
    assert.ok(seen, `order ${r.id} reached the standby`);
    console.log(`# standby: Master_SSL_Allowed ${field('Master_SSL_Allowed')}, verify server cert ${field('Master_SSL_Verify_Server_Cert')}; repl without certificate: refused`);
  });
});
