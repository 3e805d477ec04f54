import { nextCronFire, parseCron } from '../failover/index.js';
import type { TimerSchedule } from './schedule.js';

/**
 * When the keeper runs a scheduled unit (the backup) next: what systemd's timer would do, for
 * hosts where systemd is not PID 1. An interval fires one interval after the keeper started
 * (`OnActiveSec=`) and then one interval after each run started (`OnUnitActiveSec=`); a calendar
 * fires at the cron expression's next minute. Pure; undefined when it never fires.
 */
const SPAN_UNITS_MS: Readonly<Record<string, number>> = { s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** `30min` → 1 800 000 (the spans `timerSchedule` writes). */
export function spanMs(span: string): number | undefined {
  const m = /^(\d+)(s|min|h|d)$/.exec(span);
  const unit = m?.[2];
  return m && unit !== undefined ? Number(m[1]) * (SPAN_UNITS_MS[unit] ?? 0) : undefined;
}

export function nextTimerFire(t: TimerSchedule, f: { readonly keeperStartedAt: number; readonly lastRunAt?: number; readonly now: number }): number | undefined {
  if (t.kind === 'interval') {
    const first = spanMs(t.onActiveSec);
    const every = spanMs(t.onUnitActiveSec);
    if (first === undefined || every === undefined) return undefined;
    return f.lastRunAt === undefined ? f.keeperStartedAt + first : f.lastRunAt + every;
  }
  return nextCronFire(parseCron(t.cron), Math.max(f.now, f.lastRunAt ?? -Infinity));
}
