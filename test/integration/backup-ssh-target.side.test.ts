/**
 * A backup target that is no node of the cluster (issue 24): a plain machine with sshd and rsync,
 * no hastack on it, reached over SSH with the backup key. A real sshd of the test's own (its host
 * key in a temp directory, on 127.0.239.3:2222, a child process stopped by its pid) stands for
 * that machine: root logs in by key, with HOME set to a directory of the test (sshd's SetEnv),
 * where `~/.ssh/authorized_keys` is; the operator's own key is in a second file. The `simple`
 * preset with the ERP, `backup.keyFile` set and `backup.targets` naming the standby (keep 2) and
 * the SSH machine (keep 1):
 *   - before its key is authorised there, `backup list` says to run `backup authorize`
 *     (HOST_AUTH_FAILED); `backup authorize` (the function deploy runs on hosts) then writes the
 *     gate and one authorized_keys line over the operator's SSH: restricted to the gate and to this
 *     machine's address as sshd sees it (from="127.0.0.1"); a second run changes nothing;
 *   - a backup lands there through the gate (checked with sha256sum there, renamed into place),
 *     and the known customer's name is in no file of it (encrypted before it left);
 *   - with the real ssh client and the backup key: `cat /etc/passwd` and rsync out of the
 *     directory (both ways) are refused by the gate; from 127.0.239.4 (not in from=) sshd refuses the key;
 *   - retention per target: two backups leave one there and two on the standby;
 *   - with every other copy deleted, `restore --verify` fetches it and passes;
 *   - sshd's host key replaced (another machine answering): the backup fails with HOST_KEY_CHANGED;
 *   - the binlog archive (`backup.binlogArchive`) ships sealed files and chunks there; the power
 *     goes, both servers' directories are deleted, and `restore --latest --verify` from the SSH
 *     target alone holds every order acknowledged before the last chunk shipped; then `backup
 *     drill` passes from the SSH target alone (backup and archive fetched, the scratch copies
 *     removed), and the datadir `restore --into-cluster` builds (restoreToPoint with `into`) is
 *     built from it too, at the same GTID.
 *
 * Second lane: it mostly waits for mariabackup and a scratch server. Namespace: row
 * `backup-ssh-target` (127.0.239.1-4, cluster `bkssh`), state in a fresh temp directory.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { preset, readSecrets, readTopology } from '../../src/config/index.js';
import { DB_USERS } from '../../src/engines/index.js';
import { restoreToPoint } from '../../src/failover/index.js';
import { readRunState } from '../../src/substrate/index.js';
import { waitFor } from '../../src/shared/retry.js';
import { insertCustomerOnPrimary, postOrder, restock } from '../helpers/orders.js';
import { filesContaining, ordersInKeptScratch, type KeptScratch } from '../helpers/scratch.js';
import { REPO_ROOT, runCli, tempDir } from '../helpers/cli.js';
import { upCluster, type TestCluster } from '../helpers/cluster.js';
import { testRange } from '../../kit/addresses.js';

const RANGE = testRange('backup-ssh-target');
const SSH_ADDRESS = RANGE.address(3);
const SSH_PORT = 2222;
const CLUSTER = 'bkssh';
// A name no other table holds, so finding it on disk means finding this row.
const CUSTOMER = `Ophelia Brackenridge ${crypto.randomBytes(4).toString('hex')}`;
/** sshd's privilege separation directory (Debian's init script makes it; none runs here). */
const PRIVSEP_DIR = '/run/sshd';
const BACKUP_ID = /^\d{8}T\d{6}Z$/;

/**
 * A plain sshd: own host key, root by key only, on one loopback address. Root's HOME is `home`
 * (SetEnv), so `~/.ssh/authorized_keys` and the gate are the test's files, not the machine's;
 * the operator's key (how `backup authorize` logs in) is in a file of its own beside it.
 */
