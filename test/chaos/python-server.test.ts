/**
 * The Python example on the `simple` variant (examples/python/hastack.simple.yaml: two servers,
 * MariaDB replication) with the crash plan: `hastack chaos run server --up --then-failover`. The
 * whole primary server is SIGKILLed under load and `hastack failover --yes` runs at once (its
 * end-to-end check is the example's `failover.verify`): the service comes back on the standby with
 * 0 acknowledged records lost, 0 stored twice, 0 acknowledged jobs lost. Addresses: its row
 * `python-server`.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { printChaosReport, runCli } from '../helpers/cli.js';
import { writeCluster } from '../helpers/cluster.js';
import { pythonExample } from '../../kit/configs.js';

describe('the Python example: the primary server killed, hastack failover (simple variant)', { timeout: 5 * 60_000 }, () => {
  const c = writeCluster('python-server', pythonExample('python-server', 'simple'));
  // --up brings the cluster down itself; this is the backstop if the run was cut short.
  after(() => c.down());

  it('kill -9 of the primary server, failover at once: service back on the standby, 0 lost, 0 doubled, 0 jobs lost', async () => {
    const json = path.join(c.dir, 'server.json');
    const res = await runCli(['chaos', 'run', 'server', '--up', '--then-failover', '--duration', '20', '--json', json, '-f', c.configFile], { cwd: c.dir, timeoutMs: 240_000 });
    printChaosReport(res.stdout, 'server');
    assert.ok(fs.existsSync(json), `no report:\n${res.stdout}\n${res.stderr}`);
    const r = JSON.parse(fs.readFileSync(json, 'utf8')) as Record<string, unknown> & { crashPlan: { ok: boolean } | null };
    assert.equal(r.workload, 'records');
    assert.equal(r.crashPlan?.ok, true, `the failover failed:\n${res.stdout}`);
    assert.ok((r.ackedWrites as number) > 0, 'records were acknowledged');
    assert.equal(r.lostWrites, 0);
    assert.equal(r.duplicateWrites, 0);
    assert.equal(r.jobsLost, 0);
    assert.equal(typeof r.firstWriteAfterFaultMs, 'number', 'a write started after the kill succeeded');
    assert.equal(r.healthyAfter, true, `unhealthy after: ${JSON.stringify(r.unhealthyAfter)}`);
    assert.equal(res.code, 0, `a promise broke: ${JSON.stringify(r.promisesBroken)}`);
  });
});
