import fs from 'node:fs';
import path from 'node:path';
import type { Secrets, Topology } from '../config/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import type { BackupKey } from './backup-crypt.js';
import { keyForBackup, unsealFile, unsealTree } from './backup-seal.js';
import { appendEvent, type ClusterEvent } from '../shared/events.js';
import { startSqlThreadAfterCrash } from './backup.js';
import { checkFiles, readManifest, type BackupManifest, type TableStats } from './backup-manifest.js';
import { query, statsOf, tableNames } from './backup-db.js';
import { putSshVerify } from './backup-ssh-store.js';
import { fetchBackup, fetchDir, findBackupAnywhere } from './restore-fetch.js';
import { acquireLockWaiting, releaseLock, removeLeftovers, backupsDir, writeVerifyResult, type VerifyResult } from './backup-store.js';
import { runTool } from './backup-tools.js';
import { compareTables } from './restore-checks.js';
import { startScratch, type Scratch } from './restore-scratch.js';

/*
 * `hastack restore --verify [BACKUP]`: proves a backup restores. The files are checked against the
 * manifest's sha256, the prepared datadir is copied into a scratch MariaDB on a spare port and
 * started, the app's tables are counted and checksummed against what the manifest recorded, and
 * the Redis snapshot is checked with redis-check-rdb. The scratch server and its directory are
 * removed whatever happens. The result is written to `verify.json` in the backup's directory.
 */

export interface VerifyOptions {
  readonly topo: Topology;
  readonly secrets: Secrets;
  /** A backup id, a directory, or undefined for the newest backup. */
  readonly backup?: string;
  readonly signal?: AbortSignal;
  readonly onEvent?: (e: ClusterEvent) => void;
  /** How long to wait for a running backup or verification (see LOCK_WAIT_MS). */
  readonly lockWaitMs?: number;
}

export interface VerifyReport extends VerifyResult {
  readonly id: string;
  readonly dir: string;
  /** BACKUP_TAMPERED when an encrypted file failed authentication. */
  readonly code?: ErrorCode;
}

// redis-check-rdb reads the snapshot once: seconds for a queue-sized file.
const RDB_CHECK_TIMEOUT_MS = 120_000;

