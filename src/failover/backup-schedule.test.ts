import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBackupDue, nextCronFire, parseCron, parseInterval, parseSchedule, pollIntervalMs, type Schedule } from './backup-schedule.js';

const H = 3_600_000;
const T0 = Date.parse('2026-11-29T00:00:00Z');
const every6h: Schedule = { kind: 'interval', ms: 6 * H };
const at3am: Schedule = parseSchedule('0 3 * * *');

describe('backup.schedule intervals', () => {
  it('parses s, m, h, d', () => {
    assert.equal(parseInterval('90s'), 90_000);
    assert.equal(parseInterval('30m'), 30 * 60_000);
    assert.equal(parseInterval('6h'), 6 * H);
    assert.equal(parseInterval('1d'), 24 * H);
  });
  it('names the key on anything else', () => {
    for (const bad of ['', '6', 'h', '0h', '1w', '1.5h', '-1h']) assert.throws(() => parseInterval(bad), /backup\.schedule/);
  });
  it('polls often for short intervals, at most once a minute for long ones', () => {
    assert.equal(pollIntervalMs({ kind: 'interval', ms: 5_000 }), 1000);
    assert.equal(pollIntervalMs(every6h), 60_000);
  });
});

describe('backup.schedule cron expressions (UTC)', () => {
  it('tells a cron expression from an interval', () => {
    assert.equal(parseSchedule('6h').kind, 'interval');
    assert.equal(at3am.kind, 'cron');
  });
  it('next fire of "0 3 * * *" is 03:00 the same or the next day', () => {
    assert.equal(at3am.kind === 'cron' && nextCronFire(at3am.cron, T0), Date.parse('2026-11-29T03:00:00Z'));
    assert.equal(at3am.kind === 'cron' && nextCronFire(at3am.cron, Date.parse('2026-11-29T03:00:00Z')), Date.parse('2026-11-30T03:00:00Z'));
  });
  it('steps, ranges, lists and Sunday as 7', () => {
    const c = parseCron('*/15 1-2 * * 7');
    assert.deepEqual([...c.minute], [0, 15, 30, 45]);
    assert.deepEqual([...c.hour], [1, 2]);
    assert.ok(c.dayOfWeek.has(0));
    // 2026-11-29 is a Sunday.
    assert.equal(nextCronFire(c, T0), Date.parse('2026-11-29T01:00:00Z'));
    assert.deepEqual([...parseCron('5,35 * * * *').minute], [5, 35]);
  });
  it('refuses bad fields, naming the key', () => {
    for (const bad of ['60 * * * *', '* 24 * * *', '* * 0 * *', '* * * 13 *', '* * * *', 'a * * * *', '5-1 * * * *']) {
      assert.throws(() => parseCron(bad), /backup\.schedule/, bad);
    }
  });
});

describe('is a scheduled backup due', () => {
  it('not right after the supervisor started with no backup yet', () => {
    assert.equal(isBackupDue({ now: T0 + 1000, schedule: every6h, startedAt: T0 }), false);
  });
  it('one interval after the supervisor started with no backup yet', () => {
    assert.equal(isBackupDue({ now: T0 + 6 * H, schedule: every6h, startedAt: T0 }), true);
  });
  it('not when a manual backup was taken less than an interval ago', () => {
    assert.equal(isBackupDue({ now: T0 + 7 * H, schedule: every6h, startedAt: T0, lastBackupAt: T0 + 5 * H }), false);
  });
  it('when the newest backup is older than the interval (a restarted supervisor catches up)', () => {
    assert.equal(isBackupDue({ now: T0 + 1000, schedule: every6h, startedAt: T0, lastBackupAt: T0 - 7 * H }), true);
  });
  it('a failed attempt is retried one interval later, not at every poll', () => {
    const f = { schedule: every6h, startedAt: T0, lastBackupAt: T0 - 7 * H, lastAttemptAt: T0 + 1000 };
    assert.equal(isBackupDue({ ...f, now: T0 + 2000 }), false);
    assert.equal(isBackupDue({ ...f, now: T0 + 1000 + 6 * H }), true);
  });
  it('cron: due at 03:00, not before, and once', () => {
    const f = { schedule: at3am, startedAt: T0 };
    assert.equal(isBackupDue({ ...f, now: T0 + 2 * H }), false);
    assert.equal(isBackupDue({ ...f, now: T0 + 3 * H }), true);
    assert.equal(isBackupDue({ ...f, now: T0 + 3 * H + 60_000, lastBackupAt: T0 + 3 * H }), false);
  });
  it('cron: a supervisor that was down at 03:00 takes the missed backup', () => {
    assert.equal(isBackupDue({ now: T0 + 10 * H, schedule: at3am, startedAt: T0 + 10 * H - 1000, lastBackupAt: T0 - 21 * H }), true);
  });
});
