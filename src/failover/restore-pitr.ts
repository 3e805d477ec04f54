import { spawn } from 'node:child_process';
import type { RowDataPacket } from 'mysql2/promise';
import fs from 'node:fs';
import path from 'node:path';
import type { Secrets, Topology } from '../config/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { appendEvent, type ClusterEvent } from '../shared/events.js';
import { tailFile } from '../shared/files.js';
import { checkFiles } from './backup-manifest.js';
import type { BackupKey } from './backup-crypt.js';
import { keyForBackup, unsealTree } from './backup-seal.js';
import { statsOf, tableNames } from './backup-db.js';
import { acquireLockWaiting, backupsDir, listBackups, releaseLock, removeLeftovers, type StoredBackup } from './backup-store.js';
import { startSqlThreadAfterCrash } from './backup.js';
import { buildTimeline, planReplay, readArchive, type ArchivedTransaction, type ReplayPlan, type StopAt, type Timeline } from './binlog-archive-store.js';
import { formatGtid, parseGtidList } from './binlog-parse.js';
import { archiveKey, plainCopy } from './binlog-archive-seal.js';
import { onCurrentHistory, readRestores, type ClusterRestore } from './restore-history.js';
import { startScratch, type Scratch } from './restore-scratch.js';
import { fetchBackup, fetchDir, fetchSshArchives, listEveryBackup, preferLocal } from './restore-fetch.js';
import { sshTargets } from './backup-targets.js';

/*
 * `hastack restore --to-time T | --to-gtid G [--verify]`: point-in-time recovery into a scratch
 * server. The base is the newest backup whose GTID is at or before the target; the archived
 * binlogs (binlog-archive-store.ts) are replayed on it with `mariadb-binlog --start-position
 * --stop-position` byte ranges of whole transactions, piped into the `mariadb` client over the
 * scratch server's socket (root's password in a 0600 defaults file, never in argv).
 *
 * --to-time T includes every transaction whose binlog timestamp is at or before T (seconds; the
 * binlog timestamps are the statements' start times, within the second of the commit), and none
 * after: replay stops at the first later one, as `--stop-datetime` would.
 */

export interface PitrOptions {
  readonly topo: Topology;
  readonly secrets: Secrets;
  readonly stop: StopAt;
  readonly signal?: AbortSignal;
  readonly onEvent?: (e: ClusterEvent) => void;
  readonly lockWaitMs?: number;
  /** Leave the scratch server running for inspection (the caller or operator stops it by pid). */
  readonly keep?: boolean;
  /**
   * Build a datadir for the cluster instead (`restore --into-cluster`, src/control/restore-cluster.ts):
   * in `dir/data`, with binlog on as `serverId`, the GTID state set to the restored position, the
   * app's account locked (opened once replicas are rebuilt), and the server shut down cleanly.
   */
  readonly into?: { readonly dir: string; readonly serverId: number; readonly appUser: string };
}

export interface PitrReport {
  readonly ok: boolean;
  readonly backup: string;
  readonly baseGtid: string;
  /** The last transaction replayed (absent: the backup alone was the target). */
  readonly restoredTo?: { readonly gtid: string; readonly time: string };
  readonly newestArchived?: { readonly gtid: string; readonly time: string };
  readonly applied: number;
  readonly tables: readonly { readonly name: string; readonly rows: number }[];
  readonly problems: readonly string[];
  /** What the operator should know though the restore worked (a target past the archive's end, transactions lost in a failover). */
  readonly notes: readonly string[];
  readonly durationMs: number;
  /** With `into`: the GTID state of the built datadir. */
  readonly gtidState?: string;
  /** With `keep`: the running scratch server. */
  readonly scratch?: { readonly pid: number; readonly socket: string; readonly address: string; readonly port: number; readonly dir: string };
}

// One mariadb-binlog | mariadb run replays a range of one file (at most max_binlog_size, 64 MB):
// a minute or two here; 30 min bounds a slow disk without letting a wedged replay hang forever.
const REPLAY_TIMEOUT_MS = 30 * 60_000;

