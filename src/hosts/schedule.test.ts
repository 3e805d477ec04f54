import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../shared/errors.js';
import { timerSchedule } from './schedule.js';

describe('backup.schedule as a systemd timer', () => {
  it('an interval repeats from the last run and first fires one interval after the timer starts', () => {
    assert.deepEqual(timerSchedule('30m'), { kind: 'interval', onActiveSec: '30min', onUnitActiveSec: '30min' });
    assert.deepEqual(timerSchedule(' 1d '), { kind: 'interval', onActiveSec: '1d', onUnitActiveSec: '1d' });
    assert.equal(timerSchedule('90s').kind, 'interval');
  });

  it('a daily cron line is one OnCalendar in UTC', () => {
    assert.deepEqual(timerSchedule('0 3 * * *'), { kind: 'calendar', onCalendar: ['*-*-* 03:00:00 UTC'], cron: '0 3 * * *' });
  });

  it('steps, ranges and lists are expanded', () => {
    assert.deepEqual(timerSchedule('*/15 1-3 * * *'), { kind: 'calendar', onCalendar: ['*-*-* 01,02,03:00,15,30,45:00 UTC'], cron: '*/15 1-3 * * *' });
    assert.deepEqual(timerSchedule('5 0 1,15 */6 *'), { kind: 'calendar', onCalendar: ['*-01,07-01,15 00:05:00 UTC'], cron: '5 0 1,15 */6 *' });
  });

  it('weekdays become names; 7 is Sunday like 0', () => {
    assert.deepEqual(timerSchedule('30 2 * * 1-5'), { kind: 'calendar', onCalendar: ['Mon,Tue,Wed,Thu,Fri *-*-* 02:30:00 UTC'], cron: '30 2 * * 1-5' });
    assert.deepEqual(timerSchedule('0 4 * * 7'), { kind: 'calendar', onCalendar: ['Sun *-*-* 04:00:00 UTC'], cron: '0 4 * * 7' });
    assert.deepEqual(timerSchedule('0 4 * * 0-7'), { kind: 'calendar', onCalendar: ['*-*-* 04:00:00 UTC'], cron: '0 4 * * 0-7' });
  });

  it('day of month and weekday both given fire on either, as cron does', () => {
    assert.deepEqual(timerSchedule('0 0 1 * 1'), { kind: 'calendar', onCalendar: ['*-*-01 00:00:00 UTC', 'Mon *-*-* 00:00:00 UTC'], cron: '0 0 1 * 1' });
  });

  it('a value out of range names the key and the field', () => {
    assert.throws(
      () => timerSchedule('61 * * * *'),
      (e: unknown) => e instanceof ConfigError && /backup\.schedule.*minute/.test(e.message),
    );
    assert.throws(
      () => timerSchedule('0 0 * 13 *'),
      (e: unknown) => e instanceof ConfigError && /month/.test(e.message),
    );
  });
});
