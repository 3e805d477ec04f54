import fs from 'node:fs';
import path from 'node:path';
import { servicesOf, type ServiceInstance, type Topology } from '../config/index.js';
import { applyNodeBootstrapChoice, DB_USERS, mariadbPaths, memcachedFlushAll, serverIdOf, writeDbState, type DbNodeState } from '../engines/index.js';
import {
  archiveKey,
  buildTimeline,
  LOCK_WAIT_MS,
  planPointInTimeAnywhere,
  readArchive,
  readAutoMode,
  recordRestore,
  restoreToPoint,
  runBackup,
  writeAutoMode,
  type ClusterRestore,
  type FailoverEnv,
  type Gtid,
  type StopAt,
} from '../failover/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { readRunState, substrateFor } from '../substrate/index.js';
import { requestServiceControl } from './admin-client.js';
import { supervisorAlive } from './cluster.js';

/*
 * The machine-local half of `restore --into-cluster` (restore-cluster.ts holds the steps, the
 * journal and every SQL statement, which reach the servers from wherever it runs). One cluster's
 * datadirs, backups, binlog archive and units live either on this machine, under one supervisor
 * (`supervisedRestoreMachines`, below), or on one machine per node, reached through each host's
 * agent over SSH (src/hosts/restore-hosts.ts). Every operation is safe to call again after an
 * interruption: the journal re-runs the step that did not finish.
 */

/** What a node's machine does with its datadir in the swap step. */
export interface Placement {
  /** The built (or copied) datadir `<svc.dir>/restore-<id>/data` replaces the node's; else the node's is only set aside. */
  readonly built: boolean;
  /** Replication: the role recorded for the node's next start (absent: as it is). */
  readonly state?: DbNodeState;
  /** Galera: this node bootstraps the new cluster (true) or joins it (false). */
  readonly bootstrap?: boolean;
  /** Recorded in the machine's restore history (backups from before it are not on the cluster's history any more). */
  readonly restore: ClusterRestore;
}

export interface BuildResult {
  readonly gtidState: string;
  readonly message: string;
}

export interface RestoreMachines {
  /** Refuses a cluster that is not running (CLUSTER_NOT_RUNNING) or that this runtime cannot restore into. */
  preflight(): Promise<void>;
  /** The node whose machine builds the restored datadir from the base backup and the archive. */
  buildNode(restored: string): string;
  /** The automatic failover's mode; with `set`, changed first. */
  autoMode(set?: { readonly state: 'on' | 'paused'; readonly why?: string }): Promise<'on' | 'off' | 'paused'>;
  /** A fresh backup of the cluster as it is (`hastack backup`). */
  backup(signal?: AbortSignal): Promise<{ readonly id: string; readonly gtid: string }>;
  /** The base backup and the archived transactions a restore to `stop` uses, planned where the build runs. */
  plan(stop: StopAt): Promise<{ readonly base: string; readonly gtid: string; readonly applied: number }>;
  /** The newest transaction in the binlog archive, where the build reads it. */
  lastArchived(): Promise<Gtid | undefined>;
  /** The restored datadir built into `<svc.dir>/restore-<id>/data` on `svc`'s machine (svc: the build node's mariadb). */
  build(svc: ServiceInstance, id: string, stop: StopAt, onLine: (line: string) => void, signal?: AbortSignal): Promise<BuildResult>;
  /** Nodes on other machines than the build's get a copy of the built datadir; bytes copied (0: nothing to copy). */
  copyBuilt(from: ServiceInstance, to: ServiceInstance, id: string): Promise<number>;
  /** Whether `svc`'s machine receives a copy of the built datadir (false: a replica provisions itself from the restored primary). */
  needsCopy(from: ServiceInstance, to: ServiceInstance): boolean;
  /** Stops the units, and keeps them stopped until `startDb`. */
  stopDb(svcs: readonly ServiceInstance[]): Promise<void>;
  /** Starts one database and resolves once it is healthy (a replica provisioned, a Galera node synced). */
  startDb(svc: ServiceInstance): Promise<void>;
  place(svc: ServiceInstance, id: string, p: Placement): Promise<void>;
  /** FLUSH_ALL on every memcached; what failed, by node. */
  flushCaches(): Promise<{ readonly flushed: number; readonly failed: readonly string[] }>;
  /** The set-aside datadir and any leftover build or copy of restore `id`, removed. */
  clean(svc: ServiceInstance, id: string): Promise<void>;
}

export const asideDir = (svc: ServiceInstance, id: string): string => `${mariadbPaths(svc).dataDir}.pre-restore-${id}`;
export const buildDir = (svc: ServiceInstance, id: string): string => path.join(svc.dir, `restore-${id}`);

/**
 * A node's swap on its own machine (this one): its datadir set aside, the built one in its place,
 * the role or bootstrap choice recorded, the restore in this machine's history. Idempotent: a
 * datadir already moved is not moved again.
 */
