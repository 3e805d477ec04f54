import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode, HastackError } from '../shared/errors.js';

/** Generated once per cluster into `<stateDir>/secrets.json` (mode 0600); never printed, never in YAML. */
export interface Secrets {
  readonly redisPassword: string;
  readonly sentinelPassword: string;
  readonly dbRootPassword: string;
  readonly dbAppPassword: string;
  readonly dbReplPassword: string;
}

const KEYS: ReadonlyArray<keyof Secrets> = ['redisPassword', 'sentinelPassword', 'dbRootPassword', 'dbAppPassword', 'dbReplPassword'];

function generate(): string {
  // 24 random bytes, URL-safe: no quoting trouble in redis.conf, my.cnf or a connection string.
  return crypto.randomBytes(24).toString('base64url');
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
  return obj as unknown as Secrets;
}

/** Reads the cluster's secrets, creating them the first time (atomically, mode 0600). */
export function loadOrCreateSecrets(stateDir: string): Secrets {
  const file = secretsFile(stateDir);
  if (fs.existsSync(file)) return readSecrets(stateDir);
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const secrets = Object.fromEntries(KEYS.map((k) => [k, generate()])) as unknown as Secrets;
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
  return secrets;
}
