import fs from 'node:fs';
import path from 'node:path';
import { readJsonState, writeJsonAtomic } from '../shared/files.js';
import type { AsyncWindow } from './decide.js';

/*
 * `<stateDir>/failover-semisync.json`: the automatic mode's record of a window in which the
 * primary was seen acknowledging commits without a replica (decide.ts `AsyncWindow`), rewritten
 * every cycle while it is open and removed when it closes. It outlives the primary (whose death
 * is when it matters) and the supervisor: the operator's `hastack failover` reads it to say
 * what a promotion would lose.
 */

export function semiSyncRecordFile(stateDir: string): string {
  return path.join(stateDir, 'failover-semisync.json');
}

function problem(v: unknown): string | undefined {
  const w = v as Partial<AsyncWindow> | null;
  if (typeof w !== 'object' || w === null) return 'not an object';
  if (typeof w.primary !== 'string' || typeof w.since !== 'number' || typeof w.lastSeenAt !== 'number' || typeof w.primaryBinlog !== 'string') return 'not an async window';
  return undefined;
}

/** The recorded window; undefined when none; a StateCorruptError when the file is unreadable. */
export function readAsyncWindow(stateDir: string): AsyncWindow | undefined {
  return readJsonState<AsyncWindow>(
    semiSyncRecordFile(stateDir),
    problem,
    "It records whether the primary acknowledged commits without a replica. Check the primary's semi-sync by hand (SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status' on it, and compare @@gtid_binlog_pos with the replicas'), then remove the file",
  );
}

/** Writes the window (or removes the record when closed). Throws on a write failure (full disk). */
export function writeAsyncWindow(stateDir: string, w: AsyncWindow | undefined): void {
  if (w) writeJsonAtomic(semiSyncRecordFile(stateDir), w, 0o600);
  else fs.rmSync(semiSyncRecordFile(stateDir), { force: true });
}
