// lane: hosts (a host bed, not in CI: it boots its hosts and deploys over SSH; npm run test:hosts)
/**
 * `failover.auto` on real hosts while the machine is busy: the same kill of the primary server
 * as hosts-auto-failover.side.test.ts, but with one CPU hog per core running through the whole chaos
 * run (as when the rest of the test suite shares the machine). The controller must still fail
 * over by itself with 0 acknowledged orders lost; the time to the first order after the kill and
 * to the end of the crash plan are printed, never asserted. Three namespace hosts
 * (test/helpers/hostbed.ts) on 10.213.200.x, cluster `autoload`.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { printChaosReport, runCli } from '../helpers/cli.js';
import { faultInjectedAt } from '../helpers/chaos-figures.js';
import { useBedCluster } from '../helpers/hosts-config.js';
import { testRange } from '../../kit/addresses.js';
import { autoFailover } from '../../kit/configs.js';

/** The hogs outlive the chaos run (20 s, then up to a minute of job grace and health checks), bounded. */
const HOG_MS = 150_000;
const STATE = '/var/lib/hastack/autoload';

/** One busy loop per core, each ending by itself after `ms` (and killed by pid in teardown). */
function startHogs(ms: number): ChildProcess[] {
  return Array.from({ length: Math.max(2, os.cpus().length) }, () =>
    spawn(process.execPath, ['-e', `const e = Date.now() + ${ms}; while (Date.now() < e) {}`], { stdio: 'ignore' }),
  );
}

const secs = (ms: unknown): string => (typeof ms === 'number' ? `${(ms / 1000).toFixed(1)} s` : '-');

/**
 * When the crash plan finished, counted from the kill (the report kept beside the cluster's
 * state gives the run's start and the fault's offset; the controller's events give the rest),
 * and what each step took.
 */
function crashPlanTimes(chaosStdout: string, events: string): string {
  const killedAt = faultInjectedAt(chaosStdout);
  const lines = events
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { ts: string; type: string; data?: { step?: string; ms?: number } });
  const done = lines.find((e) => e.type === 'failover.done');
  const steps = lines.filter((e) => e.type === 'failover.step' && e.data?.ms !== undefined).map((e) => `${e.data?.step ?? '?'} ${secs(e.data?.ms)}`);
  return `crash plan done ${killedAt !== undefined && done ? secs(Date.parse(done.ts) - killedAt) : '-'} after the kill (${steps.join(', ')})`;
}

/** By their pids (ChildProcess.kill); one already gone is no error. */
function stopHogs(hogs: readonly ChildProcess[]): void {
  for (const h of hogs) if (h.exitCode === null && h.signalCode === null) h.kill('SIGKILL');
}

describe('automatic failover on three hosts under CPU load', { timeout: 15 * 60_000 }, () => {
  let hogs: ChildProcess[] = [];
  const used = useBedCluster(
    'hosts-auto-failover-load',
    { addressBase: testRange('hosts-auto-failover-load').base, failover: autoFailover(2_000) },
    { beforeDown: () => stopHogs(hogs) },
  );
  const { dir, configFile } = used;

  it('with every core busy, the primary server dies; the controller still fails over by itself, 0 lost', async () => {
    const { bed } = used;
    const d = await runCli(['deploy', '-f', configFile], { cwd: dir, timeoutMs: 300_000 });
    assert.equal(d.code, 0, d.stdout + d.stderr);

    hogs = startHogs(HOG_MS);
    const json = path.join(dir, 'server.json');
    const res = await runCli(['chaos', 'run', 'server', '--duration', '20', '--json', json, '-f', configFile], { cwd: dir, timeoutMs: 240_000 });
    stopHogs(hogs);
    printChaosReport(res.stdout, 'server');

    // What the controller decided, each change of decision once (the whole log is one line a second).
    const log = (await bed.exec('ops', `cat ${STATE}/failover-auto.log`)).stdout.split('\n').filter((l) => l !== '');
    let last = '';
    const changes = log.filter((l) => {
      const what = l.slice(l.indexOf(' ') + 1).replace(/[\d.]+ s\b/g, 'N s');
      if (what === last) return false;
      last = what;
      return true;
    });
    process.stdout.write(`controller decisions (${log.length} cycles, each change once):\n${changes.map((l) => `  ${l}`).join('\n')}\n`);
    assert.ok(fs.existsSync(json), `no report:\n${res.stdout}\n${res.stderr}`);
    const r = JSON.parse(fs.readFileSync(json, 'utf8')) as Record<string, unknown>;
    const events = (await bed.exec('ops', `cat ${STATE}/events.jsonl`)).stdout;
    process.stdout.write(`under load: ${crashPlanTimes(res.stdout, events)}\n`);
    process.stdout.write(
      `under load: first order after the kill ${secs(r.firstWriteAfterFaultMs)}; requests ${String(r.requests)}, failed ${String(r.failed)}; ` +
        `orders acknowledged ${String(r.ackedWrites)}, lost ${String(r.lostWrites)}, duplicated ${String(r.duplicateWrites)}\n`,
    );
    assert.equal(r.lostWrites, 0);
    assert.equal(r.duplicateWrites, 0);
    assert.equal(r.jobsLost, 0);
    assert.equal(typeof r.firstWriteAfterFaultMs, 'number', 'an order started after the kill succeeded');
    assert.match(
      events,
      /auto failover: failing over: primary primary unreachable from the controller and 1\/1 replicas for [\d.]+ s; failover fo-\S+ done: standby is the primary/,
    );
    assert.equal(res.code, 0, `a promise broke: ${JSON.stringify(r.promisesBroken)}`);
  });
});
