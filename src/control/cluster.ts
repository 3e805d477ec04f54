import fs from 'node:fs';
import { startNewEventLogIfReshaped } from './event-log.js';
import { lbTlsLocal, loadOrCreateSecrets, readTopology, topologyFile, resolveTopology, writeTopology, type Config, type Topology } from '../config/index.js';
import { ensureClusterTls, ensureEdgeCertificate } from '../engines/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { appendEvent, eventsSize, readEventsFrom, type ClusterEvent } from '../shared/events.js';
import { sleep } from '../shared/retry.js';
import { processStartTime, substrateFor, type Substrate, readRunState, removeRunState, type RunState } from '../substrate/index.js';

/**
 * Resolves the config and creates the secrets on first use. Writes nothing else: `topology.json`
 * is written by `commitTopology` only once `ensureNotRunning` passed, so a refused `up` leaves
 * the running cluster's topology as it was (its services read that file).
 */
export async function prepareCluster(config: Config, opts: { stateRoot: string; configDir: string }): Promise<Topology> {
  const topo = resolveTopology(config, opts);
  await prepareState(topo);
  return topo;
}

/** `prepareCluster` for a topology already resolved (the supervised runtime's `up`). */
export async function prepareState(topo: Topology): Promise<void> {
  refuseSubstrateChange(topo);
  fs.mkdirSync(topo.stateDir, { recursive: true, mode: 0o700 });
  loadOrCreateSecrets(topo.stateDir);
  // The cluster's CA and database node certificates, when database TLS is on (once; kept after).
  ensureClusterTls(topo);
  // lb.tls: the cluster CA's edge certificate (local), then every certificate file checked, so a
  // bad one is a config error naming its key and file before anything starts.
  if (lbTlsLocal(topo.config)) ensureEdgeCertificate(topo);
  // Loaded only then: the load balancer's TLS code is no part of a cluster without lb.tls.
  if (topo.config.lb.tls !== undefined) (await import('../lb/tls/files.js')).checkCertificateFiles(topo);
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
