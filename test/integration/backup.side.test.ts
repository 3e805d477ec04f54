/**
 * `hastack backup`, `backup list` and `restore --verify` against the `simple` preset with real
 * engines: orders are written through the load balancer, a backup is taken from the standby's
 * replica (whose replication must be running again afterwards), it restores into a scratch
 * server and matches its manifest; the supervisor's schedule takes one by itself; retention keeps
 * `backup.keep`, the verified backup among them; a backup SIGKILLed mid-way leaves nothing that
 * list or restore would trust and the next run restarts the replica it held still; a backup with
 * a truncated InnoDB file is reported broken, with exit code 1.
 *
 * Namespace: addresses 127.0.62.1-2 (and the supervisor's 127.0.62.254), state in a fresh temp
 * directory; the cluster is stopped with `down` and every recorded pid checked in `after`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { preset } from '../../src/config/index.js';
import { waitFor } from '../../src/shared/retry.js';
import { CLI, REPO_ROOT, runCli } from '../helpers/cli.js';
import { upCluster, type TestCluster } from '../helpers/cluster.js';
import { postOrder } from '../helpers/orders.js';
import { testRange } from '../../kit/addresses.js';

const BASE = testRange('backup').base;
const LB = `http://${BASE}.1:8080`;
const ORDERS = 5;
// Short, so the test sees the supervisor take a scheduled backup; manual commands wait for it.
const SCHEDULE = '25s';
const KEEP = 2;

interface ListJson {
  backups: Array<{ id: string; node: string; dir: string; trigger: string; source: string; bytes: number; gtid: string; verification: { ok: boolean; problems: string[] } | null }>;
}

async function list(c: TestCluster): Promise<ListJson> {
  const r = await runCli(['backup', 'list', '--json', '-f', c.configFile], { cwd: c.dir });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as ListJson;
}

/** Processes whose command line names a path under `dir` (a scratch server left behind would). */
function processesUnder(dir: string): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.includes(dir) && cmd.includes('.verify-')) out.push(Number(p));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

