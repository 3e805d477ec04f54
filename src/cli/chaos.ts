import fs from 'node:fs';
import { readSecrets } from '../config/index.js';
import { SCENARIOS, findScenario, naiveCount, reportHtml, reportJson, reportText, runChaos, runSoak, soakTable, timeline, type ChaosResult } from '../chaos/index.js';
import { saveReport } from '../control/index.js';
import { ConfigError, ErrorCode, HastackError } from '../shared/errors.js';
import { describeAutoMode, readAutoModeSafe, runFailover, runSwitchover } from '../failover/index.js';
import type { Secrets, Topology } from '../config/index.js';
import type { Runtime } from '../substrate/index.js';
import { loadRunningTopology, type ConfigOptions } from './config-source.js';
import { failoverEnv, runtimeFencer } from './failover.js';
import { runtimeFor } from '../runtime/index.js';
import { down } from './commands.js';
import { table } from './output.js';
import { up } from './up.js';

export function chaosList(): void {
  const rows = [
    ['SCENARIO', 'PRESET', 'WHAT IT DOES'],
    ...SCENARIOS.map((s) => [
      s.name,
      s.preset,
      s.description + (s.expectedFailure ? ` [expected to break a promise until ${s.expectedFailure}]` : '') + (s.crashPlan ? ' [needs --then-failover or failover.auto]' : ''),
    ]),
  ];
  process.stdout.write(table(rows) + '\n');
}

export interface ChaosRunCliOptions extends ConfigOptions {
  readonly duration: number;
  readonly seed: number;
  readonly clients: number;
  /** Of the clients, how many are naive (one request per operation, no retries); default 2. */
  readonly naiveClients?: number;
  /** Of the clients, how many only read (item reads and the item list); default a quarter, at least one. */
  readonly readerClients?: number;
  /** The report as JSON: `--report FILE` (`--json FILE`, its older name, still works). */
  readonly report?: string;
  readonly json?: string;
  readonly html?: string;
  readonly up?: boolean;
  readonly minAvailability?: number;
  /** Run `hastack failover --yes` right after the fault is injected (the crash plan, at once). */
  readonly thenFailover?: boolean;
  /** The workload over HTTPS (lb.tls), verifying against the cluster CA or the system store. */
  readonly https?: boolean;
}

/** Returns the exit code: 1 when a promise was broken (or availability fell below the option). */
export async function chaosRun(name: string, o: ChaosRunCliOptions): Promise<number> {
  const scenario = findScenario(name);
  if (!scenario) throw new ConfigError('scenario', `unknown scenario "${name}"; "hastack chaos list" lists them`);
  if (!(o.duration >= 5 && o.duration <= 3600)) throw new ConfigError('--duration', 'must be between 5 and 3600 seconds');
  if (!(o.clients >= 1 && o.clients <= 64)) throw new ConfigError('--clients', 'must be between 1 and 64');
  if (o.naiveClients !== undefined && !(Number.isInteger(o.naiveClients) && o.naiveClients >= 0 && o.naiveClients < o.clients)) {
    throw new ConfigError('--naive-clients', `must be a whole number from 0 to ${o.clients - 1} (--clients less one: at least one client retries)`);
  }
  const naive = naiveCount(o.clients, o.naiveClients);
  if (o.readerClients !== undefined && !(Number.isInteger(o.readerClients) && o.readerClients >= 0 && o.readerClients < o.clients - naive)) {
    throw new ConfigError(
      '--reader-clients',
      `must be a whole number from 0 to ${o.clients - naive - 1} (--clients less the naive ones less one: at least one retrying client writes)`,
    );
  }
  const cfg: ConfigOptions = { ...o, ...(o.up && !o.preset && !o.file && scenario.preset !== 'any' ? { preset: scenario.preset } : {}) };
  if (o.up) await up({ ...cfg, detach: true, ...(scenario.substrate ? { substrate: scenario.substrate } : {}) });
  try {
    const topo = loadRunningTopology(cfg);
    const say = (l: string): void => void process.stdout.write(`${l}\n`);
    const secrets = readSecrets(topo.stateDir);
    const runtime = await runtimeFor(topo);
    if (scenario.crashPlan && !o.thenFailover && !topo.config.failover.auto) {
      say(`note: scenario ${scenario.name} needs the crash plan; without --then-failover (or failover.auto) the service stays down until the heal`);
    }
    const afterInject = scenario.switchover
      ? plannedSwitchover(topo, secrets, runtime, say)
      : o.thenFailover
        ? async (): Promise<void> => {
            await runFailover(await failoverEnv(topo, runtime), runtimeFencer(runtime), { onProgress: (l) => say(`  failover: ${l}`) });
          }
        : undefined;
    const result = await runChaos({
      ...(afterInject ? { afterInject } : {}),
      topo,
      secrets,
      runtime,
      scenario,
      durationS: o.duration,
      seed: o.seed,
      clients: o.clients,
      ...(o.naiveClients !== undefined ? { naiveClients: o.naiveClients } : {}),
      ...(o.readerClients !== undefined ? { readerClients: o.readerClients } : {}),
      ...(o.https === true ? { https: true } : {}),
      onProgress: say,
    });
    process.stdout.write(`\n${reportText(result, scenario.expectedFailure)}\n`);
    const reportFile = o.report ?? o.json;
    if (reportFile !== undefined) fs.writeFileSync(reportFile, JSON.stringify(reportJson(result, scenario.expectedFailure), null, 2) + '\n');
    // Also beside the cluster's state, with its timeline, for the dashboard's list of reports.
    const id = saveReport(
      topo.stateDir,
      scenario.name,
      {
        ...reportJson(result, scenario.expectedFailure),
        durationMs: result.history.durationMs,
        timelineBucketMs: 100,
        timeline: timeline(result.history),
      },
      new Date(result.history.startedAt),
    );
    process.stdout.write(`report ${id} kept in ${topo.stateDir}/reports (the dashboard lists it)\n`);
    if (o.html) fs.writeFileSync(o.html, reportHtml(result, scenario.expectedFailure));
    const belowThreshold = o.minAvailability !== undefined && result.checked.report.availability < o.minAvailability;
    if (belowThreshold) process.stdout.write(`availability ${result.checked.report.availability} is below --min-availability ${o.minAvailability}\n`);
    return result.checked.broken.length > 0 || belowThreshold ? 1 : 0;
  } finally {
    if (o.up) await down(cfg);
  }
}

