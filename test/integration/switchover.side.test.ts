/**
 * `hastack switchover --to NODE` under order load on the simple preset with real engines: the
 * roles swap, the old primary replicates from the new one with semi-sync, no acknowledged order
 * is lost, and the write pause (the longest stretch without an acknowledged order while the
 * switchover ran) is printed. Switching back returns the cluster to where it started.
 * Addresses: its row in kit/addresses.ts.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { chaosRun, printEventTail, useCluster, type TestCluster } from '../helpers/cluster.js';
import { getOrder, postOrder, restock } from '../helpers/orders.js';
import { testRange } from '../../kit/addresses.js';
import { simpleCluster } from '../../kit/configs.js';

const R = testRange('switchover');
const LBS = [`http://${R.address(1)}:8080`, `http://${R.address(2)}:8080`];
/** `replica of <address>:3306, io running, sql running`, of node `n` of the range. */
const replicaOf = (n: number): RegExp => new RegExp(`replica of ${R.address(n).replace(/\./g, '\\.')}:3306, io running, sql running`);

interface Acked {
  readonly key: string;
  readonly id: number;
  readonly end: number;
}

/** 4 writers posting orders until `stop` resolves; bounded by count and time. */
function writeLoad(stop: Promise<void>, prefix: string): Promise<{ acked: Acked[]; failed: string[] }> {
  const acked: Acked[] = [];
  const failed: string[] = [];
  const start = performance.now();
  let stopped = false;
  void stop.then(() => (stopped = true));
  const deadline = performance.now() + 60_000;
  const writer = async (w: number): Promise<void> => {
    for (let i = 0; i < 2_000 && !stopped && performance.now() < deadline; i++) {
      const key = `${prefix}-${w}-${i}`;
      const r = await postOrder(LBS[i % LBS.length] as string, key);
      if (r.ok && r.id !== undefined) acked.push({ key, id: r.id, end: performance.now() });
      else failed.push(`+${Math.round(performance.now() - start)} ms ${key}: ${r.status} ${r.error ?? ''}`);
    }
  };
  return Promise.all([0, 1, 2, 3].map(writer)).then(() => ({ acked, failed }));
}

function longestGap(acked: readonly Acked[], from: number, to: number): number {
  const ends = acked
    .map((a) => a.end)
    .filter((t) => t >= from && t <= to)
    .sort((a, b) => a - b);
  let prev = from;
  let gap = 0;
  for (const t of ends) {
    gap = Math.max(gap, t - prev);
    prev = t;
  }
  return Math.max(gap, to - prev);
}

async function roleOf(c: TestCluster, node: string): Promise<{ role: string; detail: string }> {
  const r = await runCli(['status', '--json', '-f', c.configFile], { cwd: c.dir });
  const s = JSON.parse(r.stdout) as { services: Array<{ node: string; service: string; role: string; detail?: string }> };
  const row = s.services.find((x) => x.node === node && x.service === 'mariadb');
  return { role: row?.role ?? '', detail: row?.detail ?? '' };
}

async function switchUnderLoad(c: TestCluster, to: string, prefix: string): Promise<void> {
  // Up to 4 × 2000 orders of one unit each: more than the seeded stock.
  await restock(LBS[0] as string, 'WIDGET-RED', 8_000, `switchover-${prefix}`);
  let release: () => void = () => undefined;
  const stop = new Promise<void>((r) => (release = r));
  const loadStart = performance.now();
  const load = writeLoad(stop, prefix);
  await new Promise((r) => setTimeout(r, 2_000));
  const t0 = performance.now();
  const res = await runCli(['switchover', '--to', to, '-f', c.configFile], { cwd: c.dir, timeoutMs: 60_000 });
  const t1 = performance.now();
  await new Promise((r) => setTimeout(r, 2_000));
  release();
  const { acked, failed } = await load;
  process.stdout.write(`\n${res.stdout}`);
  process.stdout.write(
    `switchover to ${to}: ${acked.length} orders acknowledged, ${failed.length} failed; longest pause between acknowledged orders while it ran: ${Math.round(longestGap(acked, t0, t1 + 1_000))} ms\n`,
  );
  if (res.code !== 0 || failed.length > 0) printEventTail(c.stateDir);
  assert.equal(res.code, 0, res.stderr);
  // The app holds the writes through the role change (issue 22): no order answered with an error.
  assert.deepEqual(
    failed.slice(0, 8),
    [],
    `orders failed during the switchover (${failed.length}; the switchover ran from +${Math.round(t0 - loadStart)} to +${Math.round(t1 - loadStart)} ms); it said:\n${res.stdout.trim().split('\n').slice(-12).join('\n')}`,
  );
  assert.ok(
    acked.some((a) => a.end > t1),
    'orders were acknowledged after the switchover',
  );
  for (const a of acked) {
    const r = await getOrder(LBS[0] as string, a.id);
    assert.equal(r.status, 200, `acknowledged order ${a.key} (id ${a.id}) lost`);
    assert.equal(r.body['idempotencyKey'], a.key);
  }
}

describe('hastack switchover (simple preset)', { timeout: 5 * 60_000 }, () => {
  const c = useCluster('switchover', simpleCluster('switchover'));

  it('refuses to switch to the primary itself', async () => {
    const r = await runCli(['switchover', '--to', 'primary', '-f', c.configFile], { cwd: c.dir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /primary is already the primary/);
  });

  it('moves the primary to the standby under write load: no acknowledged order lost, old primary a semi-sync replica', async () => {
    await switchUnderLoad(c, 'standby', 'so-a');
    assert.equal((await roleOf(c, 'standby')).role, 'primary');
    assert.match((await roleOf(c, 'standby')).detail, /semi-sync on, 1 semi-sync replica/);
    const old = await roleOf(c, 'primary');
    assert.equal(old.role, 'replica');
    assert.match(old.detail, replicaOf(2));
  });

  it('and back again', async () => {
    await switchUnderLoad(c, 'primary', 'so-b');
    assert.equal((await roleOf(c, 'primary')).role, 'primary');
    assert.match((await roleOf(c, 'standby')).detail, replicaOf(1));
  });

  // Issue 22: the chaos scenario, with its naive clients (one request each, like a browser).
  it('chaos run switchover: naive clients see no error, nothing lost', async () => {
    const { res, report } = await chaosRun<{
      naiveAvailability: number;
      clientVisibleErrors: number;
      lostWrites: number;
      duplicateWrites: number;
      twoPrimaryRounds: number;
    }>(c, 'switchover', ['--duration', '16'], 180_000);
    if (res.code !== 0) printEventTail(c.stateDir);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /switchover: standby is the primary/);
    assert.equal(report.naiveAvailability, 1);
    assert.equal(report.clientVisibleErrors, 0);
    assert.equal(report.lostWrites, 0);
    assert.equal(report.duplicateWrites, 0);
    assert.equal(report.twoPrimaryRounds, 0);
    assert.equal((await roleOf(c, 'standby')).role, 'primary');
  });
});
