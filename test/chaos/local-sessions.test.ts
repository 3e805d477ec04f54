/**
 * The session checker must be able to fail: an app that keeps sessions in the app server's
 * memory loses them as soon as the load balancer sends a client to another app server, and the
 * chaos run reports "sessions lost" and exits 1.
 *
 * Namespace: addresses 127.0.59.1-2, cluster "lostsess" in a fresh temp directory.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT, runCli } from '../helpers/cli.js';
import { upCluster, type TestCluster } from '../helpers/cluster.js';

describe('chaos session checker against an app with in-memory sessions', { timeout: 300_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await upCluster('lostsess', {
      cluster: 'lostsess',
      addressBase: '127.0.59',
      app: { module: path.join(REPO_ROOT, 'test/chaos/fixtures/local-sessions-erp.ts') },
      nodes: [
        { name: 'solo', services: ['mariadb', 'redis', 'memcached', 'app', 'worker', 'lb', 'dns'] },
        // A second app server: the load balancer alternates between the two.
        { name: 'app2', services: ['app'] },
      ],
    });
  });
  after(async () => cluster?.down());

  it('reports the lost sessions and exits 1', async () => {
    const json = path.join(cluster.dir, 'report.json');
    const res = await runCli(['chaos', 'run', 'baseline', '--duration', '6', '--clients', '2', '--json', json, '-f', cluster.configFile], { cwd: cluster.dir, timeoutMs: 120_000 });
    process.stdout.write(res.stdout);
    assert.equal(res.code, 1, res.stdout + res.stderr);
    const report = JSON.parse(fs.readFileSync(json, 'utf8')) as { sessionsLost: number };
    assert.ok(report.sessionsLost > 0, `sessions lost: ${report.sessionsLost}`);
    assert.match(res.stdout, /sessions lost: [1-9]\d*/);
    assert.match(res.stdout, /PROMISE BROKEN: .*session/);
  });
});
