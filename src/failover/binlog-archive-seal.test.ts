import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { Topology } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { BackupKey } from './backup-crypt.js';
import { copyToTargets, dropTails, plainCopy, pruneTargets, readBinlogFile, sealBinlogFile, sealLeftovers, shipTail, targetArchiveRoots } from './binlog-archive-seal.js';
import { archiveDir, buildTimeline, readArchive, SEGMENT_FILE } from './binlog-archive-store.js';
import { binlog } from './binlog-fixture.test.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-binlog-seal-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const key = new BackupKey(crypto.randomBytes(32));
const CUSTOMER = Buffer.from('Customer Ada Lovelace-Byron');

function code(e: unknown): string | undefined {
  return e instanceof HastackError ? e.code : undefined;
}

/** A segment directory with a segment.json and `files` (name → bytes). */
function segment(root: string, name: string, files: Record<string, Buffer>): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, SEGMENT_FILE), JSON.stringify({ seq: 1, node: 'db1', serverId: 1, startFile: 'mysql-bin.000001', startedAt: '2026-12-04T00:00:00Z' }));
  for (const [n, b] of Object.entries(files)) fs.writeFileSync(path.join(dir, n), b);
  return dir;
}

describe('archived binlog files sealed at rest', () => {
  it('seals a finished file: no plaintext left, no customer name in the bytes, reads back exactly', () => {
    const dir = segment(path.join(tmp, 'a'), '000001-db1-s1', { 'mysql-bin.000001': Buffer.concat([crypto.randomBytes(200_000), CUSTOMER]) });
    const plain = fs.readFileSync(path.join(dir, 'mysql-bin.000001'));
    const s = sealBinlogFile(path.join(dir, 'mysql-bin.000001'), key);
    assert.equal(s.file, path.join(dir, 'mysql-bin.000001.enc'));
    assert.equal(fs.existsSync(path.join(dir, 'mysql-bin.000001')), false);
    assert.equal(fs.readFileSync(s.file).includes(CUSTOMER), false);
    assert.equal((fs.statSync(s.file).mode & 0o077) === 0, true);
    assert.deepEqual(readBinlogFile(s.file, key), plain);
    // Sealing again is a no-op; without a key nothing is sealed.
    assert.equal(sealBinlogFile(s.file, key).file, s.file);
  });

  it('a flipped byte is BACKUP_TAMPERED; no key or another key is BACKUP_KEY_MISSING; moved elsewhere it does not decrypt', () => {
    const dir = segment(path.join(tmp, 'b'), '000001-db1-s1', { 'mysql-bin.000002': CUSTOMER });
    const { file } = sealBinlogFile(path.join(dir, 'mysql-bin.000002'), key);
    assert.throws(
      () => readBinlogFile(file, undefined),
      (e) => code(e) === ErrorCode.BACKUP_KEY_MISSING,
    );
    assert.throws(
      () => readBinlogFile(file, new BackupKey(crypto.randomBytes(32))),
      (e) => code(e) === ErrorCode.BACKUP_KEY_MISSING,
    );
    const moved = path.join(segment(path.join(tmp, 'b'), '000002-db1-s1', {}), 'mysql-bin.000002.enc');
    fs.copyFileSync(file, moved);
    assert.throws(
      () => readBinlogFile(moved, key),
      (e) => code(e) === ErrorCode.BACKUP_TAMPERED,
    );
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 1;
    fs.writeFileSync(file, bytes);
    assert.throws(
      () => readBinlogFile(file, key),
      (e) => code(e) === ErrorCode.BACKUP_TAMPERED,
    );
    assert.throws(
      () => plainCopy(file, key, path.join(tmp, 'b-plain')),
      (e) => code(e) === ErrorCode.BACKUP_TAMPERED,
    );
  });

  it('plainCopy decrypts into a 0700 directory for mariadb-binlog; a plaintext file is used as is', () => {
    const dir = segment(path.join(tmp, 'c'), '000001-db1-s1', { 'mysql-bin.000001': CUSTOMER, 'mysql-bin.000002': CUSTOMER });
    const { file } = sealBinlogFile(path.join(dir, 'mysql-bin.000001'), key);
    const out = plainCopy(file, key, path.join(tmp, 'c-plain'));
    assert.deepEqual(fs.readFileSync(out), CUSTOMER);
    assert.equal(fs.statSync(path.join(tmp, 'c-plain')).mode & 0o777, 0o700);
    assert.equal(plainCopy(path.join(dir, 'mysql-bin.000002'), key, path.join(tmp, 'c-plain')), path.join(dir, 'mysql-bin.000002'));
  });

  it('copies sealed files and segment.json to every target, and prunes them there', () => {
    const dir = segment(path.join(tmp, 'd'), '000003-db1-s1', { 'mysql-bin.000001': CUSTOMER });
    const { file } = sealBinlogFile(path.join(dir, 'mysql-bin.000001'), key);
    const roots = [path.join(tmp, 'd-t1'), path.join(tmp, 'd-t2')];
    assert.deepEqual(copyToTargets(roots, dir, file, SEGMENT_FILE), []);
    for (const r of roots) {
      assert.deepEqual(fs.readdirSync(path.join(r, '000003-db1-s1')).sort(), ['mysql-bin.000001.enc', SEGMENT_FILE]);
      assert.deepEqual(readBinlogFile(path.join(r, '000003-db1-s1', 'mysql-bin.000001.enc'), key), CUSTOMER);
    }
    fs.writeFileSync(path.join(tmp, 'd-file'), 'x');
    assert.equal(copyToTargets([path.join(tmp, 'd-file')], dir, file, SEGMENT_FILE).length, 1, 'an unwritable target is reported, not thrown');
    pruneTargets(roots, ['000003-db1-s1']);
    for (const r of roots) assert.deepEqual(fs.readdirSync(r), []);
  });

  it('seals what a killed archiver left in plaintext', () => {
    const root = path.join(tmp, 'e');
    const dir = segment(root, '000001-db1-s1', { 'mysql-bin.000001': CUSTOMER, 'mysql-bin.000002.enc': Buffer.from('already') });
    assert.deepEqual(sealLeftovers(root, key, [path.join(tmp, 'e-t')], SEGMENT_FILE), []);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['mysql-bin.000001.enc', 'mysql-bin.000002.enc', SEGMENT_FILE]);
    assert.deepEqual(fs.readdirSync(path.join(tmp, 'e-t', '000001-db1-s1')).sort(), ['mysql-bin.000001.enc', SEGMENT_FILE]);
  });

  it('readArchive decrypts sealed segments, and reads a target when the node archive is gone', () => {
    const stateDir = path.join(tmp, 'f');
    const topo = {
      stateDir,
      cluster: 'c',
      nodes: [{ name: 'db1' }],
      config: { backup: { keep: 7, targets: [{ name: 'nas', dir: path.join(tmp, 'f-nas') }] } },
    } as unknown as Topology;
    const raw = binlog(
      1,
      [[0, 1, 4]],
      [
        { seq: 5, ts: 2000 },
        { seq: 6, ts: 2001 },
      ],
    );
    const dir = segment(archiveDir(topo, 'db1'), '000001-db1-s1', { 'mysql-bin.000001': raw });
    const { file } = sealBinlogFile(path.join(dir, 'mysql-bin.000001'), key);
    copyToTargets(targetArchiveRoots(topo), dir, file, SEGMENT_FILE);
    const seqs = (): number[] => buildTimeline(readArchive(topo, key)).transactions.map((t) => t.seq);
    assert.deepEqual(seqs(), [5, 6]);
    assert.equal(readArchive(topo, key).length, 1, 'a segment on the node and a target is read once');
    assert.throws(
      () => readArchive(topo),
      (e) => code(e) === ErrorCode.BACKUP_KEY_MISSING,
    );
    fs.rmSync(archiveDir(topo, 'db1'), { recursive: true });
    assert.deepEqual(seqs(), [5, 6]);
  });

  it('the file being streamed reaches a target as chunks: read as one file up to the first gap, replaced by the finished file', () => {
    const stateDir = path.join(tmp, 'g');
    const nas = path.join(tmp, 'g-nas');
    const topo = { stateDir, cluster: 'c', nodes: [{ name: 'db1' }], config: { backup: { keep: 7, targets: [{ name: 'nas', dir: nas }] } } } as unknown as Topology;
    const raw = binlog(
      1,
      [[0, 1, 4]],
      [
        { seq: 5, ts: 2000 },
        { seq: 6, ts: 2001 },
        { seq: 7, ts: 2002 },
      ],
    );
    const dir = segment(archiveDir(topo, 'db1'), '000001-db1-s1', { 'mysql-bin.000001': raw });
    const roots = targetArchiveRoots(topo);
    const cut = Math.floor(raw.length / 2);
    // Two chunks, the second overlapping the first (an archiver restarted mid-file ships from 0 again).
    assert.deepEqual(shipTail(roots, dir, 'mysql-bin.000001', 0, raw.subarray(0, cut), key, SEGMENT_FILE), []);
    assert.deepEqual(shipTail(roots, dir, 'mysql-bin.000001', 0, raw.subarray(0, cut + 10), key, SEGMENT_FILE), []);
    assert.deepEqual(shipTail(roots, dir, 'mysql-bin.000001', cut + 10, raw.subarray(cut + 10), key, SEGMENT_FILE), []);
    const onTarget = path.join(roots[0] ?? '', '000001-db1-s1');
    for (const n of fs.readdirSync(onTarget).filter((x) => x.includes('.tail-')))
      assert.equal(fs.readFileSync(path.join(onTarget, n)).includes(raw.subarray(0, 24)), false, `${n} is sealed`);
    fs.rmSync(archiveDir(topo, 'db1'), { recursive: true });
    const seqs = (): number[] => buildTimeline(readArchive(topo, key)).transactions.map((t) => t.seq);
    assert.deepEqual(seqs(), [5, 6, 7], 'the chunks read as the whole file');
    const tail = path.join(onTarget, 'mysql-bin.000001.tail');
    assert.deepEqual(fs.readFileSync(plainCopy(tail, key, path.join(tmp, 'g-plain'))), raw, 'mariadb-binlog gets the assembled bytes');
    // A chunk moved to another offset does not decrypt: its context names its offset.
    const chunks = fs
      .readdirSync(onTarget)
      .filter((n) => n.includes('.tail-'))
      .sort();
    const moved = path.join(onTarget, 'moved');
    fs.copyFileSync(path.join(onTarget, chunks[0] ?? ''), moved);
    fs.copyFileSync(path.join(onTarget, chunks[1] ?? ''), path.join(onTarget, chunks[0] ?? ''));
    assert.throws(
      () => readBinlogFile(tail, key),
      (e) => code(e) === ErrorCode.BACKUP_TAMPERED,
    );
    fs.renameSync(moved, path.join(onTarget, chunks[0] ?? ''));
    // The finished file arrives: its chunks go.
    const fin = segment(path.join(tmp, 'g-node'), '000001-db1-s1', { 'mysql-bin.000001': raw });
    const { file } = sealBinlogFile(path.join(fin, 'mysql-bin.000001'), key);
    copyToTargets(roots, fin, file, SEGMENT_FILE);
    dropTails(roots, '000001-db1-s1', 'mysql-bin.000001');
    assert.deepEqual(fs.readdirSync(onTarget).sort(), ['mysql-bin.000001.enc', SEGMENT_FILE]);
    assert.deepEqual(seqs(), [5, 6, 7]);
  });
});
