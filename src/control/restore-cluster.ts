import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { servicesOf, substrateTraits, type ServiceInstance, type Topology } from '../config/index.js';
import { applyNodeBootstrapChoice, DB_USERS, GALERA_WSREP_DOMAIN, mariadbPaths, memcachedFlushAll, serverIdOf, writeDbState } from '../engines/index.js';
import {
  archiveKey,
  buildTimeline,
  describeStop,
  gatherFacts,
  galeraState,
  galeraSynced,
  LOCK_WAIT_MS,
  parseGtidList,
  planPointInTimeAnywhere,
  readArchive,
  readAutoMode,
  recordRestore,
  restoreToPoint,
  runBackup,
  stopWrites,
  withDb,
  writeAutoMode,
  type FailoverEnv,
  type StopAt,
} from '../failover/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { appendEvent } from '../shared/events.js';
import { readJsonState, writeJsonAtomic } from '../shared/files.js';
import { sleep, waitFor } from '../shared/retry.js';
import { readRunState, substrateFor } from '../substrate/index.js';
import { requestServiceControl } from './admin-client.js';
import { supervisorAlive } from './cluster.js';

/*
 * `hastack restore --into-cluster`: the cluster's database back at a point in time (a supervised
 * cluster, replication or Galera). Each step is journaled in `<stateDir>/restore-journal.json` and in
 * the event log; a run that was interrupted is resumed by running the same command again (the
 * journal's plan wins over the new arguments). The steps:
 *   pause-auto   automatic failover paused (it would see the primary stop and promote a replica)
 *   pre-backup   a fresh backup of the cluster as it is (`backup list` shows it; nothing is lost by mistake)
 *   stop-writes  read_only on the primary, the app's sessions killed; with --latest, the archive
 *                waited for until it holds the primary's last transaction
 *   build        the base backup plus archived binlogs replayed into a new datadir beside the
 *                primary's (restore-pitr.ts `into`): GTID state set to the target, app account locked
 *   stop-db      every MariaDB stopped through the supervisor (kept down until started below)
 *   swap         the primary's datadir set aside, the built one in its place; each replica's set
 *                aside (it is provisioned again); the restore recorded (restore-history.ts)
 *   start-primary, replicas   started one at a time: each replica is provisioned from a mariabackup
 *                of the restored primary and attached with semi-sync
 *   open-writes  the app's account unlocked (binlogged: the replicas have it too)
 *   caches       every memcached flushed (it may hold pages of rows the restore took back)
 *   resume-auto, verify   the mode as it was; one writable primary, every replica replicating from it
 * The set-aside datadirs are removed at the end (the pre-restore backup holds the same data).
 * Galera: "the primary" is the node that bootstraps a new cluster from the restored datadir (the
 * first synced node); writes are stopped on every node (read_only, the app's sessions killed); the
 * other nodes' datadirs are set aside, so they join it by a full state transfer (SST), one at a
 * time; verify wants every node synced in one cluster of them all.
 */

export const RESTORE_STEPS = [
  'pause-auto',
  'pre-backup',
  'stop-writes',
  'build',
  'stop-db',
  'swap',
  'start-primary',
  'replicas',
  'open-writes',
  'caches',
  'resume-auto',
  'verify',
] as const;
export type RestoreStep = (typeof RESTORE_STEPS)[number];

export interface RestoreJournal {
  readonly id: string;
  readonly startedAt: string;
  readonly stop: StopAt;
  readonly primary: string;
  readonly replicas: readonly string[];
  readonly steps: Partial<Record<RestoreStep, { readonly doneAt: string; readonly message: string }>>;
  readonly preRestoreBackup?: string;
  readonly gtidState?: string;
  readonly pausedAuto?: boolean;
  readonly finishedAt?: string;
  readonly runs: number;
}

export interface RestoreIntoOptions {
  readonly stop: StopAt;
  readonly dryRun: boolean;
  readonly onProgress: (line: string) => void;
  readonly signal?: AbortSignal;
  /** false: the plan was printed already (the CLI's confirmation step). */
  readonly printPlan?: boolean;
}

export interface RestoreIntoResult {
  readonly journal: RestoreJournal;
  readonly dryRun: boolean;
  /** The plan's lines (what the dry run prints). */
  readonly plan: readonly string[];
}

