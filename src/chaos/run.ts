import { performance } from 'node:perf_hooks';
import type { Secrets, Topology } from '../config/index.js';
import type { Runtime } from '../substrate/index.js';
import { describeError } from '../shared/errors.js';
import { eventsSize, readEventsFrom } from '../shared/events.js';
import { sleep, waitFor } from '../shared/retry.js';
import { checkRun, type CheckedRun } from './checkers.js';
import { checkWriters } from './db-writers.js';
import { watchDbWriters } from './db-writers-probe.js';
import { healFaults, injectFaults, type InjectedFault } from './faults.js';
import type { FaultWindow, History } from './history.js';
import { seededRandom } from '../shared/random.js';
import { affectedOps, faultSchedule, landedSchedule, type Scenario } from './scenarios.js';
import { sentinelFailoverMs } from './sentinel-log.js';
import { workloadProfile } from './profiles.js';
import { naiveCount, readerCount } from './workload.js';

export interface ChaosRunOptions {
  readonly topo: Topology;
  readonly secrets: Secrets;
  /** Where the cluster runs: faults and the status after the heal go through it. */
  readonly runtime: Runtime;
  readonly scenario: Scenario;
  readonly durationS: number;
  readonly seed: number;
  readonly clients: number;
  /** How many of the clients are naive (no retries; workload.ts); default NAIVE_CLIENTS (2). */
  readonly naiveClients?: number;
  /** How many of the clients only read (workload.ts); default a quarter of them, at least one. */
  readonly readerClients?: number;
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
  /**
   * Nodes a failover fenced during the run and the heal did not restart (a partition's heal only
   * restores the links): down by design until rebuilt, so the health wait does not wait for them.
   */
  readonly fencedAfter: string[];
  readonly afterInject?: AfterInjectOutcome;
  /** `chaos.workload`: which app's workload ran. */
  readonly workload: 'erp' | 'records';
  /** The records workload: how the run's jobs were completed (`queue`, `sweep`). */
  readonly jobsVia?: Readonly<Record<string, number>>;
  /** The run's clients: how many, how many of them naive, how many only read (workload.ts). */
  readonly clientMix: ClientMix;
}

