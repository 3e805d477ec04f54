/**
 * The checker must catch a build that acknowledges orders without committing them: the chaos run
 * reports the lost writes and exits 1. (A checker that cannot fail would prove nothing.)
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT, runCli } from '../helpers/cli.js';
import { upCluster, type TestCluster } from '../helpers/cluster.js';

describe('chaos checker against a deliberately broken app', { timeout: 300_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    // One small node carrying every tier: enough to serve the broken app, quick to start.
    cluster = await upCluster('broken', {
      cluster: 'broken',
      addressBase: '127.0.31',
      app: { module: path.join(REPO_ROOT, 'test/chaos/fixtures/broken-erp.ts') },
      nodes: [{ name: 'solo', services: ['mariadb', 'redis', 'memcached', 'app', 'worker', 'lb', 'dns'] }],
    });
  });
  after(async () => cluster?.down());

  it('reports the acknowledged but uncommitted orders as lost and exits 1', async () => {
    const json = path.join(cluster.dir, 'report.json');
    const res = await runCli(['chaos', 'run', 'baseline', '--duration', '6', '--clients', '2', '--json', json, '-f', cluster.configFile], { cwd: cluster.dir, timeoutMs: 120_000 });
    process.stdout.write(res.stdout);
    assert.equal(res.code, 1, res.stdout + res.stderr);
    const report = JSON.parse(fs.readFileSync(json, 'utf8')) as { ackedWrites: number; lostWrites: number };
    assert.ok(report.ackedWrites > 0);
    assert.equal(report.lostWrites, report.ackedWrites);
    assert.match(res.stdout, /PROMISE BROKEN: \d+ acknowledged order\(s\) lost/);
  });
});
