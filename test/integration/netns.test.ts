/**
 * The netns substrate through the real CLI (root only): partition faults through the admin API,
 * and `hastack down --force` after hastack itself crashed (supervisor SIGKILLed, its pid record
 * gone): every process, namespace and link of the cluster removed.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { readTopology } from '../../src/config/index.js';
import { requestFault } from '../../src/control/index.js';
import { HastackError } from '../../src/shared/errors.js';
import { pidAlive, runCli } from '../helpers/cli.js';
import { upCluster } from '../helpers/cluster.js';
import { connects, networkLeftovers } from '../helpers/netns.js';
import { testRange } from '../../kit/addresses.js';
import { ERP_APP, onRange } from '../../kit/configs.js';

const CLUSTER = testRange('netns').cluster;

const config = onRange('netns', {
  substrate: 'netns',
  redis: { quorum: 1 },
  app: ERP_APP,
  nodes: [
    { name: 'n1', services: ['mariadb', 'redis', 'app', 'lb'] },
    { name: 'n2', services: ['memcached'] },
  ],
});

const leftovers = (): string[] => networkLeftovers(CLUSTER);

describe('netns substrate through the CLI', { skip: process.getuid?.() !== 0 ? 'needs root (network namespaces)' : false, timeout: 4 * 60_000 }, () => {
  it('partition faults through the admin API, then down --force after a crash of hastack removes everything', async () => {
    const c = await upCluster('netns', config);
    try {
      const stateDir = path.join(c.dir, '.hastack', CLUSTER);
      const topo = readTopology(stateDir);
      const n2 = topo.services.find((s) => s.node === 'n2');
      assert.ok(n2);
      assert.equal(await connects(n2.address, n2.port), 'open');

      await requestFault(topo, { action: 'isolate', node: 'n2', fromHost: true });
      assert.equal(await connects(n2.address, n2.port), 'timeout', 'an isolated node drops packets: no answer, no refusal');
      await requestFault(topo, { action: 'heal-partition' });
      assert.equal(await connects(n2.address, n2.port), 'open');

      await assert.rejects(requestFault(topo, { action: 'cut', from: 'n1', to: 'nope' }), (e: unknown) => e instanceof HastackError && e.code === 'NOT_FOUND');
      await assert.rejects(requestFault(topo, { action: 'cut', from: 'n1', to: '@host' }), (e: unknown) => e instanceof HastackError && e.code === 'BAD_REQUEST');

      // The crash: the supervisor dies without cleaning up, and its pid record is lost too.
      const run = JSON.parse(fs.readFileSync(path.join(stateDir, 'run.json'), 'utf8')) as { supervisorPid: number; services: Record<string, { pid: number }> };
      const pids = Object.values(run.services).map((s) => s.pid);
      process.kill(run.supervisorPid, 'SIGKILL');
      fs.rmSync(path.join(stateDir, 'run.json'));
      assert.ok(pids.every(pidAlive), 'the services outlive their supervisor');
      assert.ok(leftovers().length > 0);

      const res = await runCli(['down', '--force', '-f', c.configFile], { cwd: c.dir, timeoutMs: 60_000 });
      assert.equal(res.code, 0, res.stderr);
      assert.deepEqual(pids.filter(pidAlive), [], 'no service left running');
      assert.deepEqual(leftovers(), [], 'no namespace, bridge or veth left');
    } finally {
      await c.down();
    }
    assert.deepEqual(leftovers(), []);
  });
});