// The archive streams within a second; 30 s of not reaching the primary's last transaction means
// it is not streaming, and "latest" would silently lose the newest orders.
const ARCHIVE_CATCH_UP_MS = 30_000;
// A replica provisioned from a mariabackup of a small database is up in seconds; the supervisor's
// start call bounds each one itself (health timeout).
const PRIMARY_UP_MS = 120_000;

function restoreJournalFile(stateDir: string): string {
  return path.join(stateDir, 'restore-journal.json');
}

function readRestoreJournal(stateDir: string): RestoreJournal | undefined {
  return readJsonState<RestoreJournal>(
    restoreJournalFile(stateDir),
    (v) => (typeof v === 'object' && v !== null && typeof (v as { id?: unknown }).id === 'string' ? undefined : 'not a restore journal'),
    'It records a restore into the cluster. Read it, check the cluster ("hastack status"), then move it aside to plan afresh',
  );
}

function mariadbOf(topo: Topology, node: string): ServiceInstance {
  const svc = servicesOf(topo, 'mariadb').find((s) => s.node === node);
  if (!svc) throw new HastackError(ErrorCode.INTERNAL, `no mariadb on node ${node}`);
  return svc;
}

const asideDir = (svc: ServiceInstance, id: string): string => `${mariadbPaths(svc).dataDir}.pre-restore-${id}`;
const buildDir = (svc: ServiceInstance, id: string): string => path.join(svc.dir, `restore-${id}`);

function preflight(env: FailoverEnv): void {
  const { topo } = env;
  if (substrateTraits(topo.config).nodesAreMachines)
    throw new HastackError(
      ErrorCode.USAGE,
      'restore --into-cluster runs on local and netns clusters for now; on hosts, restore --verify --keep and the runbook in src/failover/README.md',
    );
  if (!supervisorAlive(substrateFor(topo), readRunState(topo.stateDir)))
    throw new HastackError(ErrorCode.CLUSTER_NOT_RUNNING, `cluster ${topo.cluster} is not running: start it with "hastack up", then run the restore again`);
}

const isGalera = (topo: Topology): boolean => topo.config.database.mode === 'galera';

/** The node that gets the restored datadir: the one writable primary; Galera: the first synced node (it bootstraps). */
async function restoredNode(env: FailoverEnv): Promise<{ node: string }> {
  if (isGalera(env.topo)) {
    const dbs = servicesOf(env.topo, 'mariadb');
    const synced = await Promise.all(dbs.map((s) => galeraSynced(env.secrets, s).catch(() => false)));
    const first = dbs.find((_, i) => synced[i]);
    if (!first) throw new HastackError(ErrorCode.FAILOVER_REFUSED, 'restore refused: no Galera node is synced; recover the cluster first ("hastack db recover", "hastack status")');
    return first;
  }
  const facts = await gatherFacts(env);
  const primaries = facts.dbs.filter((d) => d.reachable && !d.readOnly && !d.replicating);
  const primary = primaries[0];
  if (primaries.length !== 1 || !primary)
    throw new HastackError(ErrorCode.FAILOVER_REFUSED, `restore refused: ${primaries.length} writable primaries answer; it needs exactly one ("hastack status")`);
  return primary;
}

/** Galera: writes stopped on every node that answers (each takes writes); the restored node's binlog position. */
async function stopWritesEverywhere(env: FailoverEnv, restored: ServiceInstance, others: readonly ServiceInstance[]): Promise<{ binlog: string; killed: number }> {
  let killed = 0;
  for (const s of others) {
    await withDb(env, s, (c) => stopWrites(c, DB_USERS.app, false), 10_000)
      .then((r) => (killed += r.killed))
      .catch(() => undefined); // a node that does not answer takes no writes
  }
  const r = await withDb(env, restored, (c) => stopWrites(c, DB_USERS.app, false), 10_000);
  // Only the write sets' domain is the cluster's (a node's own domain is not archived).
  const binlog = r.binlog
    .split(',')
    .filter((g) => g.trim().startsWith(`${GALERA_WSREP_DOMAIN}-`))
    .join(',');
  return { binlog, killed: killed + r.killed };
}

