// lane: hosts (a host bed, not in CI: it boots its hosts and deploys over SSH; npm run test:hosts)
/**
 * `hastack deploy` to three hosts that boot systemd as PID 1 (test/helpers/hostbed.ts, init
 * `systemd`): `hosts.serviceManager: auto` picks systemd there, as on a real server, and every
 * service is a systemd unit. One bring-up for the whole file, in this order: deploy from
 * nothing (with a short backup.schedule), a no-op redeploy, the backup timer firing, an edit
 * that restarts only the DNS servers (and drops the schedule), a unit SIGKILLed and restarted by
 * systemd, a unit stopped with `systemctl stop` seen by `status`, every host rebooted one at a
 * time under load (its enabled units come back by themselves), and last the crash plan under
 * load (it fences the old primary, so it comes after the reboots). Addresses 10.213.225.x.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import fs from 'node:fs';
import YAML from 'yaml';
import type { ConfigInput } from '../../src/config/index.js';
import { waitFor } from '../../src/shared/retry.js';
import { testRange } from '../../kit/addresses.js';
import { chaosTableLine, readChaosJson } from '../helpers/chaos-figures.js';
import { printChaosReport, runCli } from '../helpers/cli.js';
import { simpleOnBed, useBedCluster } from '../helpers/hosts-config.js';

const ID = 'hosts-systemd';
const CLUSTER = testRange(ID).cluster;
const STATE = `/var/lib/hastack/${CLUSTER}`;
const SERVICES = 17;
/** Short, so the timer fires within the test; the first run comes one interval after the deploy. */
const BACKUP_SCHEDULE = '20s';
/** The workload while the three hosts reboot one after the other (each ~5 s to boot, then its services' recovery). */
const REBOOT_LOAD_S = 60;
/** A rebooted host's services are healthy again within ~20 s here; 3 minutes means they never will. */
const HEALTHY_TIMEOUT_MS = 180_000;

interface StatusRow {
  node: string;
  service: string;
  pid: number | null;
  healthy: boolean;
  restarts: number;
  detail?: string;
}

