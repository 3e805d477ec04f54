import { performance } from 'node:perf_hooks';
import type { Secrets, Topology } from '../config/index.js';
import type { Runtime } from '../substrate/index.js';
import { describeError } from '../shared/errors.js';
import { sleep, waitFor } from '../shared/retry.js';
import { checkRun, type CheckedRun } from './checkers.js';
import { checkWriters } from './db-writers.js';
import { watchDbWriters } from './db-writers-probe.js';
import { countPending, readFinalState } from './final-read.js';
import { healFaults, injectFaults, type InjectedFault } from './faults.js';
import type { FaultWindow, History } from './history.js';
import { seededRandom } from '../shared/random.js';
import { affectedOps, faultSchedule, landedSchedule, type Scenario } from './scenarios.js';
import { sentinelFailoverMs } from './sentinel-log.js';
import { fetchSkus, runWorkload } from './workload.js';

export interface ChaosRunOptions {
  readonly topo: Topology;
  readonly secrets: Secrets;
  /** Where the cluster runs: faults and the status after the heal go through it. */
  readonly runtime: Runtime;
  readonly scenario: Scenario;
  readonly durationS: number;
  readonly seed: number;
  readonly clients: number;
  /** The workload speaks HTTPS to the load balancers (lb.tls; `chaos run --https`). */
  readonly https?: boolean;
  readonly onProgress?: (line: string) => void;
  /**
   * Run right after the fault is injected, during the hold (the crash plan: `--then-failover`
   * passes `hastack failover --yes`). Its duration and outcome go into the report.
   */
  readonly afterInject?: () => Promise<void>;
}

export interface AfterInjectOutcome {
  /** ms after the fault it finished */
  readonly finishedMs: number;
  readonly ok: boolean;
  readonly error?: string;
}

export interface ChaosResult {
  readonly checked: CheckedRun;
  readonly history: History;
  readonly faults: readonly InjectedFault[];
  /** Every service healthy again after the heal (bounded wait). */
  readonly healthyAfter: boolean;
  readonly unhealthyAfter: string[];
  readonly afterInject?: AfterInjectOutcome;
}

/** After the run, jobs get this long to drain (the ERP's sweep runs every 10 s). */
const JOB_GRACE_MS = 30_000;
/** And the cluster this long to be whole again, so the next scenario starts from healthy. */
const HEALTH_GRACE_MS = 60_000;

/**
 * One fault-injection run: workload → fault at a quarter of the run → heal → workload until the
 * end → grace period for jobs → read the final state → check the history against it.
 */
