import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { StoredBackup } from './backup-store.js';
import { onCurrentHistory, readRestores, recordRestore, type ClusterRestore } from './restore-history.js';
import { chooseBase, restoredState } from './restore-pitr.js';
import { renderScratchCnf } from './restore-scratch.js';

const restore: ClusterRestore = { id: 'rs-1', at: '2026-12-05T10:00:00.000Z', restoredTo: '0-1-500' };

function backup(id: string, startedAt: string, gtid: string): StoredBackup {
  return { id, dir: `/b/${id}`, node: 'standby', manifest: { startedAt, gtid } } as unknown as StoredBackup;
}

describe('restores into the cluster and the backups they leave behind', () => {
  it('a backup taken before a restore is on the new history only if its position is at or before the restored one', () => {
    assert.equal(onCurrentHistory({ startedAt: '2026-12-05T09:00:00.000Z', gtid: '0-1-400' }, [restore]), true);
    assert.equal(onCurrentHistory({ startedAt: '2026-12-05T09:59:00.000Z', gtid: '0-1-500' }, [restore]), true, 'nothing committed after the restored position: the same history');
    assert.equal(onCurrentHistory({ startedAt: '2026-12-05T09:59:00.000Z', gtid: '0-1-600' }, [restore]), false, 'the pre-restore backup');
    assert.equal(onCurrentHistory({ startedAt: '2026-12-05T10:05:00.000Z', gtid: '0-1-520' }, [restore]), true, 'taken after the restore');
    assert.equal(onCurrentHistory({ startedAt: '2026-12-05T09:00:00.000Z', gtid: '0-2-500' }, [restore]), true, 'the same seq from another server');
  });

  it('chooseBase skips a backup of the old history, though its sequence number fits', () => {
    const all = [backup('old', '2026-12-05T09:00:00.000Z', '0-1-100'), backup('pre', '2026-12-05T09:59:00.000Z', '0-1-600')];
    assert.equal(chooseBase(all, 610)?.id, 'pre', 'without a restore: the newest at or before the target');
    assert.equal(chooseBase(all, 610, [restore])?.id, 'old');
    assert.equal(chooseBase(all, 50, [restore]), undefined);
  });

  it('the restored GTID state: the base position with the last replayed transaction per domain', () => {
    assert.equal(restoredState('0-1-100', { domain: 0, server: 2, seq: 140 } as Parameters<typeof restoredState>[1]), '0-2-140');
    assert.equal(restoredState('0-1-100', undefined), '0-1-100');
    assert.equal(restoredState('0-1-100,1-3-7', { domain: 0, server: 1, seq: 101 } as Parameters<typeof restoredState>[1]), '0-1-101,1-3-7');
  });

  it('recordRestore keeps one record per id (a resumed run)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-restores-'));
    try {
      assert.deepEqual(readRestores(dir), []);
      recordRestore(dir, restore);
      recordRestore(dir, { ...restore, preRestoreBackup: 'b-1' });
      assert.deepEqual(readRestores(dir), [{ ...restore, preRestoreBackup: 'b-1' }]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a scratch server for the cluster binlogs as the node; one for checks does not', () => {
    const p = { dataDir: '/d', socket: '/s', pidFile: '/p', tmpDir: '/t', errorLog: '/e', address: '127.0.0.1', port: 3307, asRoot: false };
    assert.match(renderScratchCnf(p), /^skip-log-bin$/m);
    assert.match(renderScratchCnf(p), /^server_id=4000000000$/m);
    const node = renderScratchCnf({ ...p, serverId: 1 });
    assert.doesNotMatch(node, /skip-log-bin/);
    assert.match(node, /^log_bin=mysql-bin$/m);
    assert.match(node, /^server_id=1$/m);
  });
});
