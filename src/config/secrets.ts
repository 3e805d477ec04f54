import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { writeJsonAtomic } from '../shared/files.js';

/** Generated once per cluster into `<stateDir>/secrets.json` (mode 0600); never printed, never in YAML. */
export interface Secrets {
  readonly redisPassword: string;
  readonly sentinelPassword: string;
  readonly dbRootPassword: string;
  readonly dbAppPassword: string;
  readonly dbReplPassword: string;
  /**
   * keepalived's VRRP `auth_pass` (lb.vip on hosts). VRRPv2 uses only its first 8 characters, so
   * it is 8 (48 random bits). Added after the first release: a secrets.json written before lacks
   * it until `loadOrCreateSecrets` (every `up` and `deploy`) adds it, so readers must not assume it.
   */
  readonly vrrpPassword?: string;
  /**
   * The app tier's HMAC key: session ids (and the other per-user names the app tier keeps in
   * Redis) are stored as HMAC-SHA256 under it, never in clear, so a copy of Redis (a replica, an
   * RDB in a backup) holds nothing a client could present. Only app servers and workers need it.
   * Added after the first release like `vrrpPassword`: `loadOrCreateSecrets` adds it; the app
   * runtime refuses to start without it (openAppRuntime).
   */
  readonly sessionKey?: string;
}

const KEYS = ['redisPassword', 'sentinelPassword', 'dbRootPassword', 'dbAppPassword', 'dbReplPassword'] as const;

function generate(): string {
  // 24 random bytes, URL-safe: no quoting trouble in redis.conf, my.cnf or a connection string.
  return crypto.randomBytes(24).toString('base64url');
}

/** 6 random bytes in base64url: exactly the 8 characters VRRPv2 authentication carries. */
function generateVrrp(): string {
  return crypto.randomBytes(6).toString('base64url');
}

function writeSecrets(file: string, secrets: Secrets): void {
  writeJsonAtomic(file, secrets, 0o600);
}

export function secretsFile(stateDir: string): string {
  return path.join(stateDir, 'secrets.json');
}

export function readSecrets(stateDir: string): Secrets {
  const file = secretsFile(stateDir);
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    throw new HastackError(ErrorCode.CLUSTER_NOT_RUNNING, `cannot read ${file}; has "hastack up" run for this cluster?`);
  }
  const obj = parsed as Record<string, unknown>;
  for (const k of KEYS) {
    if (typeof obj[k] !== 'string' || obj[k] === '') {
      throw new HastackError(ErrorCode.CONFIG_INVALID, `${file} lacks "${k}"; move the file away and run "hastack up" to make a new one only if the cluster's data is disposable`);
    }
  }
  if (obj['vrrpPassword'] !== undefined && (typeof obj['vrrpPassword'] !== 'string' || !/^[A-Za-z0-9_-]{1,8}$/.test(obj['vrrpPassword']))) {
    throw new HastackError(ErrorCode.CONFIG_INVALID, `${file}: "vrrpPassword" must be 1 to 8 letters, digits, "-" or "_" (VRRPv2 carries 8 characters); remove the key and run "hastack deploy" to make a new one`);
  }
  if (obj['sessionKey'] !== undefined && (typeof obj['sessionKey'] !== 'string' || obj['sessionKey'].length < 16)) {
    throw new HastackError(ErrorCode.CONFIG_INVALID, `${file}: "sessionKey" must be a string of at least 16 characters; remove the key and run "hastack up" (or "deploy") to make a new one (every session then ends)`);
  }
  return obj as unknown as Secrets;
}

/** Reads the cluster's secrets, creating them the first time (atomically, mode 0600). */
export function loadOrCreateSecrets(stateDir: string): Secrets {
  const file = secretsFile(stateDir);
  if (fs.existsSync(file)) {
    const have = readSecrets(stateDir);
    if (have.vrrpPassword !== undefined && have.sessionKey !== undefined) return have;
    // Secrets this version added: generated once, the others kept as they are (the engines hold them).
    const filled: Secrets = { ...have, vrrpPassword: have.vrrpPassword ?? generateVrrp(), sessionKey: have.sessionKey ?? generate() };
    writeSecrets(file, filled);
    return filled;
  }
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const secrets: Secrets = {
    ...(Object.fromEntries(KEYS.map((k) => [k, generate()])) as Record<(typeof KEYS)[number], string>),
    vrrpPassword: generateVrrp(),
    sessionKey: generate(),
  };
  writeSecrets(file, secrets);
  return secrets;
}
