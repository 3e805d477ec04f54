import { checkHostFacts, checkStores } from '../audit/checks.js';
import { AuditCode, auditExitCode, finding, formatFindings, type Finding } from '../audit/findings.js';
import { probeStores, scopeOf, thisMachineIsNode } from '../audit/gather.js';
import { auditLocal } from '../audit/local.js';
import { controllerNode, readSecrets, substrateTraits } from '../config/index.js';
import { loadRunningTopology, type ConfigOptions } from './config-source.js';

/**
 * `hastack audit [--json]`: checks the running cluster for the review's classes of weakness
 * (binds, users, file modes, key restrictions, the admin API, unauthenticated stores) and exits 1
 * on any finding. On hosts the facts come from each host's agent over SSH; the stores are probed
 * from this machine, as an outsider would.
 */
export async function audit(opts: ConfigOptions & { json?: boolean }): Promise<number> {
  const topo = loadRunningTopology(opts);
  const secrets = readSecrets(topo.stateDir);
  let findings: Finding[];
  // Each node a machine of its own: its facts come from its agent over SSH.
  if (substrateTraits(topo.config).nodesAreMachines) {
    const { hostsAuditFacts } = await import('../hosts/audit.js');
    const scope = scopeOf(topo, controllerNode(topo.config, topo.nodes).name);
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
