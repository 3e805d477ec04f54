/**
 * Cache ring benchmark: hastack's ketama ring over three real memcached nodes against the anchor,
 * the same protocol code pointed at one node, in one run on the same machine.
 *
 *   healthy      p50/p99 of a get, ring vs single node
 *   one dead     node 3 SIGKILLed and ejected by the ring: p50/p99 again (its keys are now misses
 *                on the next node; nothing waits on the dead one)
 *   remapped     fraction of keys whose node changes when one of N nodes leaves (ideal 1/N), from
 *                the ring, and the fraction that actually missed right after the kill
 *
 * Run: `npm run bench -- cache`, or `node dist/bench/cache.js`; each count below can be set on the
 * command line (`--rounds 1 --roundOps 100 --keys 300` for a quick check). Starts its own
 * memcached processes on 127.0.47.1-3 and kills only those, by process group. The last line of output is one JSON object.
 * Loops are bounded by count and by time; gets are sequential (latency, not throughput), so the
 * load stays at one core at most.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CacheClient, CacheRing } from '../src/clients/cache/index.js';
import { testRange } from '../kit/addresses.js';
import { benchCounts } from '../kit/bench.js';
import { assertFree, EngineHarness, waitListening } from '../kit/engines.js';
import { BENCH_TOOLS, ensureTools } from '../kit/bench-tools.js';

const RANGE = testRange('bench-cache');
const ADDRESSES = [RANGE.address(1), RANGE.address(2), RANGE.address(3)] as const;
const PORT = 11211;
const {
  keys: KEY_COUNT,
  remapKeys: REMAP_KEYS,
  roundOps: ROUND_OPS,
  rounds: ROUNDS,
  phaseMaxMs: PHASE_MAX_MS,
} = benchCounts({
  /** Keys stored before measuring: enough to spread over 3 nodes × 160 ketama points evenly. */
  keys: 3_000,
  /** Keys for the ring remap computation (pure hashing, no network): more keys, finer fraction. */
  remapKeys: 50_000,
  /** Gets per measured round and rounds per phase; ring and anchor alternate round by round so drift on a shared machine hits both alike. */
  roundOps: 1_000,
  rounds: 6,
  /** Upper bound of one phase whatever the op count (a sick machine must not hang the bench). */
  phaseMaxMs: 15_000,
});
/** About the size of a cached ERP item as JSON. */
const VALUE = { sku: 'WIDGET-RED', name: 'Red widget', priceCents: 1250, stockOnHand: 1000, pad: 'x'.repeat(40) };

const asRoot = process.getuid?.() === 0;
const engines = new EngineHarness();
const logFile = path.join(os.tmpdir(), `hastack-bench-cache-${process.pid}.log`);

async function startMemcached(address: string): Promise<void> {
  await assertFree([{ address, port: PORT }]);
  // -m 64: memcached's default cap; -U 0: no UDP; -u root: memcached refuses to run as root otherwise.
  engines.spawn(address, 'memcached', ['-l', address, '-p', String(PORT), '-U', '0', '-m', '64', ...(asRoot ? ['-u', 'root'] : [])], { logFile });
  // 5 s: memcached listens within milliseconds; this bounds a start that failed.
  if (!(await waitListening(address, PORT, 5_000))) throw new Error(`memcached on ${address}:${PORT} did not start within 5 s`);
}

async function killAll(): Promise<void> {
  await Promise.all(engines.names().map((n) => engines.kill(n)));
  fs.rmSync(logFile, { force: true });
}

interface Sample {
  readonly ns: number[];
  hits: number;
  misses: number;
}

const newSample = (): Sample => ({ ns: [], hits: 0, misses: 0 });

/** `ops` sequential gets over the keys, appended to `into`; stops early at `deadline`. */
async function getRound(client: CacheClient, keys: readonly string[], ops: number, start: number, into: Sample, deadline: number): Promise<void> {
  for (let i = 0; i < ops && Date.now() < deadline; i++) {
    const key = keys[(start + i) % keys.length] ?? '';
    const t0 = process.hrtime.bigint();
    const v = await client.get(key);
    into.ns.push(Number(process.hrtime.bigint() - t0));
    if (v === undefined) into.misses++;
    else into.hits++;
  }
}

