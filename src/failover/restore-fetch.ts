import fs from 'node:fs';
import path from 'node:path';
import type { Topology } from '../config/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { isBackupId } from './backup-manifest.js';
import { fetchSshBackup, listSshBackups } from './backup-ssh-store.js';
import { sshCall, sshConn } from './backup-ssh.js';
import { findBackup, listBackups, pidAlive, type StoredBackup, type UnreadableBackup } from './backup-store.js';
import { sshTargets } from './backup-targets.js';
import { runTool } from './backup-tools.js';
import { TARGET_ARCHIVE_DIR } from './binlog-archive-seal.js';

/*
 * What `backup list` and a restore see beyond this machine's disks: the backups on SSH targets
 * (plain machines, backup-ssh-store.ts), listed over SSH, and fetched with rsync into a local
 * scratch directory (0700, a dot-name under the state directory, removed after the restore)
 * before anything reads them. This is what a restore after the loss of both database machines
 * relies on: a target that cannot be reached is named, and the others are used.
 */

/**
 * The scratch directory a restore or drill fetches into (made 0700 by the fetch); removed by the
 * caller when done. Those of runs that were killed (their pid gone) are removed here first: a
 * fetched backup is as large as the database.
 */
export function fetchDir(topo: Topology, what: string): string {
  let names: string[] = [];
  try {
    names = fs.readdirSync(topo.stateDir);
  } catch {
    // no state directory yet: nothing left over
  }
  for (const n of names) {
    const pid = Number(/^\.fetch-[a-z-]+-(\d+)$/.exec(n)?.[1] ?? NaN);
    if (Number.isInteger(pid) && pid !== process.pid && !pidAlive(pid)) fs.rmSync(path.join(topo.stateDir, n), { recursive: true, force: true });
  }
  return path.join(topo.stateDir, `.fetch-${what}-${process.pid}`);
}

/** The backups without the SSH targets' copies of a backup this machine holds (nothing to fetch for those). Pure; keeps the order. */
export function preferLocal(backups: readonly StoredBackup[]): StoredBackup[] {
  const here = new Set(backups.filter((b) => b.sshTarget === undefined).map((b) => b.id));
  return backups.filter((b) => b.sshTarget === undefined || !here.has(b.id));
}

// A fetch runs at link speed: the bound of a delivery.
const FETCH_TIMEOUT_MS = 30 * 60_000;
// The archive's copy is small (sealed binlog files): minutes at most.
const ARCHIVE_FETCH_TIMEOUT_MS = 10 * 60_000;
// One mkdir there: a connection and a directory, seconds at most.
const MKDIR_TIMEOUT_MS = 60_000;

export interface EveryBackup {
  /** This machine's and every SSH target's, oldest first (a backup on several targets once each). */
  readonly backups: StoredBackup[];
  readonly unreadable: UnreadableBackup[];
  /** The SSH targets that could not be listed, and why. */
  readonly failed: string[];
}

/** Every backup this machine can restore from, the SSH targets' included (see the header). */
export async function listEveryBackup(topo: Topology): Promise<EveryBackup> {
  const local = listBackups(topo);
  const remote = await listSshBackups(topo);
  const backups = [...local.backups, ...remote.backups].sort((a, b) => (a.id === b.id ? a.node.localeCompare(b.node) : a.id < b.id ? -1 : 1));
  return { backups, unreadable: local.unreadable, failed: remote.failed };
}

/**
 * The backup `restore --verify` uses (`ref`: an id, a directory, or the newest): a copy on this
 * machine when there is one, else the SSH target's (`remote`, to fetch first).
 */
export async function findBackupAnywhere(topo: Topology, ref: string | undefined): Promise<{ dir: string; node?: string; remote?: StoredBackup; failed: string[] }> {
  if (ref !== undefined && !isBackupId(ref)) return { ...findBackup(topo, ref), failed: [] };
  if (sshTargets(topo).length === 0) return { ...findBackup(topo, ref), failed: [] };
  const every = await listEveryBackup(topo);
  const id = ref ?? every.backups.at(-1)?.id;
  const copies = every.backups.filter((b) => b.id === id);
  const local = copies.find((b) => b.sshTarget === undefined);
  if (local || copies.length === 0) {
    try {
      return { ...findBackup(topo, id), failed: every.failed };
    } catch (e) {
      if (every.failed.length === 0) throw e;
      throw new HastackError(ErrorCode.NOT_FOUND, `${describeError(e)}; and these backup targets could not be asked: ${every.failed.join('; ')}`);
    }
  }
  const remote = copies[0] as StoredBackup;
  return { dir: remote.dir, remote, failed: every.failed };
}

/** Backup `b` from its SSH target into `dir/<id>` (returned), for a restore to read. */
export async function fetchBackup(topo: Topology, b: StoredBackup, dir: string, logFile: string, say: (m: string) => void, signal?: AbortSignal): Promise<string> {
  const into = path.join(dir, b.id);
  say(`fetching backup ${b.id} from ${b.node} (${b.dir}) with rsync into ${into}`);
  await fetchSshBackup(topo, b, into, {
    logFile,
    timeoutMs: FETCH_TIMEOUT_MS,
    ...(signal ? { signal } : {}),
    say: (m) => say(m),
  });
  return into;
}

/**
 * Every SSH target's copy of the binlog archive into `dir/<target>/` (one rsync each); returns the
 * archive roots fetched and the targets that failed (the restore goes on with what it has).
 */
export async function fetchSshArchives(topo: Topology, dir: string, logFile: string, signal?: AbortSignal): Promise<{ roots: string[]; failed: string[] }> {
  const roots: string[] = [];
  const failed: string[] = [];
  for (const t of sshTargets(topo)) {
    const into = path.join(dir, t.name, TARGET_ARCHIVE_DIR);
    fs.mkdirSync(into, { recursive: true, mode: 0o700 });
    const c = sshConn(topo, t);
    const there = path.posix.join(t.root, TARGET_ARCHIVE_DIR);
    try {
      // A target with no archive yet is not a failure: `--ignore-missing-args` would hide a typo in
      // dir, so the directory is made first (the gate's mkdir).
      await sshCall(c, ['mkdir', there], { timeoutMs: MKDIR_TIMEOUT_MS, what: 'making the archive directory' });
      await runTool('rsync', ['-rlt', '-e', c.ssh.join(' '), `${c.destination}:${there}/`, `${into}/`], {
        logFile,
        timeoutMs: ARCHIVE_FETCH_TIMEOUT_MS,
        ...(signal ? { signal } : {}),
        what: `rsync of the binlog archive from ${t.name}`,
      });
      roots.push(into);
    } catch (e) {
      failed.push(`${t.name}: ${describeError(e).split('\n')[0] ?? ''}`);
    }
  }
  return { roots, failed };
}
