import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { BackupKey, decryptFile, decryptStream, encryptFile, encryptStream, encryptedKeyId, readBackupKey } from './backup-crypt.js';

const CHUNK = 1 << 16;
const HEADER = 64;
const TAG = 16;

async function collect(r: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of r) parts.push(p as Buffer);
  return Buffer.concat(parts);
}

/** `data` fed in pieces cut at random points (the stream must not care where reads end). */
function pieces(data: Buffer, seed: number): Readable {
  const out: Buffer[] = [];
  let x = seed;
  for (let i = 0; i < data.length;) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const n = 1 + (x % 90_000);
    out.push(data.subarray(i, i + n));
    i += n;
  }
  return Readable.from(out);
}

const enc = (k: BackupKey, d: Buffer, ctx = 'b/x', seed = 7): Promise<Buffer> => collect(pieces(d, seed).pipe(encryptStream(k, ctx)));
const dec = (k: BackupKey, d: Buffer, ctx = 'b/x', seed = 11): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const s = decryptStream(k, ctx);
    s.on('error', reject);
    collect(pieces(d, seed).pipe(s)).then(resolve, reject);
  });

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof HastackError, String(e));
    return e.code;
  }
  return 'no error';
}

const key = new BackupKey(crypto.randomBytes(32));

describe('backup-crypt: chunked AES-256-GCM', () => {
  it('round-trips sizes around the chunk boundary, split at random points', async () => {
    for (const n of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5]) {
      const plain = crypto.randomBytes(n);
      const c = await enc(key, plain, 'b/x', n + 1);
      assert.equal(c.length, HEADER + n + TAG * Math.max(1, Math.ceil(n / CHUNK)), `size ${n}`);
      assert.ok((await dec(key, c, 'b/x', n + 3)).equals(plain), `size ${n}`);
    }
  });

  it('keeps no plaintext: a known name does not appear in the ciphertext', async () => {
    const plain = Buffer.from('Acme Corporation orders@acme.example '.repeat(5000));
    const c = await enc(key, plain);
    assert.equal(c.indexOf('Acme Corporation'), -1);
    // Two encryptions of the same bytes differ (a fresh salt per file).
    assert.notDeepEqual(c, await enc(key, plain));
  });

  it('detects a flipped byte anywhere: header, a middle chunk, the last tag', async () => {
    const c = await enc(key, crypto.randomBytes(2 * CHUNK + 100));
    for (const at of [3, 30, HEADER + 5, HEADER + CHUNK + TAG + 9, c.length - 1]) {
      const t = Buffer.from(c);
      t[at] = (t[at] ?? 0) ^ 0x01;
      assert.equal(await code(dec(key, t)), ErrorCode.BACKUP_TAMPERED, `byte ${at}`);
    }
  });

  it('detects truncation (at a chunk boundary too), appended bytes, reordered and dropped chunks', async () => {
    const c = await enc(key, crypto.randomBytes(3 * CHUNK + 10));
    const full = CHUNK + TAG;
    const chunk = (i: number): Buffer => c.subarray(HEADER + i * full, HEADER + (i + 1) * full);
    const head = c.subarray(0, HEADER);
    const cases: Record<string, Buffer> = {
      'cut at a chunk boundary': c.subarray(0, HEADER + 2 * full),
      'cut mid-chunk': c.subarray(0, c.length - 5),
      'header only': head,
      'shorter than the header': c.subarray(0, 20),
      'a byte appended': Buffer.concat([c, Buffer.from([0])]),
      'chunks 0 and 1 swapped': Buffer.concat([head, chunk(1), chunk(0), c.subarray(HEADER + 2 * full)]),
      'chunk 1 dropped': Buffer.concat([head, chunk(0), c.subarray(HEADER + 2 * full)]),
    };
    for (const [what, t] of Object.entries(cases)) assert.equal(await code(dec(key, t)), ErrorCode.BACKUP_TAMPERED, what);
  });

  it('binds a file to its context: another path or backup does not decrypt it', async () => {
    const c = await enc(key, Buffer.from('hello'), '20261204T030000Z/mariadb/ibdata1');
    assert.equal(await code(dec(key, c, '20261204T030000Z/mariadb/ibdata2')), ErrorCode.BACKUP_TAMPERED);
  });

  it('another key: BACKUP_KEY_MISSING naming both key ids', async () => {
    const other = new BackupKey(crypto.randomBytes(32));
    const c = await enc(key, Buffer.from('hello'));
    await assert.rejects(
      dec(other, c),
      (e: unknown) => e instanceof HastackError && e.code === ErrorCode.BACKUP_KEY_MISSING && e.message.includes(key.id) && e.message.includes(other.id),
    );
  });

  it('files: encrypt and decrypt, key id readable from the header, a failed decryption leaves no output', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-crypt-'));
    try {
      const src = path.join(dir, 'a');
      fs.writeFileSync(src, crypto.randomBytes(CHUNK * 2 + 3));
      await encryptFile(key, src, `${src}.enc`, 'ctx');
      assert.equal(encryptedKeyId(`${src}.enc`), key.id);
      assert.equal(encryptedKeyId(src), undefined);
      await decryptFile(key, `${src}.enc`, `${src}.out`, 'ctx');
      assert.ok(fs.readFileSync(`${src}.out`).equals(fs.readFileSync(src)));
      const t = fs.readFileSync(`${src}.enc`);
      t[HEADER + 100] = (t[HEADER + 100] ?? 0) ^ 0x80;
      fs.writeFileSync(`${src}.bad`, t);
      assert.equal(await code(decryptFile(key, `${src}.bad`, `${src}.out2`, 'ctx')), ErrorCode.BACKUP_TAMPERED);
      assert.equal(fs.existsSync(`${src}.out2`), false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('key file: hex or base64, refused when others can read it or it holds no key; never printed', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-key-'));
    try {
      const raw = crypto.randomBytes(32);
      const f = path.join(dir, 'k');
      fs.writeFileSync(f, `${raw.toString('hex')}\n`, { mode: 0o600 });
      const k = readBackupKey(f);
      fs.writeFileSync(f, raw.toString('base64'), { mode: 0o600 });
      assert.equal(readBackupKey(f).id, k.id);
      assert.equal(inspect(k).includes(raw.toString('hex')), false);
      assert.equal(JSON.stringify({ k }).includes(raw.toString('hex')), false);
      fs.chmodSync(f, 0o644);
      assert.throws(
        () => readBackupKey(f),
        (e: unknown) => e instanceof HastackError && e.code === ErrorCode.BACKUP_KEY_MISSING && e.message.includes('chmod 600'),
      );
      fs.writeFileSync(path.join(dir, 'short'), 'abcd', { mode: 0o600 });
      assert.throws(
        () => readBackupKey(path.join(dir, 'short')),
        (e: unknown) => e instanceof HastackError && e.code === ErrorCode.BACKUP_KEY_MISSING,
      );
      assert.throws(
        () => readBackupKey(path.join(dir, 'none')),
        (e: unknown) => e instanceof HastackError && e.code === ErrorCode.BACKUP_KEY_MISSING,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
