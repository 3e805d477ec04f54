import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfig, resolveTopology, type ConfigInput, type Topology } from '../config/index.js';
import { sshTargets } from '../failover/index.js';
import { authorizedKeysOutcome, authorizedKeysScript, keyBody } from './authorized-keys.js';
import { authorizeSshTargets, backupSenders, gateKeyLine, homeProblem } from './backup-target-auth.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-authkeys-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBACKUPKEYBODY hastack-shop-backup';
const OLD_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOLDERKEYBODY hastack-shop-backup';
const OTHER = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOPERATOR alice@laptop';
const OTHER_CLUSTER = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOTHERCLUSTER hastack-shop-backup-backup';

function topology(substrate: 'hosts' | 'local', extra: Partial<ConfigInput> = {}): Topology {
  const hosts = substrate === 'hosts';
  const at = (i: number): string => (hosts ? `10.0.0.${i}` : `127.0.240.${i}`);
  const config = parseConfig({
    cluster: 'shop',
    substrate,
    nodes: [
      { name: 'primary', address: at(1), ...(hosts ? { ssh: 'root@10.0.0.1' } : {}), services: ['mariadb', 'redis', 'sentinel', 'app', 'lb'] },
      { name: 'standby', address: at(2), ...(hosts ? { ssh: 'root@10.0.0.2' } : {}), services: ['mariadb', 'redis', 'sentinel', 'app', 'lb'] },
      { name: 'ops', address: at(3), ...(hosts ? { ssh: 'root@10.0.0.3' } : {}), services: ['sentinel'] },
    ],
    backup: { targets: [{ name: 'vault', ssh: 'backup@192.0.2.7:2222', dir: '/srv/backups', keep: 3 }] },
    ...extra,
  });
  return resolveTopology(config, { stateRoot: tmp, configDir: tmp });
}

