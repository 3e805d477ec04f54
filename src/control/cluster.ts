import fs from 'node:fs';
import { startNewEventLogIfReshaped } from './event-log.js';
import { lbTlsLocal, loadOrCreateSecrets, readSecrets, readTopology, topologyFile, resolveTopology, writeTopology, type Config, type Topology } from '../config/index.js';
import { ensureClusterTls, ensureEdgeCertificate } from '../engines/index.js';
import { checkCertificateFiles } from '../lb/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { closeAll, once, type Closeable } from '../shared/lifecycle.js';
import { AutoFailover } from '../failover/index.js';
import { startAdminApi } from './admin-api.js';
import { Supervisor } from './supervisor.js';
import { startLockReaper, type LockReaper } from './lock-reaper.js';
import { appendEvent, eventsSize, readEventsFrom, type ClusterEvent } from '../shared/events.js';
import { sleep } from '../shared/retry.js';
import { processStartTime, substrateFor, type Substrate, readRunState, removeRunState, type RunState } from '../substrate/index.js';

/**
 * Resolves the config and creates the secrets on first use. Writes nothing else: `topology.json`
 * is written by `commitTopology` only once `ensureNotRunning` passed, so a refused `up` leaves
 * the running cluster's topology as it was (its services read that file).
 */
export function prepareCluster(config: Config, opts: { stateRoot: string; configDir: string }): Topology {
  const topo = resolveTopology(config, opts);
  prepareState(topo);
  return topo;
}

/** `prepareCluster` for a topology already resolved (the supervised runtime's `up`). */
export function prepareState(topo: Topology): void {
  refuseSubstrateChange(topo);
  fs.mkdirSync(topo.stateDir, { recursive: true, mode: 0o700 });
  loadOrCreateSecrets(topo.stateDir);
  // The cluster's CA and database node certificates, when database TLS is on (once; kept after).
  ensureClusterTls(topo);
  // lb.tls: the cluster CA's edge certificate (local), then every certificate file checked, so a
  // bad one is a config error naming its key and file before anything starts.
  if (lbTlsLocal(topo.config)) ensureEdgeCertificate(topo);
  checkCertificateFiles(topo);
}

/** Writes `topology.json` for the run about to start (after `ensureNotRunning`). */
export function commitTopology(topo: Topology): void {
  // A new shape under the same name is another cluster: its events start a log of their own.
  startNewEventLogIfReshaped(fs.existsSync(topologyFile(topo.stateDir)) ? readTopology(topo.stateDir) : undefined, topo);
  writeTopology(topo);
}

/**
 * The engines keep their peers' addresses in their own state (a MariaDB replica its primary, Redis
 * its `replicaof`, Sentinel its master and peers): a state directory made on one substrate does
 * not start on another, whose node addresses differ. Say so before anything starts.
 */
function refuseSubstrateChange(topo: Topology): void {
  if (!fs.existsSync(topologyFile(topo.stateDir))) return;
  const before = readTopology(topo.stateDir);
  if (before.config.substrate === topo.config.substrate) return;
  throw new HastackError(
    ErrorCode.CONFIG_INVALID,
    `cluster ${topo.cluster} was last run on the ${before.config.substrate} substrate and its engines keep those addresses in ${topo.stateDir}; ` +
      `run it on ${before.config.substrate} again, or stop it ("hastack down") and remove ${topo.stateDir} to start afresh on ${topo.config.substrate}`,
  );
}

/** A recorded pid is ours only if it is alive and started when we recorded it (pids get reused). */
function isOurs(substrate: Substrate, pid: number, startedAtIso: string): boolean {
  if (!substrate.isAlive(pid)) return false;
  const started = processStartTime(pid);
  // 5 s of slack: the record is written right after spawn, and /proc's clock has 10 ms ticks.
  return started === undefined || Math.abs(started - Date.parse(startedAtIso)) < 5_000;
}

export function supervisorAlive(substrate: Substrate, run: RunState | undefined): boolean {
  return run !== undefined && run.supervisorPid !== process.pid && isOurs(substrate, run.supervisorPid, run.startedAt);
}

/** Pids of run.json that are still ours and alive. */
export function leftoverPids(substrate: Substrate, run: RunState | undefined): Array<{ id: string; pid: number }> {
  if (!run) return [];
  return Object.entries(run.services)
    .filter(([, s]) => isOurs(substrate, s.pid, s.startedAt))
    .map(([id, s]) => ({ id, pid: s.pid }));
}

/**
 * Kills processes left by a supervisor that died (SIGTERM, then SIGKILL after `graceMs`).
 * Safe to re-run: pids already gone or reused by someone else are skipped.
 */
export async function killLeftovers(stateDir: string, substrate: Substrate, graceMs: number, onEvent?: (e: ClusterEvent) => void): Promise<number> {
  const left = leftoverPids(substrate, readRunState(stateDir));
  for (const l of left) {
    onEvent?.(appendEvent(stateDir, { type: 'step', message: `stopping leftover ${l.id} (pid ${l.pid})` }));
    substrate.signal(l.pid, 'SIGTERM');
  }
  const deadline = Date.now() + graceMs;
  while (left.some((l) => substrate.isAlive(l.pid)) && Date.now() < deadline) await sleep(100);
  for (const l of left) if (substrate.isAlive(l.pid)) substrate.signal(l.pid, 'SIGKILL');
  return left.length;
}

/**
 * `hastack down`: asks the supervisor to stop the cluster (it stops services in reverse order)
 * and follows its events; if the supervisor is gone, stops what it left behind directly.
 */
