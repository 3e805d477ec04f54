import crypto from 'node:crypto';
import fs from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCode, HastackError } from '../shared/errors.js';

/*
 * Encryption at rest of backups and archived binlogs: AES-256-GCM from Node's own crypto
 * (OpenSSL underneath), in a chunked format that streams (a file of any size in bounded memory)
 * and detects a changed byte, a truncation, reordered or dropped chunks, and a file swapped for
 * another one encrypted with the same key. The construction is the "STREAM" online AEAD
 * (Hoang, Reyhanitabar, Rogaway, Vizár 2015) over GCM:
 *
 *   header (64 bytes, in the clear, authenticated as the AAD of every chunk):
 *     0  "HSTKENC1"     magic and format version
 *     8  u8 1           format revision
 *     9  u8 log2(chunk) 16: 64 KiB of plaintext per chunk
 *    10  2 bytes 0      reserved
 *    12  8 bytes        key id: HMAC-SHA256(key, "hastack backup key id v1")[0..8], says which key
 *    20  32 bytes       salt, random per file
 *    52  12 bytes 0     reserved
 *   then chunks: ciphertext (= plaintext length) ‖ 16-byte GCM tag. Every chunk but the last holds
 *   exactly `chunk` bytes of plaintext; the last holds 0..chunk bytes (an empty file is one empty
 *   final chunk).
 *
 *   file key  = HKDF-SHA256(ikm = the 32-byte key, salt, info = "hastack-backup-v1 " + context):
 *               fresh per file (a random salt), so nonces never repeat under one key; the context
 *               (the backup id and the file's path, or the binlog's name) binds the file to its
 *               place: moved elsewhere, it does not decrypt.
 *   nonce(i)  = u64 big-endian chunk index ‖ u32 big-endian final flag (1 for the last chunk).
 *
 * A flipped byte fails that chunk's tag; a reordered or dropped chunk fails its index's nonce; a
 * file cut at a chunk boundary ends on a chunk sealed as not-final, so it fails too; bytes added
 * after the final chunk shift the split and fail. Every failure is BACKUP_TAMPERED; another key is
 * BACKUP_KEY_MISSING (the key ids differ, said before any chunk is read).
 */

export const CRYPT_FORMAT = 'hastack-aes-256-gcm-stream-v1';
/** Encrypted files carry this suffix in a backup directory (the manifest lists them with it). */
export const ENCRYPTED_SUFFIX = '.enc';
const MAGIC = Buffer.from('HSTKENC1', 'ascii');
const HEADER_BYTES = 64;
const TAG_BYTES = 16;
// 64 KiB: large enough that the 16-byte tag is 0.02 % of the file, small enough that a stream
// holds at most two chunks in memory.
const CHUNK_LOG2 = 16;
const KEY_ID_INFO = 'hastack backup key id v1';

