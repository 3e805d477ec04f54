/**
 * The crash plan run by itself: `failover.auto` on (detection 2 s), then
 * `hastack chaos run server --up`: the supervisor's controller sees the primary lost by itself and
 * by the standby's replica, fails over, and the report gives the kill → first order time (goal
 * under 10 s). No acknowledged order lost or duplicated. Addresses: kit/addresses.ts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { printChaosReport, runCli } from '../helpers/cli.js';
import { printEventTail, writeCluster } from '../helpers/cluster.js';
import { autoFailover, simpleCluster } from '../../kit/configs.js';

describe('chaos server scenario with automatic failover (simple preset)', { timeout: 4 * 60_000 }, () => {
  // detection 2 s: a SIGKILLed primary refuses connections at once and its replica's IO thread
  // reconnects every second, so 2 s is two clean rounds of "lost by everyone".
  const c = writeCluster('server-auto', simpleCluster('server-auto-failover', { failover: autoFailover(2_000) }));
  const { dir, configFile } = c;
  // --up brings the cluster down itself; this is the backstop if the run was cut short.
  after(() => c.down());

  it('kill -9 of the primary server: the supervisor fails over by itself; 0 lost, 0 duplicated', async () => {
    const json = path.join(dir, 'server.json');
    const res = await runCli(['chaos', 'run', 'server', '--up', '--duration', '20', '--json', json, '-f', configFile], { cwd: dir, timeoutMs: 200_000 });
    printChaosReport(res.stdout, 'server');
    assert.ok(fs.existsSync(json), `no report:\n${res.stdout}\n${res.stderr}`);
    const r = JSON.parse(fs.readFileSync(json, 'utf8')) as Record<string, unknown>;
    if (res.code !== 0 || typeof r.firstWriteAfterFaultMs !== 'number') printEventTail(c.stateDir, 120);
    assert.equal(r.lostWrites, 0);
    assert.equal(r.duplicateWrites, 0);
    assert.equal(typeof r.firstWriteAfterFaultMs, 'number', 'an order started after the kill succeeded');
    const events = fs.readFileSync(path.join(c.stateDir, 'events.jsonl'), 'utf8');
    assert.match(
      events,
      /auto failover: failing over: primary primary unreachable from the controller and 1\/1 replicas for [\d.]+ s; failover fo-\S+ done: standby is the primary/,
    );
    assert.equal(res.code, 0, `a promise broke: ${JSON.stringify(r.promisesBroken)}`);
  });
});