function seqOf(gtids: string, domain = 0): number {
  return parseGtidList(gtids).get(domain)?.seq ?? 0;
}

/** Pure: the newest backup whose GTID (domain 0) is at or before `targetSeq`, on the history since the last restore into the cluster. */
export function chooseBase(backups: readonly StoredBackup[], targetSeq: number, restores: readonly ClusterRestore[] = []): StoredBackup | undefined {
  return [...backups].reverse().find((b) => seqOf(b.manifest.gtid || '') <= targetSeq && onCurrentHistory(b.manifest, restores));
}

/** The GTID state after a restore: the base's position, each domain moved to the last replayed transaction. */
export function restoredState(baseGtid: string, last: ArchivedTransaction | undefined): string {
  const state = parseGtidList(baseGtid || '');
  if (last) state.set(last.domain, last);
  return [...state.values()].map(formatGtid).join(',');
}

/**
 * The finish of an `into` build: the datadir becomes a primary's at `state`. RESET MASTER then the
 * state, then a rotation and a purge, so that the first binlog file's Gtid_list names the state (a
 * new replica then knows the binlogs do not hold the whole history and is provisioned from a
 * mariabackup; the archiver starts its next segment there, which cuts the old history back to it).
 */
async function makePrimaryDatadir(scratch: Scratch, password: string, state: string, appUser: string): Promise<void> {
  const c = await scratch.connect(password);
  try {
    await c.query('SET sql_log_bin=0');
    // Writes come back only when the replicas are rebuilt (restore-cluster.ts opens the account).
    await c.query("ALTER USER IF EXISTS ?@'%' ACCOUNT LOCK", [appUser]);
    await c.query('RESET SLAVE ALL');
    await c.query('RESET MASTER');
    await c.query('SET GLOBAL gtid_binlog_state = ?', [state]);
    await c.query('SET GLOBAL gtid_slave_pos = ?', [state]);
    await c.query('FLUSH BINARY LOGS');
    const [logs] = await c.query<RowDataPacket[]>('SHOW BINARY LOGS');
    const newest = logs.at(-1)?.['Log_name'];
    if (typeof newest === 'string') await c.query('PURGE BINARY LOGS TO ?', [newest]);
  } finally {
    c.destroy();
  }
  await scratch.shutdown();
}

export function when(t: ArchivedTransaction): { gtid: string; time: string } {
  return { gtid: formatGtid(t), time: new Date(t.ts * 1000).toISOString().replace('.000Z', 'Z') };
}

/**
 * Replays a plan's byte ranges into a scratch server (root over its socket, the password in a 0600
 * client.cnf there); sealed files are decrypted into a 0700 directory beside it, removed after.
 */
export async function replayPlan(
  scratch: Scratch,
  plan: ReplayPlan,
  o: { readonly topo: Topology; readonly key: BackupKey | undefined; readonly rootPassword: string; readonly signal?: AbortSignal },
  onRun: (run: ReplayPlan['runs'][number], i: number) => void = () => undefined,
): Promise<void> {
  const cnf = path.join(scratch.dir, 'client.cnf');
  fs.writeFileSync(cnf, `[client]\nuser=root\npassword=${o.rootPassword}\nsocket=${scratch.socket}\n`, { mode: 0o600 });
  const logFile = path.join(o.topo.stateDir, 'backup.log');
  const plainDir = path.join(scratch.dir, 'binlogs-plain');
  try {
    for (const [i, run] of plan.runs.entries()) {
      onRun(run, i);
      await replayRun({ ...run, file: plainCopy(run.file, o.key, plainDir) }, cnf, logFile, o.signal);
    }
  } finally {
    fs.rmSync(plainDir, { recursive: true, force: true });
  }
}

