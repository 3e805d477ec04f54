import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { REPLAY_LIMIT_BYTES, chooseSeedSource, isEmptyGtidList, parseBackupGtid, shouldSeedFromBackup, type SeedCandidate } from './mariadb-seed.js';

describe('shouldSeedFromBackup', () => {
  it('replays a complete, small binlog (the very first up)', () => {
    assert.equal(shouldSeedFromBackup({ historyComplete: true, binlogBytes: 4096 }), false);
  });
  it('seeds when the binlogs were purged', () => {
    assert.equal(shouldSeedFromBackup({ historyComplete: false, binlogBytes: 4096 }), true);
  });
  it('seeds when the binlogs are too long to replay', () => {
    assert.equal(shouldSeedFromBackup({ historyComplete: true, binlogBytes: REPLAY_LIMIT_BYTES + 1 }), true);
  });
});

describe('isEmptyGtidList', () => {
  it('reads the Gtid_list event info', () => {
    assert.equal(isEmptyGtidList('[]'), true);
    assert.equal(isEmptyGtidList(' [ ] '), true);
    assert.equal(isEmptyGtidList('[0-1-42]'), false);
    assert.equal(isEmptyGtidList('[0-1-42,1-2-7]'), false);
  });
});

describe('chooseSeedSource', () => {
  const c = (id: string, role: 'primary' | 'replica', replicating: boolean, localDatadir = true): SeedCandidate => ({ id, role, replicating, localDatadir });
  it('prefers a replicating replica over the primary', () => {
    assert.equal(chooseSeedSource([c('p', 'primary', false), c('r', 'replica', true)])?.id, 'r');
  });
  it('falls back to the primary when no replica replicates', () => {
    assert.equal(chooseSeedSource([c('p', 'primary', false), c('r', 'replica', false)])?.id, 'p');
  });
  it('skips nodes whose datadir is not on this machine', () => {
    assert.equal(chooseSeedSource([c('p', 'primary', false), c('r', 'replica', true, false)])?.id, 'p');
    assert.equal(chooseSeedSource([c('p', 'primary', false, false)]), undefined);
  });
});

describe('parseBackupGtid', () => {
  it('takes the third column', () => {
    assert.equal(parseBackupGtid('mysql-bin.000003\t385\t0-1-42\n'), '0-1-42');
    assert.equal(parseBackupGtid('mysql-bin.000003\t385\t0-1-42,1-2-7\n'), '0-1-42,1-2-7');
  });
  it('is empty without a GTID', () => {
    assert.equal(parseBackupGtid('mysql-bin.000001\t4\n'), '');
    assert.equal(parseBackupGtid(''), '');
  });
});
