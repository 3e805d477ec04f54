import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backupsToRemove, verificationOf, type BackupVerification, type RetentionCandidate } from './backup-retention.js';

const T = (h: number): string => `20261129T${String(h).padStart(2, '0')}0000Z`;
const b = (h: number, verification: BackupVerification = 'unverified'): RetentionCandidate => ({ id: T(h), verification });

/** Backups nobody verified: retention is the newest N, as it always was. */
const neverVerified = [b(10), b(12), b(11), b(9)];

describe('retention', () => {
  it('with nothing verified, keeps the newest N and removes the older ones', () => {
    assert.deepEqual(backupsToRemove(neverVerified, 2, T(12)), [T(10), T(9)]);
  });
  it('removes nothing while there are at most N', () => {
    assert.deepEqual(backupsToRemove(neverVerified, 4, T(12)), []);
    assert.deepEqual(backupsToRemove(neverVerified, 7, T(12)), []);
    assert.deepEqual(backupsToRemove([], 1), []);
  });
  it('keep 1 with nothing verified keeps only the newest', () => {
    assert.deepEqual(backupsToRemove(neverVerified, 1, T(12)).sort(), [T(9), T(10), T(11)]);
  });
  it('never removes everything on a nonsensical keep', () => {
    assert.deepEqual(backupsToRemove(neverVerified, 0), []);
    assert.deepEqual(backupsToRemove(neverVerified, Number.NaN), []);
  });

  it('review item 13: broken backups never push out the last good one', () => {
    // 9 restored fine; 10 and 11 failed verification; 12 was just taken.
    const history = [b(9, 'passed'), b(10, 'failed'), b(11, 'failed'), b(12)];
    assert.deepEqual(backupsToRemove(history, 2, T(12)).sort(), [T(10), T(11)]);
    // keep 1: the newest verified and the one just taken, one more than keep.
    assert.deepEqual(backupsToRemove(history, 1, T(12)).sort(), [T(10), T(11)]);
  });
  it('prunes failed backups before unverified ones, and unverified before verified', () => {
    const history = [b(8, 'passed'), b(9, 'passed'), b(10, 'failed'), b(11), b(12)];
    // Slots: 9 (newest verified), 12 (just taken), then 8 (verified) before 11 (unverified).
    assert.deepEqual(backupsToRemove(history, 3, T(12)).sort(), [T(10), T(11)]);
    assert.deepEqual(backupsToRemove(history, 4, T(12)).sort(), [T(10)]);
    // A failed backup only fills a slot nothing else wants.
    assert.deepEqual(backupsToRemove(history, 5, T(12)), []);
  });
  it('keeps the backup just taken even when it is the oldest id (a clock step back)', () => {
    const history = [b(9), b(10, 'passed'), b(11, 'passed')];
    assert.deepEqual(backupsToRemove(history, 2, T(9)).sort(), [T(10)]);
  });
  it('once a newer backup verified, the older good one is an ordinary candidate', () => {
    const history = [b(9, 'passed'), b(10, 'passed'), b(11)];
    assert.deepEqual(backupsToRemove(history, 2, T(11)), [T(9)]);
  });
  it('reads verify.json results as passed, failed or unverified', () => {
    assert.equal(verificationOf(undefined), 'unverified');
    assert.equal(verificationOf({ ok: true }), 'passed');
    assert.equal(verificationOf({ ok: false }), 'failed');
  });
});
