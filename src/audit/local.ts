import os from 'node:os';
import { servicesOf, type Secrets, type Topology } from '../config/index.js';
import { readAdminToken } from '../control/index.js';
import { readRunState } from '../substrate/index.js';
import { checkAdminProbe, checkHostFacts, checkStores } from './checks.js';
import type { HostFacts } from './facts.js';
import { AuditCode, finding, type Finding } from './findings.js';
import { probeStores, processFacts, readDbAccounts, scanStateDir, scopeOf, secretValues, thisMachineIsNode } from './gather.js';
import { probeAdminApi } from './probes.js';

/**
 * `hastack audit` of a cluster on this machine (local, netns): the supervisor's processes from
 * run.json, the state directory, the admin API, the stores and the database accounts, all from here.
 */
export async function auditLocal(topo: Topology, secrets: Secrets): Promise<Finding[]> {
  const runState = readRunState(topo.stateDir);
  if (!runState)
    return [finding(AuditCode.AUDIT_INCOMPLETE, 'cluster', `no run.json in ${topo.stateDir}: the cluster is not running`, 'start it ("hastack up --detach"), then audit again')];
  const owners = new Map<string, number>([['admin', runState.supervisorPid], ...Object.entries(runState.services).map(([id, s]): [string, number] => [id, s.pid])]);
  let token: string | undefined;
  try {
    token = readAdminToken(topo.stateDir);
  } catch {
    token = undefined;
  }
  const scan = scanStateDir(topo.stateDir, secretValues(secrets, token));
  const db = await readDbAccounts(topo, secrets, servicesOf(topo, 'mariadb'));
  const facts: HostFacts = {
    node: 'this machine',
    ownerUid: os.userInfo().uid,
    ...processFacts(owners),
    files: scan.files,
    controllerKeyLines: null,
    admin: null,
    ...(db.accounts !== undefined ? { dbAccounts: db.accounts } : {}),
    problems: [...scan.problems, ...(db.problem !== undefined ? [db.problem] : [])],
  };
  const scope = scopeOf(topo);
  return [
    ...checkHostFacts(scope, facts),
    ...checkAdminProbe(await probeAdminApi(topo.admin.address, topo.admin.port)),
    ...checkStores(scope, await probeStores(topo), thisMachineIsNode(topo)),
  ];
}
