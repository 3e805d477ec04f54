import crypto from 'node:crypto';
import { ErrorCode, HastackError } from '../../shared/errors.js';

/**
 * AES-256-GCM for the private keys the ACME store keeps in the database (the certificate's and the
 * ACME account's). The key comes from the cluster secret `lbStoreKey` through HKDF-SHA256, so the
 * secret's text is never the cipher key itself and another use of it would get another key. Each
 * sealed value carries a version byte, a fresh 96-bit nonce and the 128-bit tag; the row it
 * belongs to is the associated data, so a sealed key copied into another row does not open.
 */
const VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** The 32-byte cipher key for `lbStoreKey`. Pure. */
export function storeKey(secret: string): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.from('hastack-lb-store'), Buffer.from('acme-private-key-v1'), 32));
}

export function seal(key: Buffer, plain: string, row: string): Buffer {
  const nonce = crypto.randomBytes(NONCE_BYTES);
  const c = crypto.createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(Buffer.from(row, 'utf8'));
  const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
  return Buffer.concat([Buffer.from([VERSION]), nonce, c.getAuthTag(), body]);
}

/** The plain text; a typed error (never the bytes) when the key or the row is not the one it was sealed with. */
export function open(key: Buffer, sealed: Buffer, row: string): string {
  if (sealed.length < 1 + NONCE_BYTES + TAG_BYTES || sealed[0] !== VERSION) {
    throw new HastackError(ErrorCode.STATE_CORRUPT, `the sealed ACME key of ${row} is not in a format this version reads`);
  }
  try {
    const d = crypto.createDecipheriv('aes-256-gcm', key, sealed.subarray(1, 1 + NONCE_BYTES));
    d.setAAD(Buffer.from(row, 'utf8'));
    d.setAuthTag(sealed.subarray(1 + NONCE_BYTES, 1 + NONCE_BYTES + TAG_BYTES));
    return Buffer.concat([d.update(sealed.subarray(1 + NONCE_BYTES + TAG_BYTES)), d.final()]).toString('utf8');
  } catch {
    throw new HastackError(
      ErrorCode.STATE_CORRUPT,
      `the sealed ACME key of ${row} does not open with this cluster's lbStoreKey (changed secrets.json?); the load balancers order a new certificate`,
    );
  }
}
