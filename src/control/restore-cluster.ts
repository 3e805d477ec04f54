import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { servicesOf, type ServiceInstance, type Topology } from '../config/index.js';
import { DB_USERS, GALERA_WSREP_DOMAIN } from '../engines/index.js';
import { describeStop, gatherFacts, galeraState, galeraSynced, parseGtidList, stopWrites, withDb, type FailoverEnv, type StopAt } from '../failover/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { appendEvent } from '../shared/events.js';
import { readJsonState, writeJsonAtomic } from '../shared/files.js';
import { sleep, waitFor } from '../shared/retry.js';
import type { RestoreMachines } from './restore-machines.js';

/*
 * `hastack restore --into-cluster`: the cluster's database back at a point in time (replication or
 * Galera; on one machine under the supervisor, or on real hosts through their agents: the
 * machine-local work is behind `RestoreMachines`, restore-machines.ts). Each step is journaled in
 * `<stateDir>/restore-journal.json` and in the event log; a run that was interrupted is resumed by
 * running the same command again (the journal's plan wins over the new arguments). The steps:
 *   pause-auto   automatic failover paused (it would see the primary stop and promote a replica)
 *   pre-backup   a fresh backup of the cluster as it is (`backup list` shows it; nothing is lost by mistake)
 *   stop-writes  read_only on the primary, the app's sessions killed; with --latest, the archive
 *                waited for until it holds the primary's last transaction
 *   build        the base backup plus archived binlogs replayed into a new datadir (restore-pitr.ts
 *                `into`): GTID state set to the target, app account locked. On one machine beside the
 *                primary's; on hosts on the archive's machine (`archiveNodeOf`), where the backups
 *                and the archive are
 *   copy         hosts: the built datadir copied to every other database node's machine that needs it
 *                (a replica there cannot be provisioned from a mariabackup of a remote primary)
 *   stop-db      every MariaDB stopped (kept down until started below)
 *   swap         the primary's datadir set aside, the built one in its place; each replica's set
 *                aside (it is provisioned again) or, on hosts, replaced by its copy; the restore
 *                recorded (restore-history.ts) on every database node's machine
 *   start-primary, replicas   started one at a time: each replica is provisioned from a mariabackup
 *                of the restored primary (on hosts: starts on its copy, seeded at T) and attached
 *                with semi-sync
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
  'copy',
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
  /** The node whose machine builds the datadir (the primary's on one machine, the archive's on hosts). */
  readonly buildNode?: string;
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

const isGalera = (topo: Topology): boolean => topo.config.database.mode === 'galera';

/**
 * The nodes that receive a copy of the built datadir: on another machine than the build and in
 * need of it (Galera: only the bootstrapping node; the others join it by SST).
 */
function copyTargets(machines: RestoreMachines, galera: boolean, builder: ServiceInstance, restored: ServiceInstance, all: readonly ServiceInstance[]): ServiceInstance[] {
  return (galera ? [restored] : all).filter((s) => s.node !== builder.node && machines.needsCopy(builder, s));
}

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

async function plan(env: FailoverEnv, machines: RestoreMachines, stop: StopAt): Promise<{ journal: RestoreJournal; lines: string[] }> {
  const primary = await restoredNode(env);
  const dbs = servicesOf(env.topo, 'mariadb');
  const replicas = dbs.map((s) => s.node).filter((n) => n !== primary.node);
  const galera = isGalera(env.topo);
  const buildNode = machines.buildNode(primary.node);
  const p = await machines.plan(stop);
  const journal: RestoreJournal = {
    id: `rs-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`,
    startedAt: new Date().toISOString(),
    stop,
    primary: primary.node,
    replicas,
    buildNode,
    steps: {},
    runs: 0,
  };
  const from = mariadbOf(env.topo, buildNode);
  const copies = copyTargets(machines, galera, from, mariadbOf(env.topo, primary.node), dbs).map((s) => s.node);
  const rebuilt = galera
    ? `${replicas.join(', ') || 'no other node'} join${replicas.length === 1 ? 's' : ''} it by a full state transfer, one at a time`
    : replicas.length === 0
      ? 'there is no replica'
      : `${replicas.join(', ')} ${copies.length > 0 ? `${replicas.length === 1 ? 'gets' : 'get'} the same datadir and ${replicas.length === 1 ? 'replicates' : 'replicate'} from it` : `${replicas.length === 1 ? 'is' : 'are'} provisioned again from it`}`;
  const lines = [
    `restore cluster ${env.topo.cluster} to ${describeStop(stop)}`,
    `  base backup ${p.base} (gtid ${p.gtid || '-'}) plus ${p.applied} archived transactions` +
      (stop.kind === 'latest' ? ' (latest: every transaction archived once writes are stopped)' : ''),
    `  built on ${buildNode}'s machine${copies.length > 0 ? `, copied to ${copies.join(', ')}` : ''}`,
    galera
      ? `  ${primary.node} gets the restored datadir and bootstraps a new Galera cluster; ${rebuilt}`
      : `  the primary (${primary.node}) gets the restored datadir; ${rebuilt}`,
    `  writes are stopped${galera ? ' on every node' : ''} from the stop-writes step until open-writes (the app answers errors meanwhile)`,
    `  steps: ${RESTORE_STEPS.join(', ')}`,
  ];
  return { journal, lines };
}

