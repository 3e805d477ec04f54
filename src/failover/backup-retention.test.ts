import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backupsToRemove } from './backup-retention.js';

const ids = ['20261129T100000Z', '20261129T120000Z', '20261129T110000Z', '20261128T230000Z'];

describe('retention', () => {
  it('keeps the newest N and removes the older ones', () => {
    assert.deepEqual(backupsToRemove(ids, 2), ['20261129T100000Z', '20261128T230000Z']);
  });
  it('removes nothing while there are at most N', () => {
    assert.deepEqual(backupsToRemove(ids, 4), []);
    assert.deepEqual(backupsToRemove(ids, 7), []);
    assert.deepEqual(backupsToRemove([], 1), []);
  });
  it('keep 1 keeps only the newest', () => {
    assert.deepEqual(backupsToRemove(ids, 1).sort(), ['20261128T230000Z', '20261129T100000Z', '20261129T110000Z']);
  });
  it('never removes everything on a nonsensical keep', () => {
    assert.deepEqual(backupsToRemove(ids, 0), []);
    assert.deepEqual(backupsToRemove(ids, Number.NaN), []);
  });
});
