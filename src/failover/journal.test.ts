import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { readJournal, takeLock, unfinishedJournal, writeJournal, type Journal } from './journal.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-journal-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const journal = (over: Partial<Journal> = {}): Journal => ({
  id: 'fo-1',
  kind: 'failover',
  startedAt: '2026-01-01T00:00:00Z',
  plan: { from: 'primary', to: 'standby', fromReachable: false, repoint: [], because: [], facts: [] },
  steps: {},
  runs: 1,
  ...over,
});

describe('failover journal', () => {
  it('an unfinished journal is resumed; a finished one is not', () => {
    writeJournal(dir, journal({ steps: { fence: { doneAt: 'x', message: 'fenced' } } }));
    assert.equal(unfinishedJournal(dir)?.steps.fence?.message, 'fenced');
    writeJournal(dir, journal({ finishedAt: '2026-01-01T00:01:00Z' }));
    assert.equal(unfinishedJournal(dir), undefined);
    assert.equal(readJournal(dir)?.id, 'fo-1');
  });

  it('one runbook at a time: a live holder refuses, a dead holder is taken over, a run of this process holds it against this process', () => {
    const file = path.join(dir, 'failover.lock');
    const release = takeLock(dir, () => true);
    // Another controller of the same supervisor (a deposed leader still running): refused, not taken over.
    assert.throws(() => takeLock(dir, () => true), /another failover or switchover of this process is running/);
    release();
    assert.equal(fs.existsSync(file), false);
    fs.writeFileSync(file, '999999');
    assert.throws(() => takeLock(dir, () => true), /another failover or switchover is running \(pid 999999\)/);
    takeLock(dir, () => false)();
    // Our own pid with no run of ours holding it (one stopped without its release): taken over.
    fs.writeFileSync(file, String(process.pid));
    takeLock(dir, () => true)();
    assert.equal(fs.existsSync(file), false);
  });
});
