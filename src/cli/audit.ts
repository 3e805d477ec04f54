import {
  checkHostFacts,
  checkStores,
  AuditCode,
  auditExitCode,
  finding,
  formatFindings,
  type Finding,
  probeStores,
  scopeOf,
  thisMachineIsNode,
  auditLocal,
} from '../audit/index.js';
import { controllerNode, readSecrets, substrateTraits, type Topology } from '../config/index.js';
import { loadRunningTopology, type ConfigOptions } from './config-source.js';

/**
 * What each node's host must hold: the secrets `deploy` sends it (its services', everything on
 * the controller's node), united over the nodes that share one machine (they share its secrets.json).
 */
async function hostSecretNeeds(topo: Topology): Promise<Map<string, string[]>> {
  const { nodeSecretNames } = await import('../deploy/needs.js');
  const { parseSshTarget } = await import('../hosts/ssh.js');
  const label = (name: string): string => {
    const t = parseSshTarget(name, topo.config.nodes.find((n) => n.name === name)?.ssh ?? name);
    return `${t.user}@${t.host}:${t.port}`;
  };
  const out = new Map<string, string[]>();
  for (const n of topo.nodes) {
    const sharing = topo.nodes.filter((m) => label(m.name) === label(n.name));
    out.set(n.name, [...new Set(sharing.flatMap((m) => nodeSecretNames(topo, m)))]);
  }
  return out;
}

/**
 * `hastack audit [--json]`: checks the running cluster for the review's classes of weakness
 * (binds, users, file modes, key restrictions, the admin API, unauthenticated stores) and exits 1
 * on any finding. On hosts the facts come from each host's agent over SSH (Redis and Sentinel
 * probed there, database accounts, secrets held); the stores are also probed from this machine,
 * as an outsider would (none of Redis, Sentinel, memcached may answer it).
 */
export async function audit(opts: ConfigOptions & { json?: boolean }): Promise<number> {
  const topo = loadRunningTopology(opts);
  const secrets = readSecrets(topo.stateDir);
  let findings: Finding[];
  // Each node a machine of its own: its facts come from its agent over SSH.
  if (substrateTraits(topo.config).nodesAreMachines) {
    const { hostsAuditFacts } = await import('../hosts/audit.js');
    const scope = { ...scopeOf(topo, controllerNode(topo.config, topo.nodes).name), secretNeeds: await hostSecretNeeds(topo) };
    const { facts, unreachable } = await hostsAuditFacts(topo);
    findings = [
      ...facts.flatMap((f) => checkHostFacts(scope, f)),
      ...checkStores(scope, await probeStores(topo), thisMachineIsNode(topo)),
      ...unreachable.map((u) => finding(AuditCode.AUDIT_INCOMPLETE, u.split(':')[0] ?? 'host', `no facts: ${u}`, 'make the host reachable over SSH, then audit again')),
    ];
  } else {
    findings = await auditLocal(topo, secrets);
  }
  // Several nodes on one host read the same state directory: one line per distinct finding.
  const seen = new Set<string>();
  findings = findings.filter((f) => {
    const k = `${f.code}|${f.where}|${f.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  if (opts.json) process.stdout.write(JSON.stringify({ cluster: topo.cluster, substrate: topo.config.substrate, findings, exitCode: auditExitCode(findings) }, null, 2) + '\n');
  else process.stdout.write(`audit of cluster ${topo.cluster} (${topo.config.substrate}):\n${formatFindings(findings).join('\n')}\n`);
  return auditExitCode(findings);
}
