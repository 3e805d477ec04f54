import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  MANIFEST_FORMAT,
  backupIdAt,
  checkFiles,
  compareFiles,
  describeFiles,
  formatBytes,
  isBackupId,
  manifestSchema,
  parseBinlogInfo,
  readManifest,
  type BackupManifest,
} from './backup-manifest.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-manifest-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function backupDirWith(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(tmp, 'b-'));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

function manifestFor(dir: string, files: BackupManifest['files']): BackupManifest {
  const m: BackupManifest = {
    format: MANIFEST_FORMAT,
    id: '20261129T120501Z',
    cluster: 'c',
    trigger: 'manual',
    startedAt: '2026-11-29T12:05:01.000Z',
    finishedAt: '2026-11-29T12:05:03.000Z',
    durationMs: 2000,
    source: { node: 'standby', dbRole: 'replica', redisNode: 'standby', redisRole: 'replica' },
    target: { node: 'standby', dir },
    gtid: '0-1-42',
    prepared: true,
    database: { name: 'app', statsExact: true, tables: [{ name: 'items', rows: 5, checksum: '123' }] },
    tools: { mariabackup: 'x' },
    files,
    totalBytes: files.reduce((n, f) => n + f.size, 0),
  };
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));
  return m;
}

describe('backup ids', () => {
  it('are the UTC start time, sortable as strings', () => {
    const a = backupIdAt(new Date('2026-11-29T09:05:01.250Z'));
    const b = backupIdAt(new Date('2026-11-29T10:00:00.000Z'));
    assert.equal(a, '20261129T090501Z');
    assert.ok(isBackupId(a));
    assert.ok(a < b);
    assert.ok(!isBackupId('.staging-20261129T090501Z'));
    assert.ok(!isBackupId('latest'));
  });
});

describe('xtrabackup_binlog_info', () => {
  it('gives the GTID column', () => {
    assert.equal(parseBinlogInfo('mysql-bin.000002\t1234\t0-1-42\n'), '0-1-42');
    assert.equal(parseBinlogInfo('mysql-bin.000002\t1234\t0-1-42,1-2-7\n'), '0-1-42,1-2-7');
  });
  it('is empty when the server had no GTID', () => {
    assert.equal(parseBinlogInfo('mysql-bin.000001\t328\n'), '');
    assert.equal(parseBinlogInfo(''), '');
  });
});

describe('file checks', () => {
  it('an untouched backup has no problem', async () => {
    const dir = backupDirWith({ 'mariadb/ibdata1': 'x'.repeat(1000), 'redis/dump.rdb': 'REDIS0010' });
    const m = manifestFor(dir, await describeFiles(dir, ['manifest.json']));
    assert.deepEqual(
      m.files.map((f) => f.path),
      ['mariadb/ibdata1', 'redis/dump.rdb'],
    );
    assert.deepEqual(await checkFiles(dir, m), []);
  });

  it('reports a truncated, a changed and a missing file', async () => {
    const dir = backupDirWith({ 'mariadb/ibdata1': 'x'.repeat(1000), 'mariadb/app/items.ibd': 'abc', 'redis/dump.rdb': 'REDIS0010' });
    const m = manifestFor(dir, await describeFiles(dir, ['manifest.json']));
    fs.truncateSync(path.join(dir, 'mariadb/ibdata1'), 10);
    fs.writeFileSync(path.join(dir, 'mariadb/app/items.ibd'), 'abd');
    fs.rmSync(path.join(dir, 'redis/dump.rdb'));
    const problems = await checkFiles(dir, m);
    assert.equal(problems.length, 3);
    assert.match(problems.find((p) => p.startsWith('mariadb/ibdata1')) ?? '', /10 bytes, the manifest says 1000/);
    assert.match(problems.find((p) => p.startsWith('mariadb/app/items.ibd')) ?? '', /sha256 differs/);
    assert.match(problems.find((p) => p.startsWith('redis/dump.rdb')) ?? '', /missing/);
  });

  it('ignores files the manifest does not list (verify.json)', () => {
    const f = { path: 'a', size: 1, sha256: 'a'.repeat(64) };
    assert.deepEqual(compareFiles([f], [f, { path: 'verify.json', size: 9, sha256: 'b'.repeat(64) }]), []);
  });
});

describe('reading a manifest', () => {
  it('round-trips what the backup writes', async () => {
    const dir = backupDirWith({ f: 'x' });
    const m = manifestFor(dir, await describeFiles(dir, ['manifest.json']));
    assert.deepEqual(readManifest(dir), m);
    assert.ok(manifestSchema.safeParse(m).success);
  });

  it('refuses a cut-off manifest with a message naming the file', () => {
    const dir = backupDirWith({ 'manifest.json': '{"format":1,"id":"2026' });
    assert.throws(() => readManifest(dir), /manifest\.json is missing or not JSON/);
  });

  it('refuses a manifest without checksums', () => {
    const dir = backupDirWith({ 'manifest.json': JSON.stringify({ format: 1, id: 'x' }) });
    assert.throws(() => readManifest(dir), /not a valid backup manifest/);
  });
});

describe('formatBytes', () => {
  it('reads like ls -h', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(17.2 * 1024 * 1024), '17.2 MB');
  });
});
