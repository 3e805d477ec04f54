import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { writeFileAtomic } from '../shared/files.js';

/**
 * The admin API's token: 32 random bytes, made once per cluster into `<stateDir>/admin-token`
 * (mode 0600, like secrets.json). Anything that changes state (`POST /v1/faults`) must carry it as
 * `Authorization: Bearer <token>`; the CLI reads it from the state directory. It is never in argv,
 * a URL, a log or an event.
 */
export const ADMIN_TOKEN_FILE = 'admin-token';

export function adminTokenFile(stateDir: string): string {
  return path.join(stateDir, ADMIN_TOKEN_FILE);
}

/** The token of the cluster whose state is `stateDir`; a typed error saying what to do when absent. */
export function readAdminToken(stateDir: string): string {
  const file = adminTokenFile(stateDir);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch {
    throw new HastackError(ErrorCode.CLUSTER_NOT_RUNNING, `cannot read ${file} (the admin API's token); run this from the machine and user that ran "hastack up" for this cluster`);
  }
  if (text === '') throw new HastackError(ErrorCode.CONFIG_INVALID, `${file} is empty; stop the cluster and delete it, "hastack up" makes a new one`);
  return text;
}

/** Reads the token, creating it the first time (atomically, mode 0600). */
export function loadOrCreateAdminToken(stateDir: string): string {
  const file = adminTokenFile(stateDir);
  if (fs.existsSync(file)) return readAdminToken(stateDir);
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const token = crypto.randomBytes(32).toString('base64url');
  writeFileAtomic(file, token + '\n', 0o600);
  return token;
}

/**
 * Constant-time comparison: both sides are hashed first, so neither the length nor a prefix of
 * the token leaks through how long a refusal takes.
 */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const a = crypto.createHash('sha256').update(expected).digest();
  const b = crypto.createHash('sha256').update(given).digest();
  return crypto.timingSafeEqual(a, b);
}

/** The header the CLI sends: `Authorization: Bearer <token>`. */
export function authorizationHeader(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}
