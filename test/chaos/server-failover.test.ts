/**
 * The crash plan under load: `hastack chaos run server --up --preset simple --then-failover`.
 * The whole primary server is SIGKILLed under order load and `hastack failover --yes` runs at
 * once: the service comes back on the standby, no acknowledged order is lost or stored twice, and
 * the report gives the time from the kill to the first successful order. Address range 127.0.57.x.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { printChaosReport, runCli } from '../helpers/cli.js';
import { writeCluster } from '../helpers/cluster.js';
import { simpleCluster } from '../../kit/configs.js';

describe('chaos server scenario with the crash plan (simple preset)', { timeout: 4 * 60_000 }, () => {
  const c = writeCluster('server-failover', simpleCluster('server-failover'));
  const { dir, configFile } = c;
  // --up brings the cluster down itself; this is the backstop if the run was cut short.
  after(() => c.down());

  it('kill -9 of the primary server, failover at once: service back on the standby, 0 lost, 0 duplicated', async () => {
    const json = path.join(dir, 'server.json');
    const res = await runCli(['chaos', 'run', 'server', '--up', '--then-failover', '--duration', '20', '--json', json, '-f', configFile], { cwd: dir, timeoutMs: 200_000 });
    printChaosReport(res.stdout, 'server');
    assert.ok(fs.existsSync(json), `no report:\n${res.stdout}\n${res.stderr}`);
    const r = JSON.parse(fs.readFileSync(json, 'utf8')) as Record<string, unknown> & { crashPlan: { ok: boolean } | null };
    assert.equal(r.crashPlan?.ok, true, `the failover failed:\n${res.stdout}`);
    assert.match(res.stdout, /failover: \[ *[\d.]+s\] verify done/);
    assert.ok((r.ackedWrites as number) > 0, 'orders were acknowledged');
    assert.equal(r.lostWrites, 0);
    assert.equal(r.duplicateWrites, 0);
    assert.equal(r.jobsLost, 0);
    assert.equal(typeof r.firstWriteAfterFaultMs, 'number', 'an order started after the kill succeeded');
    assert.equal(r.healthyAfter, true, `unhealthy after: ${JSON.stringify(r.unhealthyAfter)}`);
    assert.equal(res.code, 0, `a promise broke: ${JSON.stringify(r.promisesBroken)}`);
  });
});