export async function stopCluster(topo: Topology, opts: { onEvent?: (e: ClusterEvent) => void; timeoutMs?: number } = {}): Promise<{ wasRunning: boolean }> {
  const substrate = substrateFor(topo);
  const run = readRunState(topo.stateDir);
  if (!run) return { wasRunning: false };
  let offset = eventsSize(topo.stateDir);
  if (supervisorAlive(substrate, run)) {
    substrate.signal(run.supervisorPid, 'SIGTERM');
    // Bounded by the sum of the longest stop graces, so a stuck supervisor cannot hang `down`.
    const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
    while (substrate.isAlive(run.supervisorPid) && Date.now() < deadline) {
      const r = readEventsFrom(topo.stateDir, offset);
      offset = r.offset;
      for (const e of r.events) opts.onEvent?.(e);
      await sleep(200);
    }
    const r = readEventsFrom(topo.stateDir, offset);
    for (const e of r.events) opts.onEvent?.(e);
    if (substrate.isAlive(run.supervisorPid)) substrate.signal(run.supervisorPid, 'SIGKILL');
  }
  await killLeftovers(topo.stateDir, substrate, 10_000, opts.onEvent);
  await releaseSubstrate(topo, substrate, opts.onEvent);
  removeRunState(topo.stateDir);
  return { wasRunning: true };
}

/**
 * Removes what the substrate set up (netns: namespaces, bridge, veths, rules), also when a
 * crashed supervisor left them: `down --force` runs it even when no run is recorded. Idempotent.
 */
export async function releaseSubstrate(topo: Topology, substrate: Substrate, onEvent?: (e: ClusterEvent) => void): Promise<void> {
  if (!substrate.release) return;
  await substrate.release();
  const e = appendEvent(topo.stateDir, { type: 'step', message: `removed the ${substrate.name} substrate's namespaces and bridge` });
  onEvent?.(e);
}

/** Refuses to start a second supervisor for a running cluster; cleans up after a dead one. */
export async function ensureNotRunning(topo: Topology, onEvent?: (e: ClusterEvent) => void): Promise<void> {
  const substrate = substrateFor(topo);
  const run = readRunState(topo.stateDir);
  if (supervisorAlive(substrate, run)) {
    throw new HastackError(
      ErrorCode.CLUSTER_RUNNING,
      `cluster ${topo.cluster} is already running (supervisor pid ${run?.supervisorPid}); see "hastack status", or stop it with "hastack down"`,
    );
  }
  const n = await killLeftovers(topo.stateDir, substrate, 10_000, onEvent);
  if (n > 0) onEvent?.(appendEvent(topo.stateDir, { type: 'step', message: `stopped ${n} process(es) left by a supervisor that died` }));
  removeRunState(topo.stateDir);
}

export interface RunningCluster {
  readonly supervisor: Supervisor;
  /** Starts every service in order; on failure stops what started and rethrows. */
  start(): Promise<void>;
  /** Stops the cluster and the admin API. Idempotent. */
  stop(): Promise<void>;
}

/** The supervisor and its admin API, as `up` (foreground) and `_supervise` (detached) run them. */
export async function openCluster(topo: Topology, onEvent?: (e: ClusterEvent) => void): Promise<RunningCluster> {
  const secrets = readSecrets(topo.stateDir);
  const substrate = substrateFor(topo);
  // Before the substrate's setup: the supervisor records its start time, and `down` recognises a
  // live supervisor by that time (5 s slack); netns setup of a big cluster on a loaded machine
  // took longer than that, `down` then took the supervisor for dead and it outlived the cluster.
  const supervisor = new Supervisor({ topo, secrets, substrate, ...(onEvent ? { onEvent } : {}) });
  if (substrate.prepare) {
    const t0 = Date.now();
    await substrate.prepare();
    // Appended even without a listener: `up --detach` follows the event log, not this process.
    const e = appendEvent(topo.stateDir, {
      type: 'step',
      message: `${substrate.name} substrate ready in ${Date.now() - t0} ms: ${topo.nodes.length} nodes, each in its own network namespace`,
    });
    onEvent?.(e);
  }
  let admin: Closeable;
  try {
    admin = await startAdminApi(topo, secrets, supervisor);
  } catch (e) {
    await substrate.release?.().catch(() => undefined);
    throw new HastackError(
      ErrorCode.PORT_IN_USE,
      `cannot listen on ${topo.admin.address}:${topo.admin.port} for the admin API (${describeError(e)}); set supervisor.adminPort to a free port`,
    );
  }
  // failover.auto: the controller runs here, beside the processes it may fence (killNode is the
  // supervisor's own), and only once the cluster is up. With etcd services: one controller per
  // etcd node (one acts, elected through etcd) and a lease guard per database node (issue 23).
  const auto = topo.config.failover.auto
    ? new AutoFailover({ topo, secrets }, { killNode: async (node) => void supervisor.killNode(node), isAlive: (pid) => substrate.isAlive(pid) })
    : undefined;
  let reaper: LockReaper | undefined;
  const stop = once(() =>
    closeAll([
      () => reaper?.stop() ?? Promise.resolve(),
      () => auto?.close() ?? Promise.resolve(),
      () => supervisor.stop(),
      () => admin.close(),
      async () => substrate.release?.(),
    ]),
  );
  return {
    supervisor,
    stop,
    async start() {
      try {
        await supervisor.start();
      } catch (e) {
        await stop();
        throw e;
      }
      reaper = startLockReaper(topo, secrets);
      if (auto) {
        auto.start();
        auto.announce({ topo, secrets });
      }
    },
  };
}
