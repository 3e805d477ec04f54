import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { Topology } from '../config/index.js';
import { MANIFEST_FORMAT, describeFiles, type BackupManifest } from './backup-manifest.js';
import { receiveAbort, receiveBegin, receiveFinish } from './backup-receive.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-receive-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

// Only what the receiving side reads: the state directory and the node list.
const topo = { stateDir: tmp, cluster: 'c', nodes: [{ name: 'standby' }], config: { backup: { keep: 7 } } } as unknown as Topology;
const root = path.join(tmp, 'standby', 'backups');

/** A copy as rsync leaves it in `.incoming-<id>`: files and their manifest. */
async function arrive(id: string, files: Record<string, string>): Promise<string> {
  const dir = path.join(root, `.incoming-${id}`);
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  const described = await describeFiles(dir, ['manifest.json']);
  const m: BackupManifest = {
    format: MANIFEST_FORMAT,
    id,
    cluster: 'c',
    trigger: 'schedule',
    startedAt: '2026-12-03T23:00:00.000Z',
    finishedAt: '2026-12-03T23:00:05.000Z',
    durationMs: 5000,
    source: { node: 'primary', dbRole: 'replica', redisNode: null, redisRole: null },
    target: { node: 'standby', dir: path.join(root, id) },
    gtid: '0-2-9',
    prepared: true,
    database: { name: 'app', statsExact: true, tables: [] },
    tools: { mariabackup: 'x' },
    files: described,
    totalBytes: described.reduce((n, f) => n + f.size, 0),
  };
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));
  return dir;
}

describe('receiving a backup copied from another machine', () => {
  it('begin makes the directory; finish checks, renames into place and applies retention', async () => {
    assert.equal(receiveBegin(topo, 'standby', '20261203T220000Z').incomingDir, path.join(root, '.incoming-20261203T220000Z'));
    await arrive('20261203T220000Z', { 'mariadb/ibdata1': 'one' });
    assert.deepEqual((await receiveFinish(topo, 'standby', '20261203T220000Z', 1)).removed, []);
    assert.ok(fs.existsSync(path.join(root, '20261203T220000Z', 'manifest.json')));
    await arrive('20261203T230000Z', { 'mariadb/ibdata1': 'two' });
    const r = await receiveFinish(topo, 'standby', '20261203T230000Z', 1);
    assert.deepEqual(r.removed, [{ id: '20261203T220000Z', verification: 'unverified' }]);
    assert.deepEqual(fs.readdirSync(root), ['20261203T230000Z']);
  });

  it('a copy that does not match its manifest is removed and fails; the backups there stay', async () => {
    const dir = await arrive('20261203T231000Z', { 'mariadb/ibdata1': 'three' });
    fs.writeFileSync(path.join(dir, 'mariadb/ibdata1'), 'changed on the way');
    await assert.rejects(receiveFinish(topo, 'standby', '20261203T231000Z', 1), /does not match its manifest/);
    assert.deepEqual(fs.readdirSync(root), ['20261203T230000Z']);
  });

  it('abort removes a partial copy; begin leaves a recent one of another backup alone', async () => {
    await arrive('20261203T232000Z', { a: 'x' });
    receiveBegin(topo, 'standby', '20261203T233000Z');
    assert.ok(fs.existsSync(path.join(root, '.incoming-20261203T232000Z')), 'a copy that may still run is kept');
    assert.deepEqual(receiveAbort(topo, 'standby', '20261203T232000Z'), { removed: true });
    assert.deepEqual(receiveAbort(topo, 'standby', '20261203T232000Z'), { removed: false });
    assert.throws(() => receiveBegin(topo, 'standby', '../etc'), /not a backup id/);
  });
});
