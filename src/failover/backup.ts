import fs from 'node:fs';
import path from 'node:path';
import type { Connection } from 'mysql2/promise';
import { servicesOf, type Secrets, type ServiceInstance, type Topology } from '../config/index.js';
import { DB_USERS, mariadbPaths, remoteAdminOptions } from '../engines/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { appendEvent, type ClusterEvent } from '../shared/events.js';
import { writeFileAtomic, writeJsonAtomic } from '../shared/files.js';
import { redisSnapshot, redisView } from './backup-redis.js';
import { connect, galeraSynced, query, tableStats, viewNode, type DbNodeView } from './backup-db.js';
import { MANIFEST_FILE, MANIFEST_FORMAT, backupIdAt, describeFiles, formatBytes, parseBinlogInfo, totalBytes, type BackupManifest, type TableStats } from './backup-manifest.js';
import { chooseSource, chooseTarget } from './backup-plan.js';
import { backupsToRemove, verificationOf, type RetentionCandidate } from './backup-retention.js';
import { acquireLockWaiting, backupsDir, listBackups, readLock, releaseLock, removeLeftovers, updateLock, type BackupLock } from './backup-store.js';
import { runTool, toolVersion } from './backup-tools.js';
import { beginRemote, type RemoteTarget } from './backup-remote.js';
import { deliver, incomingDirOf } from './backup-deliver.js';
import { beginSsh } from './backup-ssh-store.js';
import { describeEndpoint, ensureBackupIdentity, sshConn } from './backup-ssh.js';
import { currentBackupKey, encryptionOf, seal } from './backup-seal.js';
import { configuredTargets, nodeTarget, type BackupTarget } from './backup-targets.js';
import type { PlanStep } from './plan-view.js';

/*
 * `hastack backup`: mariabackup of a replica (its SQL thread held still, so the table statistics
 * recorded in the manifest are exactly what the backup holds), prepared at once, plus an RDB
 * snapshot of a Redis replica, a manifest with the sha256 of every file, copied with rsync into
 * the target node's backup directory and renamed into place only once the copy checked out.
 * Among hosts it runs on the source's machine and, when the target is another machine, copies
 * over SSH (backup-remote.ts; the target's side is backup-receive.ts).
 *
 * Prepared at backup time, not at restore time: a restore at 3 a.m. then only copies a startable
 * datadir, and a backup that cannot be prepared fails now, loudly, instead of on the day it is
 * needed. The cost, no incremental backups on top of it, does not apply: every backup is full.
 */

export interface BackupOptions {
  readonly topo: Topology;
  readonly secrets: Secrets;
  /** `--to NODE`: overrides backup.target and the default. */
  readonly to?: string;
  readonly trigger: 'manual' | 'schedule';
  readonly signal?: AbortSignal;
  readonly onEvent?: (e: ClusterEvent) => void;
  /** How long to wait for a backup or verification already running (0: fail at once, as the scheduler does). */
  readonly lockWaitMs?: number;
  /** On `substrate: hosts`: the machine this runs on. Absent: every node's files are on this machine (local, netns). */
  readonly machine?: BackupMachine;
}

/**
 * The machine a backup runs on, among real hosts: mariabackup reads the source's datadir and the
 * RDB is read from Redis's directory, so only this machine's nodes are read from disk; a target
 * elsewhere is reached over SSH (backup-remote.ts).
 */
export interface BackupMachine {
  /** The nodes whose address is this machine's. */
  readonly nodes: readonly string[];
  /** How to reach another node for the copy. */
  remote(node: string): RemoteTarget;
}

/**
 * An operator's command waits this long for a running backup (the scheduler's, say) to finish:
 * longer than a backup of a few GB takes here, short enough to notice a wedged one.
 */
export const LOCK_WAIT_MS = 10 * 60_000;

