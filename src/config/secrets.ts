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
  /**
   * The load balancers' TLS session-ticket secret (lb.tls): every load balancer derives the
   * ticket key of each period from it (HKDF, src/lb/tls/tickets.ts), so a session made on one
   * resumes on another with no shared store. Added after the first release like `sessionKey`.
   */
  readonly tlsTicketSecret?: string;
  /**
   * The load balancers' own database account (`hastack_edge`, only the ACME tables of the
   * `hastack_edge` schema: src/lb/acme/README.md). Added after the first release like sessionKey.
   */
  readonly lbDbPassword?: string;
  /**
   * The key (through HKDF) under which the ACME certificate's private key and account key are
   * stored in the database, AES-256-GCM: a database copy or backup alone does not hold them.
   * Added after the first release like sessionKey; changing it makes the stored key unreadable
   * (the load balancers then order a new certificate).
   */
  readonly lbStoreKey?: string;
  /**
   * etcd's `root` password (the decision quorum, issue 23): the controllers and the primary's
   * lease holder authenticate with it. Added after the first release like sessionKey.
   */
  readonly etcdRootPassword?: string;
}

export type SecretName = keyof Secrets;

/** Every secret a cluster has (some hosts hold a subset). */
export const SECRET_NAMES: ReadonlyArray<SecretName> = [
  'redisPassword',
  'sentinelPassword',
  'dbRootPassword',
  'dbAppPassword',
  'dbReplPassword',
  'vrrpPassword',
  'sessionKey',
  'tlsTicketSecret',
  'lbDbPassword',
  'lbStoreKey',
  'etcdRootPassword',
];

/** The engine passwords every cluster has (and `secrets rotate` changes); vrrpPassword and sessionKey may be absent. */
export const ENGINE_SECRETS: ReadonlyArray<SecretName> = ['redisPassword', 'sentinelPassword', 'dbRootPassword', 'dbAppPassword', 'dbReplPassword'];

export function isSecretName(s: string): s is SecretName {
  return (SECRET_NAMES as readonly string[]).includes(s);
}

