/**
 * One root error class for everything hastack throws on purpose.
 *
 * Callers branch on `code` (stable, listed in ErrorCode) or on the class, never on the message.
 * The message says what happened and what to do about it, because an operator reads it at 3 a.m.
 */
export const ErrorCode = {
  CONFIG_INVALID: 'CONFIG_INVALID',
  CONFIG_NOT_FOUND: 'CONFIG_NOT_FOUND',
  /** A command given wrong arguments (exit 2, like a bad config): the message says the right ones. */
  USAGE: 'USAGE',
  ENGINE_MISSING: 'ENGINE_MISSING',
  ENGINE_START_FAILED: 'ENGINE_START_FAILED',
  HEALTH_TIMEOUT: 'HEALTH_TIMEOUT',
  PORT_IN_USE: 'PORT_IN_USE',
  CLUSTER_RUNNING: 'CLUSTER_RUNNING',
  CLUSTER_NOT_RUNNING: 'CLUSTER_NOT_RUNNING',
  SETUP_FAILED: 'SETUP_FAILED',
  DB_UNAVAILABLE: 'DB_UNAVAILABLE',
  /** Replication mode saw two writable primaries: writes are refused until one is read-only. */
  DB_SPLIT_BRAIN: 'DB_SPLIT_BRAIN',
  /**
   * The connection to the primary was lost (or the server interrupted COMMIT) after the write was
   * sent: it may or may not have been applied, and it was not run again. The caller reads back
   * whether it took effect before sending it again, or sends it as idempotent (a UNIQUE key).
   */
  DB_COMMIT_UNKNOWN: 'DB_COMMIT_UNKNOWN',
  /** A statement on the database read path tried to write (a bug in the caller: use execute). */
  DB_WRITE_ON_READ_PATH: 'DB_WRITE_ON_READ_PATH',
  REDIS_UNAVAILABLE: 'REDIS_UNAVAILABLE',
  QUEUE_NOT_DURABLE: 'QUEUE_NOT_DURABLE',
  APP_INVALID: 'APP_INVALID',
  BAD_REQUEST: 'BAD_REQUEST',
  NOT_FOUND: 'NOT_FOUND',
  UPSTREAM_UNAVAILABLE: 'UPSTREAM_UNAVAILABLE',
  /*
   * The load balancer's upstream client (src/lb/upstream.ts): why one attempt to a backend failed.
   * Internal to the LB (its retry policy sorts them, lb/retry.ts); the client sees the answer's
   * own code (UPSTREAM_UNAVAILABLE, OVERLOADED, TIMEOUT), never these.
   */
  /** The connection was not established in time: the request never left. */
  UPSTREAM_CONNECT_TIMEOUT: 'UPSTREAM_CONNECT_TIMEOUT',
  /** The backend closed the connection before the response was complete. */
  UPSTREAM_CLOSED: 'UPSTREAM_CLOSED',
  UPSTREAM_HEADERS_TIMEOUT: 'UPSTREAM_HEADERS_TIMEOUT',
  UPSTREAM_BODY_TIMEOUT: 'UPSTREAM_BODY_TIMEOUT',
  /** Aborted by the proxy (the client went away, or the stall watch) without a reason of its own. */
  UPSTREAM_ABORTED: 'UPSTREAM_ABORTED',
  /** The backend's pool is closing and takes no new requests. */
  UPSTREAM_POOL_CLOSED: 'UPSTREAM_POOL_CLOSED',
  /** Every connection to the backend was busy and its queue full: never sent. */
  UPSTREAM_QUEUE_FULL: 'UPSTREAM_QUEUE_FULL',
  /** Every connection stayed busy for the queue timeout: never sent. */
  UPSTREAM_QUEUE_TIMEOUT: 'UPSTREAM_QUEUE_TIMEOUT',
  /** The backend's response is not valid HTTP/1.1 (or its headers are too large). */
  UPSTREAM_BAD_RESPONSE: 'UPSTREAM_BAD_RESPONSE',
  /** A bound of the load balancer was hit (connections, buffered bodies, a backend's queue): not processed, retry later. */
  OVERLOADED: 'OVERLOADED',
  TIMEOUT: 'TIMEOUT',
  /** ssh could not reach the host (refused, timed out, no route, connection lost). */
  HOST_UNREACHABLE: 'HOST_UNREACHABLE',
  /** The host's key is not in the known_hosts file ssh checks (StrictHostKeyChecking=yes). */
  HOST_KEY_UNKNOWN: 'HOST_KEY_UNKNOWN',
  /** The host's key differs from the one recorded: a reinstalled machine, or someone in between. */
  HOST_KEY_CHANGED: 'HOST_KEY_CHANGED',
  /** The host refused every key ssh offered. */
  HOST_AUTH_FAILED: 'HOST_AUTH_FAILED',
  /** ssh worked; the command on the host failed (or printed what the caller could not parse). */
  HOST_COMMAND_FAILED: 'HOST_COMMAND_FAILED',
  /** The admin API refused a state change: no token, or not the cluster's (`<state>/admin-token`). */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /**
   * A state file hastack wrote (topology.json, run.json, a node's hastack-db.json, ...) exists but
   * does not parse or lacks what it must hold: hastack refuses to act on it rather than guess.
   */
  STATE_CORRUPT: 'STATE_CORRUPT',
  /** A failover would lose commits the primary acknowledged; refused unless --accept-data-loss. */
  DATA_LOSS_REFUSED: 'DATA_LOSS_REFUSED',
  /**
   * A failover or switchover was refused before anything changed: no single old primary, no
   * replica that can be promoted safely, an unsafe --to (`details.refusal` says which).
   */
  FAILOVER_REFUSED: 'FAILOVER_REFUSED',
  /**
   * Automatic failover is off (a failed one turned it off) or paused, where a command needs it on:
   * a `chaos soak` of a scenario that relies on it would measure the mode, not a failover.
   */
  AUTO_FAILOVER_OFF: 'AUTO_FAILOVER_OFF',
  /** The runbook could not fence the old primary (record its role, stop its writes, kill its node). */
  FENCE_FAILED: 'FENCE_FAILED',
  /** The replica was not promoted (it could not apply what it received, lacks the old primary's binlog, or is not writable after). */
  PROMOTION_FAILED: 'PROMOTION_FAILED',
  /** A replica could not be attached to the new primary (replication or semi-sync did not start). */
  REPOINT_FAILED: 'REPOINT_FAILED',
  /** An operator's hook (failover.dnsHook) exited non-zero. */
  HOOK_FAILED: 'HOOK_FAILED',
  /** The hosts hold other passwords than the operator's secrets.json (or the operator has none). */
  SECRETS_MISMATCH: 'SECRETS_MISMATCH',
  /** `hastack env NODE` of a node that carries neither "app" nor "worker": no process there gets the contract. */
  NODE_HAS_NO_APP: 'NODE_HAS_NO_APP',
  /** An ACME order failed (the CA down or refusing, a challenge not validated); the current certificate stays served. */
  ACME_FAILED: 'ACME_FAILED',
  /** A backup (or archived binlog) is encrypted and its key is not here: backup.keyFile unset, unreadable, too open, or another key. */
  BACKUP_KEY_MISSING: 'BACKUP_KEY_MISSING',
  /** An encrypted backup file failed authentication: changed, truncated, reordered or swapped since it was written. */
  BACKUP_TAMPERED: 'BACKUP_TAMPERED',
  /** The decision quorum (etcd) did not answer or had no majority: nothing is decided or renewed through it. */
  QUORUM_UNAVAILABLE: 'QUORUM_UNAVAILABLE',
  /** An automatic failover stopped between two steps: its controller no longer leads the election; the next leader resumes it from its journal. */
  NOT_LEADER: 'NOT_LEADER',
  /** A failpoint armed by HASTACK_FAILPOINTS fired (tests only): the code stopped there as if killed (failpoints.ts). */
  FAILPOINT: 'FAILPOINT',
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class HastackError extends Error {
  readonly code: ErrorCode;
  /** Extra facts for logs and JSON output (never secrets). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HastackError';
    this.code = code;
    this.details = options?.details ?? {};
  }
}

/** Bad configuration: names the key (dotted path) and the reason, in one line. */
export class ConfigError extends HastackError {
  readonly key: string;
  constructor(key: string, reason: string) {
    super(ErrorCode.CONFIG_INVALID, `${key}: ${reason}`, { details: { key } });
    this.name = 'ConfigError';
    this.key = key;
  }
}

/** An engine process that would not start or become healthy; carries the tail of its log. */
export class EngineStartError extends HastackError {
  readonly logTail: string;
  constructor(what: string, reason: string, logTail: string, logFile: string) {
    super(ErrorCode.ENGINE_START_FAILED, `${what} did not start: ${reason}. Its log is ${logFile}; last lines:\n${logTail}`, { details: { what, logFile } });
    this.name = 'EngineStartError';
    this.logTail = logTail;
  }
}

/**
 * A state file that exists but cannot be trusted. Never read as "absent": a guess here can start
 * a second supervisor on the same data or bring a fenced primary back writable.
 */
export class StateCorruptError extends HastackError {
  readonly file: string;
  constructor(file: string, problem: string, whatToDo: string) {
    super(ErrorCode.STATE_CORRUPT, `${file} is corrupt (${problem}); hastack will not act on it. ${whatToDo}`, { details: { file } });
    this.name = 'StateCorruptError';
    this.file = file;
  }
}

export function isHastackError(e: unknown): e is HastackError {
  return e instanceof HastackError;
}

/** A short, single-line description of any thrown value, for logs. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