export interface BackupPlan {
  readonly id: string;
  readonly source: DbNodeView;
  readonly primary?: string;
  readonly redis: { readonly svc: ServiceInstance; readonly role: string } | null;
  readonly target: string;
  readonly stagingDir: string;
  readonly incomingDir: string;
  readonly finalDir: string;
  readonly keep: number;
  /** The target is another machine (hosts): the copy goes over SSH with the backup key. */
  readonly remote: boolean;
  /** Every target, the first being `target` above (`backup.targets`; else that one node). */
  readonly targets: readonly BackupTarget[];
  /** Set when backup.keyFile is: the files are encrypted before they leave this machine. */
  readonly encrypted: boolean;
  /** The facts the plan is based on, for `--dry-run`. */
  readonly facts: {
    readonly db: readonly string[];
    readonly redis: readonly string[];
    /** Complete backups on the target now. */
    readonly onTarget: readonly RetentionCandidate[];
  };
}

export interface BackupResult {
  readonly manifest: BackupManifest;
  readonly dir: string;
  readonly removed: readonly string[];
  readonly totalMs: number;
}

// mariabackup copies at disk speed (~100 MB in seconds here); 30 min bounds a large datadir on a
// slow disk without letting a wedged run hold the backup lock forever.
const MARIABACKUP_TIMEOUT_MS = 30 * 60_000;
// rsync of the same data on one machine or a LAN: the same bound.
const RSYNC_TIMEOUT_MS = 30 * 60_000;
// STOP SLAVE SQL_THREAD waits for the transaction being applied; a busy replica finishes it in ms.
const SQL_STOP_TIMEOUT_MS = 60_000;

function backupLog(topo: Topology): string {
  return path.join(topo.stateDir, 'backup.log');
}

function emitter(o: BackupOptions, id: string): (message: string, step: string, data?: Record<string, unknown>) => void {
  return (message, step, data) => {
    const e = appendEvent(o.topo.stateDir, { type: 'step', message, data: { op: 'backup', id, step, ...data } });
    o.onEvent?.(e);
  };
}

/** Asks the nodes who is what and decides source, target and paths. Reads only; `--dry-run` prints it. */
export async function planBackup(topo: Topology, secrets: Secrets, to?: string, now = new Date(), localNodes?: readonly string[]): Promise<BackupPlan> {
  const views: DbNodeView[] = [];
  const galera = topo.config.database.mode === 'galera';
  // Galera: every node takes writes; a synced one holds every write set, and the last one in the
  // config is the one the app's writer (the first healthy node) uses least.
  for (const svc of galera ? [...servicesOf(topo, 'mariadb')].reverse() : servicesOf(topo, 'mariadb')) {
    try {
      views.push(galera ? { svc, role: 'galera', replicating: await galeraSynced(secrets, svc) } : await viewNode(secrets, svc));
    } catch {
      // not answering: not a candidate
    }
  }
  const chosen = chooseSource(views.map((v) => ({ node: v.svc.node, role: v.role, replicating: v.replicating })));
  const source = views.find((v) => v.svc.node === chosen.node) as DbNodeView;
  const primary = views.find((v) => v.role === 'primary')?.svc.node;
  const configured = to === undefined ? configuredTargets(topo) : undefined;
  const target =
    configured?.[0]?.name ??
    chooseTarget({
      to,
      configured: topo.config.backup.target,
      nodes: topo.nodes.map((n) => n.name),
      dbNodes: servicesOf(topo, 'mariadb').map((s) => s.node),
      primary,
      source: source.svc.node,
    });
  const targets = configured ?? [nodeTarget(topo, target)];
  const redis = await redisView(topo, secrets);
  // A replica with its link up, else the master: BGSAVE forks, and a fork of the master doubles
  // its memory under write load.
  // Among hosts, one on this machine first: its RDB is read from disk, another's is streamed (redis-cli --rdb).
  const near = (x: { svc: ServiceInstance }): number => (localNodes === undefined || localNodes.includes(x.svc.node) ? 0 : 1);
  const byNear = [...redis].sort((a, b) => near(a) - near(b));
  const r = byNear.find((x) => x.role.role === 'replica' && x.role.linkUp) ?? byNear.find((x) => x.role.role === 'master');
  const id = backupIdAt(now);
  const answered = new Set(views.map((v) => v.svc.id));
  const db = [
    ...views.map(
      (v) => `${v.svc.id}: ${v.role}${v.role === 'primary' ? '' : v.replicating ? (galera ? ', synced' : ', replicating') : galera ? ', NOT synced' : ', NOT replicating'}`,
    ),
    ...servicesOf(topo, 'mariadb')
      .filter((s) => !answered.has(s.id))
      .map((s) => `${s.id}: does not answer`),
  ];
  return {
    id,
    source,
    primary,
    redis: r ? { svc: r.svc, role: r.role.role } : null,
    target,
    stagingDir: path.join(backupsDir(topo, source.svc.node), `.staging-${id}`),
    incomingDir: incomingDirOf(targets[0] as BackupTarget, id),
    finalDir: path.join((targets[0] as BackupTarget).root, id),
    keep: (targets[0] as BackupTarget).keep,
    remote: targets[0]?.kind === 'node' && localNodes !== undefined && !localNodes.includes(target),
    targets,
    encrypted: topo.config.backup.keyFile !== undefined,
    facts: {
      db,
      redis: redis.map((x) => `${x.svc.id}: ${x.role.role}${x.role.role === 'replica' ? (x.role.linkUp ? ', link up' : ', link down') : ''}`),
      onTarget: listBackups(topo)
        .backups.filter((b) => b.node === target && path.dirname(b.dir) === targets[0]?.root)
        .map((b) => ({ id: b.id, verification: verificationOf(b.verification) })),
    },
  };
}