/** The script run as the target's user would run it: HOME is a directory of this test. */
function authorize(home: string, line: string, o: { dryRun?: boolean } = {}): string {
  const r = spawnSync('sh', ['-s'], {
    input: authorizedKeysScript(line, { body: keyBody(KEY), comment: 'hastack-shop-backup', ...o }),
    env: { PATH: process.env['PATH'], HOME: home },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return authorizedKeysOutcome(r.stdout);
}

describe("the backup key's line on an SSH target", () => {
  it('from= names the database nodes, the archive node and the admin controller on hosts; nothing but this machine elsewhere', () => {
    assert.deepEqual(backupSenders(topology('hosts')), ['10.0.0.1', '10.0.0.2']);
    assert.deepEqual(backupSenders(topology('hosts', { hosts: { controller: 'ops' } })), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    assert.deepEqual(backupSenders(topology('local')), []);
  });

  it('restricts the key to the gate with its root, and to the senders', () => {
    const topo = topology('hosts');
    const t = sshTargets(topo)[0] ?? assert.fail('no SSH target');
    assert.equal(
      gateKeyLine(topo, t, KEY, '/home/backup', [...backupSenders(topo), '198.51.100.4']),
      `restrict,from="10.0.0.1,10.0.0.2,198.51.100.4",command="/home/backup/.hastack-backup-gate-shop /srv/backups/shop" ${KEY}`,
    );
    assert.throws(() => gateKeyLine(topo, t, KEY, '/home/backup', []), /no address to accept the key from/);
    assert.throws(() => gateKeyLine(topo, t, KEY, '/home/backup', ['10.0.0.1",command="sh']), /must be an IP address/);
  });

  it('refuses a home that overlaps the backup directory (the key could rewrite its own gate)', () => {
    assert.equal(homeProblem('/home/backup', '/srv/backups/shop'), undefined);
    assert.match(homeProblem('/srv/backups/shop', '/srv/backups/shop') ?? '', /overlap/);
    assert.match(homeProblem('/srv/backups/shop/u', '/srv/backups/shop') ?? '', /overlap/);
    assert.match(homeProblem('/home/backup', '/home/backup/.ssh/shop') ?? '', /overlap/);
    assert.match(homeProblem('/home/my backup', '/srv/b/shop') ?? '', /not a plain absolute path/);
  });
});

describe('authorized_keys: one line per key and cluster, idempotent (the same script for every key hastack authorises)', () => {
  it('adds, finds it present, replaces an older line of the key or of the cluster, keeps the others', () => {
    const home = path.join(tmp, 'home-a');
    fs.mkdirSync(home);
    const line = `restrict,from="10.0.0.1",command="${home}/.hastack-backup-gate-shop /srv/backups/shop" ${KEY}`;
    assert.equal(authorize(home, line, { dryRun: true }), 'added');
    assert.ok(!fs.existsSync(path.join(home, '.ssh')), 'a dry run changes nothing');
    assert.equal(authorize(home, line), 'added');
    const file = path.join(home, '.ssh', 'authorized_keys');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.join(home, '.ssh')).mode & 0o777, 0o700);
    assert.equal(authorize(home, line), 'present');
    assert.equal(fs.readFileSync(file, 'utf8'), `${line}\n`);
    // An operator's own key, another cluster's, the same key added by hand, and this cluster's older key.
    fs.writeFileSync(file, `${OTHER}\n${KEY}\n${OTHER_CLUSTER}\nfrom="10.9.9.9" ${OLD_KEY}\n`);
    assert.equal(authorize(home, line, { dryRun: true }), 'replaced');
    assert.equal(authorize(home, line), 'replaced');
    assert.equal(fs.readFileSync(file, 'utf8'), `${OTHER}\n${OTHER_CLUSTER}\n${line}\n`);
    assert.equal(authorize(home, line), 'present');
    // The same line twice (a hand edit): made one again.
    fs.appendFileSync(file, `${line}\n`);
    assert.equal(authorize(home, line), 'replaced');
    assert.equal(fs.readFileSync(file, 'utf8'), `${OTHER}\n${OTHER_CLUSTER}\n${line}\n`);
    // Another from= (a node added): the line is replaced, not added beside.
    const wider = line.replace('from="10.0.0.1"', 'from="10.0.0.1,10.0.0.5"');
    assert.equal(authorize(home, wider), 'replaced');
    assert.equal(fs.readFileSync(file, 'utf8'), `${OTHER}\n${OTHER_CLUSTER}\n${wider}\n`);
  });
});

describe('a target out of reach: a warning with the line to add by hand, never a failure', () => {
  it('names the line (from= this machine toward it), where it goes and the gate file to copy; a dry run writes nothing', async () => {
    // Port 9 on loopback: nothing listens, the connection is refused at once.
    const topo = topology('local', { backup: { targets: [{ name: 'vault', ssh: 'backup@127.0.0.1:9', dir: '/srv/backups' }] } });
    const said: Array<{ message: string; warning: boolean }> = [];
    const say = (message: string, data?: Record<string, unknown>): void => void said.push({ message, warning: data?.['warning'] === true });
    const dry = await authorizeSshTargets(topo, { dryRun: true, say });
    assert.equal(dry[0]?.outcome, 'failed');
    assert.ok(!fs.existsSync(path.join(topo.stateDir, 'ssh', '.hastack-backup-gate-shop')), 'a dry run writes no gate file');
    const [a] = await authorizeSshTargets(topo, { dryRun: false, say });
    assert.equal(a?.outcome, 'failed');
    assert.match(a?.warning ?? '', /NOT authorised on SSH target vault \(backup@127\.0\.0\.1:9\): this machine could not do it over your SSH as backup \(HOST_UNREACHABLE/);
    const local = path.join(topo.stateDir, 'ssh', '.hastack-backup-gate-shop');
    assert.match(a?.warning ?? '', new RegExp(`copy ${local} to /home/backup/\\.hastack-backup-gate-shop \\(mode 0755`));
    assert.match(a?.line ?? '', /^restrict,from="127\.0\.0\.1",command="\/home\/backup\/\.hastack-backup-gate-shop \/srv\/backups\/shop" ssh-ed25519 \S+ hastack-shop-backup$/);
    assert.ok((a?.warning ?? '').includes(a?.line ?? '-'), 'the exact line is in the warning');
    assert.equal(fs.statSync(local).mode & 0o777, 0o755);
    assert.equal(fs.readFileSync(local, 'utf8').split('\n')[1], '# hastack backup gate for cluster shop: written by "hastack deploy" / "hastack backup authorize",');
    assert.ok(said.every((x) => x.warning));
  });
});