/** Galera's verify: every node synced, in one cluster of them all. */
async function galeraProblems(env: FailoverEnv, all: readonly ServiceInstance[]): Promise<string[]> {
  const bad: string[] = [];
  for (const s of all) {
    const { synced, size } = await galeraState(env.secrets, s).catch(() => ({ synced: false, size: 0 }));
    if (!synced || size !== all.length) bad.push(`${s.node} ${synced ? `in a cluster of ${size}, not ${all.length}` : 'not synced'}`);
  }
  return bad;
}

async function plan(env: FailoverEnv, stop: StopAt): Promise<{ journal: RestoreJournal; lines: string[] }> {
  const primary = await restoredNode(env);
  const replicas = servicesOf(env.topo, 'mariadb')
    .map((s) => s.node)
    .filter((n) => n !== primary.node);
  const galera = isGalera(env.topo);
  const p = await planPointInTimeAnywhere(env.topo, stop);
  const journal: RestoreJournal = {
    id: `rs-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`,
    startedAt: new Date().toISOString(),
    stop,
    primary: primary.node,
    replicas,
    steps: {},
    runs: 0,
  };
  const lines = [
    `restore cluster ${env.topo.cluster} to ${describeStop(stop)}`,
    `  base backup ${p.base.id} (gtid ${p.base.manifest.gtid || '-'}) plus ${p.plan.applied} archived transactions` +
      (stop.kind === 'latest' ? ' (latest: every transaction archived once writes are stopped)' : ''),
    galera
      ? `  ${primary.node} gets the restored datadir and bootstraps a new Galera cluster; ${replicas.join(', ') || 'no other node'} join${replicas.length === 1 ? 's' : ''} it by a full state transfer, one at a time`
      : `  the primary (${primary.node}) gets the restored datadir; ${replicas.length === 0 ? 'there is no replica' : `${replicas.join(', ')} ${replicas.length === 1 ? 'is' : 'are'} provisioned again from it`}`,
    `  writes are stopped${galera ? ' on every node' : ''} from the stop-writes step until open-writes (the app answers errors meanwhile)`,
    `  steps: ${RESTORE_STEPS.join(', ')}`,
  ];
  return { journal, lines };
}