/** What the backup would remove by retention on its first target once it is complete. Pure. */
export function backupWouldRemove(p: BackupPlan): string[] {
  return backupsToRemove([...p.facts.onTarget, { id: p.id, verification: 'unverified' }], p.keep, p.id);
}

/** The backup's steps, in order, as `--dry-run` numbers them. Pure. */
export function backupSteps(p: BackupPlan): PlanStep[] {
  return [
    {
      step: 'database',
      does: `database: mariabackup --backup of ${p.source.svc.id} (${p.source.role}${p.source.role === 'replica' ? ', SQL thread held still during the copy; the primary is not blocked' : ', no replicating replica: the primary itself'})`,
    },
    { step: 'prepare', does: `mariabackup --prepare (the backup becomes a startable datadir)` },
    { step: 'redis', does: `redis: ${p.redis ? `BGSAVE on ${p.redis.svc.id} (${p.redis.role}), copy its RDB` : 'no Redis node answers: the backup will have no Redis data'}` },
    {
      step: 'manifest',
      does: p.encrypted
        ? `every file encrypted (AES-256-GCM, backup.keyFile); manifest: GTID, table row counts and CHECKSUM TABLE, sha256 of every encrypted file`
        : `manifest: GTID, table row counts and CHECKSUM TABLE, sha256 of every file (NOT encrypted: backup.keyFile is unset)`,
    },
    {
      step: 'copy',
      does: p.targets[0]?.ssh
        ? `rsync -a --checksum over SSH (the backup key) → ${p.target} ${describeEndpoint(p.targets[0].ssh)}:${p.incomingDir}/ (3 tries, each resuming), sha256sum of every file there, rename to ${p.finalDir}`
        : p.remote
          ? `rsync -a --checksum over SSH (the backup key) → ${p.target}:${p.incomingDir}/ (3 tries, each resuming), ${p.target} checks every sha256 and renames to ${p.finalDir}`
          : `rsync -a --checksum ${p.stagingDir}/ → ${p.incomingDir}/, check every sha256, rename to ${p.finalDir}`,
    },
    {
      step: 'retention',
      does: `retention: keep ${p.keep} backup(s) on ${p.target}, the newest verified one always, failed and unverified ones pruned first; would remove: ${backupWouldRemove(p).join(', ') || 'none'}`,
    },
  ];
}

export function describePlan(p: BackupPlan): string[] {
  return [
    `backup ${p.id}`,
    ...backupSteps(p).map((s, i) => `  ${i + 1}. ${s.does}`),
    'facts:',
    ...p.facts.db.map((f) => `  ${f}`),
    ...p.facts.redis.map((f) => `  ${f}`),
    p.remote
      ? `  ${p.target} is another machine: its backups are listed there ("hastack backup list" on it)`
      : `  ${p.facts.onTarget.length} complete backup(s) on ${p.target} now`,
    ...p.targets.slice(1).map((t) => `  also to ${t.name} (${targetKind(t)}): the same copy, check and rename; keep ${t.keep} there`),
  ];
}

