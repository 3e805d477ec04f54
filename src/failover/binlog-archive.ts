import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Connection } from 'mysql2/promise';
import { archiveNodeOf, servicesOf, type Secrets, type ServiceInstance, type Topology } from '../config/index.js';
import { databaseTlsOn, DB_USERS, GALERA_WSREP_DOMAIN, nodeTlsFiles } from '../engines/index.js';
import { describeError } from '../shared/errors.js';
import { appendEvent } from '../shared/events.js';
import { writeJsonAtomic } from '../shared/files.js';
import { waitFor } from '../shared/retry.js';
import { connect, galeraSynced, query, viewNode } from './backup-db.js';
import { archiveDir, buildTimeline, lastByDomain, nextSegmentSeq, prunableSegments, readArchive, segmentName, SEGMENT_FILE, type SegmentMeta } from './binlog-archive-store.js';
import { listBackups } from './backup-store.js';
import { diesWithParent } from './backup-tools.js';
import { ENCRYPTED_SUFFIX, type BackupKey } from './backup-crypt.js';
import { archiveKey, binlogNameOf, copyToTargets, dropTails, pruneTargets, sealBinlogFile, sealLeftovers, shipTail, targetArchiveRoots } from './binlog-archive-seal.js';
import { SshArchiveShipper } from './binlog-archive-ssh.js';
import { sshTargets } from './backup-targets.js';
import { ensureBackupIdentity } from './backup-ssh.js';
import { formatGtid, parseBinlog, parseGtidList, type Gtid, type ParseResume } from './binlog-parse.js';

/**
 * Continuous binlog archiving (`backup.binlogArchive`), run by the supervisor beside the backup
 * scheduler: `mariadb-binlog --read-from-remote-server --raw --stop-never` from the current
 * primary into a new segment of the archive (binlog-archive-store.ts), as the replication account
 * (REPLICATION SLAVE only) whose password is in a 0600 defaults file, never in argv. Once a
 * second it checks that its source still is the primary; when the primary moved (switchover,
 * failover, failback) or the stream ended, it starts a new segment on whichever node is primary
 * now, from the newest binlog file there whose Gtid_list is at or before what is archived, so
 * nothing is skipped. When no such file exists (the new primary purged it) that is a gap: a
 * `binlog-archive.gap` event and `gap` in `binlog-archive.json` (status, dashboard), never silent.
 *
 * Every archived file goes through `sealArchivedFile` once complete (rotated past, or the stream
 * ended): sealed with backup.keyFile when set and copied to every directory target
 * (binlog-archive-seal.ts), and to every SSH target in the background (binlog-archive-ssh.ts);
 * the file being streamed stays plaintext in the 0700 archive directory.
 */

export const ARCHIVE_STATUS_FILE = 'binlog-archive.json';
// Distinct from every node's server_id (1-based positions) and the restore scratch (4000000000):
// the primary kills a dump thread whose server_id another connection presents.
const ARCHIVER_SERVER_ID = 4000000001;
// Once a second: a role change is seen within a second of the switchover's end, and the lag
// reported to status is at most this much older than the truth.
const TICK_MS = 1000;
// SIGTERM to exit: mariadb-binlog flushes and exits at once; then SIGKILL.
const STOP_GRACE_MS = 5000;

export interface ArchiveStatus {
  readonly source?: string;
  readonly segment?: string;
  /** The newest archived transaction and its binlog timestamp. */
  readonly lastGtid?: string;
  readonly lastCommitAt?: string;
  /** When the archiver last saw the archive grow or checked it. */
  readonly checkedAt: string;
  readonly streaming: boolean;
  /** Set when the archive cannot continue without a hole; cleared only by a new backup (the base moves past it). */
  readonly gap?: { readonly after: string; readonly resumedAt: string; readonly detectedAt: string; readonly node: string };
  readonly error?: string;
}

export interface BinlogArchiver {
  stop(): Promise<void>;
}

/** A finished archive file: sealed with `key` (when set) and copied to `targetRoots`; the copy's errors returned. */
export function sealArchivedFile(file: string, key?: BackupKey, targetRoots: readonly string[] = []): { file: string; bytes: number; errors: string[] } {
  const s = sealBinlogFile(file, key);
  return { ...s, errors: copyToTargets(targetRoots, path.dirname(file), s.file, SEGMENT_FILE) };
}

