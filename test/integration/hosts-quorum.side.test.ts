// lane: hosts (a host bed, not in CI: it boots its hosts and deploys over SSH; npm run test:hosts)
/**
 * Issue 23 on real hosts: with `failover.auto` and an etcd member on each of the three hosts,
 * `deploy` runs a controller on every one of them (not only on `hosts.controller`), each in the
 * election through its own member and each guarding its own machine's database. The acting
 * controller is moved onto the primary's machine, then `chaos run server` SIGKILLs every unit
 * of that machine under load (its database, its etcd member, its controller): a controller on
 * another machine takes over, fails over by itself, exactly once, and no acknowledged order is
 * lost. `hastack pause` / `resume` from the operator's machine reach every controller host, and
 * `status` shows the mode. Three namespace hosts (test/helpers/hostbed.ts) on 10.213.234.x.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { printChaosReport, runCli } from '../helpers/cli.js';
import { faultInjectedAt } from '../helpers/chaos-figures.js';
import { useBedCluster } from '../helpers/hosts-config.js';
import type { HostBed } from '../helpers/hostbed.js';
import { autoFailover } from '../../kit/configs.js';

const HOSTS = ['primary', 'standby', 'ops'] as const;
const STATE = '/var/lib/hastack/qmhosts';

interface Event {
  readonly ts: string;
  readonly type: string;
  readonly message: string;
  readonly data?: { controller?: string; leader?: boolean };
}

async function events(bed: HostBed, host: string): Promise<Event[]> {
  const text = (await bed.exec(host, `cat ${STATE}/events.jsonl 2>/dev/null || true`)).stdout;
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Event);
}

/** The controller that acts now, from the newest `quorum.leader` event on any host (each host logs its own). */
async function actingController(bed: HostBed): Promise<string | undefined> {
  const all = (await Promise.all(HOSTS.map((h) => events(bed, h)))).flat().filter((e) => e.type === 'quorum.leader' && e.data?.controller !== undefined);
  all.sort((a, b) => Date.parse(a.ts) - Date.parse(b.ts));
  const last = all.at(-1);
  return last?.data?.leader === true ? last.data.controller : undefined;
}

/** The pid of the controller unit on `host`, as its agent reports it. */
async function controllerPid(bed: HostBed, host: string): Promise<number> {
  const out = (await bed.exec(host, `/opt/hastack/bin/hastack _agent status --state ${STATE} --node ${host}`)).stdout;
  const units = (JSON.parse(out) as { units: Array<{ name: string; pid?: number }> }).units;
  const pid = units.find((u) => u.name.endsWith('-controller'))?.pid;
  return pid ?? assert.fail(`no controller unit runs on ${host}: ${out}`);
}

describe('automatic failover decided by a controller on every etcd host', { timeout: 15 * 60_000 }, () => {
  const used = useBedCluster('hosts-quorum', { failover: autoFailover(2_000) }, { etcd: true });
  const { dir, configFile } = used;

  it("deploy starts three controllers; the acting one's machine dies with the primary; another fails over, once, 0 lost", async () => {
    const { bed } = used;
    const d = await runCli(['deploy', '-f', configFile], { cwd: dir, timeoutMs: 400_000 });
    assert.equal(d.code, 0, d.stdout + d.stderr);
    assert.match(d.stdout, /failover\.auto: the controllers on primary, standby, ops fence with their own SSH key/);
    for (const h of HOSTS) {
      // What one agent call costs on a host (the fence makes two, over SSH): starting the CLI there.
      const t0 = Date.now();
      await controllerPid(bed, h);
      console.log(`# figure: an agent status call on ${h}: ${Date.now() - t0} ms`);
    }

    // The acting controller onto the primary's machine: one that leads elsewhere is stopped
    // (SIGTERM: it resigns, and its unit starts it again), until the primary's is elected.
    let acting: string | undefined;
    for (let i = 0; i < 12; i++) {
      acting = await actingController(bed);
      if (acting === 'primary') break;
      if (acting !== undefined) await bed.exec(acting, `kill -TERM ${await controllerPid(bed, acting)}`);
      await sleep(2_000);
    }
    console.log(`# figure: the acting controller before the kill: ${acting ?? '(none)'}`);
    assert.equal(acting, 'primary', "the primary's controller was elected");

    const json = path.join(dir, 'server.json');
    const res = await runCli(['chaos', 'run', 'server', '--duration', '20', '--json', json, '-f', configFile], { cwd: dir, timeoutMs: 240_000 });
    printChaosReport(res.stdout, 'server');
    assert.ok(fs.existsSync(json), `no report:\n${res.stdout}\n${res.stderr}`);
    const r = JSON.parse(fs.readFileSync(json, 'utf8')) as Record<string, unknown>;
    assert.equal(r.lostWrites, 0);
    assert.equal(r.duplicateWrites, 0);
    assert.equal(r.jobsLost, 0);
    assert.equal(typeof r.firstWriteAfterFaultMs, 'number', 'an order started after the kill succeeded');
    console.log(`# figure: first acknowledged order ${String(r.firstWriteAfterFaultMs)} ms after the kill`);

    // Exactly one promotion, by a controller on a machine that survived.
    const survivors = await Promise.all(['standby', 'ops'].map(async (h) => ({ h, ev: await events(bed, h) })));
    // The timeline from the kill: the election, the decision and each step of the crash plan.
    const killedAt = faultInjectedAt(res.stdout) ?? assert.fail('no kept report');
    const timeline = survivors
      .flatMap(({ h, ev }) =>
        ev.filter((e) => Date.parse(e.ts) >= killedAt - 1_000 && /^(quorum|failover)\./.test(e.type)).map((e) => ({ at: Date.parse(e.ts) - killedAt, line: `${h}: ${e.message}` })),
      )
      .sort((a, b) => a.at - b.at)
      .slice(0, 30);
    for (const t of timeline) console.log(`# timeline: +${t.at} ms ${t.line.slice(0, 220)}`);
    const done = survivors.flatMap(({ h, ev }) => ev.filter((e) => e.type === 'failover.done').map((e) => `${h}: ${e.message}`));
    assert.equal(done.length, 1, `one failover done: ${done.join(' | ')}`);
    assert.match(done[0] ?? '', /standby is primary/);
    const recorded = (await bed.exec('primary', `cat ${STATE}/primary/mariadb/hastack-db.json`)).stdout;
    assert.match(recorded, /"role": "replica"/, 'the old primary was recorded as a replica on its own machine');
    assert.equal(res.code, 0, `a promise broke: ${JSON.stringify(r.promisesBroken)}`);
  });

  it('pause and resume from the operator reach every controller host; status shows the mode', async () => {
    const { bed } = used;
    const p = await runCli(['pause', '--reason', 'bed maintenance', '-f', configFile], { cwd: dir, timeoutMs: 60_000 });
    assert.equal(p.code, 0, p.stdout + p.stderr);
    assert.match(p.stdout, /written on (primary|standby|ops)/);
    for (const h of HOSTS) assert.match((await bed.exec(h, `cat ${STATE}/failover-auto-mode.json`)).stdout, /"state": ?"paused"/, h);
    const st = await runCli(['status', '-f', configFile], { cwd: dir, timeoutMs: 90_000 });
    assert.match(st.stdout, /automatic failover PAUSED .*\(bed maintenance\)/);
    const r = await runCli(['resume', '-f', configFile], { cwd: dir, timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /automatic failover paused → on/);
    const after = await runCli(['status', '-f', configFile], { cwd: dir, timeoutMs: 90_000 });
    assert.doesNotMatch(after.stdout, /automatic failover PAUSED/);
  });
});
