import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { servicesOf, substrateTraits, type Secrets, type ServiceInstance, type Topology } from '../config/index.js';
import { driverFor } from '../drivers/index.js';
import type { Runtime } from '../substrate/index.js';
import { ConfigError, ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { appendEvent } from '../shared/events.js';
import { waitFor } from '../shared/retry.js';
import type { ChaosReport } from './checkers.js';
import { runChaos, type ChaosResult } from './run.js';
import type { Scenario } from './scenarios.js';

/*
 * `hastack chaos soak SCENARIO --runs N`: the same scenario N times on one running cluster, healed
 * and made whole between runs, for figures with a median and a maximum instead of one sample.
 */

/** What one run contributes to the soak's statistics (a slice of its ChaosReport). */
export type SoakFigures = Pick<ChaosReport, 'firstWriteAfterFaultMs' | 'longestWriteGapMs' | 'lostWrites' | 'duplicateWrites' | 'twoPrimaryRounds'>;

export interface SoakStats {
  readonly runs: number;
  /** Median over the runs that saw an acknowledged write after the fault (null: none did). */
  readonly medianFirstWriteAfterFaultMs: number | null;
  /** null when no run saw one; runs without one are counted in `runsWithoutWriteAfterFault`. */
  readonly maxFirstWriteAfterFaultMs: number | null;
  readonly runsWithoutWriteAfterFault: number;
  readonly medianLongestWriteGapMs: number | null;
  readonly maxLongestWriteGapMs: number | null;
  /** Sums over the runs. */
  readonly lostWrites: number;
  readonly duplicateWrites: number;
  readonly twoPrimaryRounds: number;
}

/** The median of `values` (the mean of the two middle ones for an even count); null when empty. Pure. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : Math.round(((s[mid - 1] as number) + (s[mid] as number)) / 2);
}

/** The soak's figures over its runs. Pure. */
export function soakStats(runs: readonly SoakFigures[]): SoakStats {
  const first = runs.map((r) => r.firstWriteAfterFaultMs).filter((v): v is number => v !== null);
  const gaps = runs.map((r) => r.longestWriteGapMs);
  const sum = (f: (r: SoakFigures) => number): number => runs.reduce((a, r) => a + f(r), 0);
  return {
    runs: runs.length,
    medianFirstWriteAfterFaultMs: median(first),
    maxFirstWriteAfterFaultMs: first.length > 0 ? Math.max(...first) : null,
    runsWithoutWriteAfterFault: runs.length - first.length,
    medianLongestWriteGapMs: median(gaps),
    maxLongestWriteGapMs: gaps.length > 0 ? Math.max(...gaps) : null,
    lostWrites: sum((r) => r.lostWrites),
    duplicateWrites: sum((r) => r.duplicateWrites),
    twoPrimaryRounds: sum((r) => r.twoPrimaryRounds),
  };
}

/** The per-run table and the summary lines of `chaos soak`. Pure. */
export function soakTable(runs: readonly SoakFigures[], stats: SoakStats): string {
  const ms = (v: number | null): string => (v === null ? '-' : `${v}`);
  const lines = ['run  first write after fault (ms)  longest write gap (ms)  lost  duplicated  two-primary rounds'];
  runs.forEach((r, i) => {
    lines.push(
      `${String(i + 1).padStart(3)}  ${ms(r.firstWriteAfterFaultMs).padStart(28)}  ${String(r.longestWriteGapMs).padStart(22)}  ${String(r.lostWrites).padStart(4)}  ${String(r.duplicateWrites).padStart(10)}  ${String(r.twoPrimaryRounds).padStart(18)}`,
    );
  });
  lines.push(
    `median: first write ${ms(stats.medianFirstWriteAfterFaultMs)} ms, write gap ${ms(stats.medianLongestWriteGapMs)} ms`,
    `max:    first write ${ms(stats.maxFirstWriteAfterFaultMs)} ms, write gap ${ms(stats.maxLongestWriteGapMs)} ms` +
      (stats.runsWithoutWriteAfterFault > 0 ? ` (${stats.runsWithoutWriteAfterFault} run(s) saw no acknowledged write after the fault)` : ''),
    `sums:   ${stats.lostWrites} lost, ${stats.duplicateWrites} duplicated, ${stats.twoPrimaryRounds} round(s) with two writable primaries`,
  );
  return lines.join('\n');
}

/** `--runs`: at most this many (each run is a minute or more of a real cluster under load). */
export const MAX_SOAK_RUNS = 100;
/** Before each run the cluster gets this long to be whole (a rebuilt replica copies its data). */
const HEAL_TIMEOUT_MS = 180_000;

export interface SoakOptions {
  readonly topo: Topology;
  readonly secrets: Secrets;
  readonly runtime: Runtime;
  readonly scenario: Scenario;
  readonly runs: number;
  readonly durationS: number;
  readonly seed: number;
  readonly clients: number;
  readonly https?: boolean;
  readonly onProgress?: (line: string) => void;
  /** Called with each run's result as it ends (the CLI saves its report). */
  readonly onRun?: (i: number, r: ChaosResult) => void;
  /** As `runChaos`'s: run right after each run's fault lands (a planned switchover). */
  readonly afterInject?: () => Promise<void>;
  /** Before each run (before the heal): throws to stop the soak (automatic failover off). */
  readonly beforeRun?: () => void;
}

export interface SoakResult {
  readonly results: ChaosResult[];
  readonly stats: SoakStats;
}

/**
 * Runs the scenario `runs` times. Before each run and after the last: every database node a
 * failover left fenced (read-only, replicating from nobody) is rebuilt, and every service must be
 * healthy (bounded).
 */
export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  if (!(Number.isInteger(o.runs) && o.runs >= 1 && o.runs <= MAX_SOAK_RUNS)) throw new ConfigError('--runs', `must be a whole number between 1 and ${MAX_SOAK_RUNS}`);
  const fo = o.topo.config.failover;
  if (o.runs > 1 && fo.auto && fo.antiFlapMs > 0) {
    // Every run after the first would fail over within the window and be refused on purpose.
    throw new ConfigError('failover.antiFlapMs', `is ${fo.antiFlapMs} ms: a soak fails over once per run; set failover.antiFlapMs: 0 in the soak's config`);
  }
  const say = o.onProgress ?? (() => undefined);
  const stateDir = o.topo.stateDir;
  const results: ChaosResult[] = [];
  for (let i = 1; i <= o.runs; i++) {
    o.beforeRun?.();
    const healed = await healBetweenRuns(o, say);
    appendEvent(stateDir, {
      type: 'step',
      message: `chaos soak ${o.scenario.name}: run ${i}/${o.runs} starts${healed.length > 0 ? ` (rebuilt ${healed.join(', ')})` : ''}`,
      data: { soak: o.scenario.name, run: i, runs: o.runs },
    });
    say(`--- soak ${o.scenario.name}: run ${i}/${o.runs}`);
    const r = await runChaos({
      topo: o.topo,
      secrets: o.secrets,
      runtime: o.runtime,
      scenario: o.scenario,
      durationS: o.durationS,
      // A different seed each run: the operation mix and random targets vary, replayably.
      seed: o.seed + i - 1,
      clients: o.clients,
      ...(o.https === true ? { https: true } : {}),
      ...(o.afterInject ? { afterInject: o.afterInject } : {}),
      onProgress: (l) => say(`  ${l}`),
    });
    results.push(r);
    o.onRun?.(i, r);
    const x = r.checked.report;
    const line = `run ${i}/${o.runs}: first write ${x.firstWriteAfterFaultMs ?? '-'} ms after the fault, longest write gap ${x.longestWriteGapMs} ms, ${x.lostWrites} lost, ${x.duplicateWrites} duplicated, ${x.twoPrimaryRounds} two-primary round(s)${r.checked.broken.length > 0 ? `; BROKEN: ${r.checked.broken.join('; ')}` : ''}`;
    say(line);
    appendEvent(stateDir, { type: 'step', message: `chaos soak ${o.scenario.name}: ${line}`, data: { soak: o.scenario.name, run: i, runs: o.runs, report: x } });
  }
  // Left whole, as it was found: the last run's fenced node would otherwise need a rebuild by hand.
  const healed = await healBetweenRuns(o, say);
  if (healed.length > 0) say(`rebuilt ${healed.join(', ')} after the last run: the cluster is whole again`);
  const stats = soakStats(results.map((r) => r.checked.report));
  appendEvent(stateDir, {
    type: 'step',
    message: `chaos soak ${o.scenario.name}: ${o.runs} run(s) done: first write median ${stats.medianFirstWriteAfterFaultMs ?? '-'} ms, max ${stats.maxFirstWriteAfterFaultMs ?? '-'} ms; ${stats.lostWrites} lost`,
    data: { soak: o.scenario.name, stats },
  });
  return { results, stats };
}

