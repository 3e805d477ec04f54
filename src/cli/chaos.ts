import fs from 'node:fs';
import { readSecrets } from '../config/index.js';
import { SCENARIOS, findScenario, reportHtml, reportJson, reportText, runChaos, timeline } from '../chaos/index.js';
import { saveReport } from '../control/index.js';
import { ConfigError } from '../shared/errors.js';
import { runFailover } from '../failover/index.js';
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
  const cfg: ConfigOptions = { ...o, ...(o.up && !o.preset && !o.file && scenario.preset !== 'any' ? { preset: scenario.preset } : {}) };
  if (o.up) await up({ ...cfg, detach: true, ...(scenario.substrate ? { substrate: scenario.substrate } : {}) });
  try {
    const topo = loadRunningTopology(cfg);
    const say = (l: string): void => void process.stdout.write(`${l}\n`);
    const secrets = readSecrets(topo.stateDir);
    const runtime = runtimeFor(topo);
    if (scenario.crashPlan && !o.thenFailover && !topo.config.failover.auto) {
      say(`note: scenario ${scenario.name} needs the crash plan; without --then-failover (or failover.auto) the service stays down until the heal`);
    }
    const afterInject = o.thenFailover
      ? async (): Promise<void> => {
          await runFailover(await failoverEnv(topo, runtime), runtimeFencer(topo, runtime), { onProgress: (l) => say(`  failover: ${l}`) });
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
      ...(o.https === true ? { https: true } : {}),
      onProgress: say,
    });
    process.stdout.write(`\n${reportText(result, scenario.expectedFailure)}\n`);
    if (o.json) fs.writeFileSync(o.json, JSON.stringify(reportJson(result, scenario.expectedFailure), null, 2) + '\n');
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