/** Only `names` of `secrets`, in the canonical order. Pure. */
export function secretsSubset(secrets: Partial<Secrets>, names: readonly SecretName[]): Partial<Secrets> {
  const out: Partial<Record<SecretName, string>> = {};
  for (const k of SECRET_NAMES) {
    // Only what is held: a node's Secrets throws on reading one it does not hold (heldSecrets).
    if (!names.includes(k) || !Object.prototype.propertyIsEnumerable.call(secrets, k)) continue;
    const v = secrets[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/**
 * A keyed fingerprint of each secret: HMAC-SHA256 under `key` (a fresh random key per comparison,
 * chosen by the side that compares), so two machines can tell whether they hold the same
 * passwords without either sending one. Pure.
 */
export function fingerprintSecrets(secrets: Partial<Secrets>, key: string): Partial<Record<SecretName, string>> {
  const out: Partial<Record<SecretName, string>> = {};
  for (const k of SECRET_NAMES) {
    if (!Object.prototype.propertyIsEnumerable.call(secrets, k)) continue;
    const v = secrets[k];
    if (v !== undefined) out[k] = crypto.createHmac('sha256', key).update(`${k}\0${v}`).digest('hex');
  }
  return out;
}

export function generateSecret(): string {
  // 24 random bytes, URL-safe: no quoting trouble in redis.conf, my.cnf or a connection string.
  return crypto.randomBytes(24).toString('base64url');
}

/** 6 random bytes in base64url: exactly the 8 characters VRRPv2 authentication carries. */
function generateVrrp(): string {
  return crypto.randomBytes(6).toString('base64url');
}

/** A new cluster's secrets: every one of them. */
export function generateSecrets(): Secrets {
  return {
    ...(Object.fromEntries(ENGINE_SECRETS.map((k) => [k, generateSecret()])) as Record<string, string>),
    vrrpPassword: generateVrrp(),
    sessionKey: generateSecret(),
    tlsTicketSecret: generateSecret(),
    lbDbPassword: generateSecret(),
    lbStoreKey: generateSecret(),
    etcdRootPassword: generateSecret(),
  } as unknown as Secrets;
}

/** The secrets later versions added, each with how to make it: a file from before them gets them. */
const ADDED_SECRETS = {
  vrrpPassword: generateVrrp,
  sessionKey: generateSecret,
  tlsTicketSecret: generateSecret,
  lbDbPassword: generateSecret,
  lbStoreKey: generateSecret,
  etcdRootPassword: generateSecret,
} as const satisfies Partial<Record<keyof Secrets, () => string>>;

/** What each added secret ending means, for the message that asks to make it again. */
const ADDED_EFFECT: Readonly<Record<string, string>> = {
  sessionKey: ' (every session then ends)',
  tlsTicketSecret: ' (TLS sessions then do a full handshake once)',
};

/**
 * The same secrets with those a later version added (ADDED_SECRETS) made when they lack them; the
 * others kept as they are (the engines hold them). The same object when complete.
 */
export function withAddedSecrets(secrets: Secrets): Secrets {
  const missing = Object.entries(ADDED_SECRETS).filter(([k]) => secrets[k as keyof Secrets] === undefined);
  if (missing.length === 0) return secrets;
  return { ...secrets, ...Object.fromEntries(missing.map(([k, make]) => [k, make()])) };
}

export function secretsFile(stateDir: string): string {
  return path.join(stateDir, 'secrets.json');
}

/**
 * A node's partial secrets as a `Secrets`: a secret this node does not hold is a getter that
 * throws, naming it, so a code path that needs one fails loudly instead of using an empty
 * password. Non-enumerable: JSON.stringify and Object.keys see only what is held.
 */
export function heldSecrets(held: Partial<Secrets>, file: string): Secrets {
  const obj: Record<string, unknown> = { ...held };
  // vrrpPassword and sessionKey stay simply absent: readers check for them (see the interface).
  for (const k of ENGINE_SECRETS) {
    if (held[k] !== undefined) continue;
    Object.defineProperty(obj, k, {
      enumerable: false,
      configurable: true,
      get: () => {
        throw new HastackError(
          ErrorCode.CONFIG_INVALID,
          `${file} does not hold "${k}": this node's services do not need it (see each kind's secrets in src/registry/kinds.ts); run this from a node that does, or from the operator's machine`,
        );
      },
    });
  }
  return obj as unknown as Secrets;
}

/** The secrets this file holds (some or all), validated; absent file → undefined. */
export function readSecretsFile(file: string): Partial<Secrets> | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new HastackError(ErrorCode.CONFIG_INVALID, `cannot read ${file}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new HastackError(
      ErrorCode.CONFIG_INVALID,
      `${file} is not JSON; restore it from a host with "hastack secrets pull", never by making new passwords for a cluster that has data`,
    );
  }
  const obj = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  const out: Partial<Record<SecretName, string>> = {};
  for (const k of SECRET_NAMES) {
    const v = obj[k];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v === '') throw new HastackError(ErrorCode.CONFIG_INVALID, `${file}: "${k}" must be a non-empty string`);
    if (k === 'vrrpPassword' && !/^[A-Za-z0-9_-]{1,8}$/.test(v)) {
      throw new HastackError(
        ErrorCode.CONFIG_INVALID,
        `${file}: "vrrpPassword" must be 1 to 8 letters, digits, "-" or "_" (VRRPv2 carries 8 characters); remove the key and run "hastack deploy" to make a new one`,
      );
    }
    if (k !== 'vrrpPassword' && k in ADDED_SECRETS && v.length < 16) {
      throw new HastackError(
        ErrorCode.CONFIG_INVALID,
        `${file}: "${k}" must be a string of at least 16 characters; remove the key and run "hastack up" (or "deploy") to make a new one${ADDED_EFFECT[k] ?? ''}`,
      );
    }
    out[k] = v;
  }
  return out;
}

/**
 * The cluster's secrets as this machine holds them. The operator's state directory holds all of
 * them; a host holds its node's subset (a missing one throws when used, see heldSecrets).
 */
export function readSecrets(stateDir: string): Secrets {
  const file = secretsFile(stateDir);
  const held = readSecretsFile(file);
  if (held === undefined) throw new HastackError(ErrorCode.CLUSTER_NOT_RUNNING, `cannot read ${file}; has "hastack up" run for this cluster?`);
  return heldSecrets(held, file);
}

/** Every secret present, or a message naming what is missing. */
export function requireAllSecrets(held: Partial<Secrets>, file: string): Secrets {
  const missing = ENGINE_SECRETS.filter((k) => held[k] === undefined);
  if (missing.length > 0) {
    throw new HastackError(
      ErrorCode.CONFIG_INVALID,
      `${file} lacks ${missing.map((k) => `"${k}"`).join(', ')}; recover it with "hastack secrets pull" (from the hosts), never by making new passwords for a cluster that has data`,
    );
  }
  return held as Secrets;
}

/** Writes secrets.json atomically, mode 0600 (fsynced: losing it loses the cluster's passwords). */
export function writeSecrets(stateDir: string, secrets: Partial<Secrets>): void {
  const file = secretsFile(stateDir);
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, JSON.stringify(secretsSubset(secrets, SECRET_NAMES), null, 2) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}

/** Reads the cluster's secrets, creating them the first time (atomically, mode 0600). */
export function loadOrCreateSecrets(stateDir: string): Secrets {
  const file = secretsFile(stateDir);
  const held = readSecretsFile(file);
  if (held !== undefined) {
    const have = requireAllSecrets(held, file);
    const filled = withAddedSecrets(have);
    if (filled !== have) writeSecrets(stateDir, filled);
    return filled;
  }
  const secrets = generateSecrets();
  writeSecrets(stateDir, secrets);
  return secrets;
}

/**
 * Copies the values of `from` onto `into` in place: everything holding `into` (the supervisor's
 * services, the admin API, the failover controller) sees a rotated password without being rebuilt.
 */
export function refreshSecretsInPlace(into: Secrets, from: Secrets): void {
  for (const k of SECRET_NAMES) {
    let v: string | undefined;
    try {
      v = from[k];
    } catch {
      v = undefined;
    }
    if (v !== undefined) Object.defineProperty(into, k, { value: v, enumerable: true, configurable: true, writable: false });
  }
}
