// lane: side (it mostly waits: paced single orders, a node's rejoin, scratch restores)
/**
 * Issue 24, point-in-time recovery on Galera (`database.mode: galera`, `backup.binlogArchive`):
 * every node binlogs every write set with one GTID (wsrep_gtid_mode), and the archive streams
 * from one synced node.
 * - orders flow through the load balancer; a base backup is taken; the archive's source node is
 *   SIGKILLed under that load: the archive moves to another synced node, in a new segment, with
 *   no gap, and the killed node rejoins;
 * - `restore --to-time T --verify`, T a random second before and after the kill, holds exactly the
 *   orders committed at or before T; a drill replays the archive across the move;
 * - `restore --into-cluster --to-time T`: every node holds exactly those orders, the app takes a new
 *   one, and the archive follows the restored cluster (`--latest` has it).
 * Addresses 127.0.236.11-14 (kit/addresses.ts row `galera-pitr`), cluster `ptgal`.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import mysql from 'mysql2/promise';
import { testRange } from '../../kit/addresses.js';
import { readSecrets, servicesOf, type ConfigInput } from '../../src/config/index.js';
import { mariadbPaths } from '../../src/engines/index.js';
import { readArchive, readArchiveStatus } from '../../src/failover/index.js';
import { waitFor } from '../../src/shared/retry.js';
import { readRunState } from '../../src/substrate/index.js';
import { REPO_ROOT, runCli } from '../helpers/cli.js';
import { useCluster } from '../helpers/cluster.js';
import { postOrder, restock } from '../helpers/orders.js';
import { archivedSeq, expectAt, orderPhase, randomSecondOf, restoreAndRead, type Sent } from '../helpers/pitr.js';

const R = testRange('galera-pitr');
const DBS = ['db1', 'db2', 'db3'] as const;
const LB = `http://${R.address(14)}:8080`;
const PHASE_MS = 5_000;
const PHASE_MAX_ORDERS = 400;

const config: ConfigInput = {
  cluster: R.cluster,
  addressBase: R.base,
  supervisor: { adminPort: R.adminPort ?? 9236 },
  app: { module: path.join(REPO_ROOT, 'examples/erp') },
  database: { mode: 'galera', bufferPoolMb: 32 },
  backup: { binlogArchive: true },
  nodes: [
    ...DBS.map((name, i) => ({ name, address: R.address(11 + i), services: ['mariadb' as const] })),
    { name: 'front', address: R.address(14), services: ['redis' as const, 'app' as const, 'lb' as const] },
  ],
};

describe('point-in-time recovery on Galera: the archive moves off a killed node, restore --to-time under load', { timeout: 480_000 }, () => {
  const used = useCluster('galera-pitr', config);
  const history: Sent[] = [];
  const lags: number[] = [];
  const phaseEnds: number[] = [];
  const t0 = Date.now();
  const stamp = (what: string): void => void process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}\n`);

  /** The write sets' domain (0) seq in a node's binlog, over its socket as root. */
  async function binlogSeq(node: string): Promise<number> {
    const svc = servicesOf(used.topo, 'mariadb').find((s) => s.node === node) ?? assert.fail(node);
    const c = await mysql.createConnection({ socketPath: mariadbPaths(svc).socket, user: 'root', password: readSecrets(used.stateDir).dbRootPassword });
    try {
      const [r] = await c.query<mysql.RowDataPacket[]>('SELECT @@gtid_binlog_pos AS g');
      return Number(/(?:^|,)0-\d+-(\d+)/.exec(String(r[0]?.['g'] ?? ''))?.[1] ?? 0);
    } finally {
      await c.end();
    }
  }
  /** This test's orders on one node, over its socket as root. */
  async function ordersOn(node: string): Promise<Set<string>> {
    const svc = servicesOf(used.topo, 'mariadb').find((s) => s.node === node) ?? assert.fail(node);
    const c = await mysql.createConnection({ socketPath: mariadbPaths(svc).socket, user: 'root', password: readSecrets(used.stateDir).dbRootPassword });
    try {
      const [rows] = await c.query<mysql.RowDataPacket[]>("SELECT customer FROM ??.sales_orders WHERE customer LIKE 'ptg-%'", [used.topo.config.database.name]);
      return new Set(rows.map((x) => String(x['customer'])));
    } finally {
      await c.end();
    }
  }
  const sourceNode = (): string => (readArchiveStatus(used.topo)?.source ?? '').split('/')[0] ?? '';

  const sampleLag = async (): Promise<void> => {
    const at = Date.now();
    const seq = await binlogSeq(DBS.find((n) => n !== killed) ?? 'db1');
    const seen = await waitFor(async () => (archivedSeq(used.topo) >= seq ? Date.now() : undefined), { timeoutMs: 30_000, intervalMs: 20 });
    if (seen !== undefined) lags.push(seen - at);
  };
  let killed: string | undefined;

  it('the archive streams from one node; a base backup; its source SIGKILLed under load: it moves to another node without a gap', async () => {
    const streaming = await waitFor(async () => (readArchiveStatus(used.topo)?.streaming ? true : undefined), { timeoutMs: 60_000, intervalMs: 200 });
    assert.ok(streaming, `the archiver does not stream: ${JSON.stringify(readArchiveStatus(used.topo))}`);
    await restock(LB, 'WIDGET-RED', 5_000, 'ptg-restock');
    const b = await runCli(['backup', '-f', used.configFile], { cwd: used.dir, timeoutMs: 180_000 });
    assert.equal(b.code, 0, b.stdout + b.stderr);
    assert.match(b.stdout, /gtid 0-\d+-\d+/, 'the base backup records the write sets GTID');
    stamp(`base backup taken; the archive streams from ${sourceNode()}`);
    phaseEnds.push(await orderPhase(LB, history, { prefix: 'ptg', phase: 'a', ms: PHASE_MS, maxOrders: PHASE_MAX_ORDERS, sample: sampleLag }));

    killed = sourceNode();
    const pid = readRunState(used.stateDir)?.services[`${killed}/mariadb`]?.pid ?? assert.fail(`no pid for ${killed}/mariadb`);
    const phaseB = orderPhase(LB, history, { prefix: 'ptg', phase: 'b', ms: PHASE_MS, maxOrders: PHASE_MAX_ORDERS, sample: sampleLag });
    await new Promise((res) => setTimeout(res, 1_000));
    process.kill(pid, 'SIGKILL');
    stamp(`SIGKILL ${killed}/mariadb (pid ${pid}), the archive's source, under load`);
    phaseEnds.push(await phaseB);
    const moved = await waitFor(async () => (sourceNode() !== killed && readArchiveStatus(used.topo)?.streaming ? sourceNode() : undefined), {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    assert.ok(moved, `the archive did not move off ${killed}: ${JSON.stringify(readArchiveStatus(used.topo))}`);
    const last = await binlogSeq(moved);
    const caught = await waitFor(async () => (archivedSeq(used.topo) >= last ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
    assert.ok(caught, `the archive did not reach seq ${last} of ${moved} (it has ${archivedSeq(used.topo)})`);
    const status = readArchiveStatus(used.topo);
    assert.equal(status?.gap, undefined, JSON.stringify(status));
    const segments = readArchive(used.topo);
    assert.ok(new Set(segments.map((s) => s.meta.node)).size >= 2, `segments from two nodes: ${segments.map((s) => path.basename(s.dir)).join(', ')}`);
    for (const s of segments) assert.equal(fs.statSync(s.dir).mode & 0o077, 0, `${s.dir} is private`);
    // The killed node comes back (the supervisor restarts it; it rejoins by IST).
    const back = await waitFor(async () => ((await binlogSeq(killed ?? '').catch(() => 0)) >= last ? true : undefined), { timeoutMs: 120_000, intervalMs: 500 });
    assert.ok(back, `${killed} did not rejoin`);
    const sorted = [...lags].sort((x, y) => x - y);
    stamp(
      `orders: ${history.length} sent, ${history.filter((h) => h.ackedAt).length} acknowledged; the archive moved to ${moved}; segments: ${segments.map((s) => path.basename(s.dir)).join(', ')}; ` +
        `archive lag (commit → archived file), ${sorted.length} samples: median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted.at(-1)} ms`,
    );
  });

  for (const [n, phase] of [
    [0, 'a'],
    [1, 'b (the archive source killed)'],
  ] as const) {
    it(`restore --to-time T --verify, T a random second of phase ${phase}: exactly the orders committed at or before T`, async () => {
      const { T, iso } = randomSecondOf(history, `ptg-${phase[0]}-`, phaseEnds[n] ?? 0);
      const { rep, restored } = await restoreAndRead(used, ['--to-time', iso], 'ptg-%');
      const { must, mustNot, either } = expectAt(history, T, restored);
      stamp(
        `T=${iso}: base ${rep.backup}, ${rep.applied} transactions replayed, restored to ${rep.restoredTo?.gtid} (${rep.restoredTo?.time}); ` +
          `${restored.size} orders, ${must} required, ${mustNot} excluded, ${either.length} in flight at T+1 s (${either.filter((h) => restored.has(h.key)).length} of them restored)`,
      );
    });
  }

  it('a drill replays the archive across the move to a random second', async () => {
    const drill = await runCli(['backup', 'drill', '--json', '-f', used.configFile], { cwd: used.dir, timeoutMs: 180_000 });
    assert.equal(drill.code, 0, drill.stdout + drill.stderr);
    const rec = JSON.parse(drill.stdout) as { ok: boolean; replay: string; recoveryMs: number };
    assert.match(rec.replay, /^replayed \d+ archived transactions to 0-\d+-\d+/);
    stamp(`drill: ${rec.replay}; recovered in ${rec.recoveryMs} ms`);
    const st = await runCli(['status', '-f', used.configFile], { cwd: used.dir });
    assert.match(st.stdout, /binlog archive: streaming from db\d\/mariadb, newest 0-\d+-\d+ committed/);
    assert.doesNotMatch(st.stdout, /binlog archive: WARNING/);
  });

  it('restore --into-cluster --to-time T (a second of phase b): one node bootstraps the restored datadir, the others join by SST, the app serves, the archive goes on', async () => {
    const { T, iso } = randomSecondOf(history, 'ptg-b-', phaseEnds[1] ?? 0, { laterOrder: true });
    const args = ['restore', '--into-cluster', '--to-time', iso, '-f', used.configFile];
    const dry = await runCli([...args, '--dry-run'], { cwd: used.dir });
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    assert.match(dry.stdout, /bootstraps a new Galera cluster; .* join .* by a full state transfer/);
    const r = await runCli([...args, '--confirm', R.cluster], { cwd: used.dir, timeoutMs: 420_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    stamp(`restore --into-cluster:\n${r.stdout.trim()}`);
    const pre = /the backup taken just before: (\S+)/.exec(r.stdout)?.[1] ?? assert.fail(r.stdout);
    for (const n of DBS) expectAt(history, T, await ordersOn(n));
    // The app writes again, every node has it, and the archive follows the new history.
    const ok = await postOrder(LB, 'ptg-after-restore');
    assert.ok(ok.ok, `an order after the restore: ${JSON.stringify(ok)}`);
    history.push({ key: 'ptg-after-restore', sentAt: Date.now(), ackedAt: Date.now() });
    for (const n of DBS) assert.ok(await waitFor(async () => ((await ordersOn(n)).has('ptg-after-restore') ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 }), n);
    const last = await binlogSeq('db1');
    assert.ok(await waitFor(async () => (archivedSeq(used.topo) >= last ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 }), 'the archive follows the restored cluster');
    const { rep, restored } = await restoreAndRead(used, ['--latest'], 'ptg-%');
    assert.notEqual(rep.backup, pre, 'the pre-restore backup holds the old history past T');
    assert.ok(restored.has('ptg-after-restore'), 'the order taken after the restore is in the archive');
    restored.delete('ptg-after-restore');
    expectAt(history, T, restored);
  });
});