/**
 * Makes the cluster whole before a run: a database node a failover fenced (read-only and
 * replicating from nobody, beside a writable primary) is rebuilt as the new primary's replica
 * (kept down, its datadir and role record moved aside, started again: it provisions itself from a
 * live node), then every service must be healthy. Returns the rebuilt nodes.
 */
async function healBetweenRuns(o: SoakOptions, say: (l: string) => void): Promise<string[]> {
  const status = await o.runtime.status(o.secrets);
  const dbs = status.services.filter((s) => s.service === 'mariadb');
  const hasPrimary = dbs.some((s) => s.healthy && s.role === 'primary');
  const stale = hasPrimary ? dbs.filter((s) => !s.healthy || (s.role !== 'primary' && /replicating from nobody/.test(s.detail ?? ''))).map((s) => s.node) : [];
  const rebuilt: string[] = [];
  for (const node of [...new Set(stale)]) {
    const svc = servicesOf(o.topo, 'mariadb').find((s) => s.node === node);
    if (!svc) continue;
    if (substrateTraits(o.topo.config).nodesAreMachines) {
      throw new HastackError(
        ErrorCode.BAD_REQUEST,
        `${node}'s database was fenced by the last run; on hosts rebuild it by hand (move its mariadb/data aside, then deploy) and run the soak again`,
      );
    }
    say(`rebuilding ${node}'s database (fenced by the last run) as a replica of the new primary`);
    await o.runtime.fault({ action: 'kill-node', node });
    // One old copy kept (the latest), so ten runs do not keep ten datadirs.
    for (const f of ['data', 'hastack-db.json']) {
      const from = path.join(svc.dir, f);
      const to = path.join(svc.dir, `${f}.soak-old`);
      fs.rmSync(to, { recursive: true, force: true });
      if (fs.existsSync(from)) fs.renameSync(from, to);
    }
    // The new primary may be read-only for a moment (its guard fenced it when the last run's heal
    // stalled its loop, and lifts the fence about a second later): the rebuilt node's start then
    // finds no writable primary (SETUP_FAILED). Tried again for up to 20 s; any other error at once.
    let healError: unknown;
    const healed = await waitFor(
      async () => {
        try {
          await o.runtime.fault({ action: 'heal-node', node });
          return true;
        } catch (e) {
          healError = e;
          if (e instanceof HastackError && e.code === ErrorCode.SETUP_FAILED) say(`  ${describeError(e)}; trying again`);
          else return false;
          return undefined;
        }
      },
      { timeoutMs: 20_000, intervalMs: 2_000 },
    );
    if (healed !== true) throw healError;
    await wireRebuilt(o, svc);
    rebuilt.push(node);
  }
  let unhealthy: string[] = [];
  const semiSync = o.topo.config.database.mode === 'replication' && o.topo.config.database.semiSync;
  const ok = await waitFor(
    async () => {
      const s = await o.runtime.status(o.secrets);
      unhealthy = s.services.filter((x) => !x.healthy || notWhole(x, semiSync)).map((x) => `${x.node}/${x.service}${x.detail ? ` (${x.detail})` : ''}`);
      return unhealthy.length === 0 ? true : undefined;
    },
    { timeoutMs: HEAL_TIMEOUT_MS, intervalMs: 1_000 },
  ).catch((e: unknown) => {
    unhealthy = [describeError(e)];
    return undefined;
  });
  if (!ok)
    throw new HastackError(ErrorCode.HEALTH_TIMEOUT, `chaos soak: the cluster is not whole after ${HEAL_TIMEOUT_MS / 1000} s (${unhealthy.join(', ')}); see "hastack status"`);
  return rebuilt;
}

