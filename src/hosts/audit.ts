import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readAdminToken } from '../control/index.js';
import { hostFactsSchema, type HostFacts, probeStores, processFacts, readDbAccounts, scanStateDir, secretValues, probeAdminApi } from '../audit/index.js';
import { controllerNode, readSecretsFile, secretsFile, type Topology } from '../config/index.js';
import { describeError } from '../shared/errors.js';
import { installed } from './agent.js';
import type { AgentEnv } from './agent-env.js';
import { closeSessions, openSessions } from './session.js';

/**
 * `hastack audit` on real hosts. Host side (`_agent audit --node N`): the facts of this host for
 * node N: its units' listeners and uids, the state directory's modes, the controller key's line in
 * root's authorized_keys, the names of the secrets the host holds, N's Redis and Sentinel probed
 * without a password and its database's accounts (their ports answer only cluster nodes, or the
 * query needs root over the socket), and (on the controller's node) the admin API probed from
 * the host itself, since it listens on the host's loopback. The operator's side judges them
 * (src/audit/checks.ts), so a host runs no policy of its own.
 */

/** Each facts call reads /proc and a state directory; 60 s means the host is stuck. */
const AUDIT_TIMEOUT_MS = 60_000;

function controllerKeyLines(cluster: string): string[] | null {
  const file = path.join(os.homedir(), '.ssh', 'authorized_keys');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l.includes(`hastack-${cluster}-controller`));
}

export async function agentAudit(env: AgentEnv, node: string): Promise<HostFacts> {
  const { topo, secrets, specs, manager } = installed(env, node);
  const statuses = await manager.status(specs.map((s) => s.name));
  const owners = new Map<string, number>();
  for (const u of statuses) {
    if (u.pid === undefined || u.pid === null) continue;
    if (u.serviceId !== undefined) owners.set(u.serviceId, u.pid);
    else if (u.name.endsWith('-controller')) owners.set('admin', u.pid);
  }
  const problems: string[] = [];
  // The admin API's node (the other controllers of failover.auto serve none).
  const isController = controllerNode(topo.config, topo.nodes).name === node && specs.some((s) => s.name.endsWith('-controller'));
  let token: string | undefined;
  try {
    token = readAdminToken(env.stateDir);
  } catch (e) {
    if (isController) problems.push(`the controller's admin token: ${describeError(e)}`);
  }
  const scan = scanStateDir(env.stateDir, secretValues(secrets, token));
  // From this host (a cluster node): its Redis and Sentinel answer only cluster nodes, so only
  // here can the audit ask whether they demand a password.
  const stores = await probeStores(topo, (s) => s.node === node && (s.kind === 'redis' || s.kind === 'sentinel'));
  const db = await readDbAccounts(
    topo,
    secrets,
    topo.services.filter((s) => s.node === node && s.kind === 'mariadb'),
  );
  let secretsHeld: string[] | undefined;
  try {
    secretsHeld = Object.keys(readSecretsFile(secretsFile(env.stateDir)) ?? {});
  } catch (e) {
    problems.push(`the node's secrets.json: ${describeError(e)}`);
  }
  return {
    node,
    ownerUid: process.getuid?.() ?? 0,
    ...processFacts(owners),
    files: scan.files,
    controllerKeyLines: controllerKeyLines(topo.cluster),
    admin: isController ? await probeAdminApi(topo.admin.address, topo.admin.port) : null,
    stores,
    ...(secretsHeld !== undefined ? { secretsHeld } : {}),
    ...(db.accounts !== undefined ? { dbAccounts: db.accounts } : {}),
    problems: [...problems, ...scan.problems, ...(db.problem !== undefined ? [db.problem] : [])],
  };
}

/** Every host's facts over SSH, in parallel; a host that does not answer is a problem, not a pass. */
export async function hostsAuditFacts(topo: Topology): Promise<{ facts: HostFacts[]; unreachable: string[] }> {
  const sessions = openSessions(topo);
  const facts: HostFacts[] = [];
  const unreachable: string[] = [];
  try {
    await Promise.all(
      [...sessions.values()].map(async (s) => {
        try {
          facts.push(await s.agentJson('audit', ['--node', s.node], hostFactsSchema, { timeoutMs: AUDIT_TIMEOUT_MS }));
        } catch (e) {
          unreachable.push(`${s.node}: ${describeError(e)}`);
        }
      }),
    );
  } finally {
    await closeSessions(sessions);
  }
  return { facts, unreachable };
}
