import { readSecrets, substrateTraits, type Topology } from '../config/index.js';
import { recoverGalera, type RecoverOutcome } from '../control/index.js';
import { closeSessions, galeraOnHosts, openSessions, type GaleraOnHostsOutcome } from '../hosts/index.js';
import { ConfigError } from '../shared/errors.js';
import { appendEvent, type ClusterEvent } from '../shared/events.js';
import { loadRunningTopology, type ConfigOptions } from './config-source.js';
import { isJson, progressPrinter, type OutputOptions } from './output.js';
import { recoverDocument, writeJson, type RecoverView } from './plan-json.js';

/** The last line of a local `db recover`. Pure. */
export function localRecoverySummary(out: RecoverOutcome): string {
  const summary: Record<typeof out.result, string> = {
    'nothing-to-do': 'every galera node is synced in a Primary component: nothing to recover',
    planned: out.plan && !out.plan.ok ? `recovery would be refused: ${out.plan.reason}` : 'dry run: the plan above was not applied',
    recovered: 'galera cluster recovered: every node is synced',
    applied: 'plan applied to the nodes\' files; run "hastack up" to start them',
  };
  return summary[out.result];
}

/** The last line of `db recover` on hosts. Pure. */
export function hostsRecoverySummary(out: GaleraOnHostsOutcome, dryRun: boolean): string {
  return out.result === 'running'
    ? out.missing.length === 0
      ? 'every galera node is synced in a Primary component: nothing to recover'
      : dryRun
        ? `dry run: would start ${out.missing.join(', ')} to join the running cluster`
        : 'galera cluster recovered: every node is synced'
    : out.result === 'fresh'
      ? `no node ever joined a cluster: ${out.bootstrap} is marked to bootstrap it; run "hastack deploy"`
      : out.result === 'planned'
        ? out.plan.ok
          ? 'dry run: the plan above was not applied'
          : `recovery would be refused: ${out.plan.reason}`
        : `galera cluster recovered: ${out.plan.bootstrap} bootstrapped from ${out.plan.position.uuid}:${out.plan.position.seqno}; every node is synced`;
}

/**
 * `hastack db recover [--dry-run]`: full-cluster recovery of a Galera cluster (src/control/galera-recovery.ts; on hosts src/hosts/galera-hosts.ts).
 * Under `-o json` the steps it logs are gathered into one document (plan-json.ts), on stderr too for a real run.
 */
export async function dbRecover(opts: ConfigOptions & OutputOptions & { dryRun?: boolean }): Promise<void> {
  const topo = loadRunningTopology(opts);
  const dryRun = opts.dryRun ?? false;
  const json = isJson(opts);
  const log: string[] = [];
  const text = progressPrinter();
  const onEvent = (e: ClusterEvent): void => {
    log.push(e.message);
    if (!json) text(e);
    else if (!dryRun) process.stderr.write(`${e.message}\n`);
  };
  let view: RecoverView;
  if (substrateTraits(topo.config).nodesAreMachines) {
    const out = await dbRecoverOnHosts(topo, dryRun, onEvent);
    view = {
      result: out.result,
      summary: hostsRecoverySummary(out, dryRun),
      ...(out.result === 'planned' || out.result === 'recovered' ? { plan: out.plan, facts: out.facts } : {}),
      ...(out.result === 'running' ? { primary: out.primary, missing: out.missing } : {}),
    };
  } else {
    const out = await recoverGalera(topo, readSecrets(topo.stateDir), { dryRun, onEvent });
    view = {
      result: out.result,
      summary: localRecoverySummary(out),
      ...(out.plan ? { plan: out.plan } : {}),
      ...(out.facts ? { facts: out.facts } : {}),
      ...(out.primary ? { primary: out.primary } : {}),
      ...(out.missing ? { missing: out.missing } : {}),
    };
  }
  if (json) writeJson(recoverDocument(view, dryRun, log));
  else process.stdout.write(`${view.summary}\n`);
  if (view.plan && !view.plan.ok) process.exitCode = 1;
}

/**
 * On hosts there is no supervisor: each database host's agent reads its node's position and
 * applies the choice, and the nodes are started through their units (systemd or the keeper).
 * Every step goes to the event log like the local recovery's (type `step`, data.recovery).
 */
async function dbRecoverOnHosts(topo: Topology, dryRun: boolean, onEvent: (e: ClusterEvent) => void): Promise<GaleraOnHostsOutcome> {
  if (topo.config.database.mode !== 'galera') {
    throw new ConfigError('database.mode', `is "${topo.config.database.mode}"; db recover is for galera clusters (replication failover is the failover manager's job)`);
  }
  const step = (message: string, data: Record<string, unknown> = {}): void =>
    onEvent(appendEvent(topo.stateDir, { type: 'step', message: `db recover: ${message}`, data: { recovery: true, dryRun, ...data } }));
  const sessions = openSessions(topo);
  try {
    return await galeraOnHosts(topo, sessions, { dryRun, joinAll: true, step });
  } finally {
    await closeSessions(sessions);
  }
}
