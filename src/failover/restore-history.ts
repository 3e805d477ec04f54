import path from 'node:path';
import { readJsonState, writeJsonAtomic } from '../shared/files.js';
import { parseGtidList } from './binlog-parse.js';

/*
 * The cluster's restores into itself (`restore --into-cluster`), in `<stateDir>/restores.json`.
 * A restore to T starts a new history at T: the primary writes T+1, T+2, ... again with other
 * contents. A backup taken before that restore with a position past T holds the old history's
 * transactions, so it must never be the base of a later point-in-time restore (its sequence
 * numbers would look right and its rows would not). The archive drops the old history by itself
 * (its next segment starts at T); the backups are filtered here.
 */

export interface ClusterRestore {
  readonly id: string;
  /** When the restored datadir went into the cluster (ISO). */
  readonly at: string;
  /** The GTID state the cluster was restored to (`0-1-42`, one per domain). */
  readonly restoredTo: string;
  /** The backup of the cluster taken just before (`hastack backup list`). */
  readonly preRestoreBackup?: string;
}

function file(stateDir: string): string {
  return path.join(stateDir, 'restores.json');
}

export function readRestores(stateDir: string): ClusterRestore[] {
  return (
    readJsonState<ClusterRestore[]>(
      file(stateDir),
      (v) => (Array.isArray(v) ? undefined : 'not a list of restores'),
      'It lists the restores into this cluster; without it an older backup may be used as a point-in-time base. Restore it from a backup of the state directory',
    ) ?? []
  );
}

/** Records a restore once (by id): a resumed run does not add it twice. */
export function recordRestore(stateDir: string, r: ClusterRestore): void {
  const all = readRestores(stateDir).filter((x) => x.id !== r.id);
  writeJsonAtomic(file(stateDir), [...all, r]);
}

/** Pure: a backup is on the cluster's current history unless a later restore went back to before its position. */
export function onCurrentHistory(backup: { readonly startedAt: string; readonly gtid: string }, restores: readonly ClusterRestore[]): boolean {
  const at = Date.parse(backup.startedAt);
  const pos = parseGtidList(backup.gtid || '');
  return restores.every((r) => {
    if (!(at < Date.parse(r.at))) return true;
    const to = parseGtidList(r.restoredTo);
    return [...pos.values()].every((g) => g.seq <= (to.get(g.domain)?.seq ?? 0));
  });
}
