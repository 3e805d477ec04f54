import crypto from 'node:crypto';
import { MAX_KEY_BYTES } from './protocol.js';

// Memcached keys may not contain spaces or control characters (they delimit the text protocol).
function unsafe(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return true;
  }
  return /\s/.test(s);
}

/**
 * The key sent to memcached for an application key: `prefix + key` when that is a valid
 * memcached key, otherwise `prefix + "#" + sha1(key)`, so any string an app uses is safe and
 * distinct keys stay distinct.
 */
export function cacheKey(prefix: string, key: string): string {
  const plain = prefix + key;
  if (!unsafe(plain) && Buffer.byteLength(plain) <= MAX_KEY_BYTES) return plain;
  return `${prefix}#${crypto.createHash('sha1').update(key).digest('hex')}`;
}

/** Prefixes must themselves be safe: they come from code (app names), not from users. */
export function isSafePrefix(prefix: string): boolean {
  return !unsafe(prefix) && Buffer.byteLength(prefix) <= 100;
}
