import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { parseBackupGateCommand } from './backup-gate.js';
import { nextTimerFire, spanMs } from './keeper-timer.js';
import { timerSchedule } from './schedule.js';

const STATE = '/var/lib/hastack/shop';
const DEST = `${STATE}/standby/backups/.incoming-20261203T230000Z/`;
const refused = (cmd: string | undefined): void =>
  assert.throws(
    () => parseBackupGateCommand(cmd, STATE, 'standby'),
    (e: unknown) => e instanceof HastackError && e.code === ErrorCode.BAD_REQUEST,
    cmd,
  );

describe("the backup key's gate", () => {
  it("lets rsync receive into the node's .incoming-<id>, as the sender asks for it", () => {
    const cmd = `rsync --server -logDtprce.iLsfxCIvu --timeout=60 --delete --partial-dir .rsync-partial . ${DEST}`;
    assert.deepEqual(parseBackupGateCommand(cmd, STATE, 'standby'), { kind: 'rsync', argv: cmd.split(' ') });
  });

  it('lets begin, finish and abort through with their arguments', () => {
    assert.deepEqual(parseBackupGateCommand('begin 20261203T230000Z', STATE, 'standby'), { kind: 'begin', id: '20261203T230000Z' });
    assert.deepEqual(parseBackupGateCommand('finish 20261203T230000Z 3', STATE, 'standby'), { kind: 'finish', id: '20261203T230000Z', keep: 3 });
    assert.deepEqual(parseBackupGateCommand('abort 20261203T230000Z', STATE, 'standby'), { kind: 'abort', id: '20261203T230000Z' });
  });

  it('refuses a shell, reading (--sender), protect-args, other options, other directories and nodes', () => {
    refused(undefined);
    refused('');
    refused('sh -c id');
    refused('begin 20261203T230000Z; id');
    refused('begin ../../etc');
    refused('finish 20261203T230000Z 0');
    refused(`rsync --server --sender -logDtprce.iLsfxCIvu . ${DEST}`);
    refused(`rsync --server -slogDtprce.iLsfxCIvu . ${DEST}`);
    refused(`rsync --server -logDtprce.iLsfxCIvu --log-file=/etc/passwd . ${DEST}`);
    refused(`rsync --server -logDtprce.iLsfxCIvu . ${STATE}/standby/backups/20261203T230000Z/`);
    refused(`rsync --server -logDtprce.iLsfxCIvu . ${STATE}/primary/backups/.incoming-20261203T230000Z/`);
    refused(`rsync --server -logDtprce.iLsfxCIvu . ${STATE}/standby/backups/../.incoming-20261203T230000Z/`);
    refused(`rsync --server -logDtprce.iLsfxCIvu . ${DEST} /root/`);
  });
});

describe("the keeper's timer (a scheduled unit where systemd is not PID 1)", () => {
  it('an interval fires one interval after the keeper started, then one after each run started', () => {
    const t = timerSchedule('25s');
    assert.equal(spanMs('30min'), 1_800_000);
    assert.equal(nextTimerFire(t, { keeperStartedAt: 1_000, now: 1_000 }), 26_000);
    assert.equal(nextTimerFire(t, { keeperStartedAt: 1_000, lastRunAt: 26_500, now: 40_000 }), 51_500);
  });

  it('a cron expression fires at its next minute (UTC)', () => {
    const t = timerSchedule('0 3 * * *');
    const now = Date.parse('2026-12-03T23:05:00Z');
    assert.equal(nextTimerFire(t, { keeperStartedAt: now, now }), Date.parse('2026-12-04T03:00:00Z'));
  });
});
