import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { drillStatus, type DrillRecord } from './backup-drill.js';

const NOW = Date.parse('2026-12-04T12:00:00Z');

function drillAgo(hours: number, ok = true): DrillRecord {
  return {
    ok,
    at: new Date(NOW - hours * 3_600_000).toISOString(),
    trigger: 'schedule',
    backupId: '20261204T030000Z',
    backupDir: '/x',
    pointInTime: '2026-12-04T03:00:05Z',
    recoveryMs: 12_300,
    phases: { restoreMs: 4000, startMs: 3000, replayMs: 0, checkMs: 5300 },
    dataBytes: 300e6,
    encrypted: true,
    replay: 'none',
    tables: [],
    problems: ok ? [] : ['table app.sales_orders has 3 rows after restore, 5 at backup time'],
    checks: [],
  };
}

describe('drillStatus', () => {
  it('a recent passed drill: its age and recovery time, no warning', () => {
    const s = drillStatus(drillAgo(3), '1d', NOW);
    assert.equal(s.warning, false);
    assert.match(s.line, /passed 3\.0 h ago: backup 20261204T030000Z recovered in 12\.3 s/);
  });
  it('a failed drill is a warning naming the first problem', () => {
    const s = drillStatus(drillAgo(1, false), '1d', NOW);
    assert.equal(s.warning, true);
    assert.match(s.line, /FAILED .*3 rows after restore/);
  });
  it('older than two periods is overdue (interval and cron)', () => {
    assert.equal(drillStatus(drillAgo(49), '1d', NOW).warning, true);
    assert.match(drillStatus(drillAgo(49), '1d', NOW).line, /OVERDUE/);
    assert.equal(drillStatus(drillAgo(47), '1d', NOW).warning, false);
    assert.equal(drillStatus(drillAgo(49), '0 5 * * *', NOW).warning, true);
  });
  it('none yet: a warning only when drills are scheduled', () => {
    assert.equal(drillStatus(undefined, '1d', NOW).warning, true);
    assert.equal(drillStatus(undefined, undefined, NOW).warning, false);
  });
});