export function placeHere(topo: Topology, svc: ServiceInstance, id: string, p: Placement): void {
  const data = mariadbPaths(svc).dataDir;
  const built = path.join(buildDir(svc, id), 'data');
  if (p.built && !fs.existsSync(built) && !fs.existsSync(asideDir(svc, id)))
    throw new HastackError(ErrorCode.SETUP_FAILED, `${svc.id}: the restored datadir ${built} is missing; run the restore again (it is built again)`);
  if (fs.existsSync(data) && !fs.existsSync(asideDir(svc, id)) && (!p.built || fs.existsSync(built))) fs.renameSync(data, asideDir(svc, id));
  if (p.built && fs.existsSync(built)) fs.renameSync(built, data);
  fs.rmSync(buildDir(svc, id), { recursive: true, force: true });
  if (p.state) writeDbState(svc, p.state);
  if (p.bootstrap !== undefined) applyNodeBootstrapChoice(svc, p.bootstrap ? { bootstrap: true, reason: `restore ${id}` } : { bootstrap: false });
  recordRestore(topo.stateDir, p.restore);
}

/** Removes what restore `id` left beside a node's datadir on this machine. */
export function cleanHere(svc: ServiceInstance, id: string): void {
  fs.rmSync(asideDir(svc, id), { recursive: true, force: true });
  fs.rmSync(buildDir(svc, id), { recursive: true, force: true });
}

/** The build on this machine (restore-pitr.ts `into`): the base backup plus the archive replayed into a new datadir. */
export async function buildHere(
  env: Pick<FailoverEnv, 'topo' | 'secrets'>,
  svc: ServiceInstance,
  id: string,
  stop: StopAt,
  onLine: (line: string) => void,
  signal?: AbortSignal,
): Promise<BuildResult> {
  const r = await restoreToPoint({
    topo: env.topo,
    secrets: env.secrets,
    stop,
    lockWaitMs: LOCK_WAIT_MS,
    into: { dir: buildDir(svc, id), serverId: serverIdOf(env.topo, svc.node), appUser: DB_USERS.app },
    onEvent: (e) => onLine(e.message),
    ...(signal ? { signal } : {}),
  });
  if (!r.ok || r.gtidState === undefined) throw new HastackError(ErrorCode.SETUP_FAILED, `building the restored datadir failed: ${r.problems.join('; ')}`);
  return {
    gtidState: r.gtidState,
    message: `datadir at ${r.gtidState} from backup ${r.backup} plus ${r.applied} transactions (${r.tables.map((t) => `${t.name} ${t.rows}`).join(', ')})`,
  };
}

/** The base and replay count of a restore to `stop`, from this machine's copies (or the SSH targets'). */
export async function planHere(topo: Topology, stop: StopAt): Promise<{ base: string; gtid: string; applied: number }> {
  const p = await planPointInTimeAnywhere(topo, stop);
  return { base: p.base.id, gtid: p.base.manifest.gtid, applied: p.plan.applied };
}

export function lastArchivedHere(topo: Topology): Gtid | undefined {
  const t = buildTimeline(readArchive(topo, archiveKey(topo))).transactions.at(-1);
  return t ? { domain: t.domain, server: t.server, seq: t.seq } : undefined;
}

/** Flushes the memcached services of `topo` this process can reach; failures by service. */
export async function flushMemcached(services: readonly ServiceInstance[]): Promise<string[]> {
  const failed: string[] = [];
  for (const c of services) await memcachedFlushAll(c.address, c.port, 2_000).catch((e: unknown) => failed.push(`${c.id}: ${describeError(e)}`));
  return failed;
}

/** One supervisor on this machine owns every node's processes and files (`local`, `netns`). */
export function supervisedRestoreMachines(env: FailoverEnv): RestoreMachines {
  const { topo } = env;
  const stateDir = topo.stateDir;
  return {
    async preflight() {
      if (!supervisorAlive(substrateFor(topo), readRunState(stateDir)))
        throw new HastackError(ErrorCode.CLUSTER_NOT_RUNNING, `cluster ${topo.cluster} is not running: start it with "hastack up", then run the restore again`);
    },
    buildNode: (restored) => restored,
    async autoMode(set) {
      if (set) writeAutoMode(stateDir, { state: set.state, ...(set.why !== undefined ? { why: set.why } : {}), by: 'operator' });
      return readAutoMode(stateDir).state;
    },
    async backup(signal) {
      const r = await runBackup({ topo, secrets: env.secrets, trigger: 'manual', lockWaitMs: LOCK_WAIT_MS, ...(signal ? { signal } : {}) });
      return { id: r.manifest.id, gtid: r.manifest.gtid };
    },
    plan: (stop) => planHere(topo, stop),
    lastArchived: async () => lastArchivedHere(topo),
    build: (svc, id, stop, onLine, signal) => buildHere(env, svc, id, stop, onLine, signal),
    // One machine: a replica is provisioned from a mariabackup of the restored primary when it starts.
    needsCopy: () => false,
    copyBuilt: async () => 0,
    async stopDb(svcs) {
      await requestServiceControl(topo, { action: 'stop', services: svcs.map((s) => s.id) });
    },
    async startDb(svc) {
      // The supervisor's start call returns once the service is healthy (bounded by its health timeout).
      await requestServiceControl(topo, { action: 'start', services: [svc.id] });
    },
    place: async (svc, id, p) => placeHere(topo, svc, id, p),
    async flushCaches() {
      const caches = servicesOf(topo, 'memcached');
      const failed = await flushMemcached(caches);
      return { flushed: caches.length - failed.length, failed };
    },
    clean: async (svc, id) => cleanHere(svc, id),
  };
}
