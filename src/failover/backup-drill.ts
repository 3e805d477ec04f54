import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Secrets, Topology } from '../config/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { appendEvent, type ClusterEvent } from '../shared/events.js';
import { dirBytes, writeJsonAtomic } from '../shared/files.js';
import type { BackupKey } from './backup-crypt.js';
import { statsOf, tableNames } from './backup-db.js';
import { readManifest, type BackupManifest, type TableStats } from './backup-manifest.js';
import { parseSchedule, nextCronFire } from './backup-schedule.js';
import { keyForBackup, unsealTree } from './backup-seal.js';
import { acquireLockWaiting, backupsDir, releaseLock, removeLeftovers } from './backup-store.js';
import { fetchBackup, fetchDir, findBackupAnywhere } from './restore-fetch.js';
import { compareTables } from './restore-checks.js';
import { startScratch, type Scratch } from './restore-scratch.js';

/*
 * Restore drills (`hastack backup drill`, `backup.drill` on a schedule): what a recovery would do,
 * timed, on a scratch server. The newest backup (fetched from its SSH target first when this
 * machine holds no copy: restore-fetch.ts) is decrypted (or copied) into a scratch datadir,
 * MariaDB started on it, the binlog archive replayed up to a recent point when one exists (the
 * `replay` hook: continuous archiving lives in binlog-archive*.ts), then every table of the app's
 * database is counted and CHECKSUM TABLE'd at that point and compared with what is known of it.
 * The recovery time is from the start to the checked, serving database; it is recorded with its
 * phases in `<state>/backup-drill.json`, and `status` warns when the last drill failed or is
 * overdue (older than two periods of `backup.drill`).
 */

export const DRILL_FILE = 'backup-drill.json';

/** What a binlog replay brought the scratch server to. */
export interface DrillReplayResult {
  /** The point in time the data is at now (ISO). */
  readonly pointInTime: string;
  /** The tables at that point, when the archive knows them (then compared exactly); else only readability is checked. */
  readonly expected?: readonly TableStats[];
  /** One line for the record ("replayed 3 binlog files to 2026-12-04T03:12:41Z"). */
  readonly note: string;
}

/**
 * The hook the binlog archive provides: replay archived binlogs after `manifest.gtid` into the
 * scratch server, up to a random recent time. Undefined result: nothing to replay (no archive).
 */
export type DrillReplay = (ctx: {
  readonly scratch: Scratch;
  readonly manifest: BackupManifest;
  readonly backupDir: string;
  readonly key: BackupKey | undefined;
  readonly signal?: AbortSignal;
}) => Promise<DrillReplayResult | undefined>;

const recordSchema = z.object({
  ok: z.boolean(),
  at: z.string(),
  trigger: z.enum(['manual', 'schedule']),
  backupId: z.string(),
  backupDir: z.string(),
  /** The point in time the restored data is at (the backup's, or the replay's). */
  pointInTime: z.string(),
  /** From the start to a serving database whose tables were checked. */
  recoveryMs: z.number(),
  /** fetchMs: the backup copied from an SSH target first (absent: it was on this machine). */
  phases: z.object({ fetchMs: z.number().optional(), restoreMs: z.number(), startMs: z.number(), replayMs: z.number(), checkMs: z.number() }),
  dataBytes: z.number(),
  encrypted: z.boolean(),
  replay: z.string(),
  tables: z.array(z.object({ name: z.string(), rows: z.number(), checksum: z.string().nullable() })),
  problems: z.array(z.string()),
  checks: z.array(z.string()),
  code: z.string().optional(),
});
export type DrillRecord = z.infer<typeof recordSchema>;

export function drillFile(topo: Topology): string {
  return path.join(topo.stateDir, DRILL_FILE);
}