function targetKind(t: BackupTarget): string {
  if (t.kind === 'dir') return `directory ${t.root}`;
  return t.ssh ? `over SSH ${describeEndpoint(t.ssh)}:${t.root}, sha256sum there` : 'node';
}

/**
 * Undoes what an interrupted backup left behind: a replica whose SQL thread it had stopped.
 * Returns what it did, for the event log.
 */
export async function startSqlThreadAfterCrash(topo: Topology, secrets: Secrets, stale: BackupLock): Promise<string | undefined> {
  if (!stale.sqlStoppedOn) return undefined;
  const svc = topo.services.find((s) => s.id === stale.sqlStoppedOn);
  if (!svc) return undefined;
  await startSqlThread(secrets, svc);
  return `an interrupted backup (pid ${stale.pid}) had stopped the SQL thread of ${svc.id}: restarted it`;
}

async function startSqlThread(secrets: Secrets, svc: ServiceInstance): Promise<void> {
  const c = await connect(remoteAdminOptions(secrets, svc), `mariadb ${svc.id}`);
  try {
    const [s] = await query(c, 'SHOW SLAVE STATUS');
    // Only a thread stopped without an error: one stopped on an error needs a human, not a restart.
    if (s && s['Slave_SQL_Running'] !== 'Yes' && Number(s['Last_SQL_Errno'] ?? 0) === 0) await query(c, 'START SLAVE SQL_THREAD');
  } finally {
    c.destroy();
  }
}

async function appliedGtid(c: Connection): Promise<string> {
  return String((await query(c, 'SELECT @@gtid_slave_pos AS p'))[0]?.['p'] ?? '');
}

/**
 * For the failover runbook: a replica held still by a running backup (SQL thread stopped) would
 * never finish applying its relay log. Restarts that SQL thread; the backup notices and records
 * its statistics as indicative. Returns the service it released, if any.
 */
export async function releaseBackupHold(topo: Topology, secrets: Secrets): Promise<string | undefined> {
  const held = readLock(topo)?.sqlStoppedOn;
  const svc = held ? topo.services.find((s) => s.id === held) : undefined;
  if (!svc) return undefined;
  await startSqlThread(secrets, svc);
  return svc.id;
}

/** Option file for mariabackup: the node's my.cnf plus the admin account (0600, never copied). */
function writeMariabackupCnf(file: string, svc: ServiceInstance, secrets: Secrets): void {
  const text = [
    `!include ${mariadbPaths(svc).conf}`,
    '[mariabackup]',
    `user=${DB_USERS.admin}`,
    `password=${secrets.dbRootPassword}`,
    `host=${svc.address}`,
    `port=${svc.port}`,
    '',
  ].join('\n');
  writeFileAtomic(file, text, 0o600);
}

/**
 * Takes one backup. Safe to re-run after an interruption: leftovers are removed first, a replica
 * left with its SQL thread stopped is restarted, and nothing becomes a backup before the final rename.
 */
