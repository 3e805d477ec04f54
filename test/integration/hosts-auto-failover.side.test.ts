// lane: hosts (a host bed, not in CI: it boots its hosts and deploys over SSH; npm run test:hosts)
/**
 * `failover.auto` on real hosts: `deploy` gives the controller (on the witness host `ops`) its
 * own SSH key, and when `chaos run server` SIGKILLs every unit of the primary host under load,
 * the controller sees the primary lost by itself and by the standby's replica, fences the
 * primary's machine over SSH and promotes the standby, with no operator. Three namespace hosts
 * (test/helpers/hostbed.ts) on 10.213.82.x.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { printChaosReport, runCli } from '../helpers/cli.js';
import { useBedCluster } from '../helpers/hosts-config.js';
import { autoFailover } from '../../kit/configs.js';

describe('automatic failover on three hosts (the controller fences over SSH)', { timeout: 8 * 60_000 }, () => {
  // detection 2 s, as in the one-machine test: a dead primary refuses at once, and its
  // replica's IO thread reconnects every second.
  const used = useBedCluster('hosts-auto-failover', { failover: autoFailover(2_000) });
  const { dir, configFile } = used;

  it('deploy installs the controller key; the primary server dies under load; the controller fails over by itself, 0 lost', async () => {
    const { bed } = used;
    const d = await runCli(['deploy', '-f', configFile], { cwd: dir, timeoutMs: 300_000 });
    assert.equal(d.code, 0, d.stdout + d.stderr);
    assert.match(d.stdout, /failover\.auto: the controller on ops fences with its own SSH key, now authorised on/);
    const keys = await bed.exec('primary', 'grep -c hastack-autohosts-controller /root/.ssh/authorized_keys');
    assert.equal(keys.stdout.trim(), '1');

    const json = path.join(dir, 'server.json');
    const res = await runCli(['chaos', 'run', 'server', '--duration', '20', '--json', json, '-f', configFile], { cwd: dir, timeoutMs: 240_000 });
    printChaosReport(res.stdout, 'server');
    assert.ok(fs.existsSync(json), `no report:\n${res.stdout}\n${res.stderr}`);
    const r = JSON.parse(fs.readFileSync(json, 'utf8')) as Record<string, unknown>;
    assert.equal(r.lostWrites, 0);
    assert.equal(r.duplicateWrites, 0);
    assert.equal(r.jobsLost, 0);
    assert.equal(typeof r.firstWriteAfterFaultMs, 'number', 'an order started after the kill succeeded');
    const events = (await bed.exec('ops', 'cat /var/lib/hastack/autohosts/events.jsonl')).stdout;
    assert.match(
      events,
      /auto failover: failing over: primary primary unreachable from the controller and 1\/1 replicas for [\d.]+ s; failover fo-\S+ done: standby is the primary/,
    );
    const recorded = (await bed.exec('primary', 'cat /var/lib/hastack/autohosts/primary/mariadb/hastack-db.json')).stdout;
    assert.match(recorded, /"role": "replica"/, 'the old primary was recorded as a replica on its own machine');
    assert.equal(res.code, 0, `a promise broke: ${JSON.stringify(r.promisesBroken)}`);
  });
});
