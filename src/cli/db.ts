import { readSecrets, substrateTraits, type Topology } from '../config/index.js';
import { recoverGalera } from '../control/index.js';
import { closeSessions, galeraOnHosts, openSessions, type GaleraOnHostsOutcome } from '../hosts/index.js';
import { ConfigError } from '../shared/errors.js';
import { appendEvent } from '../shared/events.js';
import { loadRunningTopology, type ConfigOptions } from './config-source.js';
import { progressPrinter } from './output.js';

/** `hastack db recover [--dry-run]`: full-cluster recovery of a Galera cluster (src/control/galera-recovery.ts; on hosts src/hosts/galera-hosts.ts). */
export async function dbRecover(opts: ConfigOptions & { dryRun?: boolean }): Promise<void> {
  const topo = loadRunningTopology(opts);
  if (substrateTraits(topo.config).nodesAreMachines) return dbRecoverOnHosts(topo, opts.dryRun ?? false);
  const out = await recoverGalera(topo, readSecrets(topo.stateDir), { dryRun: opts.dryRun ?? false, onEvent: progressPrinter() });
  const summary: Record<typeof out.result, string> = {
    'nothing-to-do': 'every galera node is synced in a Primary component: nothing to recover',
    planned: out.plan && !out.plan.ok ? `recovery would be refused: ${out.plan.reason}` : 'dry run: the plan above was not applied',
    recovered: 'galera cluster recovered: every node is synced',
    applied: 'plan applied to the nodes\' files; run "hastack up" to start them',
  };
  process.stdout.write(`${summary[out.result]}\n`);
  if (out.plan && !out.plan.ok) process.exitCode = 1;
}

/**
 * On hosts there is no supervisor: each database host's agent reads its node's position and
 * applies the choice, and the nodes are started through their units (systemd or the keeper).
 * Every step goes to the event log like the local recovery's (type `step`, data.recovery).
 */
async function dbRecoverOnHosts(topo: Topology, dryRun: boolean): Promise<void> {
  if (topo.config.database.mode !== 'galera') {
    throw new ConfigError('database.mode', `is "${topo.config.database.mode}"; db recover is for galera clusters (replication failover is the failover manager's job)`);
  }
  const print = progressPrinter();
  const step = (message: string, data: Record<string, unknown> = {}): void =>
    print(appendEvent(topo.stateDir, { type: 'step', message: `db recover: ${message}`, data: { recovery: true, dryRun, ...data } }));
  const sessions = openSessions(topo);
  let out: GaleraOnHostsOutcome;
  try {
    out = await galeraOnHosts(topo, sessions, { dryRun, joinAll: true, step });
  } finally {
    await closeSessions(sessions);
  }
  const summary =
    out.result === 'running'
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
  process.stdout.write(`${summary}\n`);
  if (out.result === 'planned' && !out.plan.ok) process.exitCode = 1;
}
