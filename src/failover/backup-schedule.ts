import { ConfigError } from '../shared/errors.js';

/*
 * Scheduled backups: `backup.schedule` is an interval (`30m`, `6h`, `1d`). The supervisor process
 * asks `isBackupDue` on a timer; the decision is pure so that it is tested without a clock.
 */

const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `6h` → 21 600 000. Throws a ConfigError naming `backup.schedule` on anything else. */
export function parseInterval(s: string): number {
  const m = /^([1-9][0-9]{0,5})(s|m|h|d)$/.exec(s.trim());
  const unit = m?.[2];
  if (!m || unit === undefined) throw new ConfigError('backup.schedule', `"${s}" is not an interval like 30m, 6h or 1d`);
  return Number(m[1]) * (UNIT_MS[unit] ?? 0);
}

export interface ScheduleFacts {
  readonly now: number;
  readonly intervalMs: number;
  /** Start time of the newest complete backup of this cluster (any trigger), if any. */
  readonly lastBackupAt?: number;
  /** When this scheduler last started a backup, successful or not. */
  readonly lastAttemptAt?: number;
  /** When this scheduler started: with no backup yet, the first one is one interval after it. */
  readonly startedAt: number;
}

/**
 * Due when one interval has passed since the newest backup (a manual one counts: no backup right
 * after an operator took one), and since the last attempt (a failing backup is retried once per
 * interval, not in a tight loop). With no backup at all, the first is one interval after the
 * supervisor started rather than at once: `up` is busy enough without a backup on top.
 */
export function isBackupDue(f: ScheduleFacts): boolean {
  const since = Math.max(f.lastBackupAt ?? f.startedAt, f.lastAttemptAt ?? -Infinity);
  return f.now - since >= f.intervalMs;
}

/**
 * How often the scheduler asks: often enough for a short test interval to be honoured within a
 * second or two, rarely enough to cost nothing (it reads a directory listing).
 */
export function pollIntervalMs(intervalMs: number): number {
  return Math.max(1000, Math.min(60_000, Math.floor(intervalMs / 10)));
}