class TestSshd {
  readonly hostKey: string;
  readonly home: string;
  readonly authorizedKeys: string;
  readonly operatorKey: string;
  private readonly operatorKeys: string;
  private child: ChildProcess | undefined;
  /** This test made sshd's privilege separation directory: removed at the end, if empty. */
  madePrivsep = false;
  constructor(readonly dir: string) {
    this.hostKey = path.join(dir, 'ssh_host_ed25519_key');
    this.home = path.join(dir, 'home');
    fs.mkdirSync(this.home, { mode: 0o700 });
    this.authorizedKeys = path.join(this.home, '.ssh', 'authorized_keys');
    this.operatorKey = path.join(dir, 'operator_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'operator@bkssh-test', '-f', this.operatorKey]);
    this.operatorKeys = path.join(dir, 'operator_keys');
    fs.copyFileSync(`${this.operatorKey}.pub`, this.operatorKeys);
    this.newHostKey();
  }

  /** A fresh host key (as a reinstalled machine, or another one at the same address, has). */
  newHostKey(): void {
    fs.rmSync(this.hostKey, { force: true });
    fs.rmSync(`${this.hostKey}.pub`, { force: true });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', this.hostKey]);
  }

  /** Keeps the current host key aside (`restoreHostKey` puts it back). */
  saveHostKey(): void {
    for (const f of [this.hostKey, `${this.hostKey}.pub`]) fs.copyFileSync(f, `${f}.saved`);
  }

  restoreHostKey(): void {
    for (const f of [this.hostKey, `${this.hostKey}.pub`]) fs.renameSync(`${f}.saved`, f);
  }

  /** "ssh-ed25519 AAAA...": what the operator puts in hostKey. */
  publicHostKey(): string {
    return fs.readFileSync(`${this.hostKey}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
  }

  async start(): Promise<void> {
    // Another test's sshd (test/helpers/hostbed.ts) may have removed it meanwhile: made again if so.
    if (!fs.existsSync(PRIVSEP_DIR)) {
      fs.mkdirSync(PRIVSEP_DIR, { mode: 0o755 });
      this.madePrivsep = true;
    }
    const config = path.join(this.dir, 'sshd_config');
    fs.writeFileSync(
      config,
      [
        `ListenAddress ${SSH_ADDRESS}:${SSH_PORT}`,
        `HostKey ${this.hostKey}`,
        `PidFile ${path.join(this.dir, 'sshd.pid')}`,
        'PermitRootLogin prohibit-password',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        `AuthorizedKeysFile ${this.operatorKeys} ${this.authorizedKeys}`,
        `SetEnv HOME=${this.home}`,
        'UsePAM no',
        'StrictModes no',
        'UseDNS no',
        'PrintMotd no',
        '',
      ].join('\n'),
    );
    const log = fs.openSync(path.join(this.dir, 'sshd.log'), 'a');
    const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.child = child;
    const up = await waitFor(
      () =>
        new Promise<true | undefined>((resolve) => {
          const s = net.connect({ host: SSH_ADDRESS, port: SSH_PORT }, () => {
            s.destroy();
            resolve(true);
          });
          s.on('error', () => resolve(undefined));
        }),
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    if (up !== true) throw new Error(`sshd did not start: ${fs.readFileSync(path.join(this.dir, 'sshd.log'), 'utf8').slice(-2000)}`);
  }

  /** Stops the listener (by its pid) and waits for it; sessions it forked end with their connections. */
  async stop(): Promise<void> {
    const c = this.child;
    this.child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    await gone;
  }
}

describe('backup target on a plain machine over SSH (simple preset, real engines, a real sshd)', { timeout: 600_000 }, () => {
  let cluster: TestCluster;
  let sshd: TestSshd;
  let work = '';
  let keyFile = '';
  let remoteDir = '';
  const onTarget = (): string[] =>
    fs
      .readdirSync(path.join(remoteDir, CLUSTER))
      .filter((n) => BACKUP_ID.test(n))
      .sort();
  const onStandby = (): string[] => {
    const d = path.join(cluster.stateDir, 'standby', 'backups');
    return fs.existsSync(d) ? fs.readdirSync(d).filter((n) => BACKUP_ID.test(n)) : [];
  };

  before(async () => {
    work = tempDir('bkssh');
    keyFile = path.join(work, 'backup.key');
    fs.writeFileSync(keyFile, `${crypto.randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    remoteDir = path.join(work, 'offsite-disk');
    fs.mkdirSync(remoteDir);
    const sshdDir = path.join(work, 'sshd');
    fs.mkdirSync(sshdDir);
    sshd = new TestSshd(sshdDir);
    await sshd.start();
    cluster = await upCluster('backup-ssh-target', {
      ...preset('simple'),
      cluster: CLUSTER,
      addressBase: RANGE.base,
      app: { module: path.join(REPO_ROOT, 'examples/erp') },
      backup: {
        keep: 2,
        keyFile,
        binlogArchive: true,
        targets: ['standby', { name: 'offsite', ssh: `root@${SSH_ADDRESS}:${SSH_PORT}`, dir: remoteDir, keep: 1, hostKey: sshd.publicHostKey() }],
      },
      // The operator's own SSH key: how `backup authorize` (deploy on hosts) reaches the target.
      hosts: { identityFile: sshd.operatorKey },
    });
    await insertCustomerOnPrimary(cluster.stateDir, 'OBR', CUSTOMER, 'ob@example.test');
  });

  after(async () => {
    await cluster?.down();
    await sshd?.stop();
    if (sshd?.madePrivsep && fs.existsSync(PRIVSEP_DIR) && fs.readdirSync(PRIVSEP_DIR).length === 0) fs.rmdirSync(PRIVSEP_DIR);
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('before its key is authorised there, backup list says so; backup authorize puts it there through the gate, from this machine only; again: nothing changes', async () => {
    const r = await runCli(['backup', 'list', '-f', cluster.configFile], { cwd: cluster.dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stderr, /backup target not listed: offsite: .*refused the backup key \(\S+backup_ed25519\.pub\) for user root: run "hastack backup authorize"/);
    const key = path.join(cluster.stateDir, 'ssh', 'backup_ed25519');
    assert.equal(fs.statSync(key).mode & 0o777, 0o600);
    const dry = await runCli(['backup', 'authorize', '--dry-run', '-f', cluster.configFile], { cwd: cluster.dir });
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    assert.match(dry.stdout, /SSH target offsite \(root@127\.0\.239\.3:2222\): the backup key's line would be added: .*to be written/);
    assert.ok(!fs.existsSync(sshd.authorizedKeys), 'a dry run writes nothing there');
    const t0 = Date.now();
    const a = await runCli(['backup', 'authorize', '-f', cluster.configFile], { cwd: cluster.dir });
    const tookMs = Date.now() - t0;
    assert.equal(a.code, 0, a.stdout + a.stderr);
    const gate = path.join(sshd.home, '.hastack-backup-gate-bkssh');
    const line = `restrict,from="127.0.0.1",command="${gate} ${path.join(remoteDir, CLUSTER)}" ${fs.readFileSync(`${key}.pub`, 'utf8').trim()}`;
    assert.match(a.stdout, /SSH target offsite \(root@127\.0\.239\.3:2222\): the backup key's line added: restrict,from="127\.0\.0\.1",command=.* \(gate \S+ written\)/);
    assert.equal(fs.readFileSync(sshd.authorizedKeys, 'utf8'), `${line}\n`);
    assert.equal(fs.statSync(sshd.authorizedKeys).mode & 0o777, 0o600);
    assert.equal(fs.statSync(gate).mode & 0o777, 0o755);
    const again = await runCli(['backup', 'authorize', '-f', cluster.configFile], { cwd: cluster.dir });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /the backup key's line already in place: .*\(gate \S+ unchanged\)/);
    assert.equal(fs.readFileSync(sshd.authorizedKeys, 'utf8'), `${line}\n`, 'nothing added twice');
    process.stdout.write(`# figure: backup authorize (the operator's SSH: probe, gate, authorized_keys) in ${tookMs} ms\n`);
  });

  it('a backup lands on the SSH target, checked there and encrypted: no plaintext customer in it', async () => {
    const t0 = Date.now();
    const r = await runCli(['backup', '-f', cluster.configFile], { cwd: cluster.dir, timeoutMs: 300_000 });
    const tookMs = Date.now() - t0;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /rsync over SSH to offsite/);
    assert.match(r.stdout, /offsite: sha256sum of every file there/);
    assert.match(r.stdout, /complete on offsite: root@127\.0\.239\.3:/);
    const ids = onTarget();
    assert.equal(ids.length, 1, ids.join(', '));
    const dir = path.join(remoteDir, CLUSTER, ids[0] ?? '');
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { files: Array<{ path: string }>; encryption?: unknown };
    assert.ok(manifest.encryption);
    for (const f of manifest.files) assert.ok(fs.existsSync(path.join(dir, f.path)), f.path);
    assert.deepEqual(
      fs.readdirSync(path.join(remoteDir, CLUSTER)).filter((n) => n.startsWith('.')),
      [],
      'no temporary copy left',
    );
    // The grep finds the name where it is in the clear (the live datadir), so its silence below means something.
    assert.ok(filesContaining(path.join(cluster.stateDir, 'standby'), CUSTOMER).length > 0, 'the live datadir holds the name');
    assert.deepEqual(filesContaining(remoteDir, CUSTOMER), []);
    // The SSH target's part, from the progress lines' clock: rsync start, check start, complete.
    const at = (re: RegExp): number => Number(/\[\s*([\d.]+)s\] (.*)/.exec(r.stdout.split('\n').find((l) => re.test(l)) ?? '')?.[1] ?? NaN);
    const rsyncAt = at(/rsync over SSH to offsite/);
    const checkAt = at(/offsite: sha256sum of every file there/);
    const doneAt = at(/complete on offsite/);
    process.stdout.write(
      `# figure: backup (${manifest.files.length} files, encrypted) to the standby and the SSH target in ${tookMs} ms; the SSH target's part ${(doneAt - rsyncAt).toFixed(1)} s (rsync ${(checkAt - rsyncAt).toFixed(1)} s, sha256sum there + rename + retention ${(doneAt - checkAt).toFixed(1)} s)\n`,
    );
  });

  it('retention per target: keep 1 on the SSH target, 2 on the standby; backup list shows both', async () => {
    const first = onTarget();
    await new Promise((res) => setTimeout(res, 1100)); // backup ids are to the second
    const r = await runCli(['backup', '-f', cluster.configFile], { cwd: cluster.dir, timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /retention \(keep 1\): removed backup \S+ \(unverified\) from offsite/);
    const now = onTarget();
    assert.equal(now.length, 1, now.join(', '));
    assert.notDeepEqual(now, first);
    assert.equal(onStandby().length, 2);
    const l = await runCli(['backup', 'list', '--json', '-f', cluster.configFile], { cwd: cluster.dir });
    assert.equal(l.code, 0, l.stderr);
    const list = JSON.parse(l.stdout) as { backups: Array<{ id: string; node: string; dir: string }>; targetsNotListed: string[] };
    assert.deepEqual(list.targetsNotListed, []);
    const remote = list.backups.filter((b) => b.node === 'offsite');
    assert.deepEqual(
      remote.map((b) => b.id),
      now,
    );
    assert.match(remote[0]?.dir ?? '', /^root@127\.0\.239\.3:\//);
  });

  it('the backup key runs nothing but the gate: a shell command and rsync out of its directory are refused, and so is an address not in from=', () => {
    const root = path.join(remoteDir, CLUSTER);
    const opts = [
      '-i',
      path.join(cluster.stateDir, 'ssh', 'backup_ed25519'),
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      `UserKnownHostsFile=${path.join(cluster.stateDir, 'ssh', 'known_hosts-offsite')}`,
      '-o',
      'GlobalKnownHostsFile=/dev/null',
      '-p',
      String(SSH_PORT),
    ];
    const ssh = (extra: string[], command: string): { status: number | null; stdout: string; stderr: string } =>
      spawnSync('ssh', [...opts, ...extra, `root@${SSH_ADDRESS}`, command], { encoding: 'utf8', timeout: 30_000 });
    const rsync = (...args: string[]): { status: number | null; stdout: string; stderr: string } =>
      spawnSync('rsync', ['-rlt', '-e', ['ssh', ...opts].join(' '), ...args], { encoding: 'utf8', timeout: 30_000 });
    let r = ssh([], 'cat /etc/passwd');
    assert.equal(r.status, 77, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /hastack backup gate \(bkssh\): refused: the request cat \/etc\/passwd/);
    r = ssh([], `list ${root}`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /@@hastack-backup \d{8}T\d{6}Z/, 'the same key lists the backups from this address');
    const outside = path.join(work, 'outside');
    fs.mkdirSync(outside);
    const probe = path.join(work, 'probe.txt');
    fs.writeFileSync(probe, 'written by the backup key\n');
    r = rsync(probe, `root@${SSH_ADDRESS}:${outside}/`);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /refused: the path/);
    assert.deepEqual(fs.readdirSync(outside), [], 'nothing written outside the directory');
    for (const from of ['/etc/', `${root}/../../`]) {
      r = rsync(`root@${SSH_ADDRESS}:${from}`, path.join(work, 'stolen'));
      assert.notEqual(r.status, 0, from);
      assert.match(r.stderr, /refused: the path/);
    }
    assert.ok(!fs.existsSync(path.join(work, 'stolen', 'passwd')));
    // Another source address: sshd itself refuses the key (from=), before any gate runs.
    r = ssh(['-b', RANGE.address(4)], `list ${root}`);
    assert.equal(r.status, 255, r.stdout + r.stderr);
    assert.match(r.stderr, /Permission denied \(publickey\)/);
  });

  it('with every other copy deleted, restore --verify fetches the backup from the SSH target and passes', async () => {
    fs.rmSync(path.join(cluster.stateDir, 'standby', 'backups'), { recursive: true, force: true });
    const t0 = Date.now();
    const v = await runCli(['restore', '--verify', '-f', cluster.configFile], { cwd: cluster.dir, timeoutMs: 300_000 });
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /fetching backup \S+ from offsite/);
    assert.match(v.stdout, /app\.customers: \d+ rows/);
    process.stdout.write(`# figure: restore --verify from the SSH target alone (fetch, decrypt, start, check) in ${Date.now() - t0} ms\n`);
    const id = onTarget()[0] ?? '';
    const verdictFile = path.join(remoteDir, CLUSTER, id, 'verify.json');
    assert.ok(fs.existsSync(verdictFile), v.stdout);
    const verdict = JSON.parse(fs.readFileSync(verdictFile, 'utf8')) as { ok: boolean };
    assert.equal(verdict.ok, true, 'the verdict is written beside the backup there');
    assert.deepEqual(
      fs.readdirSync(cluster.stateDir).filter((n) => n.startsWith('.fetch-')),
      [],
      'the fetched copy is removed',
    );
  });

  it('another host key at that address: the standby still gets the backup, the run fails naming HOST_KEY_CHANGED and what to do', async () => {
    const before = onTarget();
    const standbyBefore = onStandby().length;
    await sshd.stop();
    sshd.saveHostKey();
    sshd.newHostKey();
    await sshd.start();
    const r = await runCli(['backup', '-o', 'json', '-f', cluster.configFile], { cwd: cluster.dir, timeoutMs: 120_000 });
    assert.notEqual(r.code, 0, r.stdout + r.stderr);
    const err = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
    assert.equal(err.code, 'SETUP_FAILED', err.message);
    assert.match(err.message, /landed on 1 of 2 targets; not on offsite: HOST_KEY_CHANGED: backup target offsite .*its host key differs .*find out which/);
    assert.match(r.stderr, /offsite will not receive backup/);
    assert.deepEqual(onTarget(), before, 'the backups already there are untouched');
    assert.equal(onStandby().length, standbyBefore + 1, 'the standby got its copy');
    // The right machine back (for the binlog archive's copies below).
    await sshd.stop();
    sshd.restoreHostKey();
    await sshd.start();
  });

  it('both database machines lost: restore --latest --verify from the SSH target alone holds every order shipped', async () => {
    const lb = `http://${RANGE.address(1)}:8080`;
    await restock(lb, 'WIDGET-RED', 1_000, 'bkssh-restock');
    const b = await runCli(['backup', '-f', cluster.configFile], { cwd: cluster.dir, timeoutMs: 300_000 });
    assert.equal(b.code, 0, b.stdout + b.stderr);
    const acked: string[] = [];
    const end = Date.now() + 5_000;
    for (let i = 0; i < 200 && Date.now() < end; i++) {
      if ((await postOrder(lb, `bkssh-${i}`)).ok) acked.push(`bkssh-${i}`);
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.ok(acked.length > 0);
    // The streamed file's chunks reach an SSH target every 10 s (binlog-archive-ssh.ts): wait two rounds.
    const archive = path.join(remoteDir, CLUSTER, 'binlog-archive');
    const chunks = (): string[] =>
      fs.existsSync(archive) ? fs.readdirSync(archive).flatMap((seg) => fs.readdirSync(path.join(archive, seg)).filter((n) => /\.tail-\d+\.enc$/.test(n))) : [];
    await new Promise((res) => setTimeout(res, 22_000));
    assert.ok(chunks().length > 0, 'sealed chunks of the streamed file on the SSH target');
    assert.deepEqual(filesContaining(archive, 'bkssh-1'), [], 'the archive there is sealed');
    // The power goes: the supervisor first (nothing restarts), then every service and its children.
    const run = readRunState(cluster.stateDir) ?? assert.fail('no run state');
    const children = fs
      .readdirSync(`/proc/${run.supervisorPid}/task`)
      .flatMap((t) => fs.readFileSync(`/proc/${run.supervisorPid}/task/${t}/children`, 'utf8').trim().split(/\s+/))
      .filter((p) => p !== '')
      .map(Number);
    for (const pid of [run.supervisorPid, ...Object.values(run.services).map((x) => x.pid), ...children]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await waitFor(async () => (fs.existsSync(`/proc/${run.supervisorPid}`) ? undefined : true), { timeoutMs: 10_000, intervalMs: 50 });
    for (const node of ['primary', 'standby']) fs.rmSync(path.join(cluster.stateDir, node), { recursive: true, force: true });

    const t0 = Date.now();
    const r = await runCli(['restore', '--latest', '--verify', '--keep', '--json', '-f', cluster.configFile], { cwd: cluster.dir, timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const rep = JSON.parse(r.stdout) as { ok: boolean; applied: number; scratch?: KeptScratch; restoredTo?: { gtid: string } };
    const scratch = rep.scratch ?? assert.fail('no scratch server kept');
    const restored = await ordersInKeptScratch(scratch, readSecrets(cluster.stateDir).dbRootPassword, 'app', 'bkssh-%');
    process.stdout.write(
      `# figure: both database machines lost: ${restored.size} of ${acked.length} orders acknowledged since the backup restored from the SSH target (${rep.applied} archived transactions replayed) in ${Date.now() - t0} ms\n`,
    );
    assert.deepEqual(
      acked.filter((k) => !restored.has(k)),
      [],
      'every order acknowledged before the last shipped chunk is restored',
    );

    // A drill from the SSH target alone: nothing of the backup or the archive is on this machine.
    const tDrill = Date.now();
    const d = await runCli(['backup', 'drill', '--json', '-f', cluster.configFile], { cwd: cluster.dir, timeoutMs: 300_000 });
    assert.equal(d.code, 0, d.stdout + d.stderr);
    const drill = JSON.parse(d.stdout) as { ok: boolean; backupDir: string; replay: string; recoveryMs: number; phases: { fetchMs?: number; restoreMs: number; replayMs: number } };
    assert.equal(drill.ok, true, d.stdout);
    assert.match(drill.backupDir, /^root@127\.0\.239\.3:\//);
    assert.ok(drill.phases.fetchMs !== undefined && drill.phases.fetchMs > 0, 'the backup was fetched');
    assert.match(drill.replay, /replayed \d+ archived transactions .*\(the archive fetched from the SSH targets\)/);
    process.stdout.write(
      `# figure: drill from the SSH target alone in ${Date.now() - tDrill} ms (recovery ${drill.recoveryMs} ms: fetch ${drill.phases.fetchMs} ms, restore ${drill.phases.restoreMs} ms, replay with the archive fetched ${drill.phases.replayMs} ms)\n`,
    );

    // The datadir `restore --into-cluster` builds (its build step: restoreToPoint with `into`), from the SSH target alone.
    const into = path.join(work, 'into-build');
    const tInto = Date.now();
    const built = await restoreToPoint({
      topo: readTopology(cluster.stateDir),
      secrets: readSecrets(cluster.stateDir),
      stop: { kind: 'latest' },
      lockWaitMs: 60_000,
      into: { dir: into, serverId: 91, appUser: DB_USERS.app },
    });
    assert.equal(built.ok, true, built.problems.join('; '));
    assert.ok(fs.existsSync(path.join(into, 'data', 'mysql')), 'a datadir was built');
    assert.equal(built.restoredTo?.gtid, rep.restoredTo?.gtid, 'the same point as restore --latest --verify');
    process.stdout.write(`# figure: the --into-cluster datadir built from the SSH target alone (fetch, replay, finish) in ${Date.now() - tInto} ms\n`);
    fs.rmSync(into, { recursive: true, force: true });
    assert.deepEqual(
      fs.readdirSync(cluster.stateDir).filter((n) => n.startsWith('.fetch-')),
      [],
      'every fetched copy is removed',
    );
  });
});
