/**
 * The crash plan run by itself: `failover.auto` on (detection 2 s), then
 * `hastack chaos run server --up`: the supervisor's controller sees the primary lost by itself and
 * by the standby's replica, fails over, and the report gives the kill → first order time (goal
 * under 10 s). No acknowledged order lost or duplicated. Address range 127.0.57.x.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { after, describe, it } from 'node:test';
import { preset } from '../../src/config/index.js';
import { printChaosReport, REPO_ROOT, runCli, tempDir } from '../helpers/cli.js';

describe('chaos server scenario with automatic failover (simple preset)', { timeout: 4 * 60_000 }, () => {
  const dir = tempDir('server-auto');
  const configFile = path.join(dir, 'hastack.yaml');
  after(async () => {
    await runCli(['down', '-f', configFile], { cwd: dir, timeoutMs: 150_000 });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('kill -9 of the primary server: the supervisor fails over by itself; 0 lost, 0 duplicated', async () => {
    // detection 2 s: a SIGKILLed primary refuses connections at once and its replica's IO thread
    // reconnects every second, so 2 s is two clean rounds of "lost by everyone".
    const config = { ...preset('simple'), cluster: 'srvauto', addressBase: '127.0.57', app: { module: path.join(REPO_ROOT, 'examples/erp') }, failover: { ...preset('simple').failover, auto: true, detectionMs: 2000 } };
    fs.writeFileSync(configFile, YAML.stringify(config));
    const json = path.join(dir, 'server.json');
    const res = await runCli(['chaos', 'run', 'server', '--up', '--duration', '20', '--json', json, '-f', configFile], { cwd: dir, timeoutMs: 200_000 });
    printChaosReport(res.stdout, 'server');
    assert.ok(fs.existsSync(json), `no report:\n${res.stdout}\n${res.stderr}`);
    const r = JSON.parse(fs.readFileSync(json, 'utf8')) as Record<string, unknown>;
    assert.equal(r.lostWrites, 0);
    assert.equal(r.duplicateWrites, 0);
    assert.equal(typeof r.firstWriteAfterFaultMs, 'number', 'an order started after the kill succeeded');
    const events = fs.readFileSync(path.join(dir, '.hastack/srvauto/events.jsonl'), 'utf8');
    assert.match(events, /auto failover: failing over: primary primary unreachable from the controller and 1\/1 replicas for [\d.]+ s; failover fo-\S+ done: standby is the primary/);
    assert.equal(res.code, 0, `a promise broke: ${JSON.stringify(r.promisesBroken)}`);
  });
});
