/**
 * Per-service control (issue 25) on a real cluster brought up with the CLI: `solo` (every tier),
 * a second app server `app2` and a database replica `db2`.
 *
 *  - `stop app2`: the supervisor leaves it stopped (no restart), `status` says "stopped by the
 *    operator", orders through the load balancer still succeed (served by `solo`); `start app2`
 *    brings it back healthy.
 *  - `restart db2/mariadb`: the replica comes back healthy, as a replica.
 *  - `drain app2`: the load balancer marks it draining and sends it no new request (its request
 *    counter in /-/stats stays put); `--undo` puts it back.
 *  - A typo exits 2 with a "did you mean"; `--dry-run` changes nothing; each change is in the event log.
 *
 * Namespace: 127.0.217.1-3, cluster "svcctl" (kit/addresses.ts `service-control`); `down` stops
 * every process the cluster recorded and the directory is removed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

process.env.HASTACK_LOG_LEVEL ??= 'warn';

import { waitFor } from '../../src/shared/retry.js';
import { readEventsFrom } from '../../src/shared/events.js';
import { pidAlive, runCli } from '../helpers/cli.js';
import { upCluster, type TestCluster } from '../helpers/cluster.js';
import { call, ERP_ADMIN, erpLogin, type Json } from '../helpers/erp.js';
import { testRange } from '../../kit/addresses.js';
import { ERP_APP, onRange } from '../../kit/configs.js';

const R = testRange('service-control');
const LB = `http://${R.address(1)}:8080`;
const LB_STATS = `http://${R.address(1)}:8404/-/stats`;

interface Row {
  readonly node: string;
  readonly service: string;
  readonly pid: number | null;
  readonly role: string;
  readonly healthy: boolean;
  readonly operator?: string;
  readonly detail?: string;
}

describe('hastack stop|start|restart|drain', { timeout: 900_000 }, () => {
  let cluster: TestCluster | undefined;
  let admin = '';
  let orderNo = 0;
  const sku = 'SVC-CTL';

  before(async () => {
    cluster = await upCluster(
      R.cluster,
      onRange('service-control', {
        app: ERP_APP,
        database: { mode: 'replication' },
        nodes: [
          { name: 'solo', services: ['mariadb', 'redis', 'memcached', 'app', 'worker', 'lb'] },
          { name: 'app2', services: ['app'] },
          { name: 'db2', services: ['mariadb'] },
        ],
      }),
    );
    admin = await erpLogin(LB, ERP_ADMIN);
    const item = await call(LB, 'POST', '/api/items', { sku, name: 'Service control', priceCents: 100, opening: { warehouse: 'MAIN', qty: 1000 } }, { cookie: admin });
    assert.equal(item.status, 201, JSON.stringify(item.body));
  });

  after(async () => cluster?.down());

  const cli = async (...args: string[]) => {
    assert.ok(cluster);
    return runCli([...args, '-f', cluster.configFile], { cwd: cluster.dir, timeoutMs: 240_000 });
  };
  const status = async (): Promise<Row[]> => JSON.parse((await cli('status', '-o', 'json')).stdout).services as Row[];
  const row = async (node: string, service: string): Promise<Row> => (await status()).find((r) => r.node === node && r.service === service) ?? assert.fail(`${node}/${service}`);
  const order = () => call(LB, 'POST', '/api/orders', { customer: 'SVCCTL', lines: [{ sku, qty: 1 }] }, { cookie: admin, 'idempotency-key': `svcctl-${++orderNo}` });
  const app2Backend = async (): Promise<{ state: string; requests: number }> => {
    const stats = (await (await fetch(LB_STATS)).json()) as { backends: Array<{ id: string; state: string; requests: number }> };
    return stats.backends.find((b) => b.id === 'app2/app') ?? assert.fail('app2/app in /-/stats');
  };

  it('a typo exits 2 with a "did you mean"; --dry-run says what would happen and changes nothing', async () => {
    const typo = await cli('stop', 'app3');
    assert.equal(typo.code, 2, typo.stderr);
    assert.match(typo.stderr + typo.stdout, /no node "app3" in cluster svcctl \(did you mean "app2"\?\)/);
    const badSvc = await cli('restart', 'db2/mariadbb');
    assert.equal(badSvc.code, 2);
    assert.match(badSvc.stderr + badSvc.stdout, /did you mean "mariadb"/);
    const dry = await cli('stop', 'app2', '--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^would stop app2\/app/m);
    assert.equal((await row('app2', 'app')).healthy, true);
  });

  it('stop app2: it stays stopped, status says so, orders still succeed through the load balancer; start brings it back', async () => {
    const before = (await row('app2', 'app')).pid;
    assert.ok(before !== null);
    const stop = await cli('stop', 'app2', '-o', 'json');
    assert.equal(stop.code, 0, stop.stderr);
    assert.deepEqual((JSON.parse(stop.stdout) as Json).services, ['app2/app']);
    assert.equal(pidAlive(before), false);
    // Longer than the supervisor's first restart backoff: nothing restarts it.
    await new Promise((r) => setTimeout(r, 3_000));
    const stopped = await row('app2', 'app');
    assert.equal(stopped.operator, 'stopped');
    assert.match(stopped.detail ?? '', /stopped by the operator/);
    assert.equal(stopped.pid, null);
    for (let i = 0; i < 6; i++) {
      const o = await order();
      assert.equal(o.status, 201, JSON.stringify(o.body));
      assert.equal(o.servedBy, 'solo');
    }
    const start = await cli('start', 'app2');
    assert.equal(start.code, 0, start.stderr);
    const back = await row('app2', 'app');
    assert.equal(back.healthy, true);
    assert.equal(back.operator, undefined);
    assert.ok(cluster);
    const ops = readEventsFrom(cluster.stateDir, 0)
      .events.filter((e) => e.type === 'service.operator')
      .map((e) => e.message);
    assert.ok(ops.some((m) => /app2\/app stopped by the operator/.test(m)) && ops.some((m) => /app2\/app started by the operator/.test(m)), ops.join('\n'));
  });

  it('restart db2/mariadb: the replica comes back healthy, still a replica', async () => {
    const before = await row('db2', 'mariadb');
    const r = await cli('restart', 'db2/mariadb');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const after = await row('db2', 'mariadb');
    assert.notEqual(after.pid, before.pid);
    assert.equal(after.healthy, true);
    assert.equal(after.role, before.role);
    assert.equal((await order()).status, 201);
  });

  it('drain app2: no new request reaches it; --undo puts it back', async () => {
    const d = await cli('drain', 'app2');
    assert.equal(d.code, 0, d.stderr);
    await waitFor(async () => ((await app2Backend()).state === 'draining' ? true : undefined), { timeoutMs: 15_000, intervalMs: 200 });
    assert.equal((await row('app2', 'app')).operator, 'drained');
    const count = (await app2Backend()).requests;
    for (let i = 0; i < 10; i++) {
      const o = await order();
      assert.equal(o.status, 201, JSON.stringify(o.body));
      assert.equal(o.servedBy, 'solo');
    }
    assert.equal((await app2Backend()).requests, count, 'the drained app server got no new request');
    const undo = await cli('drain', 'app2', '--undo');
    assert.equal(undo.code, 0, undo.stderr);
    await waitFor(async () => ((await app2Backend()).state === 'up' ? true : undefined), { timeoutMs: 30_000, intervalMs: 200 });
    const served = new Set<string | null>();
    for (let i = 0; i < 10; i++) served.add((await call(LB, 'GET', '/me', undefined, { cookie: admin })).servedBy);
    assert.ok(served.has('app2'), `app2 serves again: ${[...served].join(', ')}`);
  });
});
