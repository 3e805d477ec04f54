/**
 * The Python example (examples/python, `chaos.workload: records`) on the `ideal` layout under
 * three faults, one cluster for all three: SIGKILL of the Galera writer node, of the Redis master
 * node, of an app node. Each runs the chaos machinery (`hastack chaos run`, 8 clients through DNS
 * and the load balancers) and must keep every promise: 0 acknowledged records lost, 0 stored
 * twice, 0 acknowledged jobs lost. The app has no failover logic of its own: it reaches the
 * database and Redis through the local endpoints. Addresses: its row `python-ideal`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chaosRun, useCluster } from '../helpers/cluster.js';
import { pythonExample } from '../../kit/configs.js';

interface Report {
  readonly workload: string;
  readonly requests: number;
  readonly ackedWrites: number;
  readonly lostWrites: number;
  readonly duplicateWrites: number;
  readonly jobsAcked: number;
  readonly jobsLost: number;
  readonly healthyAfter: boolean;
  readonly unhealthyAfter: readonly string[];
  readonly promisesBroken: readonly string[];
  readonly jobsVia?: Readonly<Record<string, number>>;
}

// 15 s a run: the fault at 3.75 s, held 7.5 s (half the run), then 3.75 s of recovery; a Galera
// writer switch and a Sentinel failover both complete within about 3.5 s here.
const DURATION_S = '15';

const FAULTS: ReadonlyArray<readonly [string, string]> = [
  ['db-primary', 'SIGKILL of the Galera writer node: the db-endpoint moves to another node'],
  ['redis-master', 'SIGKILL of the Redis master node: Sentinel promotes a replica, the redis-endpoint follows, lost wake-ups are swept'],
  ['app', 'SIGKILL of an app node (gunicorn and its endpoints): the load balancers route around it'],
];

describe('the Python example under faults (ideal layout, one cluster)', { timeout: 15 * 60_000 }, () => {
  const c = useCluster('python-ideal', pythonExample('python-ideal', 'ideal'));

  for (const [scenario, what] of FAULTS) {
    it(`${scenario}: ${what}; 0 records lost or doubled, 0 jobs lost`, async () => {
      const { res, report } = await chaosRun<Report>(c.cluster, scenario, ['--duration', DURATION_S], 200_000);
      assert.equal(report.workload, 'records');
      assert.ok(report.ackedWrites > 0, 'records were acknowledged');
      assert.ok(report.jobsAcked > 0, 'jobs were acknowledged');
      assert.equal(report.lostWrites, 0);
      assert.equal(report.duplicateWrites, 0);
      assert.equal(report.jobsLost, 0);
      assert.equal(report.healthyAfter, true, `unhealthy after: ${JSON.stringify(report.unhealthyAfter)}`);
      assert.equal(res.code, 0, `a promise broke: ${JSON.stringify(report.promisesBroken)}`);
    });
  }
});
