/**
 * Retention: which complete backups of one node to remove after a new one completed. Pure; ids
 * sort by time (see backupIdAt).
 *
 * Counting only the newest `keep` let backups that failed `restore --verify` (or were never
 * verified) push out the last one known to restore. So the kept set is chosen by worth, not age:
 *   1. the newest backup that passed verification is never removed, whatever `keep` says;
 *   2. the backup just taken is never removed (it cannot have been verified yet);
 *   3. the remaining slots up to `keep` go to verified backups, then unverified ones, newest first;
 *      a backup that failed verification only fills a slot nothing else wants.
 * So the set may hold one more than `keep` (the last good one plus the newest), and what is pruned
 * first is what failed verification, then what was never verified. Only ever called after a new
 * backup completed, so a failing backup run never costs an old one.
 */

export type BackupVerification = 'passed' | 'failed' | 'unverified';

export interface RetentionCandidate {
  readonly id: string;
  readonly verification: BackupVerification;
}

const RANK: Readonly<Record<BackupVerification, number>> = { passed: 0, unverified: 1, failed: 2 };

export function backupsToRemove(backups: readonly RetentionCandidate[], keep: number, justTaken?: string): string[] {
  if (!Number.isInteger(keep) || keep < 1) return [];
  // One entry per id (a duplicate is the same backup); a failed verification wins over a passed one.
  const byId = new Map<string, RetentionCandidate>();
  for (const b of backups) {
    const had = byId.get(b.id);
    if (!had || RANK[b.verification] > RANK[had.verification]) byId.set(b.id, b);
  }
  const newestFirst = [...byId.values()].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const kept = new Set<string>();
  const lastGood = newestFirst.find((b) => b.verification === 'passed');
  if (lastGood) kept.add(lastGood.id);
  if (justTaken !== undefined && byId.has(justTaken)) kept.add(justTaken);
  const byWorth = [...newestFirst].sort((a, b) => RANK[a.verification] - RANK[b.verification] || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  for (const b of byWorth) {
    if (kept.size >= keep) break;
    kept.add(b.id);
  }
  return newestFirst.filter((b) => !kept.has(b.id)).map((b) => b.id);
}

/** A stored backup's verification as retention sees it (`verify.json`, see backup-store.ts). */
export function verificationOf(v: { readonly ok: boolean } | undefined): BackupVerification {
  return v === undefined ? 'unverified' : v.ok ? 'passed' : 'failed';
}
