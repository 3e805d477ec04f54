import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Topology } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { writeJsonAtomic } from '../shared/files.js';
import { sleep } from '../shared/retry.js';
import { MANIFEST_FILE, isBackupId, readManifest, type BackupManifest } from './backup-manifest.js';
import { backupsDir, dirTargets } from './backup-targets.js';

/*
 * Where backups live on the local substrate: `<stateDir>/<node>/backups/<id>/`. A directory whose
 * name is a backup id and that holds a valid manifest is a complete backup; everything being
 * written is under a dot-name (`.staging-<id>`, `.incoming-<id>`, `.verify-*`) and becomes a backup
 * only by the final rename. So an interrupted backup leaves at most a dot-directory, which `list`
 * and `restore` never look at and the next backup removes.
 */

export const VERIFY_FILE = 'verify.json';

export { backupsDir };

export interface StoredBackup {
  readonly id: string;
  /** The node, or the directory target's name (`backup.targets`), that holds this copy. */
  readonly node: string;
  /** A directory or SSH target (not a node's backup directory). */
  readonly offNode?: true;
  /** On this SSH target (`dir` is then `user@host:/path`): restore fetches it first (backup-ssh-store.ts). */
  readonly sshTarget?: string;
  readonly dir: string;
  readonly manifest: BackupManifest;
  readonly verification?: VerifyResult;
}

const verifySchema = z.object({
  ok: z.boolean(),
  verifiedAt: z.string(),
  durationMs: z.number(),
  problems: z.array(z.string()),
  checks: z.array(z.string()),
});
export type VerifyResult = z.infer<typeof verifySchema>;

export function readVerifyResult(dir: string): VerifyResult | undefined {
  try {
    return parseVerifyResult(fs.readFileSync(path.join(dir, VERIFY_FILE), 'utf8'));
  } catch {
    return undefined;
  }
}

