/**
 * The checker must catch a build that acknowledges orders without committing them: the chaos run
 * reports the lost writes and exits 1. (A checker that cannot fail would prove nothing.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chaosRun, useCluster } from '../helpers/cluster.js';
import { fixtureApp, onRange, soloNodes } from '../../kit/configs.js';

describe('chaos checker against a deliberately broken app', { timeout: 300_000 }, () => {
  // One small node carrying every tier: enough to serve the broken app, quick to start.
  const used = useCluster('broken', onRange('broken-app', { app: fixtureApp('test/chaos/fixtures/broken-erp.ts'), nodes: soloNodes({ dns: true }) }));

  it('reports the acknowledged but uncommitted orders as lost and exits 1', async () => {
    const { res, report } = await chaosRun<{ ackedWrites: number; lostWrites: number }>(used, 'baseline', ['--duration', '6', '--clients', '2']);
    assert.equal(res.code, 1, res.stdout + res.stderr);
    assert.ok(report.ackedWrites > 0);
    assert.equal(report.lostWrites, report.ackedWrites);
    assert.match(res.stdout, /PROMISE BROKEN: \d+ acknowledged order\(s\) lost/);
  });
});