// A fresh datadir installs in about a second and replays the primary's binlog (or copies a
// mariabackup) before it answers: a minute is ample for a test or demo dataset.
const REBUILD_HEALTHY_MS = 120_000;

/**
 * The supervisor restarts a healed node's processes but runs the driver's wiring (root password,
 * CHANGE MASTER TO the primary, semi-sync on) only on a service's first start: run it here once
 * the rebuilt server answers, as that first start would.
 */
async function wireRebuilt(o: SoakOptions, svc: ServiceInstance): Promise<void> {
  const driver = driverFor('mariadb');
  const ctx = { topo: o.topo, secrets: o.secrets, svc, asRoot: os.userInfo().uid === 0 };
  const up = await waitFor(async () => ((await driver.probe(ctx, 2_000)).healthy ? true : undefined), { timeoutMs: REBUILD_HEALTHY_MS, intervalMs: 500 });
  if (!up)
    throw new HastackError(
      ErrorCode.HEALTH_TIMEOUT,
      `chaos soak: the rebuilt ${svc.id} does not answer after ${REBUILD_HEALTHY_MS / 1000} s; see its mariadb.err and install-db.log`,
    );
  await driver.afterHealthy?.(ctx);
}

/**
 * A healthy database node that is not yet what a run needs: a replica replicating from nobody (a
 * fenced old primary) or behind its primary, or a primary whose semi-sync is not acknowledging yet (the automatic mode
 * refuses to fail over after commits acknowledged without a replica). Pure.
 */
export function notWhole(x: { readonly service: string; readonly role: string; readonly detail?: string }, semiSync: boolean): boolean {
  if (x.service !== 'mariadb') return false;
  const d = x.detail ?? '';
  if (x.role === 'primary') return semiSync && !/semi-sync on/.test(d);
  // A rebuilt replica replays the primary's whole history: until it applied it, a promotion would
  // wait for that first (measured: 3-6 s of a run's failover, growing with every run).
  return /replicating from nobody/.test(d) || !/, 0 s behind,/.test(d);
}