/** `mariadb-binlog --start-position --stop-position FILE | mariadb` into the scratch server. */
function replayRun(run: { file: string; start: number; end: number }, clientCnf: string, logFile: string, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const log = fs.openSync(logFile, 'a');
    fs.writeSync(log, `--- ${new Date().toISOString()} replay ${run.file} ${run.start}..${run.end}\n`);
    // --no-defaults / --defaults-file: must be the first argument.
    const reader = spawn('mariadb-binlog', ['--no-defaults', `--start-position=${run.start}`, `--stop-position=${run.end}`, run.file], { stdio: ['ignore', 'pipe', log] });
    const client = spawn('mariadb', [`--defaults-file=${clientCnf}`, '--binary-mode'], { stdio: ['pipe', log, log] });
    fs.closeSync(log);
    if (reader.stdout && client.stdin) reader.stdout.pipe(client.stdin);
    const codes: Array<number | null> = [];
    let done = false;
    const finish = (e?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (e) {
        reader.kill('SIGKILL');
        client.kill('SIGKILL');
        reject(e);
      } else resolve();
    };
    const onAbort = (): void => finish(new HastackError(ErrorCode.INTERNAL, 'the restore was interrupted; run it again'));
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => finish(new HastackError(ErrorCode.TIMEOUT, `replaying ${run.file} did not finish within ${REPLAY_TIMEOUT_MS / 1000} s`)), REPLAY_TIMEOUT_MS);
    const exited = (code: number | null): void => {
      codes.push(code);
      if (code !== 0)
        finish(new HastackError(ErrorCode.SETUP_FAILED, `replaying ${run.file} (${run.start}..${run.end}) failed; last lines of ${logFile}:\n${tailFile(logFile, 12)}`));
      else if (codes.length === 2) finish();
    };
    reader.once('exit', exited);
    client.once('exit', exited);
    reader.once('error', (e) => finish(e));
    client.once('error', (e) => finish(e));
  });
}

export function describeStop(stop: StopAt): string {
  if (stop.kind === 'time') return `time ${new Date(stop.unixS * 1000).toISOString().replace('.000Z', 'Z')}`;
  if (stop.kind === 'gtid') return `GTID ${formatGtid(stop.gtid)}`;
  return 'the newest archived transaction';
}

/** Which backup and which archived transactions a restore to `stop` takes (reads the archive, changes nothing). */
export function planPointInTime(
  topo: Topology,
  stop: StopAt,
  fetched?: { readonly backups: readonly StoredBackup[]; readonly archiveRoots: readonly string[] },
): { key: ReturnType<typeof archiveKey>; timeline: Timeline; base: StoredBackup; plan: ReplayPlan } {
  // Sealed archive files are decrypted in memory to plan, and into a 0700 directory to replay.
  const key = archiveKey(topo);
  const timeline = buildTimeline(readArchive(topo, key, fetched?.archiveRoots));
  if (timeline.transactions.length === 0) {
    throw new HastackError(
      ErrorCode.NOT_FOUND,
      `cluster ${topo.cluster} has no archived binlog: set backup.binlogArchive: true (and restart with "hastack up"), then take a backup`,
    );
  }
  // The target as a GTID sequence number first, so that the base is the newest backup before it.
  const targetSeq =
    stop.kind === 'gtid' ? stop.gtid.seq : ((stop.kind === 'time' ? timeline.transactions.filter((t) => t.ts <= stop.unixS) : timeline.transactions).at(-1)?.seq ?? 0);
  const base = chooseBase(fetched?.backups ?? listBackups(topo).backups, targetSeq, readRestores(topo.stateDir));
  if (!base)
    throw new HastackError(
      ErrorCode.NOT_FOUND,
      `no backup at or before ${describeStop(stop)}: point-in-time recovery starts from a base backup taken earlier ("hastack backup list")`,
    );
  const plan: ReplayPlan = planReplay(timeline, parseGtidList(base.manifest.gtid || ''), stop);
  return { key, timeline, base, plan };
}

type Planned = ReturnType<typeof planPointInTime>;

/**
 * What a point-in-time restore plans from, and the scratch directory (0700, the caller removes it)
 * when it fetched. Without SSH targets: this machine's copies. With them, `restore --verify`
 * fetches every SSH target's archive copy and lists their backups first (what survives losing both
 * database machines); `localFirst` (`into`: restore --into-cluster, the app's writes stopped
 * meanwhile) plans from this machine's copies and fetches only when they cannot serve (no base,
 * no archive, a gap: NOT_FOUND), so the usual case copies nothing. A copy on this machine is
 * preferred to the same backup on an SSH target (nothing to fetch).
 */
