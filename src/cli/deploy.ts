import { deploy, hostSteps } from '../deploy/index.js';
import { START_CHECKS } from './config-checks.js';
import { loadConfigSource, type ConfigOptions } from './config-source.js';
import { invokedAs, isJson, type OutputOptions } from './output.js';
import { deployDocument, progressLines, writeJson } from './plan-json.js';

/** `hastack deploy`; under `-o json` one document: the plan per host (--dry-run, --diff), or the run's result with its progress on stderr. */
export async function deployCli(o: ConfigOptions & OutputOptions & { dryRun?: boolean; diff?: boolean }): Promise<void> {
  const src = loadConfigSource(o, START_CHECKS);
  const json = isJson(o);
  const looking = o.dryRun === true || o.diff === true;
  const print = progressLines(json, looking);
  const r = await deploy({
    config: src.config,
    configDir: src.configDir,
    stateRoot: src.stateRoot,
    cli: invokedAs(),
    ...(o.dryRun ? { dryRun: true } : {}),
    ...(o.diff ? { diff: true } : {}),
    print,
  });
  if (json) {
    const diff = o.diff === true;
    const more = looking ? { next: `${invokedAs()} deploy` } : { started: r.started, unchanged: r.unchanged };
    writeJson(deployDocument(r.topo.cluster, r.hosts, (h) => hostSteps(h, diff), { dryRun: looking, diff }, more));
    return;
  }
  if (o.dryRun || o.diff) {
    print(`run "${invokedAs()} deploy" to do it`);
    return;
  }
  const me = invokedAs();
  const lbs = r.topo.services.filter((s) => s.kind === 'lb');
  print('');
  print(`cluster "${r.topo.cluster}" is deployed on ${r.topo.nodes.length} host(s)`);
  print(`  app, through the load balancers:  ${lbs.map((l) => `http://${l.address}:${l.port}/`).join('  ')}`);
  print(`  status:  ${me} status        failover: ${me} failover        events: ${r.topo.stateDir}/events.jsonl`);
  print(`  on a host: ${r.topo.config.hosts.installDir}/bin/hastack, state in ${r.topo.config.hosts.stateDir}/${r.topo.cluster}/`);
}
