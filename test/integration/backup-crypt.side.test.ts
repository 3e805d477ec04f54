/**
 * Encrypted, off-machine backups and restore drills on the `simple` preset with real engines:
 * `backup.keyFile` set and `backup.targets` naming the standby and a directory that stands for
 * another machine's disk. The backup lands on both; neither copy holds a known customer's name
 * in the clear (while the live datadir does); `restore --verify` decrypts and passes; a drill
 * records its recovery time and `status` shows it; a byte flipped in one copy (its sha256 in the
 * manifest rewritten, so that the AES-GCM tag is what catches it) fails `restore --verify` with
 * BACKUP_TAMPERED; a key file others can read is refused with BACKUP_KEY_MISSING.
 *
 * Then the loss of both database machines (issue 24): the binlog archive (`backup.binlogArchive`)
 * seals each file and ships the file being streamed to the vault as it grows; orders flow, the
 * power goes (the supervisor, every service and the archiver SIGKILLed), both servers' directories
 * are deleted, and `restore --latest --verify` from the vault alone holds every order but those
 * of the last moments (how many, and how long before the loss, is printed).
 *
 * Second lane: it mostly waits for mariabackup and a scratch server. Namespace: 127.0.237.1-2
 * (row `backup-crypt`), cluster `eccrypt`, state in a fresh temp directory.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { preset, readSecrets } from '../../src/config/index.js';
import { readRunState } from '../../src/substrate/index.js';
import { waitFor } from '../../src/shared/retry.js';
import { insertCustomerOnPrimary, postOrder, restock } from '../helpers/orders.js';
import { filesContaining, ordersInKeptScratch, type KeptScratch } from '../helpers/scratch.js';
import { REPO_ROOT, runCli, tempDir } from '../helpers/cli.js';
import { upCluster, type TestCluster } from '../helpers/cluster.js';
import { testRange } from '../../kit/addresses.js';

const BASE = testRange('backup-crypt').base;
// A name no other table holds, so finding it on disk means finding this row.
const CUSTOMER = `Zanzibar Quillfeather ${crypto.randomBytes(4).toString('hex')}`;

describe('encrypted backups to two targets, restore drill (simple preset, real engines)', { timeout: 420_000 }, () => {
  let cluster: TestCluster;
  let keyDir = '';
  let keyFile = '';
  let vault = '';

  before(async () => {
    keyDir = tempDir('eckey');
    keyFile = path.join(keyDir, 'backup.key');
    fs.writeFileSync(keyFile, `${crypto.randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    vault = tempDir('ecvault');
    cluster = await upCluster('backup-crypt', {
      ...preset('simple'),
      cluster: 'eccrypt',
      addressBase: BASE,
      app: { module: path.join(REPO_ROOT, 'examples/erp') },
      backup: { keep: 2, keyFile, targets: ['standby', { name: 'vault', dir: vault, keep: 1 }], binlogArchive: true },
    });
    // The known customer, written on the primary; the replica has it once its GTID catches up.
    await insertCustomerOnPrimary(cluster.stateDir, 'ZQF', CUSTOMER, 'zq@example.test');
  });

  after(async () => {
    await cluster?.down();
    for (const d of [keyDir, vault]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  it('the backup lands encrypted on both targets: no plaintext customer in either copy', async () => {
    const r = await runCli(['backup', '-f', cluster.configFile], { cwd: cluster.dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /encrypting every file \(AES-256-GCM/);
    assert.match(r.stdout, /complete on standby/);
    assert.match(r.stdout, /complete on vault/);
    const onStandby = path.join(cluster.stateDir, 'standby', 'backups');
    const onVault = path.join(vault, 'eccrypt');
    const ids = fs.readdirSync(onVault).filter((n) => /^\d{8}T\d{6}Z$/.test(n));
    assert.equal(ids.length, 1, `one backup in the vault: ${ids.join(', ')}`);
    assert.ok(fs.existsSync(path.join(onStandby, ids[0] ?? '', 'manifest.json')));
    // The grep finds the name where it is in the clear (the live datadir), so its silence below means something.
    assert.ok(
      filesContaining(path.join(cluster.stateDir, 'standby'), CUSTOMER).some((f) => !f.includes('/backups/')),
      'the live datadir holds the name',
    );
    assert.deepEqual(filesContaining(onVault, CUSTOMER), []);
    assert.deepEqual(filesContaining(onStandby, CUSTOMER), []);
    const manifest = JSON.parse(fs.readFileSync(path.join(onVault, ids[0] ?? '', 'manifest.json'), 'utf8')) as { encryption?: { keyId: string }; files: Array<{ path: string }> };
    assert.match(manifest.encryption?.keyId ?? '', /^[0-9a-f]{16}$/);
    assert.ok(manifest.files.every((f) => f.path.endsWith('.enc')));
  });

  it('restore --verify decrypts and passes; a drill records its recovery time and status shows it', async () => {
    const v = await runCli(['restore', '--verify', '-f', cluster.configFile], { cwd: cluster.dir });
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /app\.customers: \d+ rows/);
    const d = await runCli(['backup', 'drill', '--json', '-f', cluster.configFile], { cwd: cluster.dir });
    assert.equal(d.code, 0, d.stdout + d.stderr);
    const rec = JSON.parse(d.stdout) as { ok: boolean; recoveryMs: number; encrypted: boolean; tables: Array<{ name: string; rows: number }> };
    assert.equal(rec.ok, true, d.stdout);
    assert.equal(rec.encrypted, true);
    assert.ok(rec.recoveryMs > 0);
    assert.ok((rec.tables.find((t) => t.name === 'customers')?.rows ?? 0) >= 1);
    const st = await runCli(['status', '-f', cluster.configFile], { cwd: cluster.dir });
    assert.match(st.stdout, /restore drill: passed .* recovered in [\d.]+ s/);
  });

  it('a flipped byte is BACKUP_TAMPERED; a key file others can read is BACKUP_KEY_MISSING', async () => {
    const root = path.join(vault, 'eccrypt');
    const id = fs.readdirSync(root).find((n) => /^\d{8}T\d{6}Z$/.test(n)) ?? '';
    const dir = path.join(root, id);
    const mf = path.join(dir, 'manifest.json');
    const manifest = JSON.parse(fs.readFileSync(mf, 'utf8')) as { files: Array<{ path: string; size: number; sha256: string }> };
    const victim = manifest.files.find((f) => f.path.startsWith('mariadb/app/customers.ibd')) ?? manifest.files.find((f) => f.path.startsWith('mariadb/ibdata1'));
    assert.ok(victim);
    const file = path.join(dir, victim.path);
    const bytes = fs.readFileSync(file);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] ?? 0) ^ 0x01;
    fs.writeFileSync(file, bytes);
    // The manifest's sha256 rewritten to match: what catches the change now is the GCM tag.
    victim.sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
    fs.writeFileSync(mf, JSON.stringify(manifest, null, 2));
    const r = await runCli(['restore', '--verify', dir, '-f', cluster.configFile], { cwd: cluster.dir });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /BACKUP_TAMPERED/);
    fs.chmodSync(keyFile, 0o644);
    const k = await runCli(['restore', '--verify', '-f', cluster.configFile], { cwd: cluster.dir });
    assert.equal(k.code, 1);
    assert.match(k.stderr, /chmod 600/);
    fs.chmodSync(keyFile, 0o600);
  });

  it('both database machines lost: restore --latest --verify from the vault alone loses only the last moments', async () => {
    const lb = `http://${BASE}.1:8080`;
    await restock(lb, 'WIDGET-RED', 1_000, 'ec-restock');
    const b = await runCli(['backup', '-f', cluster.configFile], { cwd: cluster.dir });
    assert.equal(b.code, 0, b.stdout + b.stderr);
    // Orders for a few seconds, one writer, paced: the archive's current file never rotates in that time.
    const acked: Array<{ key: string; at: number }> = [];
    const sent: string[] = [];
    const end = Date.now() + 6_000;
    for (let i = 0; i < 300 && Date.now() < end; i++) {
      const key = `ec-${i}`;
      sent.push(key);
      if ((await postOrder(lb, key)).ok) acked.push({ key, at: Date.now() });
      await new Promise((res) => setTimeout(res, 20));
    }
    // The power goes: the supervisor first (nothing restarts, the archiver seals nothing more),
    // then every service and the supervisor's own children (the archiver's mariadb-binlog).
    const run = readRunState(cluster.stateDir) ?? assert.fail('no run state');
    const children = fs
      .readdirSync(`/proc/${run.supervisorPid}/task`)
      .flatMap((t) => fs.readFileSync(`/proc/${run.supervisorPid}/task/${t}/children`, 'utf8').trim().split(/\s+/))
      .filter((p) => p !== '')
      .map(Number);
    const lostAt = Date.now();
    for (const pid of [run.supervisorPid, ...Object.values(run.services).map((s) => s.pid), ...children]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await waitFor(async () => (fs.existsSync(`/proc/${run.supervisorPid}`) ? undefined : true), { timeoutMs: 10_000, intervalMs: 50 });
    for (const node of ['primary', 'standby']) fs.rmSync(path.join(cluster.stateDir, node), { recursive: true, force: true });

    const r = await runCli(['restore', '--latest', '--verify', '--keep', '--json', '-f', cluster.configFile], { cwd: cluster.dir, timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const rep = JSON.parse(r.stdout) as { backup: string; applied: number; scratch?: KeptScratch };
    const scratch = rep.scratch ?? assert.fail('no scratch server kept');
    const restored = await ordersInKeptScratch(scratch, readSecrets(cluster.stateDir).dbRootPassword, 'app', 'ec-%');
    const lost = acked.filter((a) => !restored.has(a.key));
    const lastKept = acked.filter((a) => restored.has(a.key)).at(-1);
    process.stdout.write(
      `# lost both database machines: ${acked.length} orders acknowledged since the backup, ${restored.size} restored from the vault ` +
        `(${rep.applied} archived transactions replayed), ${lost.length} lost: acknowledged in the last ${lastKept ? lostAt - lastKept.at : '?'} ms before the power went\n`,
    );
    assert.ok(
      [...restored].every((k) => sent.includes(k)),
      'nothing restored that was not sent',
    );
    // The file being streamed never rotated: without its shipped chunks none of these would be there.
    assert.ok(restored.size > 0, 'orders from the file being streamed reached the vault');
    // What is lost is the newest: every order acknowledged before the newest restored one is there.
    const lastIndex = acked.findIndex((a) => a === lastKept);
    assert.deepEqual(
      acked.slice(0, lastIndex + 1).filter((a) => !restored.has(a.key)),
      [],
      'only the newest orders are lost',
    );
  });
});