export interface ClientMix {
  readonly clients: number;
  readonly naive: number;
  readonly readers: number;
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
  const profile = workloadProfile(o.topo.config.chaos.workload);
  const workloadFn = await profile.prepare(o.topo, o.https === true);
  const t0 = performance.now();
  const clock = (): number => Math.round(performance.now() - t0);
  const startedAt = new Date().toISOString();
  // Failovers logged from here on: the nodes they fence stay down after the heal (below).
  const eventsFrom = eventsSize(o.topo.stateDir);
  const clientMix: ClientMix = { clients: o.clients, naive: naiveCount(o.clients, o.naiveClients), readers: readerCount(o.clients, o.naiveClients, o.readerClients) };
  say(
    `scenario ${o.scenario.name}: ${o.clients} clients (${clientMix.naive} of them naive, ${clientMix.readers} readers) for ${o.durationS} s (seed ${o.seed}, workload ${profile.name})`,
  );
  // Moved later by as much as the fault lands late (below).
  let workloadEndsAt = durationMs;
  const workload = workloadFn({
    topo: o.topo,
    clients: o.clients,
    endsAt: () => workloadEndsAt,
    seed: o.seed,
    runId,
    clock,
    https: o.https === true,
    ...(o.naiveClients !== undefined ? { naiveClients: o.naiveClients } : {}),
    ...(o.readerClients !== undefined ? { readerClients: o.readerClients } : {}),
  });
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
      // Until the fault lands the workload keeps going: on hosts under load the probe and the kill
      // over SSH took 15.8 s, past a 16 s run's planned end, and clients that had already stopped
      // saw nothing of the fault (set again from where it landed below, or after a failure).
      workloadEndsAt = Number.POSITIVE_INFINITY;
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
      say(`[${(injectedAt / 1000).toFixed(1)} s] fault: ${faultDescription(o.scenario, injected)}`);
      if (o.afterInject) {
        // Not a fault error: a failed crash plan is reported (and the run's checks show its cost).
        afterInject = await o.afterInject().then(
          () => ({ finishedMs: clock() - injectedAt, ok: true }),
          (e: unknown) => ({ finishedMs: clock() - injectedAt, ok: false, error: describeError(e) }),
        );
        say(
          `[${(clock() / 1000).toFixed(1)} s] ${o.scenario.switchover ? 'switchover' : 'crash plan'} ${afterInject.ok ? 'done' : `FAILED: ${afterInject.error ?? ''}`} ${afterInject.finishedMs} ms after the fault`,
        );
      }
      await sleep(Math.max(0, healAt - clock()));
    } catch (e) {
      faultError = e;
    } finally {
      if (workloadEndsAt === Number.POSITIVE_INFINITY) workloadEndsAt = Math.max(durationMs, clock());
      await healFaults(o.runtime, injected).catch((e: unknown) => (faultError ??= e));
    }
    const healedAt = clock();
    say(`[${(healedAt / 1000).toFixed(1)} s] healed`);
    // Beside hastack's own recovery figure: how long Sentinel itself took (fault → +switch-master).
    if (o.scenario.faults.some((f) => f.target === 'role:redis-master')) {
      const ms = sentinelFailoverMs(o.topo, injectedWallMs);
      say(ms === undefined ? 'sentinel: no +switch-master logged after the fault' : `sentinel: +switch-master ${ms} ms after the fault (Sentinel's own failover time)`);
    }
    const killed = injected.filter((f) => f.spec.action === 'kill-node').flatMap((f) => o.topo.nodes.filter((n) => n.name === f.node).map((n) => n.address));
    windows.push({ description: faultDescription(o.scenario, injected) || 'fault (failed to inject)', injectedAt, healedAt, ...(killed.length > 0 ? { killed } : {}) });
  }
  // Stopped even when the workload throws: the probe must not outlive the run.
  const ops = await workload.finally(() => writers.stop());
  const writerRounds = await writers.stop();
  if (faultError !== undefined) throw faultError;
  const history: History = { startedAt, durationMs: Math.max(durationMs, clock()), ops, faults: windows };
  say(`workload done: ${ops.length} operations; waiting up to ${JOB_GRACE_MS / 1000} s for jobs`);

  await waitFor(async () => ((await profile.countPending(o.topo, o.secrets, keyPrefix)) === 0 ? true : undefined), { timeoutMs: JOB_GRACE_MS, intervalMs: 500 });
  const final = await profile.readFinal(o.topo, o.secrets, keyPrefix);
  const checked = checkRun(o.scenario.name, affectedOps(o.scenario), history, final, checkWriters(writerRounds, o.topo.config.database.mode));

  const fencedAfter = fencedSince(o.topo.stateDir, eventsFrom, injected);
  if (fencedAfter.length > 0) say(`fenced by the failover, down until rebuilt (not waited for): ${fencedAfter.join(', ')}`);
  let unhealthyAfter: string[] = [];
  const healthy = await waitFor(
    async () => {
      const s = await o.runtime.status(o.secrets);
      unhealthyAfter = s.services.filter((x) => !x.healthy && !fencedAfter.includes(x.node)).map((x) => `${x.node}/${x.service}`);
      return unhealthyAfter.length === 0 ? true : undefined;
    },
    { timeoutMs: HEALTH_GRACE_MS, intervalMs: 1_000 },
  ).catch((e: unknown) => {
    unhealthyAfter = [describeError(e)];
    return undefined;
  });
  const checkedWithPlan = afterInject && !afterInject.ok ? { ...checked, broken: [...checked.broken, `the crash plan failed: ${afterInject.error ?? ''}`] } : checked;
  return {
    checked: checkedWithPlan,
    history,
    faults: injected,
    healthyAfter: healthy === true,
    unhealthyAfter,
    fencedAfter,
    ...(afterInject ? { afterInject } : {}),
    workload: profile.name,
    clientMix,
    ...(final.jobsVia ? { jobsVia: final.jobsVia } : {}),
  };
}

/**
 * Nodes fenced by a failover logged after byte `offset` of the event log, less those the heal
 * restarted (a killed node comes back through heal-node and must be healthy again). Waiting for
 * the others cost the whole grace period for nothing: the runbook keeps them down until an
 * operator rebuilds them (60 s in every partition-db-primary run).
 */
function fencedSince(stateDir: string, offset: number, healed: readonly InjectedFault[]): string[] {
  const restarted = new Set(healed.filter((f) => f.spec.action === 'kill-node').map((f) => f.node));
  const fenced = readEventsFrom(stateDir, offset)
    .events.filter((e) => e.type === 'failover.done')
    .map((e) => e.data?.fenced)
    .filter((n): n is string => typeof n === 'string' && !restarted.has(n));
  return [...new Set(fenced)].sort();
}

/** The fault as the run reports it: what was injected, or the planned switchover that stands for it. */
function faultDescription(scenario: Scenario, injected: readonly InjectedFault[]): string {
  return scenario.switchover ? 'planned switchover to the replica (hastack switchover)' : injected.map((f) => f.description).join(' + ');
}
