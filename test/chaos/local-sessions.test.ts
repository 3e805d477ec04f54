/**
 * The session checker must be able to fail: an app that keeps sessions in the app server's
 * memory loses them as soon as the load balancer sends a client to another app server, and the
 * chaos run reports "sessions lost" and exits 1.
 *
 * Namespace: addresses 127.0.59.1-2, cluster "lostsess" in a fresh temp directory.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chaosRun, useCluster } from '../helpers/cluster.js';
import { fixtureApp, onRange, soloNodes } from '../../kit/configs.js';

describe('chaos session checker against an app with in-memory sessions', { timeout: 300_000 }, () => {
  // A second app server: the load balancer alternates between the two.
  const used = useCluster('lostsess', onRange('local-sessions', { app: fixtureApp('test/chaos/fixtures/local-sessions-erp.ts'), nodes: soloNodes({ dns: true, app2: true }) }));

  it('reports the lost sessions and exits 1', async () => {
    const { res, report } = await chaosRun<{ sessionsLost: number }>(used, 'baseline', ['--duration', '6', '--clients', '2']);
    assert.equal(res.code, 1, res.stdout + res.stderr);
    assert.ok(report.sessionsLost > 0, `sessions lost: ${report.sessionsLost}`);
    assert.match(res.stdout, /sessions lost: [1-9]\d*/);
    assert.match(res.stdout, /PROMISE BROKEN: .*session/);
  });
});
