import os from 'node:os';
import type { Secrets, ServiceInstance, Topology } from '../config/index.js';
import { servicesOf } from '../config/index.js';
import { applyBootstrapChoice, describeRecovery, planClusterRecovery, readGaleraHealth, type GaleraHealth, type NodeFacts, type RecoveryPlan } from '../engines/index.js';
import type { ServiceContext } from '../registry/index.js';
import { ConfigError, ErrorCode, HastackError } from '../shared/errors.js';
import { appendEvent, type ClusterEvent } from '../shared/events.js';
import { waitFor } from '../shared/retry.js';
import { requestFault } from './admin-client.js';
import { supervisorAlive } from './cluster.js';
import { substrateFor, readRunState } from '../substrate/index.js';

/*
 * `hastack db recover`: full-cluster recovery of a Galera cluster. Every step goes to the event log
 * (type `step`, data.recovery = true). Safe to re-run: each run starts from what it finds.
 * - a node already in a Primary component: nothing to bootstrap, the missing nodes are started
 *   and join it (this is also where a run interrupted after its bootstrap resumes);
 * - otherwise: hold every db node down (the supervisor would keep restarting them into a cluster
 *   with no primary), read positions, plan (galera-recover.ts), set safe_to_bootstrap on the
 *   chosen node only, start it with --wsrep-new-cluster, then start the others one at a time.
 * Starting goes through the running supervisor (heal-node), which owns the processes. With no
 * supervisor running, the plan is applied to the files and `hastack up` starts the nodes (it runs
 * the same planning and finds the same answer).
 */

export interface RecoverOptions {
  readonly dryRun: boolean;
  readonly onEvent?: (e: ClusterEvent) => void;
}

export interface RecoverOutcome {
  /** What happened, one word: nothing-to-do, planned (dry run), recovered, applied (up must start it). */
  readonly result: 'nothing-to-do' | 'planned' | 'recovered' | 'applied';
  readonly plan?: RecoveryPlan;
  /** Each node's position as read (when the plan was made): what the plan rests on. */
  readonly facts?: readonly NodeFacts[];
  /** With a Primary component running: the nodes in it, and those that must (re)join it. */
  readonly primary?: readonly string[];
  readonly missing?: readonly string[];
}

// The bootstrap node is Primary within a second or two; 120 s bounds a long InnoDB recovery.
const BOOTSTRAP_TIMEOUT_MS = 120_000;
// A joiner after a crash needs IST (seconds) or a full mariabackup SST (15–20 s for a small
// dataset here, ~13 s per 100 MB): 300 s bounds a few GB.
const JOIN_TIMEOUT_MS = 300_000;
// Probing a synced node answers in milliseconds on loopback.
const PROBE_MS = 1_500;

