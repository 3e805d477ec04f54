/**
 * The session cookie and password hashes: pure helpers (unit-tested), no I/O but scrypt.
 * The session itself lives in Redis through `ctx.session`, never in the app server.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'erp_session';
/** 8 h: a working day; the session is not renewed on use (no write per request). */
export const SESSION_TTL_S = 8 * 3600;

/** 32 random bytes, base64url: 43 characters, within the session store's id rule. */
export function newSessionId(): string {
  return randomBytes(32).toString('base64url');
}

/** The value of cookie `name` in a Cookie header, or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(/;\s*|,\s*/)) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      const v = part.slice(eq + 1).trim();
      return v === '' ? undefined : v;
    }
  }
  return undefined;
}

/** Set-Cookie for a new session (HttpOnly: scripts never see it; SameSite=Lax: no cross-site POSTs). */
export function sessionCookie(id: string): string {
  return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${SESSION_TTL_S}`;
}

/** Set-Cookie that clears it (logout). */
export function clearedSessionCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`;
}

function scryptAsync(password: string, salt: Buffer, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // r=8, p=1: scrypt's usual parameters; 32 MB of memory at most (N=16384 needs 16 MB).
    scrypt(password, salt, 32, { N: n, r: 8, p: 1, maxmem: 32 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** `scrypt$<N>$<salt hex>$<hash hex>`. N=16384: ~50 ms here, once per login. */
export async function hashPassword(password: string, salt: Buffer = randomBytes(16), n = 16_384): Promise<string> {
  const key = await scryptAsync(password, salt, n);
  return `scrypt$${n}$${salt.toString('hex')}$${key.toString('hex')}`;
}

/**
 * What an unknown user's password is checked against, so that a login for a name that does not
 * exist runs the same scrypt (N=16384, hashPassword's default) as one with a wrong password. It
 * matches no password: the stored hash is all zeros.
 */
export const DUMMY_PASSWORD_HASH = `scrypt$16384$${'0'.repeat(32)}$${'0'.repeat(64)}`;

/** Constant-time check of a password against a stored hash; false for a malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = /^scrypt\$(\d{4,7})\$([0-9a-f]{2,64})\$([0-9a-f]{64})$/.exec(stored);
  if (!m?.[1] || !m[2] || !m[3]) return false;
  const n = Number(m[1]);
  if (!Number.isInteger(Math.log2(n))) return false;
  const key = await scryptAsync(password, Buffer.from(m[2], 'hex'), n);
  return timingSafeEqual(key, Buffer.from(m[3], 'hex'));
}