export function readDrill(topo: Topology): DrillRecord | undefined {
  try {
    const r = recordSchema.safeParse(JSON.parse(fs.readFileSync(drillFile(topo), 'utf8')));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

export interface DrillOptions {
  readonly topo: Topology;
  readonly secrets: Secrets;
  readonly trigger: 'manual' | 'schedule';
  readonly replay?: DrillReplay;
  readonly signal?: AbortSignal;
  readonly onEvent?: (e: ClusterEvent) => void;
  readonly lockWaitMs?: number;
}

/** Runs one drill; always records its result (a drill that could not run is a failed drill). */
export async function runDrill(o: DrillOptions): Promise<DrillRecord> {
  const { topo } = o;
  const say = (message: string, step: string, data: Record<string, unknown> = {}): void => {
    o.onEvent?.(appendEvent(topo.stateDir, { type: 'step', message, data: { op: 'backup-drill', step, ...data } }));
  };
  const problems: string[] = [];
  const checks: string[] = [];
  const phases: DrillRecord['phases'] = { restoreMs: 0, startMs: 0, replayMs: 0, checkMs: 0 };
  let manifest: BackupManifest | undefined;
  let found: { dir: string; node?: string } | undefined;
  /** Where the drilled backup is kept (the SSH target's copy when it was fetched). */
  let shownDir: string | undefined;
  let fetched: string | undefined;
  let code: string | undefined;
  let tables: TableStats[] = [];
  let pointInTime = '';
  let replayNote = "none: no binlog archive (the point in time is the backup's)";
  let dataBytes = 0;
  let recoveryMs = 0;
  let scratch: Scratch | undefined;
  const t0 = Date.now();
  const { stale } = await acquireLockWaiting(topo, o.lockWaitMs ?? 0, (h) => say(`waiting for the backup or verification running since ${h.startedAt} (pid ${h.pid})`, 'wait'));
  try {
    if (stale) say(`took over the lock of pid ${stale.pid}`, 'recover');
    removeLeftovers(topo);
    // The newest backup anywhere: this machine's copy when it has one, else its SSH target's,
    // fetched into a 0700 scratch directory (removed below) as a recovery from off-site would.
    const where = await findBackupAnywhere(topo, undefined);
    for (const f of where.failed) say(`backup target not reachable, not used: ${f}`, 'target-failed', { warning: true });
    if (where.remote) {
      const tFetch = Date.now();
      fetched = fetchDir(topo, 'drill');
      const dir = await fetchBackup(topo, where.remote, fetched, path.join(topo.stateDir, 'backup.log'), (m) => say(m, 'fetch'), o.signal);
      phases.fetchMs = Date.now() - tFetch;
      found = { dir };
      shownDir = where.remote.dir;
      checks.push(`fetched from ${where.remote.node} (${where.remote.dir}) in ${(phases.fetchMs / 1000).toFixed(1)} s`);
    } else {
      found = where;
      shownDir = where.dir;
    }
    manifest = readManifest(found.dir);
    const m = manifest;
    pointInTime = m.finishedAt;
    say(`drill: restoring backup ${m.id} (${shownDir}) into a scratch server`, 'start', { id: m.id });
    const key = keyForBackup(topo, m);
    const address = topo.nodes.find((n) => n.name === found?.node)?.address ?? topo.nodes[0]?.address ?? '127.0.0.1';
    const scratchRoot = found.node ? backupsDir(topo, found.node) : topo.stateDir;
    const dir = found.dir;
    const tRestore = Date.now();
    scratch = await startScratch({
      preparedDir: path.join(dir, 'mariadb'),
      dir: path.join(scratchRoot, `.verify-drill-${process.pid}`),
      address,
      signal: o.signal,
      fill: async (d) => {
        await unsealTree(dir, m.id, key, 'mariadb', d);
        phases.restoreMs = Date.now() - tRestore;
        dataBytes = dirBytes(d);
      },
    });
    phases.startMs = Date.now() - tRestore - phases.restoreMs;
    checks.push(
      `restored ${(dataBytes / 1e6).toFixed(1)} MB${key ? ' (decrypted)' : ''} in ${(phases.restoreMs / 1000).toFixed(1)} s; MariaDB up in ${(phases.startMs / 1000).toFixed(1)} s`,
    );
    const tReplay = Date.now();
    const replay = o.replay ? await o.replay({ scratch, manifest: m, backupDir: dir, key, signal: o.signal }) : undefined;
    phases.replayMs = Date.now() - tReplay;
    if (replay) {
      pointInTime = replay.pointInTime;
      replayNote = replay.note;
    }
    const tCheck = Date.now();
    const db = m.database.name;
    const c = await scratch.connect(o.secrets.dbRootPassword);
    try {
      for (const name of await tableNames(c, db)) {
        try {
          tables.push(await statsOf(c, db, name));
        } catch (e) {
          problems.push(`table ${db}.${name} cannot be read after restore: ${describeError(e)}`);
          tables.push({ name, rows: -1, checksum: null });
        }
      }
    } finally {
      c.destroy();
    }
    const expected = replay ? replay.expected : m.database.tables;
    const cmp = expected ? compareTables(db, expected, tables, replay ? true : m.database.statsExact) : compareTables(db, tables, tables, false);
    problems.push(...cmp.problems);
    checks.push(...cmp.checks);
    phases.checkMs = Date.now() - tCheck;
    recoveryMs = Date.now() - t0;
  } catch (e) {
    if (e instanceof HastackError) code = e.code;
    problems.push(describeError(e));
  } finally {
    await scratch?.stop();
    if (fetched) fs.rmSync(fetched, { recursive: true, force: true });
    releaseLock(topo);
  }
  tables = tables.filter((t) => t.rows >= 0);
  const rec: DrillRecord = {
    ok: problems.length === 0,
    at: new Date(t0).toISOString(),
    trigger: o.trigger,
    backupId: manifest?.id ?? '-',
    backupDir: shownDir ?? '-',
    pointInTime,
    recoveryMs,
    phases,
    dataBytes,
    encrypted: manifest?.encryption !== undefined,
    replay: replayNote,
    tables,
    problems,
    checks,
    ...(code ? { code } : {}),
  };
  writeJsonAtomic(drillFile(topo), rec, 0o644);
  say(
    rec.ok
      ? `drill passed: backup ${rec.backupId} restored and checked in ${(recoveryMs / 1000).toFixed(1)} s (${tables.length} tables at ${pointInTime})`
      : `drill FAILED: ${problems.slice(0, 3).join('; ')}`,
    rec.ok ? 'passed' : 'failed',
    { ok: rec.ok, recoveryMs, id: rec.backupId, ...(rec.ok ? {} : { warning: true }) },
  );
  return rec;
}

/** The expected time between drills: the interval, or the gap between the next two cron fires. */
export function drillPeriodMs(schedule: string, now: number): number | undefined {
  const s = parseSchedule(schedule);
  if (s.kind === 'interval') return s.ms;
  const a = nextCronFire(s.cron, now);
  const b = a === undefined ? undefined : nextCronFire(s.cron, a);
  return a !== undefined && b !== undefined ? b - a : undefined;
}

/**
 * The drill's line for `status`, and whether it is a warning: no drill yet while one is
 * scheduled, the last one failed, or it is older than two periods (a drill that stopped running
 * is as bad as one that fails). Pure.
 */
export function drillStatus(rec: DrillRecord | undefined, schedule: string | undefined, now: number): { line: string; warning: boolean } {
  if (!rec) {
    return schedule === undefined
      ? { line: 'restore drill: never run (backup.drill unset; "hastack backup drill" runs one)', warning: false }
      : { line: `restore drill: none yet (backup.drill "${schedule}")`, warning: true };
  }
  const ageMs = now - Date.parse(rec.at);
  const age = ageMs < 3_600_000 ? `${Math.round(ageMs / 60_000)} min` : ageMs < 172_800_000 ? `${(ageMs / 3_600_000).toFixed(1)} h` : `${Math.round(ageMs / 86_400_000)} d`;
  const period = schedule === undefined ? undefined : drillPeriodMs(schedule, now);
  const overdue = period !== undefined && ageMs > 2 * period;
  const what = rec.ok
    ? `passed ${age} ago: backup ${rec.backupId} recovered in ${(rec.recoveryMs / 1000).toFixed(1)} s (${(rec.dataBytes / 1e6).toFixed(0)} MB, point in time ${rec.pointInTime})`
    : `FAILED ${age} ago: ${rec.problems[0] ?? 'see the event log'}`;
  return { line: `restore drill: ${what}${overdue ? ` — OVERDUE (backup.drill "${schedule}")` : ''}`, warning: !rec.ok || overdue };
}

/** The backup lines of `status`: the drill, and whether backups are encrypted. */
export function backupStatusLines(topo: Topology, now = Date.now()): Array<{ line: string; warning: boolean }> {
  const out = [drillStatus(readDrill(topo), topo.config.backup.drill, now)];
  if (topo.config.backup.keyFile === undefined && (topo.config.backup.schedule !== undefined || topo.config.backup.targets !== undefined)) {
    out.push({ line: 'backups are NOT encrypted (backup.keyFile unset): whoever reads a target reads the data', warning: true });
  }
  return out;
}

/** For callers that must not proceed without a drill file (tests, tools). */
export function requireDrill(topo: Topology): DrillRecord {
  const r = readDrill(topo);
  if (!r) throw new HastackError(ErrorCode.NOT_FOUND, `no drill recorded in ${drillFile(topo)}; run "hastack backup drill"`);
  return r;
}