export async function recoverGalera(topo: Topology, secrets: Secrets, opts: RecoverOptions): Promise<RecoverOutcome> {
  if (topo.config.database.mode !== 'galera') {
    throw new ConfigError('database.mode', `is "${topo.config.database.mode}"; db recover is for galera clusters (replication failover is the failover manager's job)`);
  }
  const step = (message: string, data: Record<string, unknown> = {}): void => {
    const e = appendEvent(topo.stateDir, { type: 'step', message: `db recover: ${message}`, data: { recovery: true, dryRun: opts.dryRun, ...data } });
    opts.onEvent?.(e);
  };
  const asRoot = os.userInfo().uid === 0;
  const dbs = servicesOf(topo, 'mariadb');
  const ctxOf = (svc: ServiceInstance): ServiceContext => ({ topo, secrets, svc, asRoot });
  const health = async (svc: ServiceInstance): Promise<GaleraHealth | undefined> => readGaleraHealth(ctxOf(svc), PROBE_MS).catch(() => undefined);

  const substrate = substrateFor(topo);
  const run = readRunState(topo.stateDir);
  const supervised = supervisorAlive(substrate, run);
  step(`${dbs.length} galera nodes; supervisor ${supervised ? `running (pid ${run?.supervisorPid})` : 'not running'}`);

  const states = await Promise.all(dbs.map(health));
  const primaryAt = dbs.filter((_, i) => states[i]?.primary === true);
  if (primaryAt.length > 0) {
    const missing = dbs.filter((_, i) => !(states[i]?.primary === true && states[i]?.healthy === true));
    step(`${primaryAt.map((s) => s.node).join(', ')} ${primaryAt.length > 1 ? 'are' : 'is'} in a Primary component: nothing to bootstrap`, {
      primary: primaryAt.map((s) => s.node),
      missing: missing.map((s) => s.node),
    });
    const component = { primary: primaryAt.map((s) => s.node), missing: missing.map((s) => s.node) };
    if (missing.length === 0) return { result: 'nothing-to-do', ...component };
    if (opts.dryRun) {
      step(`would start ${missing.map((s) => s.node).join(', ')}, one at a time, to join it (dry run: nothing changed)`);
      return { result: 'planned', ...component };
    }
    if (!supervised) throw notRunning();
    for (const svc of missing) await joinOne(topo, svc, health, step);
    step('done: every node is synced');
    return { result: 'recovered' };
  }

  // No primary anywhere. Hold every node down first, so that the supervisor's restarts do not
  // race with --wsrep-recover on the same datadir (a dry run changes nothing, so it skips this).
  const busy = new Map<string, string>();
  if (supervised && !opts.dryRun) {
    for (const svc of dbs) {
      await requestFault(topo, { action: 'kill-node', node: svc.node });
      step(`holding ${svc.node} down (the supervisor stops restarting it until it is started below)`, { node: svc.node });
    }
  } else if (supervised) {
    for (const svc of dbs) {
      const pid = run?.services[svc.id]?.pid;
      if (pid !== undefined && substrate.isAlive(pid)) busy.set(svc.node, `a mariadbd (pid ${pid}) runs on this datadir; the real run stops it first`);
    }
  }

  step("reading each node's position (grastate.dat, and mariadbd --wsrep-recover after a crash)");
  const { facts, plan } = await planClusterRecovery(topo, secrets, asRoot, busy);
  for (const line of describeRecovery(facts, plan)) step(line.trim(), { facts });
  if (!plan.ok) {
    if (opts.dryRun) return { result: 'planned', plan, facts };
    throw new HastackError(ErrorCode.SETUP_FAILED, `galera recovery refused: ${plan.reason}`, { details: { facts } });
  }
  if (opts.dryRun) {
    step('dry run: nothing changed');
    return { result: 'planned', plan, facts };
  }

  applyBootstrapChoice(topo, plan);
  step(`safe_to_bootstrap cleared on every node and set on ${plan.bootstrap} only`, { bootstrap: plan.bootstrap, position: plan.position });
  if (!supervised) {
    step(`the supervisor is not running: run "hastack up", which starts ${plan.bootstrap} first from this plan and joins the others`);
    return { result: 'applied', plan, facts };
  }

  const first = dbs.find((s) => s.node === plan.bootstrap) as ServiceInstance;
  await requestFault(topo, { action: 'heal-node', node: first.node });
  step(`bootstrapping ${first.node} (--wsrep-new-cluster --wsrep-start-position=${plan.position.uuid}:${plan.position.seqno})`, { node: first.node });
  const boot = await waitFor(async () => ((await health(first))?.healthy ? true : undefined), { timeoutMs: BOOTSTRAP_TIMEOUT_MS, intervalMs: 250 });
  if (!boot) {
    throw new HastackError(
      ErrorCode.SETUP_FAILED,
      `${first.node} did not become a synced Primary within ${BOOTSTRAP_TIMEOUT_MS} ms after bootstrap; read "hastack logs ${first.node} mariadb", then run db recover again`,
    );
  }
  step(`${first.node} is Primary: ${(await health(first))?.detail ?? ''}`, { node: first.node });
  for (const node of plan.joinOrder) await joinOne(topo, dbs.find((s) => s.node === node) as ServiceInstance, health, step);
  step('done: every node is synced');
  return { result: 'recovered', plan, facts };
}

function notRunning(): HastackError {
  return new HastackError(
    ErrorCode.CLUSTER_NOT_RUNNING,
    'the supervisor is not running, so db recover cannot start the nodes; run "hastack up" (it joins them to the running component)',
  );
}

async function joinOne(
  topo: Topology,
  svc: ServiceInstance,
  health: (svc: ServiceInstance) => Promise<GaleraHealth | undefined>,
  step: (message: string, data?: Record<string, unknown>) => void,
): Promise<void> {
  // heal-node restarts the node's services if they are not running (and is harmless if they are).
  await requestFault(topo, { action: 'heal-node', node: svc.node });
  step(`starting ${svc.node}: it joins by IST from its recovered position, or by a full state transfer`, { node: svc.node });
  const ok = await waitFor(async () => ((await health(svc))?.synced ? true : undefined), { timeoutMs: JOIN_TIMEOUT_MS, intervalMs: 500 });
  if (!ok) {
    throw new HastackError(
      ErrorCode.SETUP_FAILED,
      `${svc.node} did not sync within ${JOIN_TIMEOUT_MS} ms; read "hastack logs ${svc.node} mariadb", then run db recover again (it resumes from here)`,
    );
  }
  step(`${svc.node} synced: ${(await health(svc))?.detail ?? ''}`, { node: svc.node });
}
