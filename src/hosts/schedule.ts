import { ConfigError } from '../shared/errors.js';

/**
 * `backup.schedule` as systemd timer settings. An interval (`30m`) repeats from the last run
 * (`OnUnitActiveSec=`), plus `OnActiveSec=` so the first run comes one interval after the timer
 * starts (OnUnitActiveSec alone never fires for a service that never ran). A five-field cron
 * expression (UTC) becomes `OnCalendar=` lines. Pure.
 */
export type TimerSchedule =
  | { readonly kind: 'interval'; readonly onActiveSec: string; readonly onUnitActiveSec: string }
  /** `cron`: the expression itself, for the keeper (which has no calendar of its own, see keeper-timer.ts). */
  | { readonly kind: 'calendar'; readonly onCalendar: readonly string[]; readonly cron: string };

const UNITS: Readonly<Record<string, string>> = { s: 's', m: 'min', h: 'h', d: 'd' };

interface Field {
  readonly name: string;
  readonly min: number;
  readonly max: number;
}
const FIELDS: readonly Field[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  // 0 and 7 are both Sunday in cron.
  { name: 'day of week', min: 0, max: 7 },
];
const DAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

function bad(schedule: string, why: string): ConfigError {
  return new ConfigError('backup.schedule', `"${schedule}": ${why}`);
}

/** Every value a cron field matches (sorted, unique); `undefined` for `*` (any). */
function expandField(text: string, f: Field, schedule: string): number[] | undefined {
  if (text === '*') return undefined;
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!m) throw bad(schedule, `the ${f.name} field "${text}" is not a number, range, list or step`);
    const step = m[4] !== undefined ? Number(m[4]) : 1;
    let lo = f.min;
    let hi = f.max;
    if (m[2] !== undefined) {
      lo = Number(m[2]);
      // "5/15" in cron means from 5 to the end of the range, every 15.
      hi = m[3] !== undefined ? Number(m[3]) : m[4] !== undefined ? f.max : lo;
    }
    if (step < 1 || lo < f.min || hi > f.max || lo > hi) throw bad(schedule, `the ${f.name} field "${text}" is outside ${f.min}-${f.max}`);
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return [...out].sort((a, b) => a - b);
}

function list(values: number[] | undefined, pad: number): string {
  if (values === undefined) return '*';
  return values.map((v) => String(v).padStart(pad, '0')).join(',');
}

export function timerSchedule(schedule: string): TimerSchedule {
  const s = schedule.trim();
  const interval = /^([1-9][0-9]{0,5})(s|m|h|d)$/.exec(s);
  if (interval) {
    const v = `${interval[1]}${UNITS[interval[2] ?? 's']}`;
    return { kind: 'interval', onActiveSec: v, onUnitActiveSec: v };
  }
  const parts = s.split(/\s+/);
  if (parts.length !== 5) throw bad(schedule, 'must be an interval like 30m or a five-field cron expression like "0 3 * * *"');
  const [min, hour, dom, mon, dow] = FIELDS.map((f, i) => expandField(parts[i] ?? '', f, schedule));
  const days = dow === undefined ? undefined : [...new Set(dow.map((d) => d % 7))].sort((a, b) => a - b);
  const time = `${list(hour, 2)}:${list(min, 2)}:00 UTC`;
  const date = (d: number[] | undefined): string => `*-${list(mon, 2)}-${list(d, 2)}`;
  const weekdays = days === undefined || days.length === 7 ? undefined : days.map((d) => DAY_NAMES[d]).join(',');
  if (dom !== undefined && weekdays !== undefined) {
    // cron runs when EITHER the day of month OR the weekday matches; one OnCalendar= line would
    // demand both, so the timer gets one line for each (a timer fires on any of its lines).
    return { kind: 'calendar', onCalendar: [`${date(dom)} ${time}`, `${weekdays} ${date(undefined)} ${time}`], cron: s };
  }
  return { kind: 'calendar', onCalendar: [`${weekdays !== undefined ? `${weekdays} ` : ''}${date(dom)} ${time}`], cron: s };
}
