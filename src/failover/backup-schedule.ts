import { ConfigError } from '../shared/errors.js';

/*
 * Scheduled backups: `backup.schedule` is an interval (`30m`, `6h`, `1d`) or a five-field cron
 * expression in UTC (`0 3 * * *`: every day at 03:00). The supervisor process asks `isBackupDue`
 * on a timer; the decision is pure so that it is tested without a clock.
 */

const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export interface CronFields {
  readonly minute: ReadonlySet<number>;
  readonly hour: ReadonlySet<number>;
  readonly dayOfMonth: ReadonlySet<number>;
  readonly month: ReadonlySet<number>;
  /** 0 = Sunday (7 is accepted as Sunday too). */
  readonly dayOfWeek: ReadonlySet<number>;
  /** Day-of-month and day-of-week both restricted: either may match (classic cron). */
  readonly domOrDow: boolean;
}

export type Schedule = { readonly kind: 'interval'; readonly ms: number } | { readonly kind: 'cron'; readonly cron: CronFields };

/** `6h` → 21 600 000. Throws a ConfigError naming `backup.schedule` on anything else. */
export function parseInterval(s: string): number {
  const m = /^([1-9][0-9]{0,5})(s|m|h|d)$/.exec(s.trim());
  const unit = m?.[2];
  if (!m || unit === undefined) throw new ConfigError('backup.schedule', `"${s}" is not an interval like 30m, 6h or 1d`);
  return Number(m[1]) * (UNIT_MS[unit] ?? 0);
}

function cronField(text: string, min: number, max: number, name: string): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!m) throw new ConfigError('backup.schedule', `cron ${name} field "${text}" is not a number, range, list, * or step`);
    const lo = m[1] === '*' ? min : Number(m[2]);
    const hi = m[1] === '*' ? max : m[3] !== undefined ? Number(m[3]) : m[4] !== undefined ? max : lo;
    const step = m[4] !== undefined ? Number(m[4]) : 1;
    if (lo < min || hi > max || lo > hi || step < 1) throw new ConfigError('backup.schedule', `cron ${name} field "${text}" is outside ${min}-${max}`);
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

/** Five fields: minute hour day-of-month month day-of-week, in UTC. */
export function parseCron(s: string): CronFields {
  const f = s.trim().split(/\s+/);
  if (f.length !== 5) throw new ConfigError('backup.schedule', `"${s}" is neither an interval (6h) nor a five-field cron expression (0 3 * * *)`);
  const [mi, h, dom, mo, dow] = f as [string, string, string, string, string];
  const dayOfWeek = cronField(dow, 0, 7, 'day-of-week');
  if (dayOfWeek.has(7)) dayOfWeek.add(0);
  return {
    minute: cronField(mi, 0, 59, 'minute'),
    hour: cronField(h, 0, 23, 'hour'),
    dayOfMonth: cronField(dom, 1, 31, 'day-of-month'),
    month: cronField(mo, 1, 12, 'month'),
    dayOfWeek,
    domOrDow: dom !== '*' && dow !== '*',
  };
}

export function parseSchedule(s: string): Schedule {
  return /^\S+$/.test(s.trim()) ? { kind: 'interval', ms: parseInterval(s) } : { kind: 'cron', cron: parseCron(s) };
}

function cronMatches(c: CronFields, d: Date): boolean {
  if (!c.minute.has(d.getUTCMinutes()) || !c.hour.has(d.getUTCHours()) || !c.month.has(d.getUTCMonth() + 1)) return false;
  const dom = c.dayOfMonth.has(d.getUTCDate());
  const dow = c.dayOfWeek.has(d.getUTCDay());
  return c.domOrDow ? dom || dow : dom && dow;
}

// A year and a day of minutes: every valid expression fires within it (29 Feb within 4 years is
// the exception, reported as never rather than searched for).
const CRON_HORIZON_MIN = 366 * 24 * 60;

/** The first minute strictly after `afterMs` at which the expression fires, or undefined. */
export function nextCronFire(c: CronFields, afterMs: number): number | undefined {
  let t = Math.floor(afterMs / 60_000) * 60_000 + 60_000;
  for (let i = 0; i < CRON_HORIZON_MIN; i++, t += 60_000) {
    if (cronMatches(c, new Date(t))) return t;
  }
  return undefined;
}

export interface ScheduleFacts {
  readonly now: number;
  readonly schedule: Schedule;
  /** Start time of the newest complete backup of this cluster (any trigger), if any. */
  readonly lastBackupAt?: number;
  /** When this scheduler last started a backup, successful or not. */
  readonly lastAttemptAt?: number;
  /** When this scheduler started: with no backup yet, counting starts here. */
  readonly startedAt: number;
}

/**
 * Interval: due when one interval has passed since the newest backup (a manual one counts: no
 * backup right after an operator took one) and since the last attempt (a failing backup is
 * retried once per interval, not in a tight loop). With no backup at all, the first is one
 * interval after the supervisor started rather than at once: `up` is busy enough without it.
 * Cron: due when the expression fired after both of those moments (a supervisor that was down at
 * 03:00 takes the missed backup when it comes back).
 */
export function isBackupDue(f: ScheduleFacts): boolean {
  const since = Math.max(f.lastBackupAt ?? f.startedAt, f.lastAttemptAt ?? -Infinity);
  if (f.schedule.kind === 'interval') return f.now - since >= f.schedule.ms;
  const next = nextCronFire(f.schedule.cron, since);
  return next !== undefined && next <= f.now;
}

/**
 * How often the scheduler asks: often enough for a short test interval to be honoured within a
 * second or two, rarely enough to cost nothing (it reads a directory listing). Cron has minute
 * resolution: every 30 s.
 */
export function pollIntervalMs(s: Schedule): number {
  if (s.kind === 'cron') return 30_000;
  return Math.max(1000, Math.min(60_000, Math.floor(s.ms / 10)));
}
