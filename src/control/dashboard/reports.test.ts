import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { isHastackError } from '../../shared/errors.js';
import { listReports, readReport, saveReport } from './reports.js';

describe('chaos report store', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hx-reports-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('lists saved reports newest first and reads one back', () => {
    const a = saveReport(dir, 'app', { scenario: 'app', availability: 1, promisesBroken: [] }, new Date('2026-01-01T10:00:00Z'));
    const b = saveReport(
      dir,
      'redis-master',
      { scenario: 'redis-master', availability: 0.97, firstAttemptAvailability: 0.9, naiveAvailability: 0.95, promisesBroken: ['lost write'] },
      new Date('2026-01-01T11:00:00Z'),
    );
    const list = listReports(dir);
    assert.deepEqual(
      list.map((r) => r.id),
      [b, a],
    );
    assert.deepEqual(list[0]?.promisesBroken, ['lost write']);
    // Issue 22's figures, and null for a report written before they existed.
    assert.equal(list[0]?.naiveAvailability, 0.95);
    assert.equal(list[0]?.firstAttemptAvailability, 0.9);
    assert.equal(list[1]?.naiveAvailability, null);
    assert.equal(readReport(dir, a).availability, 1);
  });

  it('refuses ids that could leave the reports folder, and says when one is missing', () => {
    assert.throws(
      () => readReport(dir, '../secrets'),
      (e) => isHastackError(e) && e.code === 'BAD_REQUEST',
    );
    assert.throws(
      () => readReport(dir, 'nope'),
      (e) => isHastackError(e) && e.code === 'NOT_FOUND',
    );
  });
});