export async function restoreIntoCluster(env: FailoverEnv, o: RestoreIntoOptions): Promise<RestoreIntoResult> {
  const { topo } = env;
  const stateDir = topo.stateDir;
  preflight(env);
  const out = o.onProgress;
  const found = readRestoreJournal(stateDir);
  let j: RestoreJournal;
  let lines: string[];
  if (found && !found.finishedAt) {
    j = found;
    lines = [`resuming restore ${j.id} to ${describeStop(j.stop)} (primary ${j.primary}); done: ${Object.keys(j.steps).join(', ') || 'nothing yet'}`];
  } else ({ journal: j, lines } = await plan(env, o.stop));
  if (o.printPlan !== false) for (const l of lines) out(l);
  if (o.dryRun) return { journal: j, dryRun: true, plan: lines };

  j = { ...j, runs: j.runs + 1 };
  writeJsonAtomic(restoreJournalFile(stateDir), j);
  const primary = mariadbOf(topo, j.primary);
  const replicas = j.replicas.map((n) => mariadbOf(topo, n));
  const all = [...replicas, primary];
  const galera = isGalera(topo);
  const say = (message: string, step: string): void => {
    appendEvent(stateDir, { type: 'step', message: `restore ${j.id}: ${message}`, data: { op: 'restore-cluster', id: j.id, step } });
  };
  const impl: Record<RestoreStep, () => Promise<string>> = {
    'pause-auto': async () => {
      const m = readAutoMode(stateDir);
      if (!topo.config.failover.auto || m.state !== 'on') return 'automatic failover is not on: nothing to pause';
      writeAutoMode(stateDir, { state: 'paused', why: `restore ${j.id}`, by: 'operator' });
      j = { ...j, pausedAuto: true };
      return 'automatic failover paused';
    },
    'pre-backup': async () => {
      const r = await runBackup({ topo, secrets: env.secrets, trigger: 'manual', lockWaitMs: LOCK_WAIT_MS, ...(o.signal ? { signal: o.signal } : {}) });
      j = { ...j, preRestoreBackup: r.manifest.id };
      return `backup ${r.manifest.id} of the cluster as it was (gtid ${r.manifest.gtid})`;
    },
    'stop-writes': async () => {
      const { binlog, killed } = galera ? await stopWritesEverywhere(env, primary, replicas) : await withDb(env, primary, (c) => stopWrites(c, DB_USERS.app, false), 10_000);
      let note = '';
      if (j.stop.kind === 'latest') {
        const want = parseGtidList(binlog);
        const archived = await waitFor(
          async () => {
            const last = buildTimeline(readArchive(topo, archiveKey(topo))).transactions.at(-1);
            return [...want.values()].every((g) => last !== undefined && last.domain === g.domain && last.seq >= g.seq) ? last : undefined;
          },
          { timeoutMs: ARCHIVE_CATCH_UP_MS, intervalMs: 250 },
        );
        if (!archived)
          throw new HastackError(
            ErrorCode.TIMEOUT,
            `the binlog archive did not reach ${binlog} within ${ARCHIVE_CATCH_UP_MS / 1000} s ("hastack status" shows its line); writes stay stopped on ${primary.node}: run the restore again once it streams`,
          );
        j = { ...j, stop: { kind: 'gtid', gtid: archived } };
        note = `; the archive holds it: restoring to ${describeStop(j.stop)}`;
      }
      return `writes stopped on ${galera ? 'every node' : primary.node} at ${binlog} (${killed} app session(s) killed)${note}`;
    },
    build: async () => {
      const r = await restoreToPoint({
        topo,
        secrets: env.secrets,
        stop: j.stop,
        lockWaitMs: LOCK_WAIT_MS,
        into: { dir: buildDir(primary, j.id), serverId: serverIdOf(topo, primary.node), appUser: DB_USERS.app },
        onEvent: (e) => out(`  ${e.message}`),
        ...(o.signal ? { signal: o.signal } : {}),
      });
      if (!r.ok || r.gtidState === undefined) throw new HastackError(ErrorCode.SETUP_FAILED, `building the restored datadir failed: ${r.problems.join('; ')}`);
      j = { ...j, gtidState: r.gtidState };
      return `datadir at ${r.gtidState} from backup ${r.backup} plus ${r.applied} transactions (${r.tables.map((t) => `${t.name} ${t.rows}`).join(', ')})`;
    },
    'stop-db': async () => {
      await requestServiceControl(topo, { action: 'stop', services: all.map((s) => s.id) });
      return `${all.map((s) => s.id).join(', ')} stopped`;
    },
    swap: async () => {
      const built = path.join(buildDir(primary, j.id), 'data');
      const data = mariadbPaths(primary).dataDir;
      if (fs.existsSync(built)) {
        if (fs.existsSync(data)) fs.renameSync(data, asideDir(primary, j.id));
        fs.renameSync(built, data);
      }
      fs.rmSync(buildDir(primary, j.id), { recursive: true, force: true });
      for (const r of replicas) {
        if (fs.existsSync(mariadbPaths(r).dataDir)) fs.renameSync(mariadbPaths(r).dataDir, asideDir(r, j.id));
        if (galera) applyNodeBootstrapChoice(r, { bootstrap: false });
        else writeDbState(r, { role: 'replica', wired: false });
      }
      // Galera: the restored node alone starts a new cluster (--wsrep-new-cluster); the others join it.
      if (galera) applyNodeBootstrapChoice(primary, { bootstrap: true, reason: `restore ${j.id}` });
      recordRestore(stateDir, { id: j.id, at: new Date().toISOString(), restoredTo: j.gtidState ?? '', ...(j.preRestoreBackup ? { preRestoreBackup: j.preRestoreBackup } : {}) });
      return `${primary.node} has the restored datadir; ${replicas.map((r) => r.node).join(', ') || 'no replica'} set aside for provisioning`;
    },
    'start-primary': async () => {
      await requestServiceControl(topo, { action: 'start', services: [primary.id] });
      const isUp = galera
        ? () => galeraSynced(env.secrets, primary).catch(() => false)
        : async () => (await gatherFacts(env)).dbs.some((d) => d.node === primary.node && d.reachable && !d.readOnly);
      const up = await waitFor(async () => ((await isUp()) ? true : undefined), {
        timeoutMs: PRIMARY_UP_MS,
        intervalMs: 500,
      });
      if (!up) throw new HastackError(ErrorCode.TIMEOUT, `${primary.node} did not come up as the primary; read "hastack logs ${primary.node} mariadb", then run the restore again`);
      return `${primary.node} is up at ${j.gtidState ?? '?'} (the app's account still locked)`;
    },
    replicas: async () => {
      for (const r of replicas) {
        out(galera ? `  ${r.node} joins by a full state transfer from ${primary.node}` : `  provisioning ${r.node} from a mariabackup of ${primary.node}`);
        await requestServiceControl(topo, { action: 'start', services: [r.id] });
      }
      return `${replicas.map((r) => r.node).join(', ') || 'no replica'} ${galera ? 'joined and synced' : 'provisioned and replicating'}`;
    },
    'open-writes': async () => {
      await withDb(env, primary, (c) => c.query("ALTER USER IF EXISTS ?@'%' ACCOUNT UNLOCK", [DB_USERS.app]), 30_000);
      return `the app writes to ${primary.node} again`;
    },
    caches: async () => {
      const caches = servicesOf(topo, 'memcached');
      const failed: string[] = [];
      for (const c of caches) await memcachedFlushAll(c.address, c.port, 2_000).catch((e: unknown) => failed.push(describeError(e)));
      if (failed.length > 0) out(`  WARNING: ${failed.join('; ')} (a node that is down is flushed when it rejoins the ring)`);
      return `${caches.length - failed.length} of ${caches.length} memcached flushed`;
    },
    'resume-auto': async () => {
      if (!j.pausedAuto) return 'nothing to resume';
      writeAutoMode(stateDir, { state: 'on', by: 'operator' });
      return 'automatic failover on again';
    },
    verify: async () => {
      const bad = galera
        ? await galeraProblems(env, all)
        : (await gatherFacts(env)).dbs
            .filter((d) =>
              d.node === primary.node ? !d.reachable || d.readOnly : !d.reachable || d.masterNode !== primary.node || d.ioThread !== 'running' || d.sqlThread !== 'running',
            )
            .map((d) => `${d.node} ${d.error ?? 'not as expected'}`);
      if (bad.length > 0) throw new HastackError(ErrorCode.PROMOTION_FAILED, `after the restore: ${bad.join('; ')}; see "hastack status"`);
      for (const s of all) fs.rmSync(asideDir(s, j.id), { recursive: true, force: true });
      const names = replicas.map((r) => r.node);
      if (galera) return `${[primary.node, ...names].join(', ')} synced in one Galera cluster; set-aside datadirs removed`;
      return `${primary.node} is the primary; ${names.length === 0 ? 'no replica' : `${names.join(', ')} ${names.length === 1 ? 'replicates' : 'replicate'} from it`}; set-aside datadirs removed`;
    },
  };
  const t0 = Date.now();
  for (const name of RESTORE_STEPS) {
    if (j.steps[name]) continue;
    out(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${name} ...`);
    let message: string;
    try {
      message = await impl[name]();
    } catch (e) {
      say(`${name} failed: ${describeError(e)}`, name);
      throw new HastackError(
        e instanceof HastackError ? e.code : ErrorCode.INTERNAL,
        `restore ${j.id}: ${name} failed: ${describeError(e)}. Run the same command again to resume here`,
        {
          cause: e,
        },
      );
    }
    j = { ...j, steps: { ...j.steps, [name]: { doneAt: new Date().toISOString(), message } } };
    writeJsonAtomic(restoreJournalFile(stateDir), j);
    say(message, name);
    out(`        ${message}`);
    if (o.signal?.aborted) throw new HastackError(ErrorCode.INTERNAL, `restore ${j.id} interrupted after ${name}; run the same command again to resume`);
    await sleep(0);
  }
  j = { ...j, finishedAt: new Date().toISOString() };
  writeJsonAtomic(restoreJournalFile(stateDir), j);
  say(`done: cluster ${topo.cluster} is at ${j.gtidState ?? '?'}; the backup from before is ${j.preRestoreBackup ?? '-'}`, 'done');
  return { journal: j, dryRun: false, plan: lines };
}
