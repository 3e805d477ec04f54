/**
 * `hastack failover` on the simple preset with real engines: the dry run changes nothing; after
 * the primary server is SIGKILLed, a failover killed half-way and run again completes, loses no
 * acknowledged order and leaves the cluster consistent (one writable primary, the old one fenced
 * read-only, Redis on the standby). Address range 127.0.56.x.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { CLI, runCli } from '../helpers/cli.js';
import { readAdminToken } from '../../src/control/index.js';
import { useCluster, type TestCluster } from '../helpers/cluster.js';
import { getOrder, postFault, postOrder } from '../helpers/orders.js';
import { testRange } from '../../kit/addresses.js';
import { simpleCluster } from '../../kit/configs.js';

const R = testRange('failover');
const PRIMARY_LB = `http://${R.address(1)}:8080`;
const STANDBY_LB = `http://${R.address(2)}:8080`;
const ADMIN = `http://${R.base}.254:${R.adminPort ?? 9090}`;

interface Status {
  services: Array<{ node: string; service: string; role: string; healthy: boolean; detail?: string }>;
}

async function status(c: TestCluster): Promise<Status> {
  const r = await runCli(['status', '--json', '-f', c.configFile], { cwd: c.dir });
  return JSON.parse(r.stdout) as Status;
}

function row(s: Status, node: string, service: string): Status['services'][number] | undefined {
  return s.services.find((x) => x.node === node && x.service === service);
}

/** Runs `hastack failover --yes` and SIGKILLs it as soon as `line` appears in its output. */
function failoverKilledAt(c: TestCluster, line: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'failover', '--yes', '-f', c.configFile], { cwd: c.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (line.test(out)) child.kill('SIGKILL');
    });
    child.once('error', reject);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

describe('hastack failover (simple preset)', { timeout: 5 * 60_000 }, () => {
  const c = useCluster('failover', simpleCluster('failover'));

  it('--dry-run prints the plan with its facts and changes nothing', async () => {
    const r = await runCli(['failover', '--dry-run', '-f', c.configFile], { cwd: c.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /plan: fail over the database from primary to standby/);
    assert.match(r.stdout, /mariadb standby: replica of primary \(io running, sql running\), received 0-1-\d+/);
    assert.match(r.stdout, /dry run: nothing changed/);
    const s = await status(c);
    assert.equal(row(s, 'primary', 'mariadb')?.role, 'primary');
    assert.equal(fs.existsSync(path.join(c.stateDir, 'failover-journal.json')), false);
  });

  it('without --yes and without a terminal it asks, gets no answer, and changes nothing', async () => {
    const r = await runCli(['failover', '-f', c.configFile], { cwd: c.dir });
    assert.equal(r.code, 1);
    assert.match(r.stdout + r.stderr, /pass --yes/);
    assert.equal(row(await status(c), 'primary', 'mariadb')?.role, 'primary');
  });

  it('after the primary server dies, a failover killed half-way completes when run again; no acknowledged order lost', async () => {
    const acked: Array<{ key: string; id: number }> = [];
    for (let i = 0; i < 20; i++) {
      const key = `fo-before-${i}`;
      const r = await postOrder(PRIMARY_LB, key);
      assert.ok(r.ok && r.id !== undefined, `order ${key} before the fault: HTTP ${r.status}`);
      acked.push({ key, id: r.id });
    }
    await postFault(ADMIN, { action: 'kill-node', node: 'primary' }, readAdminToken(c.stateDir));

    const first = await failoverKilledAt(c, /\] promote done/);
    assert.match(first, /promote done/);
    const journal = JSON.parse(fs.readFileSync(path.join(c.stateDir, 'failover-journal.json'), 'utf8')) as { finishedAt?: string; steps: Record<string, unknown> };
    assert.equal(journal.finishedAt, undefined, 'the killed run left an unfinished journal');
    assert.ok(journal.steps['promote'], 'promote was journaled before the kill');

    const second = await runCli(['failover', '--yes', '-f', c.configFile], { cwd: c.dir, timeoutMs: 120_000 });
    process.stdout.write(`\n--- first run (killed):\n${first}\n--- second run:\n${second.stdout}\n`);
    assert.equal(second.code, 0, second.stderr);
    // The step order puts the first write first: fence, promote, repoint, then Redis (issue 23).
    assert.match(second.stdout, /resuming failover fo-\S+ \(primary → standby\); done: preflight, fence, promote\n/);
    assert.match(second.stdout, /\] redis done/);
    assert.doesNotMatch(second.stdout, /\] promote \.\.\./, 'a done step is not run again');
    assert.match(second.stdout, /verify done .*order \d+ written .* read back, confirmed by a worker/);

    for (const a of acked) {
      const r = await getOrder(STANDBY_LB, a.id);
      assert.equal(r.status, 200, `acknowledged order ${a.key} (id ${a.id}) is lost`);
      assert.equal(r.body['idempotencyKey'], a.key);
    }
    const s = await status(c);
    assert.equal(row(s, 'standby', 'mariadb')?.role, 'primary');
    assert.equal(row(s, 'standby', 'redis')?.role, 'master');
    const recorded = JSON.parse(fs.readFileSync(path.join(c.stateDir, 'primary/mariadb/hastack-db.json'), 'utf8')) as { role: string };
    assert.equal(recorded.role, 'replica', 'the old primary is recorded as replica, so a restart is read-only');
  });

  it('the healed old primary comes back fenced: read-only, and Redis a replica of the standby', async () => {
    await postFault(ADMIN, { action: 'heal-node', node: 'primary' }, readAdminToken(c.stateDir));
    let s: Status | undefined;
    for (let i = 0; i < 60; i++) {
      s = await status(c);
      if (s.services.every((x) => x.healthy)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(s && s.services.every((x) => x.healthy), JSON.stringify(s?.services.filter((x) => !x.healthy)));
    assert.equal(row(s, 'primary', 'mariadb')?.role, 'replica');
    assert.match(row(s, 'primary', 'mariadb')?.detail ?? '', /replicating from nobody/);
    assert.equal(row(s, 'primary', 'redis')?.role, 'replica');
    const after = await postOrder(PRIMARY_LB, 'fo-after-heal');
    assert.ok(after.ok, `an order through the old server's load balancer goes to the new primary: HTTP ${after.status}`);
  });

  it('a second failover is refused: the fenced node replicates from nobody', async () => {
    const r = await runCli(['failover', '--yes', '-f', c.configFile], { cwd: c.dir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /failover refused: no replica can be promoted: primary replicates from nobody/);
  });
});