describe('hastack deploy on hosts with systemd as PID 1 (simple preset + a witness)', { timeout: 20 * 60_000 }, () => {
  const used = useBedCluster(ID, { backup: { schedule: BACKUP_SCHEDULE } }, { init: 'systemd' });
  const { dir, configFile } = used;
  const deploy = (timeoutMs = 300_000) => runCli(['deploy', '-f', configFile], { cwd: dir, timeoutMs });
  const status = async (): Promise<{ state: string; services: StatusRow[] }> => {
    const r = await runCli(['status', '--json', '-f', configFile], { cwd: dir, timeoutMs: 60_000 });
    return JSON.parse(r.stdout) as { state: string; services: StatusRow[] };
  };
  const row = (s: { services: StatusRow[] }, id: string): StatusRow => s.services.find((x) => `${x.node}/${x.service}` === id) ?? assert.fail(`no ${id} in status`);
  const pids = (s: { services: StatusRow[] }): Map<string, number | null> => new Map(s.services.map((x) => [`${x.node}/${x.service}`, x.pid]));
  /** `hastack status` until every service is healthy on every host (no operator command in between). */
  const untilHealthy = async (): Promise<{ state: string; services: StatusRow[] }> => {
    let last: { state: string; services: StatusRow[] } | undefined;
    const ok = await waitFor(
      async () => {
        last = await status();
        return last.state === 'deployed' && last.services.length === SERVICES && last.services.every((x) => x.healthy) ? last : undefined;
      },
      { timeoutMs: HEALTHY_TIMEOUT_MS, intervalMs: 1_000 },
    );
    return ok ?? assert.fail(`not all healthy: ${JSON.stringify(last?.services.filter((x) => !x.healthy))} (${last?.state})`);
  };

  it('deploy from nothing: systemd is the service manager; every service healthy; units enabled', async () => {
    const { bed } = used;
    assert.equal(bed.init, 'systemd');
    const r = await deploy();
    process.stdout.write(`\n--- deploy (from nothing, systemd):\n${r.stdout}`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /host primary \(root@[\d.]+:22\): debian 12, node v20\S*, systemd/);
    assert.doesNotMatch(r.stdout, /hastack's keeper/);
    assert.match(r.stdout, /done in [\d.]+ s: 17 service\(s\) started/);
    const enabled = await bed.exec(
      'primary',
      `systemctl is-enabled hastack-${CLUSTER}-primary-mariadb hastack-${CLUSTER}-primary-lb; systemctl is-active hastack-${CLUSTER}-primary-mariadb`,
    );
    assert.equal(enabled.stdout, 'enabled\nenabled\nactive\n', enabled.stderr);
    // The distribution's own units for the engines did not start (masked in the bed).
    const distro = await bed.exec('primary', 'systemctl is-active mariadb redis-server memcached');
    assert.doesNotMatch(distro.stdout, /^active$/m);
    const timer = await bed.exec('standby', `systemctl is-enabled hastack-${CLUSTER}-backup.timer; systemctl is-active hastack-${CLUSTER}-backup.timer`);
    assert.equal(timer.stdout, 'enabled\nactive\n', timer.stderr);
    await untilHealthy();
  });

  let lastPids = new Map<string, number | null>();
  it('a second deploy changes nothing: no unit restarted', async () => {
    const before = pids(await status());
    const r = await deploy();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /nothing to change \(17 services already running as configured\)/);
    lastPids = pids(await status());
    assert.deepEqual(lastPids, before);
  });

  it('the backup timer fires: a complete backup lands on the standby by itself', async () => {
    const { bed } = used;
    // The first run comes one interval after the deploy started the timer; 2 minutes is far past it.
    const done = await waitFor(
      async () => {
        const r = await bed.exec('standby', `ls ${STATE}/standby/backups 2>/dev/null; systemctl show -p Result --value hastack-${CLUSTER}-backup.service`);
        return /^\d{8}T\d{6}Z$/m.test(r.stdout) && /^success$/m.test(r.stdout) ? r.stdout : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1_000 },
    );
    const log = (await bed.exec('standby', `cat ${STATE}/standby/backup/service.log`)).stdout;
    assert.ok(done !== undefined, `no backup from the timer:\n${log}`);
    assert.match(log, /backup \S+ complete on standby/);
  });

  it('an edit restarts only the units it concerns; a schedule removed takes its timer away', async () => {
    const { bed } = used;
    // Nothing restarted since the no-op deploy's status (the timer's backup is no service).
    const before = lastPids;
    // dns.ttlS is read by the DNS servers only (their restartOn in src/registry/kinds.ts).
    const edited: ConfigInput = simpleOnBed(bed, CLUSTER, { dns: { ttlS: 5 } });
    fs.writeFileSync(configFile, YAML.stringify(edited));
    const r = await deploy();
    process.stdout.write(`\n--- deploy (dns.ttlS 2 → 5, no backup.schedule):\n${r.stdout}`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /hastack-hsys-primary-dns \(restart: changed\)/);
    const after = pids(await status());
    for (const [id, pid] of before) {
      if (id.endsWith('/dns')) assert.notEqual(after.get(id), pid, `${id} kept its old config`);
      else assert.equal(after.get(id), pid, `${id} was restarted`);
    }
    const timer = await bed.exec('standby', `ls /etc/systemd/system | grep -c backup; systemctl is-active hastack-${CLUSTER}-backup.timer`);
    assert.match(timer.stdout, /^0\n(inactive|unknown)\n$/);
  });

  it('a unit killed with SIGKILL is restarted by systemd; `systemctl stop` of a unit is seen by status', async () => {
    const { bed } = used;
    const unit = `hastack-${CLUSTER}-standby-app`;
    const show = async (): Promise<string> => (await bed.exec('standby', `systemctl show -p MainPID -p NRestarts -p ActiveState ${unit}`)).stdout;
    const before = await show();
    const pid0 = /MainPID=(\d+)/.exec(before)?.[1];
    const n0 = Number(/NRestarts=(\d+)/.exec(before)?.[1]);
    const kill = await bed.exec('standby', `kill -KILL ${pid0 ?? 'none'}`);
    assert.equal(kill.code, 0, kill.stderr);
    // systemd restarts it after RestartSec (supervisor.restartBackoffMinMs): a new main pid, one more restart.
    const back = await waitFor(
      async () => {
        const now = await show();
        const pid = /MainPID=(\d+)/.exec(now)?.[1];
        return /ActiveState=active/.test(now) && pid !== '0' && pid !== pid0 ? now : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    assert.ok(back !== undefined, `${unit} did not come back: ${await show()}`);
    assert.equal(Number(/NRestarts=(\d+)/.exec(back)?.[1]), n0 + 1);

    const stop = await bed.exec('standby', `systemctl stop hastack-${CLUSTER}-standby-memcached`);
    assert.equal(stop.code, 0, stop.stderr);
    const s = await status();
    const stopped = row(s, 'standby/memcached');
    assert.equal(stopped.healthy, false);
    assert.equal(stopped.pid, null);
    // The SIGKILLed app is back in status too, restarted once.
    const app = row(s, 'standby/app');
    assert.equal(app.pid, Number(/MainPID=(\d+)/.exec(back)?.[1]));
    assert.equal(app.restarts, n0 + 1);
    // Started again by hand (what an operator who stopped it does); the next test waits for all healthy.
    const start = await bed.exec('standby', `systemctl start hastack-${CLUSTER}-standby-memcached`);
    assert.equal(start.code, 0, start.stderr);
  });

  it('every host rebooted one at a time under load: its units come back by themselves, 0 lost orders, all healthy', async () => {
    const { bed } = used;
    const json = path.join(dir, 'reboots.json');
    const load = runCli(['chaos', 'run', 'baseline', '--duration', String(REBOOT_LOAD_S), '--json', json, '-f', configFile], { cwd: dir, timeoutMs: 300_000 });
    // The first status (a few seconds) lets the workload start before the first power cut.
    await untilHealthy();
    const figures: string[] = [];
    for (const host of ['standby', 'primary', 'ops']) {
      const pid1 = bed.pid1(host);
      const t0 = Date.now();
      await bed.reboot(host);
      const booted = Date.now() - t0;
      assert.notEqual(bed.pid1(host), pid1);
      await untilHealthy();
      figures.push(
        `${host}: booted (sshd up, every enabled unit started) in ${(booted / 1000).toFixed(1)} s, all ${SERVICES} healthy ${((Date.now() - t0) / 1000).toFixed(1)} s after the power cut`,
      );
    }
    const res = await load;
    printChaosReport(res.stdout, 'baseline');
    process.stdout.write(`reboots:\n${figures.map((f) => `  ${f}`).join('\n')}\n`);
    const r = readChaosJson(json, res.stdout + res.stderr);
    process.stdout.write(`${chaosTableLine('reboots under load (no kill: no crash plan)', r)}\n`);
    assert.ok(r.ackedWrites > 0);
    assert.equal(r.lostWrites, 0);
    assert.equal(r.duplicateWrites, 0);
    assert.equal(r.jobsLost, 0);
    // After the last reboot, all healthy with no operator command (untilHealthy above), still so now.
    await untilHealthy();
  });

  it('the crash plan under load (chaos run server --then-failover): the standby takes over, 0 lost', async () => {
    const { bed } = used;
    const json = path.join(dir, 'server.json');
    // 40 s: the kill lands a quarter in, and the crash plan took up to 27 s on this shared machine;
    // the orders after it must still fall inside the workload to be counted.
    const res = await runCli(['chaos', 'run', 'server', '--then-failover', '--duration', '40', '--json', json, '-f', configFile], { cwd: dir, timeoutMs: 300_000 });
    printChaosReport(res.stdout, 'server');
    const r = readChaosJson(json, res.stdout + res.stderr);
    process.stdout.write(`${chaosTableLine('crash plan under systemd', r)}\n`);
    assert.equal(r.crashPlan?.ok, true, `the failover failed:\n${res.stdout}`);
    assert.ok(r.ackedWrites > 0);
    assert.equal(r.lostWrites, 0);
    assert.equal(r.duplicateWrites, 0);
    assert.equal(r.jobsLost, 0);
    assert.equal(typeof r.firstWriteAfterFaultMs, 'number', 'an order started after the kill succeeded');
    assert.equal(res.code, 0, `a promise broke: ${JSON.stringify(r.promisesBroken)}\n${res.stdout}`);
    const { stdout: recorded } = await bed.exec('primary', `cat ${STATE}/primary/mariadb/hastack-db.json`);
    assert.match(recorded, /"role": "replica"/, 'the old primary was recorded as a replica on its own machine');
  });
});