export async function runBackup(o: BackupOptions): Promise<BackupResult> {
  const { topo, secrets } = o;
  const t0 = Date.now();
  const startedAt = new Date();
  const say = emitter(o, backupIdAt(startedAt));
  const { stale } = await acquireLockWaiting(topo, o.lockWaitMs ?? 0, (h) => say(`waiting for the backup or verification running since ${h.startedAt} (pid ${h.pid})`, 'wait'));
  let plan: BackupPlan | undefined;
  let sqlStopped: ServiceInstance | undefined;
  try {
    // First undo what an interrupted run left, then look at the cluster: a replica left with its
    // SQL thread stopped would otherwise not count as replicating and the primary would be used.
    if (stale) {
      const recovered = await startSqlThreadAfterCrash(topo, secrets, stale);
      if (recovered) say(recovered, 'recover');
    }
    for (const r of removeLeftovers(topo)) say(`removed the leftover of an interrupted run: ${r}`, 'cleanup');
    plan = await planBackup(topo, secrets, o.to, startedAt, o.machine?.nodes);
    if (o.machine && !o.machine.nodes.includes(plan.source.svc.node)) {
      throw new HastackError(
        ErrorCode.BAD_REQUEST,
        `the backup source now is ${plan.source.svc.id} (${plan.source.role}), on another machine than this one (${o.machine.nodes.join(', ') || 'no node of the cluster'}): mariabackup must read its datadir, so run "hastack backup" on ${plan.source.svc.node} (its backup timer does)`,
      );
    }
    const machine = o.machine;
    const remoteOf = (t: BackupTarget): RemoteTarget | undefined => (machine && t.kind === 'node' && !machine.nodes.includes(t.name) ? machine.remote(t.name) : undefined);
    const remote = remoteOf(plan.targets[0] as BackupTarget);
    if (plan.targets[0]?.kind !== 'ssh' && fs.existsSync(plan.finalDir))
      throw new HastackError(ErrorCode.CLUSTER_RUNNING, `backup ${plan.id} already exists on ${plan.target}; wait a second and run again`);
    // Read the key before a replica is held still: a missing key fails now, not after the copy.
    const key = currentBackupKey(
      topo,
      plan.targets.filter((t) => t.kind === 'dir').map((t) => t.root),
    );
    say(
      `backup ${plan.id}: from ${plan.source.svc.id} (${plan.source.role}) to ${plan.targets.map((t) => t.name).join(', ')}${remote ? ' (another machine: rsync over SSH)' : ''}`,
      'start',
      {
        source: plan.source.svc.node,
        target: plan.target,
        targets: plan.targets.map((t) => t.name),
        remote: remote !== undefined,
      },
    );
    if (!key) {
      say('backup.keyFile is unset: this backup is NOT encrypted; anyone who can read a target reads the data', 'plaintext', { warning: true });
    }
    if (plan.targets.some((t) => t.kind === 'ssh')) await ensureBackupIdentity(topo);
    // An SSH target that cannot take the backup (off-site machine down, host key changed) does not
    // cost the other targets their copy: it is left out, and the run fails at the end naming it.
    const notReady = new Map<string, string>();
    for (const t of plan.targets.filter((x) => x.kind === 'ssh')) {
      say(`${t.name}: reachable over SSH with the backup key, rsync and sha256sum there? (before anything is copied)`, 'target', { target: t.name });
      try {
        await beginSsh(sshConn(topo, t), t.root, plan.id);
      } catch (e) {
        if (plan.targets.length === 1) throw e;
        const why = `${e instanceof HastackError ? `${e.code}: ` : ''}${describeError(e)}`;
        notReady.set(t.name, why);
        say(`${t.name} will not receive backup ${plan.id}: ${why}`, 'target-failed', { target: t.name, warning: true });
      }
    }
    if (notReady.size === plan.targets.length) throw new HastackError(ErrorCode.SETUP_FAILED, `no backup target can take backup ${plan.id}: ${[...notReady.values()].join('; ')}`);
    for (const t of plan.targets) {
      const r = remoteOf(t);
      if (!r) continue;
      say(`${t.name}: reachable over SSH with the backup key? (before anything is copied)`, 'target', { target: t.name });
      await beginRemote(r, plan.id);
    }
    fs.mkdirSync(plan.stagingDir, { recursive: true, mode: 0o700 });
    const dbName = topo.config.database.name;
    const src = plan.source.svc;
    const log = backupLog(topo);

    // 1. Hold the replica still, record what it holds, copy it. (A Galera node is not held: it
    // applies every write set in turn, and the copy is consistent at its GTID all the same.)
    let stats: TableStats[] = [];
    let serverVersion = '';
    let exact = plan.source.role === 'replica';
    let heldAt = '';
    const conn: Connection = await connect(remoteAdminOptions(secrets, src), `mariadb ${src.id}`);
    try {
      serverVersion = String((await query(conn, 'SELECT VERSION() AS v'))[0]?.['v'] ?? '');
      if (exact) {
        updateLock(topo, { sqlStoppedOn: src.id });
        sqlStopped = src;
        await query(conn, 'STOP SLAVE SQL_THREAD', [], SQL_STOP_TIMEOUT_MS);
        say(`${src.id}: SQL thread stopped for the copy (the IO thread keeps acknowledging the primary)`, 'freeze');
        heldAt = await appliedGtid(conn);
        stats = await tableStats(conn, dbName);
      }
      const cnf = `${plan.stagingDir}.cnf`;
      writeMariabackupCnf(cnf, src, secrets);
      try {
        say(`mariabackup --backup of ${src.id}`, 'mariabackup');
        await runTool('mariabackup', [`--defaults-file=${cnf}`, '--backup', `--target-dir=${path.join(plan.stagingDir, 'mariadb')}`], {
          logFile: log,
          timeoutMs: MARIABACKUP_TIMEOUT_MS,
          signal: o.signal,
          what: `mariabackup --backup of ${src.id}`,
        });
      } finally {
        fs.rmSync(cnf, { force: true });
      }
      if (sqlStopped) {
        // Someone (the failover runbook, an operator) may have restarted the SQL thread meanwhile:
        // then the copy is still consistent, but the recorded stats are not the copy's.
        if ((await appliedGtid(conn)) !== heldAt) {
          exact = false;
          say(`${src.id}: the replica applied transactions during the copy (its SQL thread was restarted); row counts are recorded as indicative only`, 'freeze-lost', {
            warning: true,
          });
        }
        await query(conn, 'START SLAVE SQL_THREAD');
        sqlStopped = undefined;
        updateLock(topo, { sqlStoppedOn: undefined });
        say(`${src.id}: SQL thread running again`, 'unfreeze');
      }
      // On a primary, writes went on during the copy: the numbers are only indicative.
      if (!exact) stats = await tableStats(conn, dbName);
    } finally {
      await Promise.resolve(conn.end()).catch(() => conn.destroy());
    }

    // 2. Prepare now (see the header comment for why).
    say('mariabackup --prepare', 'prepare');
    await runTool('mariabackup', ['--prepare', `--target-dir=${path.join(plan.stagingDir, 'mariadb')}`], {
      logFile: log,
      timeoutMs: MARIABACKUP_TIMEOUT_MS,
      signal: o.signal,
      what: 'mariabackup --prepare',
    });
    let gtid = '';
    try {
      gtid = parseBinlogInfo(fs.readFileSync(path.join(plan.stagingDir, 'mariadb', 'xtrabackup_binlog_info'), 'utf8'));
    } catch {
      // no binlog info: the GTID stays empty and `backup list` shows '-'
    }

    // 3. Redis.
    let redisVersion = '';
    if (plan.redis) {
      say(`redis: BGSAVE on ${plan.redis.svc.id} (${plan.redis.role})`, 'redis');
      const fromDisk = o.machine === undefined || o.machine.nodes.includes(plan.redis.svc.node);
      redisVersion = await redisSnapshot(plan.redis, secrets, path.join(plan.stagingDir, 'redis'), fromDisk, log, o.signal);
    } else {
      say('redis: no Redis node answers; this backup has no Redis data', 'redis', { warning: true });
    }
    if (o.signal?.aborted) throw new HastackError(ErrorCode.INTERNAL, 'backup interrupted; nothing half-done is kept, run the command again');
    if (key) {
      say(`encrypting every file (AES-256-GCM, key ${key.id})`, 'encrypt', { keyId: key.id });
      await seal(plan.stagingDir, plan.id, key, [MANIFEST_FILE]);
    }

    // 4. Manifest.
    const files = await describeFiles(plan.stagingDir, [MANIFEST_FILE]);
    const finishedAt = new Date();
    const manifest: BackupManifest = {
      format: MANIFEST_FORMAT,
      id: plan.id,
      cluster: topo.cluster,
      trigger: o.trigger,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationMs: finishedAt.getTime() - startedAt.getTime(),
      source: { node: src.node, dbRole: plan.source.role, redisNode: plan.redis?.svc.node ?? null, redisRole: plan.redis?.role ?? null },
      target: { node: plan.target, dir: plan.finalDir },
      gtid,
      prepared: true,
      database: { name: dbName, statsExact: exact, tables: stats },
      tools: { mariabackup: toolVersion('mariabackup'), rsync: toolVersion('rsync'), mariadb: serverVersion, ...(redisVersion ? { redis: redisVersion } : {}) },
      files,
      totalBytes: totalBytes(files),
      ...(key ? { encryption: encryptionOf(key) } : {}),
    };
    writeJsonAtomic(path.join(plan.stagingDir, MANIFEST_FILE), manifest);
    say(`manifest: ${files.length} files, ${formatBytes(manifest.totalBytes)}, gtid ${gtid || '-'}, ${stats.length} table(s) of ${dbName}`, 'manifest', {
      bytes: manifest.totalBytes,
      gtid,
    });

    // 5. Copy with rsync, check at the destination, then the rename that makes it a backup;
    // 6. retention, only once the new backup is complete (on the target's machine when remote).
    // Every target, one after the other (the disk and the link are the bottleneck, not the CPU).
    const removed: string[] = [];
    const failed: string[] = [];
    const stagingDir = plan.stagingDir;
    for (const t of plan.targets) {
      const r = remoteOf(t);
      const skip = notReady.get(t.name);
      if (skip !== undefined) {
        failed.push(`${t.name}: ${skip}`);
        continue;
      }
      try {
        const done = await deliver(t, r, { topo, id: plan.id, stagingDir, manifest, logFile: log, timeoutMs: RSYNC_TIMEOUT_MS, signal: o.signal, say });
        say(`backup ${plan.id} complete on ${t.name}: ${done.dir}${r ? ' (copied over SSH, checked there against the manifest)' : ''}`, 'complete', {
          dir: done.dir,
          target: t.name,
          bytes: manifest.totalBytes,
          remote: r !== undefined,
        });
        for (const x of done.removed) {
          removed.push(x.id);
          say(`retention (keep ${t.keep}): removed backup ${x.id} (${x.verification === 'failed' ? 'failed verification' : x.verification}) from ${t.name}`, 'retention', {
            id: x.id,
            target: t.name,
            verification: x.verification,
          });
        }
      } catch (e) {
        if (o.signal?.aborted || plan.targets.length === 1) throw e;
        failed.push(`${t.name}: ${e instanceof HastackError ? `${e.code}: ` : ''}${describeError(e)}`);
        say(`backup ${plan.id} did not land on ${t.name}: ${describeError(e)}`, 'target-failed', { target: t.name, warning: true });
      }
    }
    if (failed.length > 0) {
      const landed = plan.targets.length - failed.length;
      throw new HastackError(
        ErrorCode.SETUP_FAILED,
        `backup ${plan.id} landed on ${landed} of ${plan.targets.length} targets; not on ${failed.join('; ')}. Fix that target and take another backup`,
      );
    }
    return { manifest, dir: plan.finalDir, removed, totalMs: Date.now() - t0 };
  } catch (e) {
    say(`backup ${plan?.id ?? backupIdAt(startedAt)} failed: ${describeError(e)}`, 'failed');
    throw e;
  } finally {
    if (sqlStopped) {
      await startSqlThread(secrets, sqlStopped).catch((e: unknown) =>
        say(`could not restart the SQL thread of ${sqlStopped?.id}: ${describeError(e)}; run START SLAVE SQL_THREAD on it`, 'unfreeze-failed'),
      );
    }
    if (plan) {
      fs.rmSync(plan.stagingDir, { recursive: true, force: true });
      fs.rmSync(`${plan.stagingDir}.cnf`, { force: true });
      // An SSH target's leftover is on its machine: copyToSsh removed it, or its next begin does.
      for (const t of plan.targets.filter((x) => x.kind !== 'ssh')) fs.rmSync(incomingDirOf(t, plan.id), { recursive: true, force: true });
    }
    releaseLock(topo);
  }
}