/** A loaded key. Its bytes never reach a log or JSON (toJSON and inspect show the id only). */
export class BackupKey {
  readonly #bytes: Buffer;
  /** 16 hex digits, safe to print and to record in a manifest. */
  readonly id: string;
  constructor(bytes: Buffer) {
    if (bytes.length !== 32) throw new HastackError(ErrorCode.BACKUP_KEY_MISSING, `a backup key is 32 bytes, not ${bytes.length}`);
    this.#bytes = Buffer.from(bytes);
    this.id = crypto.createHmac('sha256', this.#bytes).update(KEY_ID_INFO).digest().subarray(0, 8).toString('hex');
  }
  /** The per-file key (see the header comment). */
  fileKey(salt: Buffer, context: string): Buffer {
    return Buffer.from(crypto.hkdfSync('sha256', this.#bytes, salt, `hastack-backup-v1 ${context}`, 32));
  }
  toJSON(): string {
    return `BackupKey(${this.id})`;
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toJSON();
  }
}

/**
 * Reads `backup.keyFile`: 64 hex digits or the base64 of 32 bytes (`openssl rand -hex 32`),
 * surrounding blanks ignored. Refused unless the file is the caller's alone (mode 0600 or 0400),
 * as ssh refuses an open private key: a key others can read protects nothing.
 */
export function readBackupKey(file: string): BackupKey {
  let st: fs.Stats;
  let text: string;
  try {
    st = fs.statSync(file);
    text = fs.readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new HastackError(
      ErrorCode.BACKUP_KEY_MISSING,
      `backup.keyFile ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); put the cluster's backup key there (0600), or restore on a machine that has it`,
    );
  }
  if ((st.mode & 0o077) !== 0) {
    throw new HastackError(ErrorCode.BACKUP_KEY_MISSING, `backup.keyFile ${file} is readable by others (mode ${(st.mode & 0o777).toString(8)}); run "chmod 600 ${file}"`);
  }
  const bytes = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : /^[A-Za-z0-9+/]{43}=$/.test(text) ? Buffer.from(text, 'base64') : undefined;
  if (bytes?.length !== 32) {
    throw new HastackError(
      ErrorCode.BACKUP_KEY_MISSING,
      `backup.keyFile ${file} does not hold a key (64 hex digits or 32 bytes in base64); make one with "openssl rand -hex 32 > ${file}; chmod 600 ${file}"`,
    );
  }
  return new BackupKey(bytes);
}

function header(keyId: string, salt: Buffer): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(h, 0);
  h[8] = 1;
  h[9] = CHUNK_LOG2;
  Buffer.from(keyId, 'hex').copy(h, 12);
  salt.copy(h, 20);
  return h;
}

function nonce(index: number, final: boolean): Buffer {
  const n = Buffer.alloc(12);
  n.writeBigUInt64BE(BigInt(index), 0);
  n.writeUInt32BE(final ? 1 : 0, 8);
  return n;
}

function seal(fileKey: Buffer, aad: Buffer, index: number, final: boolean, plain: Buffer): Buffer {
  const c = crypto.createCipheriv('aes-256-gcm', fileKey, nonce(index, final));
  c.setAAD(aad);
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}

function tampered(context: string, why: string): HastackError {
  return new HastackError(
    ErrorCode.BACKUP_TAMPERED,
    `${context}: ${why}; the file was changed, truncated or moved since it was encrypted: do not restore from it, use another backup (and find out who can write to the backup target)`,
    { details: { file: context } },
  );
}

/** Plaintext in, the format above out. `context` names the file (backup id and path, or the binlog's name). */
export function encryptStream(key: BackupKey, context: string): Transform {
  const salt = crypto.randomBytes(32);
  const head = header(key.id, salt);
  const fileKey = key.fileKey(salt, context);
  const size = 1 << CHUNK_LOG2;
  let pending: Buffer = Buffer.alloc(0);
  let index = 0;
  let started = false;
  return new Transform({
    transform(data: Buffer, _enc, done: TransformCallback) {
      if (!started) {
        this.push(head);
        started = true;
      }
      pending = pending.length === 0 ? data : Buffer.concat([pending, data]);
      // Strictly more than a chunk: the last full chunk may be the final one, known only at the end.
      while (pending.length > size) {
        this.push(seal(fileKey, head, index++, false, pending.subarray(0, size)));
        pending = pending.subarray(size);
      }
      done();
    },
    flush(done: TransformCallback) {
      if (!started) this.push(head);
      this.push(seal(fileKey, head, index, true, pending));
      done();
    },
  });
}

/** The key id in an encrypted file's header, or undefined when the file is not in this format. */
export function encryptedKeyId(file: string): string | undefined {
  const fd = fs.openSync(file, 'r');
  try {
    const h = Buffer.alloc(HEADER_BYTES);
    const n = fs.readSync(fd, h, 0, HEADER_BYTES, 0);
    return n === HEADER_BYTES && h.subarray(0, 8).equals(MAGIC) ? h.subarray(12, 20).toString('hex') : undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/** The format above in, plaintext out; fails with BACKUP_TAMPERED or BACKUP_KEY_MISSING (see the header comment). */
export function decryptStream(key: BackupKey, context: string): Transform {
  let head: Buffer | undefined;
  let fileKey: Buffer | undefined;
  let size = 0;
  let pending: Buffer = Buffer.alloc(0);
  let index = 0;
  const openChunk = (c: Buffer, final: boolean): Buffer => {
    if (c.length < TAG_BYTES) throw tampered(context, `chunk ${index} is cut short`);
    const d = crypto.createDecipheriv('aes-256-gcm', fileKey as Buffer, nonce(index, final));
    d.setAAD(head as Buffer);
    d.setAuthTag(c.subarray(c.length - TAG_BYTES));
    try {
      const out = Buffer.concat([d.update(c.subarray(0, c.length - TAG_BYTES)), d.final()]);
      index++;
      return out;
    } catch {
      throw tampered(context, `chunk ${index} fails authentication (${final ? 'as the last chunk: the file may be cut short' : 'a changed byte, or chunks out of order'})`);
    }
  };
  return new Transform({
    transform(data: Buffer, _enc, done: TransformCallback) {
      try {
        pending = pending.length === 0 ? data : Buffer.concat([pending, data]);
        if (!head) {
          if (pending.length < HEADER_BYTES) return done();
          const h = pending.subarray(0, HEADER_BYTES);
          if (!h.subarray(0, 8).equals(MAGIC) || h[8] !== 1) throw tampered(context, 'not an encrypted hastack file (its header is wrong)');
          const log2 = h[9] ?? 0;
          if (log2 < 10 || log2 > 24) throw tampered(context, `its header names a chunk size of 2^${log2}`);
          const id = h.subarray(12, 20).toString('hex');
          if (id !== key.id) {
            throw new HastackError(
              ErrorCode.BACKUP_KEY_MISSING,
              `${context} was encrypted with backup key ${id}, and backup.keyFile holds key ${key.id}; point backup.keyFile at the key it was made with`,
              { details: { file: context, needed: id, have: key.id } },
            );
          }
          head = Buffer.from(h);
          size = 1 << log2;
          fileKey = key.fileKey(h.subarray(20, 52), context);
          pending = pending.subarray(HEADER_BYTES);
        }
        // Keep at least one byte past a whole chunk: only the end of the input says which one is last.
        while (pending.length > size + TAG_BYTES) {
          this.push(openChunk(pending.subarray(0, size + TAG_BYTES), false));
          pending = pending.subarray(size + TAG_BYTES);
        }
        done();
      } catch (e) {
        done(e as Error);
      }
    },
    flush(done: TransformCallback) {
      try {
        if (!head) throw tampered(context, 'it is shorter than its header');
        this.push(openChunk(pending, true));
        done();
      } catch (e) {
        done(e as Error);
      }
    },
  });
}

/** Encrypts `src` into `dst` (0600). */
export async function encryptFile(key: BackupKey, src: string, dst: string, context: string): Promise<void> {
  await pipeline(fs.createReadStream(src), encryptStream(key, context), fs.createWriteStream(dst, { mode: 0o600 }));
}

/** Decrypts `src` into `dst` (0600); on failure `dst` is removed, so no half-decrypted file is left to be trusted. */
export async function decryptFile(key: BackupKey, src: string, dst: string, context: string): Promise<void> {
  try {
    await pipeline(fs.createReadStream(src), decryptStream(key, context), fs.createWriteStream(dst, { mode: 0o600 }));
  } catch (e) {
    fs.rmSync(dst, { force: true });
    throw e;
  }
}

/** `encryptStream` over a whole buffer, synchronously (archived binlog files: at most max_binlog_size). */
export function encryptBuffer(key: BackupKey, plain: Buffer, context: string): Buffer {
  const salt = crypto.randomBytes(32);
  const head = header(key.id, salt);
  const fileKey = key.fileKey(salt, context);
  const size = 1 << CHUNK_LOG2;
  const out = [head];
  let index = 0;
  let rest = plain;
  while (rest.length > size) {
    out.push(seal(fileKey, head, index++, false, rest.subarray(0, size)));
    rest = rest.subarray(size);
  }
  out.push(seal(fileKey, head, index, true, rest));
  return Buffer.concat(out);
}

/** `decryptStream` over a whole buffer, synchronously; the same errors. */
export function decryptBuffer(key: BackupKey, data: Buffer, context: string): Buffer {
  const parts: Buffer[] = [];
  const t = decryptStream(key, context);
  t.on('data', (c: Buffer) => parts.push(c));
  let failure: Error | undefined;
  // The transform and flush above finish synchronously: drive them directly.
  t._transform(data, 'binary', (e?: Error | null) => (failure = failure ?? e ?? undefined));
  if (!failure) t._flush((e?: Error | null) => (failure = failure ?? e ?? undefined));
  if (failure) throw failure;
  return Buffer.concat(parts);
}
