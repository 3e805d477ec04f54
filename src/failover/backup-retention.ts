/**
 * Retention: which complete backups to remove so that the newest `keep` remain. Pure; ids sort by
 * time (see backupIdAt). Only ever called after a new backup completed, so a failing backup never
 * costs an old one, and the backup just taken is always among those kept.
 */
export function backupsToRemove(ids: readonly string[], keep: number): string[] {
  if (!Number.isInteger(keep) || keep < 1) return [];
  const newestFirst = [...new Set(ids)].sort().reverse();
  return newestFirst.slice(keep);
}