async function pitrSources(
  topo: Topology,
  stop: StopAt,
  o: { readonly localFirst: boolean; readonly logFile: string; readonly signal?: AbortSignal; readonly say: (m: string, step: string) => void },
): Promise<{ planned: Planned; remote?: string; failed: string[] }> {
  if (sshTargets(topo).length === 0) return { planned: planPointInTime(topo, stop), failed: [] };
  if (o.localFirst) {
    try {
      return { planned: planPointInTime(topo, stop), failed: [] };
    } catch (e) {
      if (!(e instanceof HastackError && e.code === ErrorCode.NOT_FOUND)) throw e;
      o.say(`this machine's copies do not serve (${describeError(e)}): fetching the SSH targets' archive and listing their backups`, 'fetch');
    }
  }
  const remote = fetchDir(topo, 'pitr');
  try {
    const archives = await fetchSshArchives(topo, remote, o.logFile, o.signal);
    const every = await listEveryBackup(topo);
    const planned = planPointInTime(topo, stop, { backups: preferLocal(every.backups), archiveRoots: archives.roots });
    return { planned, remote, failed: [...new Set([...archives.failed, ...every.failed])] };
  } catch (e) {
    fs.rmSync(remote, { recursive: true, force: true });
    throw e;
  }
}

/**
 * `planPointInTime` as `restore --into-cluster` builds it (this machine's copies first, the SSH
 * targets' when those do not serve): what src/control/restore-cluster.ts's plan step prints, so
 * the plan names the base its build step uses. Fetches (and removes) the archive copies only
 * when this machine's cannot serve.
 */
export async function planPointInTimeAnywhere(topo: Topology, stop: StopAt, signal?: AbortSignal): Promise<Planned> {
  const { planned, remote } = await pitrSources(topo, stop, {
    localFirst: true,
    logFile: path.join(topo.stateDir, 'backup.log'),
    say: () => undefined,
    ...(signal ? { signal } : {}),
  });
  if (remote) fs.rmSync(remote, { recursive: true, force: true });
  return planned;
}

