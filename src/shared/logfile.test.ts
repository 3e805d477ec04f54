import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StateCorruptError } from './errors.js';
import { readJsonState, writeFileAtomic } from './files.js';
import { appendLog, lostLogWrites, truncateIfOver } from './logfile.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-logfile-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('review item 8: every log we write is bounded', () => {
  it('appendLog rotates past its bound: the file and one old copy, never more', () => {
    const f = path.join(dir, 'failover-auto.log');
    const line = `${'x'.repeat(99)}\n`;
    for (let i = 0; i < 1000; i++) assert.equal(appendLog(f, line, { maxBytes: 10_000 }), true);
    assert.ok(fs.statSync(f).size <= 10_000 + line.length);
    assert.ok(fs.statSync(`${f}.1`).size <= 10_000 + line.length);
    assert.deepEqual(
      fs
        .readdirSync(dir)
        .filter((n) => n.startsWith('failover-auto.log'))
        .sort(),
      ['failover-auto.log', 'failover-auto.log.1'],
    );
  });
  it('a log written through an O_APPEND descriptor is truncated in place; the writer goes on at the new end', () => {
    const f = path.join(dir, 'service.log');
    const fd = fs.openSync(f, 'a');
    try {
      fs.writeSync(fd, 'y'.repeat(50_000));
      assert.equal(truncateIfOver(f, 20_000), true);
      assert.equal(fs.statSync(f).size, 0);
      assert.equal(fs.statSync(`${f}.1`).size, 5_000);
      fs.writeSync(fd, 'after\n');
      assert.equal(fs.readFileSync(f, 'utf8'), 'after\n');
      assert.equal(truncateIfOver(f, 20_000), false);
    } finally {
      fs.closeSync(fd);
    }
  });
});

describe('review item 9: state files are written atomically and never read as absent when corrupt', () => {
  it('writeFileAtomic leaves no temp file and sets the exact mode', () => {
    const f = path.join(dir, 'state.json');
    writeFileAtomic(f, '{"a":1}\n', 0o640);
    assert.equal(fs.statSync(f).mode & 0o777, 0o640);
    assert.deepEqual(
      fs.readdirSync(dir).filter((n) => n.includes('state.json') && n.endsWith('.tmp')),
      [],
    );
  });
  it('readJsonState: absent is undefined, torn or invalid is a StateCorruptError that says what to do', () => {
    const f = path.join(dir, 'run.json');
    const check = (v: unknown): string | undefined => (typeof (v as { pid?: unknown }).pid === 'number' ? undefined : 'no pid');
    assert.equal(readJsonState(f, check, 'do X'), undefined);
    fs.writeFileSync(f, '{"pid": 1');
    assert.throws(
      () => readJsonState(f, check, 'do X'),
      (e: unknown) => e instanceof StateCorruptError && e.code === 'STATE_CORRUPT' && /not JSON/.test(e.message) && /do X/.test(e.message),
    );
    fs.writeFileSync(f, '{"pid": "1"}');
    assert.throws(() => readJsonState(f, check, 'do X'), /no pid/);
    fs.writeFileSync(f, '{"pid": 1}');
    assert.deepEqual(readJsonState(f, check, 'do X'), { pid: 1 });
  });
});

// A real ENOSPC: a 1 MiB tmpfs, mounted and unmounted here (root only).
const mnt = path.join(dir, 'full');
const asRoot = process.getuid?.() === 0;
describe('review item 8: a full disk never throws from a log append', { skip: asRoot ? false : 'needs root (mount tmpfs)' }, () => {
  before(() => {
    fs.mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
  });
  after(() => {
    execFileSync('umount', [mnt]);
  });
  it('the failed appends are counted and reported once writing works again', () => {
    const f = path.join(mnt, 'events.jsonl');
    const filler = path.join(mnt, 'filler');
    assert.throws(() => fs.writeFileSync(filler, Buffer.alloc(2 * 1024 * 1024)), /ENOSPC/);
    const before = lostLogWrites();
    let recovered: string | undefined;
    const onRecovered = (l: { count: number; lastError: string }): string => (recovered = `lost ${l.count} (${l.lastError})\n`);
    assert.equal(appendLog(f, 'one\n', { onRecovered }), false);
    assert.equal(appendLog(f, 'two\n', { onRecovered }), false);
    assert.equal(lostLogWrites() - before, 2);
    fs.rmSync(filler);
    assert.equal(appendLog(f, 'three\n', { onRecovered }), true);
    assert.match(recovered ?? '', /^lost 2 \(ENOSPC/);
    assert.equal(fs.readFileSync(f, 'utf8'), `${recovered}three\n`);
  });
  it('a line a failed write left half-written is ended before the next one, which stays readable', () => {
    const f = path.join(mnt, 'torn.jsonl');
    const filler = path.join(mnt, 'filler');
    assert.throws(() => fs.writeFileSync(filler, Buffer.alloc(2 * 1024 * 1024)), /ENOSPC/);
    const onRecovered = (l: { count: number }): string => `{"lost":${l.count}}\n`;
    assert.equal(appendLog(f, '{"a":1}\n', { onRecovered }), false);
    fs.rmSync(filler);
    // What a short write before ENOSPC leaves: part of a line, no newline.
    fs.appendFileSync(f, '{"b":');
    assert.equal(appendLog(f, '{"c":3}\n', { onRecovered }), true);
    assert.deepEqual(fs.readFileSync(f, 'utf8').split('\n'), ['{"b":', '{"lost":1}', '{"c":3}', '']);
  });
  it('an atomic state write on a full disk fails and leaves the old file whole', () => {
    const f = path.join(mnt, 'run.json');
    writeFileAtomic(f, '{"old":true}\n');
    const filler = path.join(mnt, 'filler');
    assert.throws(() => fs.writeFileSync(filler, Buffer.alloc(2 * 1024 * 1024)), /ENOSPC/);
    assert.throws(() => writeFileAtomic(f, `{"new":"${'z'.repeat(100_000)}"}\n`), /ENOSPC/);
    assert.equal(fs.readFileSync(f, 'utf8'), '{"old":true}\n');
    assert.deepEqual(
      fs.readdirSync(mnt).filter((n) => n.endsWith('.tmp')),
      [],
    );
    fs.rmSync(filler);
  });
});