describe('hastack backup / restore --verify (simple preset, real engines)', { timeout: 300_000 }, () => {
  let cluster: TestCluster;
  let first = '';

  before(async () => {
    cluster = await upCluster('backup', {
      ...preset('simple'),
      cluster: 'bkp',
      addressBase: BASE,
      app: { module: path.join(REPO_ROOT, 'examples/erp') },
      backup: { keep: KEEP, schedule: SCHEDULE },
    });
    for (let i = 0; i < ORDERS; i++) {
      const r = await postOrder(LB, `backup-test-${i}`);
      assert.equal(r.status, 201);
    }
  });

  after(async () => {
    await cluster?.down();
  });

  it('--dry-run prints the plan and takes nothing', async () => {
    const r = await runCli(['backup', '--dry-run', '-f', cluster.configFile], { cwd: cluster.dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /mariabackup --backup of standby\/mariadb \(replica/);
    assert.equal((await list(cluster)).backups.length, 0);
  });

  it('takes a backup from the replica, rsynced to the standby, with the orders in the manifest', async () => {
    const r = await runCli(['backup', '-f', cluster.configFile], { cwd: cluster.dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SQL thread stopped/);
    assert.match(r.stdout, /complete on standby/);
    const l = await list(cluster);
    const b = l.backups.find((x) => x.trigger === 'manual');
    assert.ok(b, JSON.stringify(l));
    first = b.id;
    assert.equal(b.node, 'standby');
    assert.equal(b.source, 'standby');
    assert.match(b.gtid, /^0-1-\d+$/);
    const manifest = JSON.parse(fs.readFileSync(path.join(b.dir, 'manifest.json'), 'utf8')) as {
      database: { statsExact: boolean; tables: Array<{ name: string; rows: number }> };
      files: Array<{ path: string; sha256: string }>;
    };
    assert.equal(manifest.database.statsExact, true);
    assert.equal(manifest.database.tables.find((t) => t.name === 'sales_orders')?.rows, ORDERS);
    assert.ok(manifest.files.some((f) => f.path === 'mariadb/ibdata1'));
    assert.ok(manifest.files.some((f) => f.path === 'redis/dump.rdb'));
    // The replica was released: replicating again.
    const st = await runCli(['status', '--json', '-f', cluster.configFile], { cwd: cluster.dir });
    const standbyDb = (JSON.parse(st.stdout) as { services: Array<{ node: string; service: string; detail?: string }> }).services.find(
      (s) => s.node === 'standby' && s.service === 'mariadb',
    );
    assert.match(standbyDb?.detail ?? '', /io running, sql running/);
  });

  it('the fresh backup passes restore --verify, and backup list shows it verified', async () => {
    const r = await runCli(['restore', '--verify', first, '-f', cluster.configFile], { cwd: cluster.dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`app\\.sales_orders: ${ORDERS} rows`));
    assert.match(r.stdout, /restores and matches its manifest/);
    const b = (await list(cluster)).backups.find((x) => x.id === first);
    assert.equal(b?.verification?.ok, true);
    assert.deepEqual(processesUnder(cluster.dir), [], 'the scratch server is gone');
  });

  it('the supervisor takes a scheduled backup', async () => {
    const scheduled = await waitFor(async () => (await list(cluster)).backups.find((b) => b.trigger === 'schedule'), { timeoutMs: 90_000, intervalMs: 1000 });
    assert.ok(scheduled, 'a scheduled backup appears within 90 s');
  });

  it('a backup killed mid-way leaves nothing list or restore would trust, and the next run repairs what it left', async () => {
    const stateDir = path.join(cluster.dir, '.hastack', 'bkp');
    const events = path.join(stateDir, 'events.jsonl');
    const before = (await list(cluster)).backups.map((b) => b.id);
    const offset = fs.statSync(events).size;
    const child = spawn(process.execPath, [CLI, 'backup', '-f', cluster.configFile], { cwd: cluster.dir, stdio: 'ignore' });
    // Killed once mariabackup runs: the replica's SQL thread is stopped and a staging directory exists.
    const copying = await waitFor(async () => (fs.readFileSync(events, 'utf8').slice(offset).includes('"step":"mariabackup"') ? true : undefined), {
      timeoutMs: 120_000,
      intervalMs: 50,
    });
    child.kill('SIGKILL');
    await once(child, 'exit');
    assert.ok(copying, 'the backup reached mariabackup');
    const after = (await list(cluster)).backups.map((b) => b.id);
    assert.deepEqual(
      after.filter((id) => !before.includes(id)),
      [],
      'no new backup is listed',
    );

    const r = await runCli(['backup', '-f', cluster.configFile], { cwd: cluster.dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const st = await runCli(['status', '--json', '-f', cluster.configFile], { cwd: cluster.dir });
    const standbyDb = (JSON.parse(st.stdout) as { services: Array<{ node: string; service: string; detail?: string }> }).services.find(
      (s) => s.node === 'standby' && s.service === 'mariadb',
    );
    assert.match(standbyDb?.detail ?? '', /io running, sql running/);
    const leftovers = fs.readdirSync(path.join(stateDir, 'standby', 'backups')).filter((n) => n.startsWith('.'));
    assert.deepEqual(leftovers, []);
    assert.ok(!fs.existsSync(path.join(stateDir, 'backup.lock')), 'the lock is released');
  });

  it(`retention keeps ${KEEP}: the newest verified backup and the newest`, async () => {
    const r = await runCli(['backup', '-f', cluster.configFile], { cwd: cluster.dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const backups = (await list(cluster)).backups.filter((b) => b.node === 'standby');
    const ids = backups.map((b) => b.id);
    assert.equal(ids.length, KEEP, ids.join(' '));
    // `first` is the only backup that passed restore --verify: unverified newer ones never push it out.
    assert.ok(ids.includes(first), `${first} (the only verified backup) was kept`);
    assert.match(r.stdout, new RegExp(`backup ${ids.at(-1) ?? '-'} complete`), 'the backup just taken is the other one kept');
  });

  it('a backup with a truncated InnoDB file is reported broken, with exit code 1', async () => {
    const newest = (await list(cluster)).backups.at(-1);
    assert.ok(newest);
    const ibd = path.join(newest.dir, 'mariadb', 'app', 'sales_orders.ibd');
    fs.truncateSync(ibd, Math.floor(fs.statSync(ibd).size / 4));
    const r = await runCli(['restore', '--verify', newest.id, '-f', cluster.configFile], { cwd: cluster.dir });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /BROKEN\s+mariadb\/app\/sales_orders\.ibd is \d+ bytes, the manifest says \d+/);
    assert.match(r.stdout, /is BROKEN/);
    const b = (await list(cluster)).backups.find((x) => x.id === newest.id);
    assert.equal(b?.verification?.ok, false);
    assert.deepEqual(processesUnder(cluster.dir), [], 'the scratch server is gone even when the restore failed');
  });
});