export async function verifyBackup(o: VerifyOptions): Promise<VerifyReport> {
  const { topo } = o;
  const t0 = Date.now();
  const found = await findBackupAnywhere(topo, o.backup);
  const { node, remote } = found;
  let dir = found.dir;
  const id = remote?.id ?? path.basename(dir);
  const fetched = remote ? fetchDir(topo, 'verify') : undefined;
  const say = (message: string, step: string): void => {
    o.onEvent?.(appendEvent(topo.stateDir, { type: 'step', message, data: { op: 'restore-verify', id, step } }));
  };
  const problems: string[] = [];
  const checks: string[] = [];
  let tamperedBy: HastackError | undefined;
  // The backup lock: retention must not remove this backup while it is being restored.
  const { stale } = await acquireLockWaiting(topo, o.lockWaitMs ?? 0, (h) => say(`waiting for the backup or verification running since ${h.startedAt} (pid ${h.pid})`, 'wait'));
  let scratch: Scratch | undefined;
  try {
    if (stale) {
      await startSqlThreadAfterCrash(topo, o.secrets, stale);
    }
    removeLeftovers(topo);
    for (const f of found.failed) say(`backup target not reachable, not used: ${f}`, 'target-failed');
    if (remote && fetched) {
      // On an SSH target only: fetched to this machine first, then checked like any copy.
      dir = await fetchBackup(topo, remote, fetched, path.join(topo.stateDir, 'backup.log'), (m) => say(m, 'fetch'), o.signal);
    }
    say(`verifying backup ${id} (${remote ? `${remote.dir}, fetched to ${dir}` : dir})`, 'start');
    let manifest: BackupManifest | undefined;
    let key: BackupKey | undefined;
    try {
      manifest = readManifest(dir);
      // An encrypted backup without its key cannot be checked: BACKUP_KEY_MISSING, and no verdict is written.
      key = keyForBackup(topo, manifest);
      checks.push(`manifest: ${manifest.files.length} files, gtid ${manifest.gtid || '-'}, from ${manifest.source.node} (${manifest.source.dbRole})`);
    } catch (e) {
      if (e instanceof HastackError && e.code === ErrorCode.BACKUP_KEY_MISSING) throw e;
      problems.push(describeError(e));
    }
    if (manifest) {
      say('checking the sha256 of every file', 'checksums');
      const bad = await checkFiles(dir, manifest);
      problems.push(...bad);
      if (bad.length === 0) checks.push(`every file matches its sha256 (${manifest.files.length} files)`);
    }

    const prepared = path.join(dir, 'mariadb');
    if (!fs.existsSync(prepared)) {
      problems.push(`${prepared} is missing: the backup has no database`);
    } else {
      const address = topo.nodes.find((n) => n.name === node)?.address ?? topo.nodes[0]?.address ?? '127.0.0.1';
      const scratchRoot = node ? backupsDir(topo, node) : topo.stateDir;
      say('restoring into a scratch MariaDB', 'restore');
      try {
        const fill = key ? (d: string): Promise<void> => unsealTree(dir, id, key, 'mariadb', d) : undefined;
        scratch = await startScratch({ preparedDir: prepared, dir: path.join(scratchRoot, `.verify-${process.pid}`), address, signal: o.signal, ...(fill ? { fill } : {}) });
        checks.push(`MariaDB started on the restored datadir (${scratch.address}:${scratch.port})`);
        const db = manifest?.database.name ?? topo.config.database.name;
        const c = await scratch.connect(o.secrets.dbRootPassword);
        const restored: TableStats[] = [];
        try {
          // Table by table: one unreadable table is one finding, and the others are still checked.
          for (const name of await tableNames(c, db)) {
            try {
              restored.push(await statsOf(c, db, name));
            } catch (e) {
              problems.push(`table ${db}.${name} cannot be read after restore: ${describeError(e)}`);
              restored.push({ name, rows: -1, checksum: null });
            }
          }
          const [g] = await query(c, 'SELECT @@gtid_binlog_pos AS b, @@gtid_slave_pos AS s');
          // Informational: after a role change a replica's gtid_slave_pos may trail its binlog, so a
          // difference is not by itself a broken backup.
          if (g) checks.push(`restored server: gtid_slave_pos ${String(g['s'] || '-')} (manifest: ${manifest?.gtid || '-'})`);
        } finally {
          c.destroy();
        }
        const cmp = compareTables(db, manifest?.database.tables ?? [], restored, manifest?.database.statsExact ?? false);
        problems.push(...cmp.problems);
        checks.push(...cmp.checks);
      } catch (e) {
        if (e instanceof HastackError && e.code === ErrorCode.BACKUP_TAMPERED) tamperedBy = e;
        problems.push(`restore failed: ${describeError(e)}`);
      } finally {
        await scratch?.stop();
        scratch = undefined;
      }
    }

    let rdb = path.join(dir, 'redis', 'dump.rdb');
    if (manifest?.files.some((f) => f.path === 'redis/dump.rdb' || f.path === 'redis/dump.rdb.enc')) {
      say('checking the Redis snapshot with redis-check-rdb', 'redis');
      const log = path.join(topo.stateDir, 'backup.log');
      try {
        if (key) {
          rdb = path.join(topo.stateDir, `.verify-${process.pid}.rdb`);
          await unsealFile(dir, id, key, 'redis/dump.rdb', rdb);
        }
        await runTool('redis-check-rdb', [rdb], { logFile: log, timeoutMs: RDB_CHECK_TIMEOUT_MS, signal: o.signal, what: 'redis-check-rdb' });
        checks.push('redis/dump.rdb: redis-check-rdb OK');
      } catch (e) {
        if (e instanceof HastackError && e.code === ErrorCode.BACKUP_TAMPERED) tamperedBy = e;
        problems.push(`redis/dump.rdb is not a valid RDB file: ${describeError(e).split('\n')[0] ?? ''}`);
      } finally {
        if (key) fs.rmSync(rdb, { force: true });
      }
    }
  } finally {
    await scratch?.stop();
    if (fetched) fs.rmSync(fetched, { recursive: true, force: true });
    releaseLock(topo);
  }
  const result: VerifyResult = { ok: problems.length === 0, verifiedAt: new Date().toISOString(), durationMs: Date.now() - t0, problems, checks };
  if (remote) {
    // Retention there weighs verified backups: the verdict goes back beside the backup.
    await putSshVerify(topo, remote, `${JSON.stringify(result, null, 2)}\n`).catch((e: unknown) =>
      say(`could not write verify.json on ${remote.node}: ${describeError(e)}`, 'verify-write'),
    );
    dir = remote.dir;
  } else if (fs.existsSync(dir)) writeVerifyResult(dir, result);
  say(result.ok ? `backup ${id} verified: restores, ${checks.length} checks passed` : `backup ${id} is BROKEN: ${problems.join('; ')}`, result.ok ? 'verified' : 'broken');
  return { ...result, id, dir, ...(tamperedBy ? { code: tamperedBy.code } : {}) };
}
