// lane: hosts (a host bed, not in CI: it boots its hosts and deploys over SSH; npm run test:hosts)
/**
 * Review items 4, 2 and 7 on real (namespace) hosts: after `deploy`, every service runs as its own
 * unprivileged user, cannot write outside its directory and cannot read the node's secrets; the
 * controller's SSH key runs only the agent's gate, and only from the controller's address;
 * memcached, Redis and Sentinel answer cluster nodes and nobody else, while `status` and
 * `failover` from the operator's machine still see them (through the agents); `hastack audit`
 * (facts from each host's agent over SSH) finds nothing, and names a secrets.json made
 * world-readable and a secret a host does not need; `down` removes the firewall rules.
 *
 * Bed (test/helpers/hostbed.ts) on 10.213.206.x: `primary`, `standby`, `ops` (the `simple`
 * preset plus the controller with failover.auto), and `outsider`, a machine on the same network
 * that is not a cluster node. No systemd there: hastack's keeper runs the units. Cluster "hardened".
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { preset } from '../../src/config/index.js';
import { runCli, tempDir } from '../helpers/cli.js';
import { startHostBed, type HostBed } from '../helpers/hostbed.js';
import { simpleOnBed } from '../helpers/hosts-config.js';

const CLUSTER = 'hardened';
const STATE = `/var/lib/hastack/${CLUSTER}`;

describe('review items 4, 2 and 7: least privilege on hosts (service users, restricted controller key, firewall)', { timeout: 15 * 60_000 }, () => {
  const dir = tempDir('deploy-hardened');
  const configFile = path.join(dir, 'hastack.yaml');
  let bed: HostBed;
  const addr = (host: string): string => bed.hosts.find((h) => h.name === host)?.address ?? '';
  const sh = async (host: string, cmd: string): Promise<{ code: number; stdout: string; stderr: string }> => bed.exec(host, cmd, { timeoutMs: 30_000 });

  before(async () => {
    bed = await startHostBed({ hosts: ['primary', 'standby', 'ops', 'outsider'], addressBase: '10.213.206' });
    const failover = { ...preset('simple').failover, auto: true };
    fs.writeFileSync(configFile, YAML.stringify(simpleOnBed(bed, CLUSTER, { failover })));
    const d = await runCli(['deploy', '-f', configFile], { cwd: dir, timeoutMs: 300_000 });
    assert.equal(d.code, 0, d.stdout + d.stderr);
  });
  after(async () => {
    await runCli(['down', '-f', configFile], { cwd: dir, timeoutMs: 150_000 }).catch(() => undefined);
    await bed?.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('review item 4: every service runs as its own non-root user; its directory and secrets are its alone', async () => {
    const st = await runCli(['status', '--json', '-f', configFile], { cwd: dir, timeoutMs: 60_000 });
    assert.equal(st.code, 0, st.stdout + st.stderr);
    const services = (JSON.parse(st.stdout) as { services: Array<{ node: string; service: string; pid: number | null; healthy: boolean }> }).services;
    assert.ok(services.length >= 17);
    for (const s of services) {
      assert.ok(s.pid !== null, `${s.node}/${s.service} has a pid`);
      const user = (await sh(s.node, `ps -o user:32= -p ${s.pid}`)).stdout.trim();
      assert.equal(user, `hastack-${s.service}`, `${s.node}/${s.service} (pid ${s.pid}) runs as ${user}`);
      const own = (await sh(s.node, `stat -c '%U %a' ${STATE}/${s.node}/${s.service}`)).stdout.trim();
      assert.equal(own, `hastack-${s.service} 700`, `${s.node}/${s.service}'s directory`);
    }
    assert.equal((await sh('primary', `stat -c '%U %a' ${STATE}/secrets.json`)).stdout.trim(), 'root 600');
    assert.equal((await sh('primary', `stat -c '%U %a' ${STATE}/primary/app/secrets.json`)).stdout.trim(), 'hastack-app 600');
    assert.equal((await sh('primary', `stat -c '%U %a' ${STATE}/primary/redis/redis.conf`)).stdout.trim(), 'hastack-redis 600');
    // A service's user reads neither the node's secrets nor another service's files.
    const as = (user: string, cmd: string): Promise<{ code: number; stdout: string; stderr: string }> =>
      sh('primary', `setpriv --reuid=${user} --regid=${user} --clear-groups -- ${cmd}`);
    assert.notEqual((await as('hastack-lb', `cat ${STATE}/secrets.json`)).code, 0, 'the lb user read the node secrets');
    assert.notEqual((await as('hastack-app', `cat ${STATE}/primary/redis/redis.conf`)).code, 0, 'the app user read redis.conf');
    assert.notEqual((await as('hastack-memcached', `ls ${STATE}/primary/backups`)).code, 0, 'the memcached user listed the backups');
  });

  it('review item 4: the database server cannot write outside its own directory', async () => {
    const secrets = JSON.parse((await sh('primary', `cat ${STATE}/secrets.json`)).stdout) as { dbRootPassword: string };
    const sql = (q: string): Promise<{ code: number; stdout: string; stderr: string }> =>
      sh('primary', `MYSQL_PWD='${secrets.dbRootPassword}' mariadb --socket=${STATE}/primary/mariadb/mysqld.sock -uroot -N -e "${q}"`);
    const inside = await sql(`SELECT 'x' INTO OUTFILE '${STATE}/primary/mariadb/tmp/probe-${Date.now()}.txt'`);
    assert.equal(inside.code, 0, `writing in its own directory works: ${inside.stderr}`);
    // Only paths private to the bed's host: on code that runs the server as root these get written.
    for (const target of [`${STATE}/pwned.txt`, '/opt/hastack/pwned.txt', '/etc/hastack/pwned.txt']) {
      const out = await sql(`SELECT 'x' INTO OUTFILE '${target}'`);
      assert.notEqual(out.code, 0, `mariadbd wrote ${target}`);
      assert.match(out.stderr, /Errcode: 13|Permission denied|Can't create\/write/);
      assert.equal((await sh('primary', `test -e ${target}`)).code, 1);
    }
  });

  it('review item 4: the controller key runs the fence and status verbs only, and only from the controller', async () => {
    const line = (await sh('primary', `grep hastack-${CLUSTER}-controller /root/.ssh/authorized_keys`)).stdout.trim();
    assert.match(line, new RegExp(`^restrict,from="${addr('ops').replace(/\./g, '\\.')}",command="/opt/hastack/bin/hastack _agent-gate --state ${STATE}" ssh-ed25519 `));
    const key = `${STATE}/ssh/id_ed25519`;
    const ssh = (target: string, cmd: string): string =>
      `ssh -i ${key} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=${STATE}/ssh/known_hosts -o ConnectTimeout=5 root@${target} ${cmd}`;
    const shell = await sh('ops', ssh(addr('primary'), 'id'));
    assert.notEqual(shell.code, 0);
    assert.doesNotMatch(shell.stdout, /uid=/, 'a shell command ran with the controller key');
    assert.match(shell.stderr, /may only run the agent's status, node-down, record-role verbs; refused/);
    const upDown = await sh('ops', ssh(addr('primary'), `/opt/hastack/bin/hastack _agent node-up --state ${STATE} --node primary`));
    assert.notEqual(upDown.code, 0, 'node-up is not the controller key');
    const status = await sh('ops', ssh(addr('primary'), `/opt/hastack/bin/hastack _agent status --state ${STATE} --node primary`));
    assert.equal(status.code, 0, status.stderr);
    assert.ok((JSON.parse(status.stdout) as { units: unknown[] }).units.length > 0);
    // The same key from another machine of the network: sshd refuses it.
    const copy = path.join(bed.dir, 'stolen_ed25519');
    fs.copyFileSync(path.join(bed.dir, 'ops', 'var-lib-hastack', CLUSTER, 'ssh', 'id_ed25519'), copy);
    fs.chmodSync(copy, 0o600);
    const stolen = await sh(
      'outsider',
      `ssh -i ${copy} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=${bed.knownHostsFile} -o ConnectTimeout=5 root@${addr('primary')} /opt/hastack/bin/hastack _agent status --state ${STATE} --node primary`,
    );
    assert.notEqual(stolen.code, 0);
    assert.match(stolen.stderr, /Permission denied/);
  });

  it('review item 2: memcached answers cluster nodes only; hastack status still sees it through the agent', async () => {
    const stats = (from: string): Promise<{ code: number; stdout: string; stderr: string }> =>
      sh(from, `timeout 5 bash -c 'exec 3<>/dev/tcp/${addr('primary')}/11211 && printf "stats\\r\\nquit\\r\\n" >&3 && cat <&3'`);
    assert.match((await stats('standby')).stdout, /STAT pid/, 'a cluster node gets an answer');
    assert.match((await stats('ops')).stdout, /STAT pid/);
    const stranger = await stats('outsider');
    assert.doesNotMatch(stranger.stdout, /STAT/, 'a machine outside the cluster got an answer');
    assert.notEqual(stranger.code, 0);
    // The deploying machine is not a node either (the bed's host side).
    const fromHost = await runCli(['status', '--json', '-f', configFile], { cwd: dir, timeoutMs: 60_000 });
    const mc = (JSON.parse(fromHost.stdout) as { services: Array<{ node: string; service: string; healthy: boolean }> }).services.filter((s) => s.service === 'memcached');
    assert.ok(mc.length === 2 && mc.every((s) => s.healthy), JSON.stringify(mc));
  });

  it('review item 7: Redis and Sentinel answer cluster nodes only; they still replicate, and status and failover see them through the agents', async () => {
    const redisPassword = (JSON.parse(fs.readFileSync(path.join(bed.dir, 'primary', 'var-lib-hastack', CLUSTER, 'secrets.json'), 'utf8')) as { redisPassword: string })
      .redisPassword;
    // The password in the environment (REDISCLI_AUTH), never in argv; single-quote safe (base64url).
    const cli = (from: string, to: string, port: number, cmd: string, auth = true): Promise<{ code: number; stdout: string; stderr: string }> =>
      sh(from, `${auth ? `REDISCLI_AUTH='${redisPassword}' ` : ''}timeout 5 redis-cli -h ${addr(to)} -p ${port} ${cmd}`);
    for (const port of [6379, 26379]) {
      const stranger = await cli('outsider', 'primary', port, 'PING', false);
      assert.doesNotMatch(stranger.stdout + stranger.stderr, /PONG|NOAUTH/, `port ${port} answered a machine outside the cluster`);
      assert.match(stranger.stdout + stranger.stderr, /Connection reset|Connection refused|Could not connect/, `port ${port}: ${stranger.stdout}${stranger.stderr}`);
    }
    // A cluster node without the password is answered (and refused by Redis itself).
    const node = await cli('ops', 'primary', 6379, 'PING', false);
    assert.match(node.stdout + node.stderr, /NOAUTH/);
    // The replicas still replicate: every Redis node seen from another node.
    const info = async (node: string): Promise<string> => (await cli(node === 'primary' ? 'standby' : 'primary', node, 6379, 'INFO replication')).stdout;
    const views = await Promise.all(['primary', 'standby'].map(async (n) => ({ n, text: await info(n) })));
    const master = views.find((v) => /role:master/.test(v.text));
    const replica = views.find((v) => /role:slave/.test(v.text));
    assert.ok(master && replica, JSON.stringify(views));
    assert.match(master.text, /connected_slaves:1/);
    assert.match(replica.text, /master_link_status:up/);
    // The operator's machine (the bed's host side, not a node) sees them through the agents.
    const st = await runCli(['status', '--json', '-f', configFile], { cwd: dir, timeoutMs: 60_000 });
    const rows = (JSON.parse(st.stdout) as { services: Array<{ node: string; service: string; role: string; healthy: boolean; detail?: string }> }).services.filter(
      (x) => x.service === 'redis' || x.service === 'sentinel',
    );
    assert.equal(rows.length, 5, JSON.stringify(rows));
    assert.ok(
      rows.every((x) => x.healthy),
      JSON.stringify(rows),
    );
    assert.deepEqual(
      rows
        .filter((x) => x.service === 'redis')
        .map((x) => x.role)
        .sort(),
      ['master', 'replica'],
    );
    // The crash plan's facts (what `failover` decides on) too.
    const dry = await runCli(['failover', '--dry-run', '-f', configFile], { cwd: dir, timeoutMs: 120_000 });
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    assert.match(dry.stdout, new RegExp(`redis ${master.n}: master \\(offset \\d+\\)`));
    assert.match(dry.stdout, new RegExp(`redis ${replica.n}: replica of ${master.n}, link up`));
    assert.match(dry.stdout, new RegExp(`sentinels name: ${master.n}`));
  });

  it('review items 4 and 2: hastack audit of the deployed cluster finds nothing (users, modes, key, memcached)', async () => {
    const r = await runCli(['audit', '--json', '-f', configFile], { cwd: dir, timeoutMs: 120_000 });
    const report = JSON.parse(r.stdout) as { findings: Array<{ severity: string; code: string; where: string; message: string }> };
    const bad = report.findings.filter((f) => f.severity !== 'info');
    assert.deepEqual(bad, [], r.stdout + r.stderr);
    assert.equal(r.code, 0, r.stderr);
  });

  it('hastack audit names SECRET_FILE_MODE on the host whose secrets.json is chmod 0644, and exits 1', async () => {
    await sh('primary', `chmod 644 ${STATE}/secrets.json`);
    try {
      const r = await runCli(['audit', '--json', '-f', configFile], { cwd: dir, timeoutMs: 120_000 });
      const report = JSON.parse(r.stdout) as { findings: Array<{ severity: string; code: string; where: string }> };
      assert.equal(r.code, 1);
      assert.ok(
        report.findings.some((f) => f.code === 'SECRET_FILE_MODE' && f.where === `primary:${STATE}/secrets.json`),
        JSON.stringify(
          report.findings.filter((f) => f.severity === 'finding'),
          null,
          1,
        ),
      );
    } finally {
      await sh('primary', `chmod 600 ${STATE}/secrets.json`);
    }
  });

  it('review item 4: hastack audit names SECRET_NOT_NEEDED on a host holding a secret its services do not need, and exits 1', async () => {
    // primary runs no keepalived (no lb.vip here): the VRRP password is not its to hold.
    const file = path.join(bed.dir, 'primary', 'var-lib-hastack', CLUSTER, 'secrets.json');
    const before = fs.readFileSync(file, 'utf8');
    const held = JSON.parse(before) as Record<string, string>;
    assert.equal(held['vrrpPassword'], undefined, 'primary holds the VRRP password after deploy');
    fs.writeFileSync(file, JSON.stringify({ ...held, vrrpPassword: 'rgAbc123' }, null, 2) + '\n');
    try {
      const r = await runCli(['audit', '--json', '-f', configFile], { cwd: dir, timeoutMs: 120_000 });
      const report = JSON.parse(r.stdout) as { findings: Array<{ severity: string; code: string; where: string; message: string }> };
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const f = report.findings.filter((x) => x.code === 'SECRET_NOT_NEEDED');
      assert.equal(
        f.length,
        1,
        JSON.stringify(
          report.findings.filter((x) => x.severity === 'finding'),
          null,
          1,
        ),
      );
      assert.equal(f[0]?.where, 'primary');
      assert.match(f[0]?.message ?? '', /holds vrrpPassword, which none of its services needs/);
      assert.doesNotMatch(r.stdout, /rgAbc123/, 'the audit printed a secret');
    } finally {
      fs.writeFileSync(file, before);
    }
  });

  it('review item 2: down removes the firewall rules', async () => {
    assert.match((await sh('primary', 'iptables -S')).stdout, new RegExp(`-j hastack-${CLUSTER}`));
    const d = await runCli(['down', '-f', configFile], { cwd: dir, timeoutMs: 150_000 });
    assert.equal(d.code, 0, d.stdout + d.stderr);
    for (const h of ['primary', 'standby', 'ops']) assert.doesNotMatch((await sh(h, 'iptables -S')).stdout, /hastack-/, `${h} kept rules`);
  });
});