/** The bytes of `file` from `offset` on. */
function readFrom(file: string, offset: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.alloc(Math.max(0, size - offset));
    if (buf.length > 0) fs.readSync(fd, buf, 0, buf.length, offset);
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

export function readArchiveStatus(topo: Topology): ArchiveStatus | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(topo.stateDir, ARCHIVE_STATUS_FILE), 'utf8')) as ArchiveStatus;
  } catch {
    return undefined;
  }
}

/**
 * The node to stream from. Replication: the one writable primary (two: neither, until the fence
 * resolves it). Galera: every synced node binlogs every write set with the same GTID
 * (galeraBinlogLines), so the current source as long as it stays synced, else the first synced node.
 */
async function findSource(topo: Topology, secrets: Secrets, current: ServiceInstance | undefined): Promise<ServiceInstance | undefined> {
  const dbs = servicesOf(topo, 'mariadb');
  if (topo.config.database.mode === 'galera') {
    const synced = await Promise.all(dbs.map((s) => galeraSynced(secrets, s).catch(() => false)));
    const ok = dbs.filter((_, i) => synced[i]);
    return ok.find((s) => s.id === current?.id) ?? ok[0];
  }
  const views = await Promise.allSettled(dbs.map((s) => viewNode(secrets, s)));
  const primaries = views.flatMap((v) => (v.status === 'fulfilled' && v.value.role === 'primary' ? [v.value.svc] : []));
  return primaries.length === 1 ? primaries[0] : undefined;
}

/** Whether `svc` still is a source the archive may follow (see findSource). */
async function stillSource(topo: Topology, secrets: Secrets, svc: ServiceInstance): Promise<boolean> {
  if (topo.config.database.mode === 'galera') return galeraSynced(secrets, svc).catch(() => false);
  return (await viewNode(secrets, svc).catch(() => undefined))?.role === 'primary';
}

// Enough events to reach a file's first transaction (a transaction is 4-8 events here).
const FIRST_GTID_EVENTS = 200;

/** The seq of the first transaction of `domain` in binlog file `f` (within its first events), if any. */
async function firstSeqIn(c: Connection, f: string, domain: number): Promise<number | undefined> {
  for (const e of await query(c, `SHOW BINLOG EVENTS IN ? LIMIT ${FIRST_GTID_EVENTS}`, [f])) {
    const m = /GTID (\d+)-(\d+)-(\d+)/.exec(e['Event_type'] === 'Gtid' ? String(e['Info'] ?? '') : '');
    if (m && Number(m[1]) === domain) return Number(m[3]);
  }
  return undefined;
}

/**
 * The newest binlog file on `c`'s server from which streaming skips nothing the archive lacks: in
 * every archived domain, the file's first transaction is the next one the archive needs or older,
 * and a domain without a transaction in the file (an idle newest file) is listed in its Gtid_list
 * (the state before it) at or before the archive. The list alone is not enough: a Galera joiner's
 * first file lists the state its state transfer began at while holding only what came after the
 * transfer (measured: [0-1-24], first transaction 0-1-28), and a replica provisioned from a backup
 * lists nothing. None: a gap.
 */
async function startFileOn(c: Connection, archived: ReadonlyMap<number, Gtid>): Promise<{ file: string; gap: boolean }> {
  const logs = (await query(c, 'SHOW BINARY LOGS')).map((r) => String(r['Log_name']));
  if (logs.length === 0) throw new Error('the node has no binlog (log_bin off?)');
  if (archived.size === 0) return { file: logs[0] ?? '', gap: false };
  for (const f of [...logs].reverse()) {
    const evs = await query(c, 'SHOW BINLOG EVENTS IN ? LIMIT 4', [f]);
    const list = evs.find((e) => e['Event_type'] === 'Gtid_list');
    const state = parseGtidList(String(list?.['Info'] ?? '[]').replace(/^\[|\]$/g, ''));
    let ok = true;
    for (const [domain, g] of archived) {
      const first = await firstSeqIn(c, f, domain);
      const listed = state.get(domain);
      if (first !== undefined ? first > g.seq + 1 : listed === undefined || listed.seq > g.seq) ok = false;
    }
    if (ok) return { file: f, gap: false };
  }
  return { file: logs[0] ?? '', gap: true };
}