export interface ChaosSoakCliOptions extends ConfigOptions {
  readonly runs: number;
  readonly duration: number;
  readonly seed: number;
  readonly clients: number;
  readonly json?: string;
  readonly https?: boolean;
}

/**
 * `hastack chaos soak SCENARIO --runs N`: the scenario N times on the running cluster, healed and
 * whole between runs; per-run figures, median and maximum. Exit 1 when any run broke a promise.
 */
export async function chaosSoak(name: string, o: ChaosSoakCliOptions): Promise<number> {
  const scenario = findScenario(name);
  if (!scenario) throw new ConfigError('scenario', `unknown scenario "${name}"; "hastack chaos list" lists them`);
  if (!(o.duration >= 5 && o.duration <= 3600)) throw new ConfigError('--duration', 'must be between 5 and 3600 seconds');
  if (!(o.clients >= 1 && o.clients <= 64)) throw new ConfigError('--clients', 'must be between 1 and 64');
  const topo = loadRunningTopology(o);
  const say = (l: string): void => void process.stdout.write(`${l}\n`);
  const secrets = readSecrets(topo.stateDir);
  const runtime = await runtimeFor(topo);
  if (scenario.crashPlan && !topo.config.failover.auto) say(`note: scenario ${scenario.name} needs failover.auto for a soak (nothing else moves the service)`);
  const save = (i: number, r: ChaosResult): void => {
    const id = saveReport(
      topo.stateDir,
      `${scenario.name}-soak${i}`,
      { ...reportJson(r, scenario.expectedFailure), durationMs: r.history.durationMs, timelineBucketMs: 100, timeline: timeline(r.history) },
      new Date(r.history.startedAt),
    );
    say(`  report ${id} kept in ${topo.stateDir}/reports`);
  };
  const { results, stats } = await runSoak({
    topo,
    secrets,
    runtime,
    scenario,
    runs: o.runs,
    durationS: o.duration,
    seed: o.seed,
    clients: o.clients,
    ...(o.https === true ? { https: true } : {}),
    ...(scenario.switchover ? { afterInject: plannedSwitchover(topo, secrets, runtime, say) } : {}),
    // A run with automatic failover off (a failed one turned it off) measures the mode, not a failover.
    ...(scenario.crashPlan && topo.config.failover.auto
      ? {
          beforeRun: () => {
            const m = readAutoModeSafe(topo.stateDir);
            if (m.state === 'on') return;
            throw new HastackError(
              ErrorCode.AUTO_FAILOVER_OFF,
              `${describeAutoMode(m) ?? `automatic failover is ${m.state}`}. A ${scenario.name} run would measure that, not a failover: check "hastack status", run "hastack resume", then the soak again`,
            );
          },
        }
      : {}),
    onProgress: say,
    onRun: save,
  });
  process.stdout.write(
    `\nsoak ${scenario.name}: ${results.length} run(s) of ${o.duration} s\n${soakTable(
      results.map((r) => r.checked.report),
      stats,
    )}\n`,
  );
  if (o.json) {
    const doc = { scenario: scenario.name, ...stats, runs: results.map((r) => reportJson(r, scenario.expectedFailure)) };
    fs.writeFileSync(o.json, JSON.stringify(doc, null, 2) + '\n');
  }
  const broken = results.filter((r) => r.checked.broken.length > 0).length;
  if (broken > 0) say(`${broken} run(s) broke a promise`);
  return broken > 0 ? 1 : 0;
}

/**
 * The `switchover` scenario's action at the fault's time: `hastack switchover --to` the healthy
 * replica the cluster has then (after a soak's previous run, the other server), its write pause said.
 */
function plannedSwitchover(topo: Topology, secrets: Secrets, runtime: Runtime, say: (line: string) => void): () => Promise<void> {
  return async () => {
    const status = await runtime.status(secrets);
    const to = status.services.find((s) => s.service === 'mariadb' && s.role === 'replica' && s.healthy)?.node;
    if (to === undefined) throw new ConfigError('scenario', `switchover needs a healthy replica; cluster ${topo.cluster} has none (see "hastack status")`);
    const r = await runSwitchover(await failoverEnv(topo, runtime), runtimeFencer(runtime), { to, onProgress: (l) => say(`  switchover: ${l}`) });
    say(`  switchover: ${to} is the primary; the database refused writes for ${r.writePauseMs ?? '?'} ms (held at the app side)`);
  };
}
