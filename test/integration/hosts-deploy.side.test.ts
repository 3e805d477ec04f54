// lane: hosts (a host bed, not in CI: it boots its hosts and deploys over SSH; npm run test:hosts)
/**
 * `hastack deploy` to three machines over SSH: network namespaces on a bridge, each with its own
 * sshd and its own /opt/hastack, /var/lib/hastack and /root/.ssh (test/helpers/hostbed.ts), no
 * systemd (so hastack's keeper runs the units, as deploy says). The `simple` preset's primary and
 * standby, plus a third host with a Sentinel and the controller. From nothing: dry run (touches
 * nothing), deploy, a second deploy that changes nothing, --diff of an edited config, then the
 * crash plan under load (`chaos run server --then-failover`) against the deployed cluster, and
 * the errors for a host that cannot be reached or lacks an engine. Addresses 10.213.81.x.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import type { ConfigInput } from '../../src/config/index.js';
import { printChaosReport, runCli, tempDir } from '../helpers/cli.js';
import { startHostBed, type HostBed } from '../helpers/hostbed.js';
import { simpleOnBed } from '../helpers/hosts-config.js';
import { testRange } from '../../kit/addresses.js';

describe('hastack deploy to three hosts over SSH (simple preset + a witness)', { timeout: 15 * 60_000 }, () => {
  const dir = tempDir('deploy');
  const configFile = path.join(dir, 'hastack.yaml');
  let bed: HostBed;

  const config = (extra: Partial<ConfigInput> = {}): ConfigInput => simpleOnBed(bed, 'deployed', extra);
  const deploy = (args: string[] = [], timeoutMs = 300_000) => runCli(['deploy', '-f', configFile, ...args], { cwd: dir, timeoutMs });
  const unitPids = async (): Promise<string> => {
    const r = await runCli(['status', '--json', '-f', configFile], { cwd: dir, timeoutMs: 60_000 });
    const s = JSON.parse(r.stdout) as { state: string; services: Array<{ node: string; service: string; pid: number | null }> };
    // A host that did not answer gives no pids: say so, rather than "was restarted".
    assert.doesNotMatch(s.state, /not answering/, s.state);
    return s.services
      .map((x) => `${x.node}/${x.service}:${x.pid}`)
      .sort()
      .join(' ');
  };

  before(async () => {
    bed = await startHostBed({ hosts: ['primary', 'standby', 'ops'], addressBase: testRange('hosts-deploy').privateBase ?? '' });
    fs.writeFileSync(configFile, YAML.stringify(config()));
  });
  after(async () => {
    await runCli(['down', '-f', configFile], { cwd: dir, timeoutMs: 150_000 }).catch(() => undefined);
    await bed?.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('--dry-run on fresh hosts prints the plan and writes nothing on any host', async () => {
    const r = await deploy(['--dry-run']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /host primary \(root@[\d.]+:22\): debian 12, node v20/);
    // HASTACK_BED_INIT=systemd runs this file on hosts booting systemd (test/helpers/hostbed.ts).
    if (bed.init === 'systemd') assert.match(r.stdout, /debian 12, node v20\S*, systemd\n/);
    else assert.match(r.stdout, /no systemd .*hastack's keeper/);
    assert.match(r.stdout, /install hastack \S+ \(installed now: none\)/);
    assert.match(r.stdout, /dry run: nothing was changed on any host/);
    for (const h of bed.hosts) {
      const listing = (await bed.exec(h.name, 'ls -A /opt/hastack /var/lib/hastack')).stdout;
      assert.equal(listing.replace(/^\/\S+:$/gm, '').trim(), '', `${h.name} was touched:\n${listing}`);
    }
  });

  it('deploy brings the cluster up from nothing; every service healthy; the controller answers', async () => {
    const r = await deploy();
    process.stdout.write(`\n--- deploy (from nothing):\n${r.stdout}`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /installing hastack .* in \/opt\/hastack/);
    assert.match(r.stdout, /primary\/mariadb healthy \(primary/);
    assert.match(r.stdout, /standby\/mariadb healthy \(replica/);
    assert.match(r.stdout, /service\(s\) started/);
    const st = await runCli(['status', '-f', configFile], { cwd: dir, timeoutMs: 60_000 });
    assert.equal(st.code, 0, st.stdout + st.stderr);
    assert.match(st.stdout, /17\/17 services healthy/);
    // Review item 5: the controller's admin API listens on its host's loopback (no admin network
    // configured): it answers there, and the LAN (this machine, on the bed's bridge) cannot reach it.
    const w = bed.hosts[2];
    const ctl = await bed.exec(w?.name ?? 'ops', 'curl -s -o /dev/null -w %{http_code} http://127.0.0.1:9090/v1/status');
    assert.equal(ctl.stdout.trim(), '200');
    await assert.rejects(fetch(`http://${w?.address}:9090/v1/status`, { signal: AbortSignal.timeout(5_000) }));
  });

  it('a second deploy changes nothing: no unit restarted', async () => {
    const pids = await unitPids();
    const r = await deploy();
    process.stdout.write(`\n--- deploy (again):\n${r.stdout}`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /nothing to change \(17 services already running as configured\)/);
    assert.doesNotMatch(r.stdout, /installing hastack/);
    assert.equal(await unitPids(), pids);
  });

  it('--diff of an edited config shows the change and changes nothing; deploy then restarts only the units it concerns', async () => {
    const before = await unitPids();
    fs.writeFileSync(configFile, YAML.stringify(config({ memcached: { memoryMb: 96 } })));
    const r = await deploy(['--diff']);
    process.stdout.write(`\n--- deploy --diff (memcached.memoryMb 64 → 96):\n${r.stdout}`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /memoryMb/);
    assert.match(r.stdout, /hastack-deployed-primary-memcached \(restart: changed\)/);
    assert.doesNotMatch(r.stdout, /mariadb \(restart/);
    assert.match(r.stdout, /diff: nothing was changed on any host/);
    assert.equal(await unitPids(), before);
    const applied = await deploy();
    process.stdout.write(`\n--- deploy (the edit):\n${applied.stdout}`);
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);
    const pidOf = (all: string, id: string): string | undefined => all.split(' ').find((x) => x.startsWith(`${id}:`));
    const after = await unitPids();
    for (const id of ['primary/mariadb', 'standby/mariadb', 'primary/redis', 'standby/redis', 'ops/sentinel', 'primary/lb', 'standby/dns']) {
      assert.equal(pidOf(after, id), pidOf(before, id), `${id} was restarted`);
    }
    for (const id of ['primary/memcached', 'standby/memcached', 'primary/app']) assert.notEqual(pidOf(after, id), pidOf(before, id), `${id} kept its old config`);
  });

  it('chaos run server with the crash plan against the deployed cluster: the standby takes over, 0 lost', async () => {
    const json = path.join(dir, 'server.json');
    const res = await runCli(['chaos', 'run', 'server', '--then-failover', '--duration', '20', '--json', json, '-f', configFile], { cwd: dir, timeoutMs: 240_000 });
    printChaosReport(res.stdout, 'server');
    assert.ok(fs.existsSync(json), `no report:\n${res.stdout}\n${res.stderr}`);
    const r = JSON.parse(fs.readFileSync(json, 'utf8')) as Record<string, unknown> & { crashPlan: { ok: boolean } | null };
    assert.equal(r.crashPlan?.ok, true, `the failover failed:\n${res.stdout}`);
    assert.ok((r.ackedWrites as number) > 0);
    assert.equal(r.lostWrites, 0);
    assert.equal(r.duplicateWrites, 0);
    assert.equal(r.jobsLost, 0);
    assert.equal(res.code, 0, `a promise broke: ${JSON.stringify(r.promisesBroken)}\n${res.stdout}`);
    // The old primary was fenced on its own machine: recorded there as a replica.
    const { stdout: recorded } = await bed.exec('primary', 'cat /var/lib/hastack/deployed/primary/mariadb/hastack-db.json');
    assert.match(recorded, /"role": "replica"/);
    const again = await runCli(['failover', '--dry-run', '-f', configFile], { cwd: dir, timeoutMs: 60_000 });
    assert.match(again.stdout + again.stderr, /standby/);
  });

  it('a host that cannot be reached, or lacks an engine without apt-get, is named with the fix; nothing is touched', async () => {
    await bed.stopSshd('standby');
    try {
      const r = await deploy(['--dry-run'], 60_000);
      assert.notEqual(r.code, 0);
      assert.match(r.stdout + r.stderr, /host standby \(root@[\d.]+:22\)/);
    } finally {
      await bed.startSshd('standby');
    }
    // Inside the witness host only: its redis-sentinel and apt-get look absent.
    const hid = await bed.exec('ops', 'mount --bind /dev/null /usr/bin/redis-sentinel && mount --bind /dev/null /usr/bin/apt-get');
    assert.equal(hid.code, 0, hid.stderr);
    try {
      const r = await deploy(['--dry-run'], 60_000);
      assert.notEqual(r.code, 0);
      assert.match(r.stdout + r.stderr, /host ops \(root@[\d.]+:22\) lacks redis-sentinel and has no apt-get/);
    } finally {
      await bed.exec('ops', 'umount /usr/bin/apt-get; umount /usr/bin/redis-sentinel');
    }
  });
});