/** Ring and anchor, alternating rounds of the same keys. */
async function phase(ring: CacheClient, anchor: CacheClient, keys: readonly string[]): Promise<{ ring: Sample; anchor: Sample }> {
  const out = { ring: newSample(), anchor: newSample() };
  const deadline = Date.now() + PHASE_MAX_MS;
  for (let r = 0; r < ROUNDS; r++) {
    await getRound(ring, keys, ROUND_OPS, r * ROUND_OPS, out.ring, deadline);
    await getRound(anchor, keys, ROUND_OPS, r * ROUND_OPS, out.anchor, deadline);
  }
  return out;
}

function pct(ns: readonly number[], p: number): number {
  if (ns.length === 0) return NaN;
  const sorted = [...ns].sort((a, b) => a - b);
  return (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN) / 1000;
}

const us = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(0)} µs` : 'n/a');
const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;

function row(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
}

async function main(): Promise<void> {
  ensureTools('cache', [BENCH_TOOLS.memcached]);
  for (const a of ADDRESSES) await startMemcached(a);
  const ids = ADDRESSES.map((a) => `${a}:${PORT}`);
  const tag = `bench${process.pid}:`;
  // The ring as an app server has it (50 ms op timeout, ejection after 2 failures); probes held
  // off for a minute so the dead node stays out while we measure.
  const ring = new CacheClient(
    ADDRESSES.map((address) => ({ address, port: PORT })),
    { keyPrefix: `${tag}ring:`, opTimeoutMs: 50, failuresToEject: 2, probeMinMs: 60_000, probeMaxMs: 60_000 },
  );
  // The anchor: the same protocol code, one node (the first, which stays up throughout). Its own
  // namespace: ring keys that move to node 1 must not find the anchor's copies there.
  const anchor = new CacheClient([{ address: ADDRESSES[0], port: PORT }], { keyPrefix: `${tag}anchor:`, opTimeoutMs: 50 });
  try {
    const keys = Array.from({ length: KEY_COUNT }, (_, i) => `item:${i}`);
    for (const k of keys) {
      await ring.set(k, VALUE, 600);
      await anchor.set(k, VALUE, 600);
    }
    // Warm-up, not measured: connections open and the JIT warm, so the first measured phase is
    // not slower only for being first (two alternating passes over every key per client).
    for (let i = 0; i < 2; i++) {
      await getRound(ring, keys, KEY_COUNT, 0, newSample(), Date.now() + 5_000);
      await getRound(anchor, keys, KEY_COUNT, 0, newSample(), Date.now() + 5_000);
    }

    const healthy = await phase(ring, anchor, keys);

    // Which keys move when node 3 leaves, by the ring itself (every client agrees on it).
    const gone = ids[2] ?? '';
    const hashRing = new CacheRing(ids);
    let moved = 0;
    for (let i = 0; i < REMAP_KEYS; i++) {
      const k = ring.wireKey(`remap:${i}`);
      if (hashRing.nodeFor(k) !== hashRing.nodeFor(k, (n) => n !== gone)) moved++;
    }
    const remappedFraction = moved / REMAP_KEYS;

    // Kill node 3 and let the ring eject it (2 failed ops on its keys).
    const killedAt = Date.now();
    await engines.kill(ADDRESSES[2]);
    const onGone = keys.filter((k) => hashRing.nodeFor(ring.wireKey(k)) === gone);
    let failedOpsBeforeEjection = 0;
    let worstBeforeEjectionNs = 0;
    for (const k of onGone.slice(0, 50)) {
      if (ring.health().find((h) => h.node === gone)?.up === false) break;
      const t0 = process.hrtime.bigint();
      await ring.get(k);
      worstBeforeEjectionNs = Math.max(worstBeforeEjectionNs, Number(process.hrtime.bigint() - t0));
      failedOpsBeforeEjection++;
    }
    const ejected = ring.health().find((h) => h.node === gone)?.up === false;
    if (!ejected) throw new Error(`the ring did not eject ${gone} after ${failedOpsBeforeEjection} failed gets`);
    const ejectedAfterMs = Date.now() - killedAt;

    // The first pass after the kill: the keys that lived on node 3 now miss (on the next node).
    let missesAfterKill = 0;
    for (const k of keys) if ((await ring.get(k)) === undefined) missesAfterKill++;
    const observedMissFraction = missesAfterKill / keys.length;
    // Refill, as the app's read-through would, so the dead phase measures hits like the healthy one.
    for (const k of onGone) await ring.set(k, VALUE, 600);

    const dead = await phase(ring, anchor, keys);

    const r = {
      healthy: { ring: { p50: pct(healthy.ring.ns, 50), p99: pct(healthy.ring.ns, 99) }, anchor: { p50: pct(healthy.anchor.ns, 50), p99: pct(healthy.anchor.ns, 99) } },
      dead: { ring: { p50: pct(dead.ring.ns, 50), p99: pct(dead.ring.ns, 99) }, anchor: { p50: pct(dead.anchor.ns, 50), p99: pct(dead.anchor.ns, 99) } },
    };
    const widths = [34, 10, 10, 8, 8];
    const lines = [
      `cache ring benchmark: ${ADDRESSES.length} memcached nodes (${ADDRESSES.join(', ')}), ${KEY_COUNT} keys, ${ROUNDS}×${ROUND_OPS} sequential gets per client per phase`,
      '',
      row(['phase / client', 'p50', 'p99', 'hits', 'ops'], widths),
      row(['all up   / ring (3 nodes)', us(r.healthy.ring.p50), us(r.healthy.ring.p99), String(healthy.ring.hits), String(healthy.ring.ns.length)], widths),
      row(['all up   / anchor (1 node)', us(r.healthy.anchor.p50), us(r.healthy.anchor.p99), String(healthy.anchor.hits), String(healthy.anchor.ns.length)], widths),
      row(['one dead / ring (ejected)', us(r.dead.ring.p50), us(r.dead.ring.p99), String(dead.ring.hits), String(dead.ring.ns.length)], widths),
      row(['one dead / anchor (1 node)', us(r.dead.anchor.p50), us(r.dead.anchor.p99), String(dead.anchor.hits), String(dead.anchor.ns.length)], widths),
      '',
      `ring vs anchor p99, all up:         ${ratio(r.healthy.ring.p99, r.healthy.anchor.p99)}×`,
      `ring p99, one dead vs all up:       ${ratio(r.dead.ring.p99, r.healthy.ring.p99)}×   (anchor, same two phases: ${ratio(r.dead.anchor.p99, r.healthy.anchor.p99)}×; ring/anchor ratio of the two: ${ratio(r.dead.ring.p99 / r.dead.anchor.p99, r.healthy.ring.p99 / r.healthy.anchor.p99)}×)`,
      `ejection: ${failedOpsBeforeEjection} failed get(s), ${ejectedAfterMs} ms after SIGKILL; slowest of them ${us(worstBeforeEjectionNs / 1000)}`,
      `keys remapped when 1 of ${ids.length} leaves: ${(remappedFraction * 100).toFixed(1)}% by the ring (ideal ${((1 / ids.length) * 100).toFixed(1)}%), ${(observedMissFraction * 100).toFixed(1)}% missed right after the kill`,
    ];
    for (const l of lines) console.log(l);
    const json = {
      bench: 'cache',
      nodes: ids.length,
      keys: KEY_COUNT,
      healthyRingP50Us: r.healthy.ring.p50,
      healthyRingP99Us: r.healthy.ring.p99,
      healthyAnchorP50Us: r.healthy.anchor.p50,
      healthyAnchorP99Us: r.healthy.anchor.p99,
      oneDeadRingP50Us: r.dead.ring.p50,
      oneDeadRingP99Us: r.dead.ring.p99,
      oneDeadAnchorP50Us: r.dead.anchor.p50,
      oneDeadAnchorP99Us: r.dead.anchor.p99,
      p99RatioRingVsAnchor: ratio(r.healthy.ring.p99, r.healthy.anchor.p99),
      p99RatioOneDeadVsHealthy: ratio(r.dead.ring.p99, r.healthy.ring.p99),
      anchorP99RatioOneDeadVsHealthy: ratio(r.dead.anchor.p99, r.healthy.anchor.p99),
      // The ring's dead/healthy p99 ratio with the machine's drift between the phases divided out.
      p99RatioOneDeadVsHealthyVsAnchor: ratio(r.dead.ring.p99 / r.dead.anchor.p99, r.healthy.ring.p99 / r.healthy.anchor.p99),
      failedOpsBeforeEjection,
      ejectedAfterMs,
      remappedFraction: Math.round(remappedFraction * 10_000) / 10_000,
      idealRemappedFraction: Math.round((1 / ids.length) * 10_000) / 10_000,
      observedMissFractionAfterKill: Math.round(observedMissFraction * 10_000) / 10_000,
    };
    console.log(JSON.stringify(json));
  } finally {
    await Promise.all([ring.close(), anchor.close()]);
    await killAll();
  }
}

// Ctrl-C: still kill the memcached processes we started.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void killAll().finally(() => process.exit(130));
  });
}

main().catch(async (e: unknown) => {
  await killAll();
  console.error(`bench cache: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
