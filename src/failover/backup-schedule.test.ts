import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBackupDue, parseInterval, pollIntervalMs } from './backup-schedule.js';

const H = 3_600_000;
const T0 = Date.parse('2026-11-29T00:00:00Z');

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
    assert.equal(pollIntervalMs(5_000), 1000);
    assert.equal(pollIntervalMs(6 * H), 60_000);
  });
});

describe('is a scheduled backup due', () => {
  it('not right after the supervisor started with no backup yet', () => {
    assert.equal(isBackupDue({ now: T0 + 1000, intervalMs: 6 * H, startedAt: T0 }), false);
  });
  it('one interval after the supervisor started with no backup yet', () => {
    assert.equal(isBackupDue({ now: T0 + 6 * H, intervalMs: 6 * H, startedAt: T0 }), true);
  });
  it('not when a manual backup was taken less than an interval ago', () => {
    assert.equal(isBackupDue({ now: T0 + 7 * H, intervalMs: 6 * H, startedAt: T0, lastBackupAt: T0 + 5 * H }), false);
  });
  it('when the newest backup is older than the interval (a restarted supervisor catches up)', () => {
    assert.equal(isBackupDue({ now: T0 + 1000, intervalMs: 6 * H, startedAt: T0, lastBackupAt: T0 - 7 * H }), true);
  });
  it('a failed attempt is retried one interval later, not at every poll', () => {
    const f = { intervalMs: 6 * H, startedAt: T0, lastBackupAt: T0 - 7 * H, lastAttemptAt: T0 + 1000 };
    assert.equal(isBackupDue({ ...f, now: T0 + 2000 }), false);
    assert.equal(isBackupDue({ ...f, now: T0 + 1000 + 6 * H }), true);
  });
});