/** A verify.json's text as a result; undefined when absent or not one. */
export function parseVerifyResult(text: string): VerifyResult | undefined {
  try {
    const r = verifySchema.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

export function writeVerifyResult(dir: string, v: VerifyResult): void {
  writeJsonAtomic(path.join(dir, VERIFY_FILE), v);
}

/** A directory named like a backup that is not a usable one (no or bad manifest). */
export interface UnreadableBackup {
  readonly id: string;
  readonly node: string;
  readonly dir: string;
  readonly reason: string;
}

/** Each node's backup directory, then each directory target's, and their entries (those not made yet are skipped). */
function* backupDirsOf(topo: Topology): Generator<{ n: { name: string }; root: string; names: string[]; offNode: boolean }> {
  const roots = [...topo.nodes.map((n) => ({ n, root: backupsDir(topo, n.name), offNode: false })), ...dirTargets(topo).map((t) => ({ n: t, root: t.root, offNode: true }))];
  for (const { n, root, offNode } of roots) {
    let names: string[];
    try {
      names = fs.readdirSync(root);
    } catch {
      continue; // no backup directory there yet
    }
    yield { n, root, names, offNode };
  }
}

/** Every complete backup on every node, oldest first; unreadable ones are returned apart. */
export function listBackups(topo: Topology): { backups: StoredBackup[]; unreadable: UnreadableBackup[] } {
  const backups: StoredBackup[] = [];
  const unreadable: UnreadableBackup[] = [];
  for (const { n, root, names, offNode } of backupDirsOf(topo)) {
    for (const id of names.filter(isBackupId)) {
      const dir = path.join(root, id);
      try {
        const manifest = readManifest(dir);
        backups.push({ id, node: n.name, dir, manifest, verification: readVerifyResult(dir), ...(offNode ? { offNode: true as const } : {}) });
      } catch (e) {
        unreadable.push({ id, node: n.name, dir, reason: (e as Error).message });
      }
    }
  }
  backups.sort((a, b) => (a.id === b.id ? a.node.localeCompare(b.node) : a.id < b.id ? -1 : 1));
  return { backups, unreadable };
}

/**
 * The backup `restore` should use: `ref` is an id (newest copy if on several nodes), a directory
 * path, or undefined for the newest complete backup.
 */
export function findBackup(topo: Topology, ref: string | undefined): { dir: string; node?: string } {
  if (ref !== undefined && !isBackupId(ref)) {
    const dir = path.resolve(ref);
    if (!fs.existsSync(path.join(dir, MANIFEST_FILE)) && !fs.existsSync(dir)) {
      throw new HastackError(ErrorCode.NOT_FOUND, `no backup "${ref}": neither a backup id nor a directory; "hastack backup list" shows the ids`);
    }
    return { dir };
  }
  const { backups, unreadable } = listBackups(topo);
  if (ref !== undefined) {
    const hit = [...backups].reverse().find((b) => b.id === ref) ?? unreadable.find((u) => u.id === ref);
    if (!hit) throw new HastackError(ErrorCode.NOT_FOUND, `no backup with id ${ref}; "hastack backup list" shows the ids`);
    return { dir: hit.dir, ...(nodeOf(hit) === undefined ? {} : { node: hit.node }) };
  }
  const newest = backups[backups.length - 1];
  if (!newest) throw new HastackError(ErrorCode.NOT_FOUND, `cluster ${topo.cluster} has no complete backup; take one with "hastack backup"`);
  return { dir: newest.dir, ...(nodeOf(newest) === undefined ? {} : { node: newest.node }) };
}

/** The node a copy is on; undefined for a directory target (a scratch server then runs under the state directory). */
function nodeOf(b: { node: string; offNode?: true } | UnreadableBackup): string | undefined {
  return 'offNode' in b && b.offNode ? undefined : b.node;
}

/**
 * Removes the leftovers of interrupted backups and verifications (dot-directories) on every node,
 * each after stopping what still runs in it: a scratch server of a killed verification, or a
 * helper of a killed backup that did not die with it (runTool's pdeathsig is set by the helper
 * itself, an instant after it starts).
 */
export function removeLeftovers(topo: Topology): string[] {
  const removed: string[] = [];
  for (const { root, names } of backupDirsOf(topo)) {
    for (const name of names.filter((x) => /^\.(staging|incoming|verify)-/.test(x))) {
      const dir = path.join(root, name);
      const stopped = stopProcessesNaming(dir);
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      removed.push(stopped.length > 0 ? `${dir} (stopped pid ${stopped.join(', ')}, still running there)` : dir);
    }
  }
  return removed;
}

// A process dies an instant after SIGKILL; 5 s bounds the wait for one stuck in the kernel (NFS).
const STOP_WAIT_MS = 5_000;

/**
 * The programs backups, verifications and restores start (`comm`, the kernel's first 15 bytes of
 * the name): only these are stopped, never, say, an operator's `less` of a leftover's log.
 */
const HELPERS = ['mariabackup', 'mariadb-backup', 'mariadbd', 'mariadb', 'mariadb-binlog', 'rsync', 'ssh', 'redis-cli', 'redis-check-rdb', 'setpriv'];

/** The helpers whose command line names `dir` or a path under it (`--target-dir=DIR/mariadb`, `--defaults-file=DIR/my.cnf`). */
function processesNaming(dir: string, helpers: readonly string[]): number[] {
  return fs
    .readdirSync('/proc')
    .map(Number)
    .filter((pid) => {
      if (!Number.isInteger(pid) || pid === process.pid) return false;
      try {
        if (!helpers.includes(fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim())) return false;
        return fs
          .readFileSync(`/proc/${pid}/cmdline`, 'utf8')
          .split('\0')
          .some((a) => a.endsWith(dir) || a.includes(`${dir}/`));
      } catch {
        return false; // gone meanwhile
      }
    });
}

/** Until it is reaped or a zombie: an exiting process may still hold its files open. */
export function running(pid: number): boolean {
  try {
    // The state is the field after the parenthesised command name, which may itself hold spaces.
    return !/\)\s+Z\s/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** SIGKILLs every helper naming `dir` and waits until they are gone; returns their pids. `helpers`: tests use stand-ins. */
export function stopProcessesNaming(dir: string, helpers: readonly string[] = HELPERS): number[] {
  const pids = processesNaming(dir, helpers);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const until = Date.now() + STOP_WAIT_MS;
  while (pids.some(running) && Date.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  return pids;
}

// ---------------------------------------------------------------------------------------------
// One backup at a time per cluster

export interface BackupLock {
  readonly pid: number;
  readonly startedAt: string;
  /** Set while a replica's SQL thread is stopped for the backup, so a successor can restart it. */
  readonly sqlStoppedOn?: string;
}

export function lockFile(topo: Topology): string {
  return path.join(topo.stateDir, 'backup.lock');
}

/** Whether process `pid` runs (EPERM: it does, as another user). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readLock(topo: Topology): BackupLock | undefined {
  try {
    const v = JSON.parse(fs.readFileSync(lockFile(topo), 'utf8')) as Partial<BackupLock>;
    if (typeof v.pid !== 'number') return undefined;
    return {
      pid: v.pid,
      startedAt: String(v.startedAt ?? ''),
      ...(typeof v.sqlStoppedOn === 'string' ? { sqlStoppedOn: v.sqlStoppedOn } : {}),
    };
  } catch {
    return undefined;
  }
}

/**
 * Takes the cluster's backup lock (O_EXCL). A lock left by a dead process is taken over and
 * returned as `stale`, so the caller can undo what that process left (a stopped SQL thread).
 */
export function acquireLock(topo: Topology): { stale?: BackupLock } {
  const file = lockFile(topo);
  const mine: BackupLock = { pid: process.pid, startedAt: new Date().toISOString() };
  // Two rounds at most: the second after removing a stale lock.
  for (let round = 0; round < 2; round++) {
    try {
      fs.writeFileSync(file, JSON.stringify(mine) + '\n', { flag: 'wx', mode: 0o600 });
      return {};
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const held = readLock(topo);
    if (held && pidAlive(held.pid) && held.pid !== process.pid) {
      throw new HastackError(
        ErrorCode.CLUSTER_RUNNING,
        `another backup of cluster ${topo.cluster} is running (pid ${held.pid}, since ${held.startedAt}); wait for it, or remove ${file} if that process is not hastack`,
      );
    }
    fs.rmSync(file, { force: true });
    if (held) {
      fs.writeFileSync(file, JSON.stringify(mine) + '\n', { flag: 'wx', mode: 0o600 });
      return { stale: held };
    }
  }
  throw new HastackError(ErrorCode.INTERNAL, `could not take ${file}; remove it if no backup is running`);
}

/** Records facts a successor needs if this process dies (`undefined` clears a field). */
/**
 * `acquireLock`, waiting up to `waitMs` for a running backup or verification to finish (an
 * operator's command queues behind the scheduler's backup instead of failing). `onWait` is told
 * once who holds the lock.
 */
export async function acquireLockWaiting(topo: Topology, waitMs: number, onWait?: (holder: BackupLock) => void): Promise<{ stale?: BackupLock }> {
  const deadline = Date.now() + waitMs;
  let told = false;
  for (;;) {
    try {
      return acquireLock(topo);
    } catch (e) {
      if (!(e instanceof HastackError && e.code === ErrorCode.CLUSTER_RUNNING) || Date.now() >= deadline) throw e;
      const holder = readLock(topo);
      if (!told && holder) onWait?.(holder);
      told = true;
    }
    // 500 ms: a backup takes seconds to minutes; finer polling gains nothing.
    await sleep(500);
  }
}

export function updateLock(topo: Topology, patch: { sqlStoppedOn?: string | undefined }): void {
  const cur = readLock(topo);
  if (!cur || cur.pid !== process.pid) return;
  const next = { ...cur, ...patch };
  writeJsonAtomic(lockFile(topo), JSON.parse(JSON.stringify(next)) as BackupLock, 0o600);
}

export function releaseLock(topo: Topology): void {
  const cur = readLock(topo);
  if (cur?.pid === process.pid) fs.rmSync(lockFile(topo), { force: true });
}
