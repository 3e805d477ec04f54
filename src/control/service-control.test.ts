import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig, resolveTopology } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import {
  describeDrain,
  describeServicePlan,
  drainTarget,
  parseTarget,
  readOperatorStopped,
  resolveTarget,
  serviceControlSchema,
  startOrder,
  writeOperatorStopped,
} from './service-control.js';

const twoAppsTwoDbs = () =>
  resolveTopology(
    parseConfig({
      cluster: 'svcctl',
      redis: { quorum: 1 },
      nodes: [
        { name: 'lb1', services: ['lb'] },
        { name: 'app1', services: ['app', 'worker'] },
        { name: 'app2', services: ['app', 'worker'] },
        { name: 'db1', services: ['mariadb', 'redis'] },
        { name: 'db2', services: ['mariadb', 'redis'] },
      ],
    }),
    { stateRoot: '/nonexistent/hastack-state', configDir: '/nonexistent' },
  );

function usage(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof HastackError && e.code === ErrorCode.USAGE && message.test(e.message));
}

describe('service control: NODE[/SERVICE] targets', () => {
  it('parses a node and a node/service; anything else is a usage error', () => {
    assert.deepEqual(parseTarget('app1'), { node: 'app1' });
    assert.deepEqual(parseTarget('db2/mariadb'), { node: 'db2', service: 'mariadb' });
    for (const bad of ['', '/mariadb', 'db2/', 'db2/mariadb/x']) usage(() => parseTarget(bad), /is not NODE or NODE\/SERVICE/);
  });

  it('a whole node resolves to each of its services in stop order; a service to itself', () => {
    const topo = twoAppsTwoDbs();
    const ids = resolveTarget(topo, { node: 'app1' }).map((s) => s.id);
    assert.deepEqual([...ids].sort(), ['app1/app', 'app1/worker']);
    assert.deepEqual(
      resolveTarget(topo, { node: 'db2', service: 'mariadb' }).map((s) => s.id),
      ['db2/mariadb'],
    );
  });

  it('an unknown node or service exits 2 with a "did you mean" and the choices', () => {
    const topo = twoAppsTwoDbs();
    usage(() => resolveTarget(topo, { node: 'app3' }), /no node "app3" in cluster svcctl \(did you mean "app[12]"\?\); there are: lb1, app1/);
    usage(() => resolveTarget(topo, { node: 'db2', service: 'mariad' }), /no service "mariad" on node db2 \(did you mean "mariadb"\?\); there are: .*redis/);
    usage(() => resolveTarget(topo, { node: 'db2', service: 'app' }), /no service "app" on node db2; there are/);
  });

  it('start goes in the reverse of the stop order; restart is stop then start', () => {
    const topo = twoAppsTwoDbs();
    const svcs = resolveTarget(topo, { node: 'app1' });
    assert.deepEqual(
      startOrder(svcs).map((s) => s.id),
      [...svcs].reverse().map((s) => s.id),
    );
    const restart = describeServicePlan('restart', svcs);
    assert.equal(restart.length, 4);
    assert.match(restart[0] ?? '', /^stop app1\/\w+ .*until "start"/);
    assert.match(restart[3] ?? '', /^start app1\/\w+ on 127\.\d+\.\d+\.\d+:\d+ and wait until it is healthy/);
  });
});

describe('service control: drain', () => {
  it("drain NODE names the node's app server", () => {
    const app = drainTarget(twoAppsTwoDbs(), 'app2');
    assert.equal(app.id, 'app2/app');
    assert.match(describeDrain(app, false), /no new requests, requests in flight finish/);
    assert.match(describeDrain(app, true), /answers 200 again/);
  });
  it('a node without an app server or an unknown node is a usage error', () => {
    usage(() => drainTarget(twoAppsTwoDbs(), 'db1'), /runs no app server.*app1, app2/);
    usage(() => drainTarget(twoAppsTwoDbs(), 'ap1'), /did you mean "app1"/);
  });
});

describe('service control: the admin API body and the operator state', () => {
  it('accepts resolved service ids and drains; refuses anything else', () => {
    assert.ok(serviceControlSchema.safeParse({ action: 'restart', services: ['db2/mariadb'] }).success);
    assert.deepEqual(serviceControlSchema.parse({ action: 'drain', node: 'app1' }), { action: 'drain', node: 'app1', undo: false });
    assert.ok(!serviceControlSchema.safeParse({ action: 'stop', services: [] }).success);
    assert.ok(!serviceControlSchema.safeParse({ action: 'kill', services: ['app1/app'] }).success);
    assert.ok(!serviceControlSchema.safeParse({ action: 'stop', services: ['app1/app'], extra: 1 }).success);
  });
  it('operator.json round-trips the stopped services; a missing or broken file means none', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'svcctl-'));
    try {
      assert.equal(readOperatorStopped(dir).size, 0);
      writeOperatorStopped(dir, new Set(['db2/mariadb', 'app1/app']));
      assert.deepEqual([...readOperatorStopped(dir)], ['app1/app', 'db2/mariadb']);
      fs.writeFileSync(path.join(dir, 'operator.json'), '{not json');
      assert.equal(readOperatorStopped(dir).size, 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
