import { deploy } from '../deploy/index.js';
import { loadConfigSource, type ConfigOptions } from './config-source.js';
import { invokedAs } from './output.js';

export async function deployCli(o: ConfigOptions & { dryRun?: boolean; diff?: boolean }): Promise<void> {
  const src = loadConfigSource(o);
  const print = (line: string): void => void process.stdout.write(`${line}\n`);
  const r = await deploy({
    config: src.config,
    configDir: src.configDir,
    stateRoot: src.stateRoot,
    cli: invokedAs(),
    ...(o.dryRun ? { dryRun: true } : {}),
    ...(o.diff ? { diff: true } : {}),
    print,
  });
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