export async function restoreIntoCluster(env: FailoverEnv, machines: RestoreMachines, o: RestoreIntoOptions): Promise<RestoreIntoResult> {
  const { topo } = env;
  const stateDir = topo.stateDir;
  await machines.preflight();
  const out = o.onProgress;
  const found = readRestoreJournal(stateDir);
  let j: RestoreJournal;
  let lines: string[];
  if (found && !found.finishedAt) {
    j = found;
    lines = [`resuming restore ${j.id} to ${describeStop(j.stop)} (primary ${j.primary}); done: ${Object.keys(j.steps).join(', ') || 'nothing yet'}`];
  } else ({ journal: j, lines } = await plan(env, machines, o.stop));
  if (o.printPlan !== false) for (const l of lines) out(l);
  if (o.dryRun) return { journal: j, dryRun: true, plan: lines };

  j = { ...j, runs: j.runs + 1 };
  writeJsonAtomic(restoreJournalFile(stateDir), j);
  const primary = mariadbOf(topo, j.primary);
  const replicas = j.replicas.map((n) => mariadbOf(topo, n));
  const all = [...replicas, primary];
  const builder = mariadbOf(topo, j.buildNode ?? j.primary);
  // Replication: a replica starts on a datadir of its own (built on its machine, or copied there).
  const hasCopy = (s: ServiceInstance): boolean => s.node === builder.node || machines.needsCopy(builder, s);
  const galera = isGalera(topo);
  const say = (message: string, step: string): void => {
    appendEvent(stateDir, { type: 'step', message: `restore ${j.id}: ${message}`, data: { op: 'restore-cluster', id: j.id, step } });
  };
  const impl: Record<RestoreStep, () => Promise<string>> = {
    'pause-auto': async () => {
      if (!topo.config.failover.auto || (await machines.autoMode()) !== 'on') return 'automatic failover is not on: nothing to pause';
      await machines.autoMode({ state: 'paused', why: `restore ${j.id}` });
      j = { ...j, pausedAuto: true };
      return 'automatic failover paused';
    },
    'pre-backup': async () => {
      const r = await machines.backup(o.signal);
      j = { ...j, preRestoreBackup: r.id };
      return `backup ${r.id} of the cluster as it was (gtid ${r.gtid})`;
    },
    'stop-writes': async () => {
      const { binlog, killed } = galera ? await stopWritesEverywhere(env, primary, replicas) : await withDb(env, primary, (c) => stopWrites(c, DB_USERS.app, false), 10_000);
      let note = '';
      if (j.stop.kind === 'latest') {
        const want = parseGtidList(binlog);
        const archived = await waitFor(
          async () => {
            const last = await machines.lastArchived();
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
      const r = await machines.build(builder, j.id, j.stop, (line) => out(`  ${line}`), o.signal);
      j = { ...j, gtidState: r.gtidState };
      return `${r.message}, on ${builder.node}'s machine`;
    },
    copy: async () => {
      const to = copyTargets(machines, galera, builder, primary, all);
      let bytes = 0;
      for (const s of to) {
        out(`  copying the restored datadir from ${builder.node} to ${s.node}`);
        bytes += await machines.copyBuilt(builder, s, j.id);
      }
      return to.length === 0
        ? 'nothing to copy (the replicas are provisioned from the restored primary)'
        : `${to.map((s) => s.node).join(', ')} got the restored datadir (${bytes} bytes)`;
    },
    'stop-db': async () => {
      await machines.stopDb(all);
      return `${all.map((s) => s.id).join(', ')} stopped`;
    },
    swap: async () => {
      const restore = { id: j.id, at: new Date().toISOString(), restoredTo: j.gtidState ?? '', ...(j.preRestoreBackup ? { preRestoreBackup: j.preRestoreBackup } : {}) };
      // Galera: the restored node alone starts a new cluster (--wsrep-new-cluster); the others join it.
      await machines.place(primary, j.id, { built: true, restore, ...(galera ? { bootstrap: true } : {}) });
      for (const r of replicas) {
        const copied = !galera && hasCopy(r);
        await machines.place(r, j.id, {
          built: copied,
          restore,
          ...(galera ? { bootstrap: false } : { state: { role: 'replica', wired: false, ...(copied && j.gtidState ? { seedGtid: j.gtidState } : {}) } }),
        });
      }
      const how = galera ? 'set aside (joining by SST)' : replicas.some(hasCopy) ? `on ${replicas.length === 1 ? 'its copy' : 'their copies'}` : 'set aside for provisioning';
      return `${primary.node} has the restored datadir; ${replicas.map((r) => r.node).join(', ') || 'no replica'} ${how}`;
    },
    'start-primary': async () => {
      await machines.startDb(primary);
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
        out(
          galera
            ? `  ${r.node} joins by a full state transfer from ${primary.node}`
            : hasCopy(r)
              ? `  ${r.node} starts on its copy and replicates from ${primary.node}`
              : `  provisioning ${r.node} from a mariabackup of ${primary.node}`,
        );
        await machines.startDb(r);
      }
      return `${replicas.map((r) => r.node).join(', ') || 'no replica'} ${galera ? 'joined and synced' : 'started and replicating'}`;
    },
    'open-writes': async () => {
      await withDb(env, primary, (c) => c.query("ALTER USER IF EXISTS ?@'%' ACCOUNT UNLOCK", [DB_USERS.app]), 30_000);
      return `the app writes to ${primary.node} again`;
    },
    caches: async () => {
      const { flushed, failed } = await machines.flushCaches();
      if (failed.length > 0) out(`  WARNING: ${failed.join('; ')} (a node that is down is flushed when it rejoins the ring)`);
      return `${flushed} of ${flushed + failed.length} memcached flushed`;
    },
    'resume-auto': async () => {
      if (!j.pausedAuto) return 'nothing to resume';
      await machines.autoMode({ state: 'on' });
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
      for (const s of all) await machines.clean(s, j.id);
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