export async function runChaos(o: ChaosRunOptions): Promise<ChaosResult> {
  const say = o.onProgress ?? (() => undefined);
  const runId = `${Date.now().toString(36)}s${o.seed}`;
  const keyPrefix = `chaos-${runId}-`;
  const durationMs = o.durationS * 1000;
  const skus = await fetchSkus(o.topo, o.https === true);
  const t0 = performance.now();
  const clock = (): number => Math.round(performance.now() - t0);
  const startedAt = new Date().toISOString();
  say(`scenario ${o.scenario.name}: ${o.clients} clients for ${o.durationS} s (seed ${o.seed})`);
  // Moved later by as much as the fault lands late (below).
  let workloadEndsAt = durationMs;
  const workload = runWorkload({ topo: o.topo, clients: o.clients, endsAt: () => workloadEndsAt, seed: o.seed, runId, clock, https: o.https === true }, skus);
  // For the whole workload: "never two writable primaries" must hold through fault and heal.
  const writers = watchDbWriters(o.topo, o.secrets, clock);

  const schedule = faultSchedule(o.scenario, durationMs);
  const windows: FaultWindow[] = [];
  let injected: InjectedFault[] = [];
  let faultError: unknown;
  let afterInject: AfterInjectOutcome | undefined;
  if (schedule) {
    await sleep(Math.max(0, schedule.injectAt - clock()));
    let injectedAt = clock();
    let injectedWallMs = Date.now();
    let healAt = schedule.healAt;
    try {
      injected = await injectFaults(o.runtime, o.secrets, o.scenario.faults, seededRandom(o.seed));
      // The fault lands at the end of injectFaults, after it probed the whole cluster to pick its
      // targets (up to 1.5 s): time the fault from there, or every recovery figure is too short.
      injectedAt = clock();
      injectedWallMs = Date.now();
      // The hold and the rest of the workload count from there too. On a busy machine that probe
      // and the kill over SSH took 6.4 s (hosts, every core busy): on the planned clock the 10 s
      // hold shrank to 3.6 s, the heal restarted the server while the controller was fencing it,
      // and the orders stopped 8.6 s after the kill, before the failover could show in them.
      ({ healAt, workloadEndsAt } = landedSchedule(schedule, durationMs, injectedAt));
      say(`[${(injectedAt / 1000).toFixed(1)} s] fault: ${injected.map((f) => f.description).join(' + ')}`);
      if (o.afterInject) {
        // Not a fault error: a failed crash plan is reported (and the run's checks show its cost).
        afterInject = await o.afterInject().then(
          () => ({ finishedMs: clock() - injectedAt, ok: true }),
          (e: unknown) => ({ finishedMs: clock() - injectedAt, ok: false, error: describeError(e) }),
        );
        say(`[${(clock() / 1000).toFixed(1)} s] crash plan ${afterInject.ok ? 'done' : `FAILED: ${afterInject.error ?? ''}`} ${afterInject.finishedMs} ms after the fault`);
      }
      await sleep(Math.max(0, healAt - clock()));
    } catch (e) {
      faultError = e;
    } finally {
      await healFaults(o.runtime, injected).catch((e: unknown) => (faultError ??= e));
    }
    const healedAt = clock();
    say(`[${(healedAt / 1000).toFixed(1)} s] healed`);
    // Beside hastack's own recovery figure: how long Sentinel itself took (fault → +switch-master).
    if (o.scenario.faults.some((f) => f.target === 'role:redis-master')) {
      const ms = sentinelFailoverMs(o.topo, injectedWallMs);
      say(ms === undefined ? 'sentinel: no +switch-master logged after the fault' : `sentinel: +switch-master ${ms} ms after the fault (Sentinel's own failover time)`);
    }
    windows.push({ description: injected.map((f) => f.description).join(' + ') || 'fault (failed to inject)', injectedAt, healedAt });
  }
  // Stopped even when the workload throws: the probe must not outlive the run.
  const ops = await workload.finally(() => writers.stop());
  const writerRounds = await writers.stop();
  if (faultError !== undefined) throw faultError;
  const history: History = { startedAt, durationMs: Math.max(durationMs, clock()), ops, faults: windows };
  say(`workload done: ${ops.length} operations; waiting up to ${JOB_GRACE_MS / 1000} s for jobs`);

  await waitFor(async () => ((await countPending(o.topo, o.secrets, keyPrefix)) === 0 ? true : undefined), { timeoutMs: JOB_GRACE_MS, intervalMs: 500 });
  const final = await readFinalState(o.topo, o.secrets, keyPrefix);
  const checked = checkRun(o.scenario.name, affectedOps(o.scenario), history, final, checkWriters(writerRounds, o.topo.config.database.mode));

  let unhealthyAfter: string[] = [];
  const healthy = await waitFor(
    async () => {
      const s = await o.runtime.status(o.secrets);
      unhealthyAfter = s.services.filter((x) => !x.healthy).map((x) => `${x.node}/${x.service}`);
      return unhealthyAfter.length === 0 ? true : undefined;
    },
    { timeoutMs: HEALTH_GRACE_MS, intervalMs: 1_000 },
  ).catch((e: unknown) => {
    unhealthyAfter = [describeError(e)];
    return undefined;
  });
  const checkedWithPlan = afterInject && !afterInject.ok ? { ...checked, broken: [...checked.broken, `the crash plan failed: ${afterInject.error ?? ''}`] } : checked;
  return { checked: checkedWithPlan, history, faults: injected, healthyAfter: healthy === true, unhealthyAfter, ...(afterInject ? { afterInject } : {}) };
}