export function startBinlogArchiver(topo: Topology, secrets: Secrets): BinlogArchiver | undefined {
  if (!topo.config.backup.binlogArchive) return undefined;
  const node = archiveNodeOf(topo);
  const root = archiveDir(topo, node);
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  const log = path.join(root, 'archiver.log');
  const statusFile = path.join(topo.stateDir, ARCHIVE_STATUS_FILE);
  let status: ArchiveStatus = { ...(readArchiveStatus(topo) ?? {}), checkedAt: new Date().toISOString(), streaming: false };
  let child: ChildProcess | undefined;
  let exited = true;
  let source: ServiceInstance | undefined;
  let segDir: string | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> | undefined;
  const sealed = new Set<string>();
  const targetRoots = targetArchiveRoots(topo);
  const sealOne = (f: string): void => {
    if (!segDir || sealed.has(f)) return;
    const r = sealArchivedFile(path.join(segDir, f), key, targetRoots);
    sealed.add(f);
    sealed.add(path.basename(r.file));
    for (const s of shippers) s.fileDone(segDir, r.file, SEGMENT_FILE);
    if (r.errors.length > 0) event(`binlog archive: copying ${f} to a target failed: ${r.errors.join('; ')}`, 'target-failed', { file: f, errors: r.errors });
    // The chunks go once the whole file is on every target (a target that failed keeps them).
    else dropTails(targetRoots, path.basename(segDir), binlogNameOf(f));
  };
  // Said once per failure streak, not every second.
  let tailFailing = false;
  const shipNewTail = (name: string, from: number, data: Buffer): void => {
    if (!segDir || data.length === 0) return;
    for (const s of shippers) s.tail(segDir, name, from, data, SEGMENT_FILE);
    if (targetRoots.length === 0) return;
    const errors = shipTail(targetRoots, segDir, name, from, data, key, SEGMENT_FILE);
    if (errors.length > 0 && !tailFailing) event(`binlog archive: shipping ${name} to a target failed: ${errors.join('; ')}`, 'target-failed', { file: name, errors });
    tailFailing = errors.length > 0;
  };

  const event = (message: string, step: string, data: Record<string, unknown> = {}): void => {
    appendEvent(topo.stateDir, { type: 'step', message, data: { op: 'binlog-archive', step, ...data } });
  };
  let key: BackupKey | undefined;
  try {
    key = archiveKey(topo);
  } catch (e) {
    // Archiving in plaintext when the key was asked for would defeat it: say so and do not start.
    const error = `backup.keyFile: ${describeError(e)}`;
    event(`binlog archive: not started: ${error}`, 'key-missing');
    writeJsonAtomic(statusFile, { checkedAt: new Date().toISOString(), streaming: false, error });
    return undefined;
  }
  // SSH targets: the same files in the background (binlog-archive-ssh.ts); each failure streak is one event.
  const shippers: SshArchiveShipper[] = [];
  for (const t of sshTargets(topo)) {
    try {
      shippers.push(
        new SshArchiveShipper(topo, t, key, log, (message, ok) => event(message, ok ? 'target-back' : 'target-failed', { target: t.name, ...(ok ? {} : { warning: true }) })),
      );
    } catch (e) {
      event(`binlog archive: not copied to ${t.name}: ${describeError(e)}`, 'target-failed', { target: t.name, warning: true });
    }
  }
  if (shippers.length > 0) void ensureBackupIdentity(topo).catch((e: unknown) => event(`binlog archive: no backup key for the SSH targets: ${describeError(e)}`, 'target-failed'));
  const save = (s: Partial<ArchiveStatus>): void => {
    status = { ...status, ...s, checkedAt: new Date().toISOString() };
    writeJsonAtomic(statusFile, status);
  };

  // Where the last parse of the newest file stopped: each refresh reads only what was appended.
  let tail: { file: string; resume: ParseResume } | undefined;
  /** The newest archived GTID in the current segment. */
  const refresh = (ended = false): void => {
    if (!segDir) return;
    const files = fs
      .readdirSync(segDir)
      .filter((n) => n !== SEGMENT_FILE && !n.startsWith('.'))
      .sort();
    // Every file but the newest is complete: the stream rotated past it.
    for (const f of files.slice(0, -1)) sealOne(f);
    const newest = files.at(-1);
    if (!newest || newest.endsWith(ENCRYPTED_SUFFIX)) return;
    const file = path.join(segDir, newest);
    const resume = tail?.file === file ? tail.resume : undefined;
    const from = resume?.offset ?? 0;
    const bytes = readFrom(file, from);
    const p = parseBinlog(bytes, resume);
    tail = { file, resume: { offset: p.completeTo, checksumLen: p.checksumLen } };
    // The newly complete transactions of the file being streamed, to the targets now (see binlog-archive-seal.ts).
    if (!ended) shipNewTail(newest, from, bytes.subarray(0, p.completeTo - from));
    const t = p.transactions.at(-1);
    // Saved every round, new transactions or not: an idle cluster's archiver is alive, not stale.
    save(t ? { lastGtid: formatGtid(t), lastCommitAt: new Date(t.ts * 1000).toISOString() } : {});
    if (ended) sealOne(newest);
  };

  const killChild = async (): Promise<void> => {
    if (!child || exited) return;
    child.kill('SIGTERM');
    if (!(await waitFor(async () => (exited ? true : undefined), { timeoutMs: STOP_GRACE_MS, intervalMs: 50 }))) child.kill('SIGKILL');
    await waitFor(async () => (exited ? true : undefined), { timeoutMs: STOP_GRACE_MS, intervalMs: 50 });
  };

  /** Segments older than every backup: removed when a new segment starts (retention follows backup.keep). */
  const prune = (): void => {
    const oldest = listBackups(topo).backups[0]?.manifest.gtid;
    const drop = prunableSegments(readArchive(topo, key), oldest ? parseGtidList(oldest) : undefined, segDir);
    for (const s of drop) fs.rmSync(s.dir, { recursive: true, force: true });
    pruneTargets(
      targetRoots,
      drop.map((s) => path.basename(s.dir)),
    );
    for (const sh of shippers) sh.prune(drop.map((s) => path.basename(s.dir)));
    if (drop.length > 0) event(`binlog archive: ${drop.length} segments older than the oldest backup removed`, 'prune', { segments: drop.map((s) => path.basename(s.dir)) });
  };

  const startStream = async (primary: ServiceInstance): Promise<void> => {
    const all = lastByDomain(buildTimeline(readArchive(topo, key)).transactions);
    // Galera: only the write sets' domain is the cluster's; a node's own domain is not on the others.
    const archived = topo.config.database.mode === 'galera' ? new Map([...all].filter(([d]) => d === GALERA_WSREP_DOMAIN)) : all;
    // database.tls: the replication account requires a certificate of the cluster's CA (REQUIRE
    // X509), as a replica shows; the archive's node shows its own, and checks the server's.
    const tls = databaseTlsOn(topo) ? nodeTlsFiles(topo, node) : undefined;
    const ssl = tls ? { ssl: { ca: fs.readFileSync(tls.ca, 'utf8'), cert: fs.readFileSync(tls.cert, 'utf8'), key: fs.readFileSync(tls.key, 'utf8') } } : {};
    const c = await connect({ host: primary.address, port: primary.port, user: DB_USERS.repl, password: secrets.dbReplPassword, ...ssl }, `mariadb ${primary.id} (binlog archive)`);
    let start: { file: string; gap: boolean };
    let serverId: number;
    try {
      start = await startFileOn(c, archived);
      const [r] = await query(c, 'SELECT @@server_id AS id');
      serverId = Number(r?.['id'] ?? 0);
    } finally {
      c.destroy();
    }
    const after = [...archived.values()].map(formatGtid).join(',') || '-';
    if (start.gap) {
      const gap = { after, resumedAt: `${primary.id} ${start.file}`, detectedAt: new Date().toISOString(), node: primary.node };
      save({ gap });
      event(
        `binlog archive GAP: ${primary.id} no longer has the binlogs after ${after}; archiving resumes at ${start.file}. Point-in-time recovery past ${after} needs a new backup: run "hastack backup"`,
        'gap',
        gap,
      );
    }
    const leftover = sealLeftovers(root, key, targetRoots, SEGMENT_FILE, (d, f) => shippers.forEach((sh) => sh.fileDone(d, f, SEGMENT_FILE)));
    if (leftover.length > 0) event(`binlog archive: copying to a target failed: ${leftover.join('; ')}`, 'target-failed', { errors: leftover });
    prune();
    const meta: SegmentMeta = { seq: nextSegmentSeq(root), node: primary.node, serverId, startFile: start.file, startedAt: new Date().toISOString() };
    const dir = path.join(root, segmentName(meta));
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeJsonAtomic(path.join(dir, SEGMENT_FILE), meta);
    // The password only here: 0600, read by mariadb-binlog (--defaults-file must come first).
    const cnf = path.join(root, '.archiver.cnf');
    const tlsLines = tls ? `ssl-ca=${tls.ca}\nssl-cert=${tls.cert}\nssl-key=${tls.key}\nssl-verify-server-cert\n` : '';
    fs.writeFileSync(cnf, `[client]\nuser=${DB_USERS.repl}\npassword=${secrets.dbReplPassword}\nhost=${primary.address}\nport=${primary.port}\n${tlsLines}`, { mode: 0o600 });
    fs.chmodSync(cnf, 0o600);
    const out = fs.openSync(log, 'a');
    fs.writeSync(out, `--- ${meta.startedAt} streaming ${primary.id} from ${start.file} into ${dir}\n`);
    const args = [
      `--defaults-file=${cnf}`,
      '--read-from-remote-server',
      '--raw',
      '--stop-never',
      `--stop-never-slave-server-id=${ARCHIVER_SERVER_ID}`,
      `--result-file=${dir}/`,
      start.file,
    ];
    // Dies with this process: a streamer left by a killed supervisor would write on into a segment the next one seals.
    const p = spawn('setpriv', diesWithParent('mariadb-binlog', args), { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    exited = false;
    p.once('exit', () => (exited = true));
    p.once('error', () => (exited = true));
    child = p;
    source = primary;
    segDir = dir;
    sealed.clear();
    save({ source: primary.id, segment: path.basename(dir), streaming: true, error: undefined });
    event(`binlog archive: streaming from ${primary.id} (${start.file}, after ${after}) into ${dir}`, 'stream', { source: primary.id, segment: path.basename(dir) });
  };

  const tick = async (): Promise<void> => {
    for (const sh of shippers) sh.kick();
    try {
      if (child && !exited && source) {
        const still = await stillSource(topo, secrets, source);
        refresh();
        if (still) return;
        const what = topo.config.database.mode === 'galera' ? 'is no longer a synced member' : 'is no longer the primary';
        event(`binlog archive: ${source.id} ${what}; following ${topo.config.database.mode === 'galera' ? 'another node' : 'the new one'}`, 'follow', { source: source.id });
        await killChild();
      }
      if (child && exited) {
        refresh(true);
        child = undefined;
        save({ streaming: false });
      }
      const primary = await findSource(topo, secrets, source);
      if (!primary)
        return save({ streaming: false, error: topo.config.database.mode === 'galera' ? 'no synced Galera node answers; waiting' : 'no single writable primary answers; waiting' });
      await startStream(primary);
    } catch (e) {
      save({ error: describeError(e) });
    }
  };

  const loop = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      ticking = tick().finally(() => {
        ticking = undefined;
        loop();
      });
    }, TICK_MS);
  };
  event(`binlog archive: into ${root}`, 'start');
  loop();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await ticking;
      await killChild();
      refresh(true);
      save({ streaming: false });
      await Promise.all(shippers.map((sh) => sh.close()));
    },
  };
}

