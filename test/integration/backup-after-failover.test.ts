// lane: hosts (a host bed, not in CI: it boots its hosts and deploys over SSH; npm run test:hosts)
/**
 * Issue 21, "backups after a failover": the `simple` preset deployed on a three-host bed
 * (primary, standby, ops) with a short `backup.schedule` and `backup.target: standby`. Every
 * database node has the backup timer; the one whose replica is the source takes the backup.
 * - Before: the source is standby's replica and the target standby itself: a local copy.
 * - `hastack switchover --to standby`: the roles swap (the switchover rather than a failover plus
 *   rebuild: it reaches the same state, the replica on the old primary's machine, in seconds; the
 *   backup path after it is the same code, and the fence is the fence test's subject).
 * - The next scheduled backup runs on the primary's machine, from its replica, and lands on
 *   standby over SSH (rsync, the backup key through its gate); `restore --verify` passes on it.
 * - `backup.binlogArchive`: the archive is a unit on standby's machine (backup.target), streams
 *   from the primary and follows the switchover; on standby, `restore --latest --verify` reaches
 *   the primary's last transaction, a row written after the switchover (read with `mariadb`).
 * - `restore --into-cluster --to-gtid T` from the operator's machine (issue 24 on hosts): built
 *   on standby (the archive's machine), copied to primary through the operator, both back at T
 *   (read with `mariadb`), primary replicating from standby, writes open, the automatic failover
 *   paused and resumed on the controllers, the pre-restore backup on standby.
 * - standby unreachable over SSH: the scheduled copy fails, says why in the event log of the
 *   machine that tried, and every backup already on standby stays.
 * Addresses 10.213.229.x (kit/addresses.ts row `backup-after-failover`), cluster `bkfo`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { readSecrets, readTopology, servicesOf } from '../../src/config/index.js';
import { waitFor } from '../../src/shared/retry.js';
import { autoFailover } from '../../kit/configs.js';
import { runCli } from '../helpers/cli.js';
import { useBedCluster } from '../helpers/hosts-config.js';

const CLUSTER = 'bkfo';
const STATE = `/var/lib/hastack/${CLUSTER}`;
const BACKUPS = `${STATE}/standby/backups`;
const HASTACK = `/opt/hastack/bin/hastack`;
// Short enough for three runs in the test, long enough for one backup (~10 s here) to finish
// before the next fire and for the switchover to fit between two runs.
const SCHEDULE = '30s';
// A scheduled run fires within one interval; the backup itself takes seconds: two intervals and a margin.
const NEXT_BACKUP_MS = 120_000;

interface Manifest {
  id: string;
  trigger: string;
  source: { node: string; dbRole: string };
  target: { node: string };
}

describe('backups after the roles swap (simple preset on three hosts, backup.target: standby)', { timeout: 15 * 60_000 }, () => {
  const t0 = Date.now();
  // systemd as PID 1 (the production path: the .timer units); HASTACK_BED_INIT=keeper runs the keeper's timers instead.
  const init = process.env['HASTACK_BED_INIT'] === 'keeper' ? 'keeper' : 'systemd';
  // failover.auto with the etcd quorum: a controller on every host, as in production, so the
  // restore into the cluster pauses them (through their agents) and resumes them.
  const used = useBedCluster(
    'backup-after-failover',
    { backup: { schedule: SCHEDULE, target: 'standby', keep: 5, binlogArchive: true }, failover: autoFailover(2_000) },
    { init, etcd: true },
  );
  const stamp = (what: string): void => void process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}\n`);

  /** The complete backups on standby, oldest first, with their manifests. */
  async function onStandby(): Promise<Manifest[]> {
    const r = await used.bed.exec('standby', `for d in ${BACKUPS}/2*; do [ -f "$d/manifest.json" ] && cat "$d/manifest.json" && echo; done; true`);
    return r.stdout
      .split(/\n(?=\{)/)
      .filter((x) => x.trim() !== '')
      .map((x) => JSON.parse(x) as Manifest)
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  async function events(host: string): Promise<Array<{ message: string; data?: Record<string, unknown> }>> {
    const r = await used.bed.exec(host, `cat ${STATE}/events.jsonl 2>/dev/null; true`);
    return r.stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { message: string; data?: Record<string, unknown> });
  }

  let beforeSwap: Manifest | undefined;
  let afterSwap: Manifest | undefined;

  it("deploy; the scheduled backup is taken from standby's replica and lands on standby; the primary's timer skips", async () => {
    stamp(`bed up (${init})`);
    const r = await runCli(['deploy', '-f', used.configFile], { cwd: used.dir, timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /backups: the database nodes copy to the backup target with their own SSH key, now authorised \(receive only\) on standby/);
    stamp('deployed');
    beforeSwap = await waitFor(async () => (await onStandby()).find((m) => m.trigger === 'schedule'), { timeoutMs: NEXT_BACKUP_MS, intervalMs: 1000 });
    assert.ok(beforeSwap, `no scheduled backup on standby within ${NEXT_BACKUP_MS / 1000} s`);
    stamp(`backup ${beforeSwap.id} on standby`);
    assert.equal(beforeSwap.source.node, 'standby');
    assert.equal(beforeSwap.source.dbRole, 'replica');
    assert.ok((await events('primary')).some((e) => e.data?.['step'] === 'skipped' && /the source now is standby\/mariadb/.test(e.message)));
  });

  it('switchover to standby; the next scheduled backup is from the new replica (primary) and is copied to standby over SSH', async () => {
    const sw = await runCli(['switchover', '--to', 'standby', '-f', used.configFile], { cwd: used.dir, timeoutMs: 180_000 });
    assert.equal(sw.code, 0, sw.stdout + sw.stderr);
    stamp('switched over');
    afterSwap = await waitFor(async () => (await onStandby()).find((m) => m.source.node === 'primary'), { timeoutMs: NEXT_BACKUP_MS, intervalMs: 1000 });
    assert.ok(afterSwap, `no backup from primary's replica on standby within ${NEXT_BACKUP_MS / 1000} s`);
    stamp(`backup ${afterSwap.id} from primary on standby`);
    assert.equal(afterSwap.trigger, 'schedule');
    assert.equal(afterSwap.source.dbRole, 'replica');
    assert.equal(afterSwap.target.node, 'standby');
    // The copy is renamed into place on standby just before the primary logs its last step.
    const stepsOf = async (): Promise<string[]> => (await events('primary')).filter((e) => e.data?.['id'] === afterSwap?.id).map((e) => e.message);
    await waitFor(async () => ((await stepsOf()).some((m) => /complete on standby/.test(m)) ? true : undefined), { timeoutMs: 30_000, intervalMs: 500 });
    const steps = await stepsOf();
    assert.ok(
      steps.some((m) => /rsync over SSH to standby/.test(m)),
      steps.join('\n'),
    );
    assert.ok(
      steps.some((m) => /complete on standby/.test(m)),
      steps.join('\n'),
    );
    // The standby's own timer now skips: its database is the primary.
    assert.ok((await events('standby')).some((e) => e.data?.['step'] === 'received' && e.data['id'] === afterSwap?.id));
    // Received through the gate: nothing half-copied left beside it.
    const left = await used.bed.exec('standby', `ls -A ${BACKUPS} | grep '^\\.' ; true`);
    assert.equal(left.stdout.trim(), '');
  });

  it('restore --verify on standby passes on the backup copied over', async () => {
    const id = afterSwap?.id ?? assert.fail('no backup from after the switchover');
    const r = await used.bed.exec('standby', `${HASTACK} restore --verify ${id} -f ${STATE}/hastack.yaml --state-root /var/lib/hastack`, { timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /restores and matches its manifest/);
    assert.match(r.stdout, /MariaDB started on the restored datadir/);
    stamp(`restore --verify ${id}: ${r.stdout.trim().split('\n').at(-1) ?? ''}`);
  });

  /** One statement on a node's MariaDB over the bed's network, with the real `mariadb` client as the admin account (password in the environment). */
  async function sql(node: string, query: string): Promise<string> {
    const stateDir = path.join(used.dir, '.hastack', CLUSTER);
    const svc = servicesOf(readTopology(stateDir), 'mariadb').find((x) => x.node === node) ?? assert.fail(node);
    const r = await promisify(execFile)('mariadb', ['-h', svc.address, '-P', String(svc.port), '-u', 'hastack_admin', '-N', '-B', '-e', query], {
      env: { ...process.env, MYSQL_PWD: readSecrets(stateDir).dbRootPassword },
      timeout: 15_000,
    });
    return r.stdout.trim();
  }

  it("the binlog archive runs on standby's machine and follows the switchover: restore --latest --verify there reaches a row written after it", async () => {
    const archiveStatus = async (): Promise<{ source?: string; streaming?: boolean; lastGtid?: string }> =>
      JSON.parse((await used.bed.exec('standby', `cat ${STATE}/binlog-archive.json`)).stdout) as { source?: string; streaming?: boolean; lastGtid?: string };
    const follows = await waitFor(async () => ((s) => (s.streaming && s.source === 'standby/mariadb' ? s : undefined))(await archiveStatus()), {
      timeoutMs: 30_000,
      intervalMs: 500,
    });
    assert.ok(follows, `the archive on standby does not stream from the new primary: ${JSON.stringify(await archiveStatus())}`);
    // The operator's status shows it through standby's agent (each call starts the CLI on the host: retried on a loaded bed).
    const shown = await waitFor(
      async () => {
        const st = await runCli(['status', '-f', used.configFile], { cwd: used.dir, timeoutMs: 120_000 });
        return /binlog archive: streaming from standby\/mariadb, newest 0-\d+-\d+/.test(st.stdout) ? true : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 1000 },
    );
    assert.ok(shown, '"hastack status" shows the archive streaming from standby');
    // standby is the primary since the switchover.
    await sql('standby', 'CREATE TABLE IF NOT EXISTS app.pitr_probe (id INT PRIMARY KEY); INSERT INTO app.pitr_probe VALUES (1)');
    const want = await sql('standby', 'SELECT @@gtid_binlog_pos');
    const archived = await waitFor(async () => ((await archiveStatus()).lastGtid === want ? true : undefined), { timeoutMs: 30_000, intervalMs: 500 });
    assert.ok(archived, `the archive on standby did not reach ${want}`);
    const r = await used.bed.exec('standby', `${HASTACK} restore --latest --verify -f ${STATE}/hastack.yaml --state-root /var/lib/hastack`, { timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(r.stdout.includes(want), `restored to ${want}:\n${r.stdout}`);
    stamp(`restore --latest --verify on standby reached ${want}: ${r.stdout.trim().split('\n').at(-1) ?? ''}`);
  });

  it('restore --into-cluster from the operator: built on standby, copied to primary, both back at T; the pre-restore backup is on standby', async () => {
    await sql('standby', 'INSERT INTO app.pitr_probe VALUES (2)');
    const at = await sql('standby', 'SELECT @@gtid_binlog_pos');
    await sql('standby', 'INSERT INTO app.pitr_probe VALUES (3)');
    const after = await sql('standby', 'SELECT @@gtid_binlog_pos');
    const dry = await runCli(['restore', '--into-cluster', '--to-gtid', at, '--dry-run', '-f', used.configFile], { cwd: used.dir, timeoutMs: 120_000 });
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    assert.match(dry.stdout, /built on standby's machine, copied to primary/);
    assert.match(dry.stdout, /steps: pause-auto, pre-backup, stop-writes, build, copy, stop-db, swap/);
    const t = Date.now();
    const r = await runCli(['restore', '--into-cluster', '--to-gtid', at, '--confirm', CLUSTER, '-f', used.configFile], { cwd: used.dir, timeoutMs: 600_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /automatic failover paused/);
    assert.match(r.stdout, /automatic failover on again/);
    stamp(`restore --into-cluster to ${at} (the newest was ${after}) in ${((Date.now() - t) / 1000).toFixed(1)} s:\n${r.stdout}`);
    // Both machines hold exactly the rows of T, read with the real client; primary replicates from standby.
    assert.equal(await sql('standby', 'SELECT GROUP_CONCAT(id ORDER BY id) FROM app.pitr_probe'), '1,2');
    const replica = await waitFor(async () => ((await sql('primary', 'SELECT GROUP_CONCAT(id ORDER BY id) FROM app.pitr_probe').catch(() => '')) === '1,2' ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 500,
    });
    assert.ok(replica, 'the replica on primary holds the rows of T');
    // Writes are open again (the app's account unlocked) and reach the replica.
    assert.equal(await sql('standby', "SELECT COUNT(*) FROM mysql.global_priv WHERE User = 'hastack' AND JSON_VALUE(Priv, '$.account_locked') = 'true'"), '0');
    await sql('standby', 'INSERT INTO app.pitr_probe VALUES (4)');
    const reached = await waitFor(async () => ((await sql('primary', 'SELECT COUNT(*) FROM app.pitr_probe WHERE id = 4')) === '1' ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 500,
    });
    assert.ok(reached, 'a row written after the restore reaches the replica');
    const pre = /the backup taken just before: (\S+)/.exec(r.stdout)?.[1] ?? assert.fail(r.stdout);
    assert.ok(
      (await onStandby()).some((m) => m.id === pre),
      `the pre-restore backup ${pre} is on standby`,
    );
    // Nothing of the restore is left beside either datadir.
    for (const host of ['standby', 'primary']) {
      const left = await used.bed.exec(host, `ls -d ${STATE}/${host}/mariadb/*restore* 2>/dev/null; true`);
      assert.equal(left.stdout.trim(), '', `left on ${host}`);
    }
  });

  it('standby unreachable over SSH: the scheduled backup fails before copying anything and says why; every backup on standby stays', async () => {
    const kept = (await onStandby()).map((m) => m.id);
    const from = (await events('primary')).length;
    await used.bed.stopSshd('standby');
    try {
      const failed = await waitFor(async () => (await events('primary')).slice(from).find((e) => e.data?.['op'] === 'backup' && e.data['step'] === 'failed'), {
        timeoutMs: NEXT_BACKUP_MS,
        intervalMs: 1000,
      });
      assert.ok(failed, "no failed backup in the primary's event log");
      stamp(`copy failed: ${failed.message}`);
      assert.match(failed.message, /standby .*failed: .*(refused|closed|reset|timed out)/i);
      const now = (await onStandby()).map((m) => m.id);
      for (const id of kept) assert.ok(now.includes(id), `backup ${id} is still on standby`);
    } finally {
      await used.bed.startSshd('standby');
    }
    stamp('done');
  });
});
