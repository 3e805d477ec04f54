/**
 * Issue 22: what a client without retries sees when a load balancer dies. Two lb+dns nodes and one
 * core node; `hastack chaos run lb` (kill -9 one lb+dns node) with 2 of 4 clients naive: one
 * request per operation, no replay after it was sent; only a refused connection moves on to the
 * next address of the DNS answer, and, as every browser's HTTP stack does, a request on a
 * kept-alive connection that closed before the answer's headers goes out again at once (the
 * requests in flight on the killed balancer: `resentAttempts`). The report carries the naive
 * figures; the test checks they were measured through the fault (a naive client met the dead
 * load balancer and fell over to the live one), that no promise broke, and that any error a
 * client saw was in flight on the killed balancer (only one on a connection opened for it can
 * be: nothing may resend that).
 *
 * Second lane: one small bring-up, then it mostly waits (a 16 s run, the heal, the jobs' drain).
 * Addresses: the `naive-lb` row of kit/addresses.ts (cluster nvlb).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chaosRun, useCluster } from '../helpers/cluster.js';
import { ERP_APP, onRange, twoLbNodes } from '../../kit/configs.js';

interface Stats {
  ops: number;
  naiveOps: number;
  naiveAvailability: number;
  naiveFellOver: number;
  clientVisibleErrors: number;
  outcomes: Record<string, number>;
}
interface Report {
  naiveRequests: number;
  naiveAvailability: number;
  naiveAvailabilityDuringFault: number;
  firstAttemptAvailability: number;
  clientVisibleErrors: number;
  clientVisibleErrorsDiedInFlight: number;
  resentAttempts: number;
  naiveResent: number;
  maxOpLatencyMs: number;
  lostWrites: number;
  duplicateWrites: number;
  unknownWrites: number;
  attempts: { overall: { all: Stats; reads: Stats; writes: Stats }; duringFault: { all: Stats; reads: Stats; writes: Stats } };
}

describe('naive clients through a load-balancer kill', { timeout: 300_000 }, () => {
  const used = useCluster(
    'nvlb',
    onRange('naive-lb', {
      nodes: twoLbNodes(),
      database: { mode: 'replication' },
      redis: { quorum: 1 },
      app: ERP_APP,
    }),
  );

  it('reports what the naive clients saw, and they fall over between the answer’s addresses', async (t) => {
    const { res, report } = await chaosRun<Report>(used.cluster, 'lb', ['--duration', '16', '--clients', '4', '--naive-clients', '2'], 180_000);
    assert.equal(res.code, 0, `a promise broke:\n${res.stdout}\n${res.stderr}`);
    const all = report.attempts.overall.all;
    t.diagnostic(
      `naive: ${report.naiveAvailability} of ${report.naiveRequests} ops (${report.naiveAvailabilityDuringFault} during the fault), ${all.naiveFellOver} fell over to the next address; ` +
        `first attempt ${report.firstAttemptAvailability}; client-visible errors ${report.clientVisibleErrors} (in flight on the killed balancer as it died: ${report.clientVisibleErrorsDiedInFlight}); resent by the HTTP stack ${report.resentAttempts} (${report.naiveResent} naive ops saved); longest op ${report.maxOpLatencyMs} ms; attempts ${JSON.stringify(all.outcomes)}`,
    );
    assert.match(res.stdout, /naive clients +[\d.]+ % of \d+ op\(s\)/);
    assert.ok(report.naiveRequests > 0 && report.naiveRequests < all.ops, 'two of the four clients were naive');
    assert.ok(report.naiveAvailability >= 0 && report.naiveAvailability <= 1);
    // The fault was met: some attempt went to the killed load balancer and was refused...
    assert.ok((report.attempts.duringFault.all.outcomes.unreached ?? 0) > 0, `no attempt met the dead load balancer: ${JSON.stringify(all.outcomes)}`);
    // ...and a naive client, refused there, was answered on the other address in the same operation.
    assert.ok(all.naiveFellOver > 0, 'no naive operation fell over to the next address');
    // The only errors a client may see are requests in flight on the killed balancer's process when
    // it died, on a connection opened for them (a kept-alive one is resent). A 5xx, a timeout, or a
    // reset anywhere else is the stack's to fix.
    assert.equal(report.clientVisibleErrors, report.clientVisibleErrorsDiedInFlight, 'a client-visible error that no kill explains (see the attempts above)');
    // Naive writes that failed are of unknown outcome: never counted lost or duplicated.
    assert.equal(report.lostWrites, 0);
    assert.equal(report.duplicateWrites, 0);
  });
});
