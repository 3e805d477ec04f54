// lane: side (it mostly waits: a load of single orders, two switchovers, three scratch restores)
/**
 * Issue 24, point-in-time recovery, on the `simple` preset with `backup.binlogArchive: true`:
 * - the supervisor streams the primary's binlog into the archive; a base backup is taken;
 * - orders flow (one writer, paced, bounded) while the primary moves: switchover to standby
 *   (a failover of the archive's source) and back (a failback); the archive follows both, in new
 *   segments, with no gap;
 * - the archive's lag (a GTID committed on the primary → that transaction in an archived file) is
 *   sampled under that load and printed, never asserted;
 * - for a random second T before, between and after the switches, `restore --to-time T --verify
 *   --keep` holds exactly the orders committed at or before T: every order acknowledged before
 *   T+1 s is there, none sent at or after T+1 s is (T is inclusive to the second; a transaction's
 *   binlog time is its statements' start time, between the request's send and its
 *   acknowledgement), and the few sent before and acknowledged after T+1 s are either (counted).
 * - `restore --to-gtid G`, G the transaction the second restore reached, holds the same orders.
 * Addresses 127.0.236.1-2 (kit/addresses.ts row `pitr`), cluster `pt`.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import mysql from 'mysql2/promise';
import { testRange } from '../../kit/addresses.js';
import { preset, readSecrets, servicesOf } from '../../src/config/index.js';
import { mariadbPaths } from '../../src/engines/index.js';
import { readArchive, readArchiveStatus } from '../../src/failover/index.js';
import { waitFor } from '../../src/shared/retry.js';
import { REPO_ROOT, runCli } from '../helpers/cli.js';
import { useCluster } from '../helpers/cluster.js';
import { postOrder, restock } from '../helpers/orders.js';
import { archivedSeq as archivedSeqOf, expectAt, orderPhase, randomSecondOf, restoreAndRead, type Sent } from '../helpers/pitr.js';

const R = testRange('pitr');
const LB = `http://${R.address(1)}:8080`;
// Each phase writes for this long: a few seconds of distinct commit times on each side of a switch.
const PHASE_MS = 5_000;
// Bounds every load loop whatever the machine's speed.
const PHASE_MAX_ORDERS = 400;
// Lag samples per phase (one every ~PHASE_MS / LAG_SAMPLES).
const LAG_SAMPLES = 6;

describe('point-in-time recovery: binlog archive across a switchover and back, restore --to-time under load', { timeout: 420_000 }, () => {
  const used = useCluster('pitr', {
    ...preset('simple'),
    cluster: R.cluster,
    addressBase: R.base,
    app: { module: path.join(REPO_ROOT, 'examples/erp') },
    backup: { binlogArchive: true },
  });
  const history: Sent[] = [];
  const lags: number[] = [];
  const phaseEnds: number[] = [];
  const t0 = Date.now();
  const stamp = (what: string): void => void process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}\n`);

  async function onPrimary<T>(fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
    const secrets = readSecrets(used.stateDir);
    for (const svc of servicesOf(used.topo, 'mariadb')) {
      const c = await mysql.createConnection({ socketPath: mariadbPaths(svc).socket, user: 'root', password: secrets.dbRootPassword });
      try {
        const [r] = await c.query<mysql.RowDataPacket[]>('SELECT @@read_only AS ro');
        if (Number(r[0]?.['ro']) === 0) return await fn(c);
      } finally {
        await c.end();
      }
    }
    return assert.fail('no writable primary');
  }

  const primarySeq = (): Promise<number> =>
    onPrimary(async (c) => {
      const [r] = await c.query<mysql.RowDataPacket[]>('SELECT @@gtid_binlog_pos AS g');
      return Number(/-(\d+)$/.exec(String(r[0]?.['g'] ?? ''))?.[1] ?? 0);
    });
  const archivedSeq = (): number => archivedSeqOf(used.topo);

  /** One writer, paced, with the archive's lag sampled along (test/helpers/pitr.ts). */
  async function load(phase: string): Promise<void> {
    const sample = async (): Promise<void> => {
      const at = Date.now();
      const seq = await primarySeq();
      const seen = await waitFor(async () => (archivedSeq() >= seq ? Date.now() : undefined), { timeoutMs: 30_000, intervalMs: 20 });
      if (seen !== undefined) lags.push(seen - at);
    };
    phaseEnds.push(await orderPhase(LB, history, { prefix: 'pt', phase, ms: PHASE_MS, maxOrders: PHASE_MAX_ORDERS, samples: LAG_SAMPLES, sample }));
  }

  let afterSwitch: { gtid: string; restored: Set<string> } | undefined;

  async function switchTo(node: string): Promise<void> {
    const r = await runCli(['switchover', '--to', node, '-f', used.configFile], { cwd: used.dir, timeoutMs: 90_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    stamp(`switched over to ${node}`);
  }

  it('the archive streams from the primary; a base backup; orders across a switchover and a failback; the archive follows without a gap', async () => {
    const streaming = await waitFor(async () => (readArchiveStatus(used.topo)?.streaming ? true : undefined), { timeoutMs: 30_000, intervalMs: 200 });
    assert.ok(streaming, `the archiver does not stream: ${JSON.stringify(readArchiveStatus(used.topo))}`);
    await restock(LB, 'WIDGET-RED', 5_000, 'pt-restock');
    const b = await runCli(['backup', '-f', used.configFile], { cwd: used.dir, timeoutMs: 180_000 });
    assert.equal(b.code, 0, b.stdout + b.stderr);
    stamp('base backup taken');
    // Whole seconds apart: T is picked inside a phase, away from the other phases' seconds.
    await load('a');
    await switchTo('standby');
    await load('b');
    await switchTo('primary');
    await load('c');
    const last = await primarySeq();
    const caught = await waitFor(async () => (archivedSeq() >= last ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
    assert.ok(caught, `the archive did not reach the primary's GTID seq ${last} (it has ${archivedSeq()})`);
    const status = readArchiveStatus(used.topo);
    assert.equal(status?.gap, undefined, JSON.stringify(status));
    // A drill replays the archive after its backup to a random second, across both role changes.
    const drill = await runCli(['backup', 'drill', '--json', '-f', used.configFile], { cwd: used.dir, timeoutMs: 180_000 });
    assert.equal(drill.code, 0, drill.stdout + drill.stderr);
    const rec = JSON.parse(drill.stdout) as { ok: boolean; replay: string; pointInTime: string; recoveryMs: number };
    assert.match(rec.replay, /^replayed \d+ archived transactions to 0-\d+-\d+/);
    stamp(`drill: ${rec.replay}; recovered in ${rec.recoveryMs} ms`);
    const st = await runCli(['status', '-f', used.configFile], { cwd: used.dir });
    assert.match(st.stdout, /binlog archive: streaming from primary\/mariadb, newest 0-\d+-\d+ committed/);
    assert.doesNotMatch(st.stdout, /binlog archive: WARNING/);
    const segments = readArchive(used.topo);
    assert.ok(new Set(segments.map((s) => s.meta.node)).size === 2, `segments from both nodes: ${segments.map((s) => path.basename(s.dir)).join(', ')}`);
    // The raw files carry row data: only their owner may enter the segment directories.
    for (const s of segments) assert.equal(fs.statSync(s.dir).mode & 0o077, 0, `${s.dir} is private`);
    const sorted = [...lags].sort((x, y) => x - y);
    stamp(
      `orders: ${history.length} sent, ${history.filter((h) => h.ackedAt).length} acknowledged; segments: ${segments.map((s) => path.basename(s.dir)).join(', ')}; ` +
        `archive lag (commit → archived file), ${sorted.length} samples: median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted.at(-1)} ms`,
    );
  });

  for (const [n, phase] of [
    [0, 'a'],
    [1, 'b (after the switchover)'],
    [2, 'c (after the failback)'],
  ] as const) {
    it(`restore --to-time T --verify, T a random second of phase ${phase}: exactly the orders committed at or before T`, async () => {
      const { T, iso } = randomSecondOf(history, `pt-${phase[0]}-`, phaseEnds[n] ?? 0);
      const { rep, restored } = await restoreAndRead(used, ['--to-time', iso], 'pt-%');
      if (n === 1) afterSwitch = { gtid: rep.restoredTo?.gtid ?? '', restored };
      const { must, mustNot, either } = expectAt(history, T, restored);
      stamp(
        `T=${iso}: base ${rep.backup}, ${rep.applied} transactions replayed, restored to ${rep.restoredTo?.gtid} (${rep.restoredTo?.time}); ` +
          `${restored.size} orders, ${must} required, ${mustNot} excluded, ${either.length} in flight at T+1 s (${either.filter((h) => restored.has(h.key)).length} of them restored)`,
      );
    });
  }

  it('restore --to-gtid G, G the transaction the switchover-phase restore reached: the same orders', async () => {
    const at = afterSwitch ?? assert.fail('the phase b restore did not run');
    const { rep, restored } = await restoreAndRead(used, ['--to-gtid', at.gtid], 'pt-%');
    assert.equal(rep.restoredTo?.gtid, at.gtid);
    assert.deepEqual([...restored].sort(), [...at.restored].sort());
    stamp(`--to-gtid ${at.gtid}: ${restored.size} orders, as --to-time reached`);
  });

  it('restore --into-cluster --to-time T (a second of phase c): the cluster is back at T, the standby provisioned again, the app serving, the backup from before listed', async () => {
    const { T, iso } = randomSecondOf(history, 'pt-c-', phaseEnds[2] ?? 0, { laterOrder: true });
    const args = ['restore', '--into-cluster', '--to-time', iso, '-f', used.configFile];
    const dry = await runCli([...args, '--dry-run'], { cwd: used.dir });
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    assert.match(dry.stdout, /restore cluster pt to time .*\n.*base backup .* plus \d+ archived transactions/);
    assert.ok(!fs.existsSync(path.join(used.stateDir, 'restore-journal.json')), 'a dry run writes no journal');
    const unconfirmed = await runCli(args, { cwd: used.dir });
    assert.equal(unconfirmed.code, 2, unconfirmed.stdout + unconfirmed.stderr);
    assert.match(unconfirmed.stderr, /not confirmed: .*--confirm pt/);
    const r = await runCli([...args, '--confirm', 'pt'], { cwd: used.dir, timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    stamp(`restore --into-cluster:\n${r.stdout.trim()}`);
    const pre = /the backup taken just before: (\S+)/.exec(r.stdout)?.[1] ?? assert.fail(r.stdout);
    const list = await runCli(['backup', 'list', '-f', used.configFile], { cwd: used.dir });
    assert.ok(list.stdout.includes(pre), `backup list shows ${pre}:\n${list.stdout}`);

    const orders = async (svc: string): Promise<Set<string>> => {
      const c = await mysql.createConnection({
        socketPath: mariadbPaths(servicesOf(used.topo, 'mariadb').find((s) => s.node === svc) ?? assert.fail(svc)).socket,
        user: 'root',
        password: readSecrets(used.stateDir).dbRootPassword,
      });
      try {
        const [rows] = await c.query<mysql.RowDataPacket[]>("SELECT customer FROM ??.sales_orders WHERE customer LIKE 'pt-%'", [used.topo.config.database.name]);
        return new Set(rows.map((x) => String(x['customer'])));
      } finally {
        await c.end();
      }
    };
    expectAt(history, T, await orders('primary'));
    // The app writes again, through the load balancer, and the rebuilt standby replicates it.
    const after = { key: 'pt-after-restore' };
    const ok = await postOrder(LB, after.key);
    assert.ok(ok.ok, `an order after the restore: ${JSON.stringify(ok)}`);
    const standbyHas = await waitFor(async () => ((await orders('standby')).has(after.key) ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 });
    assert.ok(standbyHas, 'the standby replicates from the restored primary');
    assert.deepEqual([...(await orders('standby'))].sort(), [...(await orders('primary'))].sort());

    // Point-in-time recovery goes on on the new history: the archive follows the restored primary,
    // and the backup from before (its position past T is the old history) is never a base.
    const last = await primarySeq();
    assert.ok(await waitFor(async () => (archivedSeq() >= last ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 }), 'the archive follows the restored primary');
    const { rep, restored } = await restoreAndRead(used, ['--latest'], 'pt-%');
    assert.notEqual(rep.backup, pre, 'the pre-restore backup holds the old history past T');
    assert.ok(restored.has(after.key), 'the order taken after the restore is in the archive');
    restored.delete(after.key);
    expectAt(history, T, restored);
  });
});
