// lane: hosts (a host bed, not in CI: it boots its hosts and deploys over SSH; npm run test:hosts)
/**
 * Issue 24 on Galera on real hosts: `restore --into-cluster` from the operator's machine. The
 * `ideal` preset's database on a four-host bed (db1-db3 Galera, edge the front), with
 * `backup.binlogArchive` and `backup.target: db3` (the archive and the backups on db3's machine):
 * - deploy; the archive streams on db3; a base backup taken there (the last synced node is its
 *   source);
 * - rows 1 and 2, T = the write sets' GTID after them, row 3;
 * - `restore --into-cluster --to-gtid T`: built on db3, copied to db1 (the first synced node, which
 *   bootstraps a new cluster), db2 and db3 set aside and joined by SST;
 * - every node synced in one cluster of three and holding exactly rows 1 and 2 (read with the
 *   `mariadb` client); a row written after it reaches every node.
 * Addresses 10.213.236.x (kit/addresses.ts `hosts-galera-restore`), cluster `pthg`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { readSecrets, readTopology, servicesOf } from '../../src/config/index.js';
import { waitFor } from '../../src/shared/retry.js';
import { testRange } from '../../kit/addresses.js';
import { runCli, tempDir } from '../helpers/cli.js';
import { startHostBed, type HostBed } from '../helpers/hostbed.js';
import { galeraOnBed } from '../helpers/hosts-config.js';

const R = testRange('hosts-galera-restore');
const STATE = `/var/lib/hastack/${R.cluster}`;
const HASTACK = '/opt/hastack/bin/hastack';
const DBS = ['db1', 'db2', 'db3'] as const;

describe('restore --into-cluster on Galera on four hosts', { timeout: 20 * 60_000 }, () => {
  const t0 = Date.now();
  const dir = tempDir('bed-hgrest');
  const configFile = path.join(dir, 'hastack.yaml');
  let bed: HostBed | undefined;
  const stamp = (what: string): void => void process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}\n`);
  const hosts = (): HostBed => bed ?? assert.fail('the host bed is not up');

  before(async () => {
    if (R.privateBase === undefined) throw new Error('no private /24 for hosts-galera-restore');
    bed = await startHostBed({ hosts: ['db1', 'db2', 'db3', 'edge'], addressBase: R.privateBase, init: process.env['HASTACK_BED_INIT'] === 'keeper' ? 'keeper' : 'systemd' });
    fs.writeFileSync(configFile, YAML.stringify(galeraOnBed(bed, R.cluster, { backup: { target: 'db3', binlogArchive: true } })));
  });
  after(async () => {
    await runCli(['down', '-f', configFile], { cwd: dir, timeoutMs: 150_000 }).catch(() => undefined);
    await bed?.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** One statement on a node's MariaDB from this machine (the operator's, in database.adminFrom), with the real `mariadb` client. */
  async function sql(node: string, query: string): Promise<string> {
    const stateDir = path.join(dir, '.hastack', R.cluster);
    const svc = servicesOf(readTopology(stateDir), 'mariadb').find((x) => x.node === node) ?? assert.fail(node);
    const r = await promisify(execFile)('mariadb', ['-h', svc.address, '-P', String(svc.port), '-u', 'hastack_admin', '-N', '-B', '-e', query], {
      env: { ...process.env, MYSQL_PWD: readSecrets(stateDir).dbRootPassword },
      timeout: 15_000,
    });
    return r.stdout.trim();
  }
  const archiveStatus = async (): Promise<{ streaming?: boolean; lastGtid?: string }> =>
    JSON.parse((await hosts().exec('db3', `cat ${STATE}/binlog-archive.json 2>/dev/null || echo '{}'`)).stdout) as { streaming?: boolean; lastGtid?: string };
  /** The write sets' GTID (domain 0) of a node's binlog. */
  const wsGtid = async (node: string): Promise<string> => (await sql(node, 'SELECT @@gtid_binlog_pos')).split(',').find((g) => g.startsWith('0-')) ?? '';

  it('deploy; the archive streams on db3; a base backup there; rows 1, 2, T, row 3; restore --into-cluster --to-gtid T', async () => {
    stamp('bed up');
    const d = await runCli(['deploy', '-f', configFile], { cwd: dir, timeoutMs: 600_000 });
    assert.equal(d.code, 0, d.stdout + d.stderr);
    stamp('deployed');
    const streaming = await waitFor(async () => ((await archiveStatus()).streaming ? true : undefined), { timeoutMs: 60_000, intervalMs: 1_000 });
    assert.ok(streaming, `the archive on db3 does not stream: ${JSON.stringify(await archiveStatus())}`);
    const b = await hosts().exec('db3', `${HASTACK} backup -f ${STATE}/hastack.yaml --state-root /var/lib/hastack`, { timeoutMs: 300_000 });
    assert.equal(b.code, 0, b.stdout + b.stderr);
    stamp(`base backup: ${b.stdout.trim().split('\n').at(-2) ?? ''}`);

    await sql('db1', 'CREATE TABLE IF NOT EXISTS app.hg_probe (id INT PRIMARY KEY); INSERT INTO app.hg_probe VALUES (1), (2)');
    const at = await wsGtid('db1');
    await sql('db2', 'INSERT INTO app.hg_probe VALUES (3)');
    const newest = await wsGtid('db2');
    const archived = await waitFor(async () => ((await archiveStatus()).lastGtid === newest ? true : undefined), { timeoutMs: 30_000, intervalMs: 500 });
    assert.ok(archived, `the archive did not reach ${newest}: ${JSON.stringify(await archiveStatus())}`);

    const dry = await runCli(['restore', '--into-cluster', '--to-gtid', at, '--dry-run', '-f', configFile], { cwd: dir, timeoutMs: 120_000 });
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    assert.match(dry.stdout, /built on db3's machine, copied to db1/);
    assert.match(dry.stdout, /db1 gets the restored datadir and bootstraps a new Galera cluster; db2, db3 join it by a full state transfer/);
    const t = Date.now();
    const r = await runCli(['restore', '--into-cluster', '--to-gtid', at, '--confirm', R.cluster, '-f', configFile], { cwd: dir, timeoutMs: 900_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    stamp(`restore --into-cluster to ${at} (the newest was ${newest}) in ${((Date.now() - t) / 1000).toFixed(1)} s:\n${r.stdout}`);
  });

  it('every node synced in one cluster of three, at exactly the rows of T; a new row reaches every node', async () => {
    for (const n of DBS) {
      assert.equal(await sql(n, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'wsrep_cluster_size'"), '3', n);
      assert.equal(await sql(n, 'SELECT GROUP_CONCAT(id ORDER BY id) FROM app.hg_probe'), '1,2', n);
    }
    await sql('db1', 'INSERT INTO app.hg_probe VALUES (4)');
    for (const n of DBS) {
      const seen = await waitFor(async () => ((await sql(n, 'SELECT COUNT(*) FROM app.hg_probe WHERE id = 4')) === '1' ? true : undefined), { timeoutMs: 30_000, intervalMs: 500 });
      assert.ok(seen, `row 4 on ${n}`);
    }
    for (const n of DBS) {
      const left = await hosts().exec(n, `ls -d ${STATE}/${n}/mariadb/*restore* 2>/dev/null; true`);
      assert.equal(left.stdout.trim(), '', `left on ${n}`);
    }
    stamp('done');
  });
});