// The archiver rewrites its status every second while the supervisor runs: older than this, it is not running.
const STATUS_STALE_MS = 10_000;

/**
 * One line for `hastack status` (undefined when archiving is off): where the stream comes from and
 * how far it got, and a WARNING when there is a gap, no stream, or no archiver.
 */
export function describeArchiveStatus(topo: Topology, now = Date.now()): { line: string; warning: boolean } | undefined {
  if (!topo.config.backup.binlogArchive) return undefined;
  const s = readArchiveStatus(topo);
  if (!s) return { line: 'binlog archive: WARNING no archiver has run yet (the supervisor starts it; on hosts, its unit on the archive node)', warning: true };
  const stale = now - Date.parse(s.checkedAt) > STATUS_STALE_MS;
  const problems = [
    ...(s.gap ? [`GAP after ${s.gap.after} (resumed at ${s.gap.resumedAt}, ${s.gap.detectedAt}): take a new backup`] : []),
    ...(stale ? [`the archiver has not reported since ${s.checkedAt}`] : !s.streaming ? [`not streaming${s.error ? `: ${s.error}` : ''}`] : []),
  ];
  const where = `${s.streaming ? `streaming from ${s.source ?? '-'}` : 'stopped'}, newest ${s.lastGtid ?? '-'} committed ${s.lastCommitAt ?? '-'}`;
  return { line: `binlog archive: ${problems.length > 0 ? `WARNING ${problems.join('; ')}; ` : ''}${where}`, warning: problems.length > 0 };
}