export async function restoreToPoint(o: PitrOptions): Promise<PitrReport> {
  const { topo } = o;
  const t0 = Date.now();
  const say = (message: string, step: string): void => {
    o.onEvent?.(appendEvent(topo.stateDir, { type: 'step', message, data: { op: 'restore-pitr', step } }));
  };
  const logFile = path.join(topo.stateDir, 'backup.log');
  const sources = await pitrSources(topo, o.stop, { localFirst: o.into !== undefined, logFile, say, ...(o.signal ? { signal: o.signal } : {}) });
  const { planned, remote } = sources;
  const reached = sources.failed;
  const { key, timeline, plan } = planned;
  let base = planned.base;
  say(
    `restoring to ${describeStop(o.stop)}: backup ${base.id} (gtid ${base.manifest.gtid || '-'}) plus ${plan.applied} archived transactions in ${plan.runs.length} ranges`,
    'plan',
  );

  const problems: string[] = [];
  const notes: string[] = reached.map((f) => `backup target not reachable, not used: ${f}`);
  if (timeline.dropped.length > 0)
    notes.push(
      `${timeline.dropped.length} archived transactions (${timeline.dropped
        .map((t) => formatGtid(t))
        .slice(0, 5)
        .join(', ')}) were never on the next primary (lost in a failover): not replayed`,
    );
  const newest = timeline.transactions.at(-1);
  if (o.stop.kind === 'time' && newest && o.stop.unixS > newest.ts) {
    notes.push(
      `the target is after the newest archived transaction (${formatGtid(newest)}, ${when(newest).time}): the restore reaches that; anything the cluster committed later is not in the archive (is it streaming? "hastack status")`,
    );
  }
  const tables: { name: string; rows: number }[] = [];
  const { stale } = await acquireLockWaiting(topo, o.lockWaitMs ?? 0);
  let scratch: Scratch | undefined;
  let kept = false;
  let built = false;
  let gtidState: string | undefined;
  try {
    if (stale) {
      await startSqlThreadAfterCrash(topo, o.secrets, stale);
    }
    removeLeftovers(topo);
    if (base.sshTarget && remote) {
      // The base is on an SSH target only: fetched beside the archive's copy, then read as a local one.
      base = { ...base, dir: await fetchBackup(topo, base, path.join(remote, 'backups'), logFile, (m) => say(m, 'fetch'), o.signal) };
    }
    const bad = await checkFiles(base.dir, base.manifest);
    if (bad.length > 0) throw new HastackError(ErrorCode.SETUP_FAILED, `backup ${base.id} is broken: ${bad.join('; ')}`);
    const address = topo.nodes.find((n) => n.name === base.node)?.address ?? '127.0.0.1';
    // A dot-name: list and retention ignore it; a leftover of a killed run is removed by removeLeftovers.
    const dir = o.into?.dir ?? path.join(backupsDir(topo, base.node), `.verify-pitr-${process.pid}`);
    say(`starting a scratch MariaDB on backup ${base.id}`, 'scratch');
    fs.rmSync(dir, { recursive: true, force: true });
    // An encrypted backup is decrypted into the scratch datadir (a plain one is copied).
    const backupKey = keyForBackup(topo, base.manifest);
    scratch = await startScratch({
      preparedDir: path.join(base.dir, 'mariadb'),
      dir,
      address,
      signal: o.signal,
      fill: (d) => unsealTree(base.dir, base.id, backupKey, 'mariadb', d),
      ...(o.into ? { serverId: o.into.serverId } : {}),
    });
    await replayPlan(scratch, plan, { topo, key, rootPassword: o.secrets.dbRootPassword, ...(o.signal ? { signal: o.signal } : {}) }, (run, i) =>
      say(`replaying ${run.count} transactions of ${path.basename(path.dirname(run.file))}/${path.basename(run.file)} (${i + 1}/${plan.runs.length})`, 'replay'),
    );
    const c = await scratch.connect(o.secrets.dbRootPassword);
    try {
      const db = base.manifest.database.name;
      for (const name of await tableNames(c, db)) {
        try {
          tables.push({ name, rows: (await statsOf(c, db, name)).rows });
        } catch (e) {
          problems.push(`table ${db}.${name} cannot be read after the replay: ${describeError(e)}`);
        }
      }
    } finally {
      c.destroy();
    }
    if (o.into && problems.length === 0) {
      gtidState = restoredState(base.manifest.gtid, plan.last);
      say(`making it a primary's datadir at ${gtidState}`, 'finish');
      await makePrimaryDatadir(scratch, o.secrets.dbRootPassword, gtidState, o.into.appUser);
      built = true;
    }
    kept = o.keep === true;
    if (kept) scratch.release();
  } catch (e) {
    problems.push(describeError(e));
  } finally {
    if (!kept && !built) await scratch?.stop();
    if (remote) fs.rmSync(remote, { recursive: true, force: true });
    releaseLock(topo);
  }
  const report: PitrReport = {
    ok: problems.length === 0,
    backup: base.id,
    baseGtid: base.manifest.gtid,
    ...(plan.last ? { restoredTo: when(plan.last) } : {}),
    ...(plan.newest ? { newestArchived: when(plan.newest) } : {}),
    applied: plan.applied,
    tables,
    problems,
    notes,
    durationMs: Date.now() - t0,
    ...(built && gtidState ? { gtidState } : {}),
    ...(kept && scratch ? { scratch: { pid: scratch.pid, socket: scratch.socket, address: scratch.address, port: scratch.port, dir: scratch.dir } } : {}),
  };
  say(
    report.ok
      ? `restored to ${report.restoredTo?.gtid ?? report.baseGtid} (${report.restoredTo?.time ?? 'the backup'})`
      : `restore to ${describeStop(o.stop)} FAILED: ${problems.join('; ')}`,
    report.ok ? 'restored' : 'failed',
  );
  return report;
}
