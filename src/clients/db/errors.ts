/**
 * How a MariaDB/mysql2 error affects retrying. Pure, so it is tested without a server.
 *
 * - connection: the connection is gone or unusable (the server died, restarted, was killed, or
 *   did not answer in time). What the statement did is unknown unless it was never sent.
 * - read-only: the server refused a write because it is read-only (a replica, or a demoted
 *   primary): nothing was applied; find the primary again.
 * - deadlock: InnoDB rolled the transaction back; running it again is the documented remedy.
 * - interrupted: the server stopped the statement (KILL QUERY, ER_QUERY_INTERRUPTED) and said so
 *   on a connection that stays open: the statement rolled back. A planned switchover interrupts
 *   app statements that wait for its global read lock (they have not run); inside a transaction
 *   the router rolls the rest back and runs it again, outside one the statement is run again. An
 *   interrupted COMMIT is the one case whose outcome the policy treats as unknown.
 * - other: an error of the statement itself (syntax, duplicate key, constraint): not retried.
 */
export type DbErrorKind = 'connection' | 'read-only' | 'deadlock' | 'interrupted' | 'other';

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'ER_CON_COUNT_ERROR',
  // A fenced primary refuses the app's connections (max_user_connections=-1): find the writer again.
  'ER_TOO_MANY_USER_CONNECTIONS',
  'ER_NET_READ_ERROR',
  'ER_NET_READ_INTERRUPTED',
  'ER_NET_ERROR_ON_WRITE',
  // Galera node not (yet) in the primary component: it refuses statements until synced.
  'ER_UNKNOWN_COM_ERROR',
]);

// Server error numbers for the same conditions, for errors that carry only `errno`.
// ER_TOO_MANY_USER_CONNECTIONS: what a fenced primary answers every app connection (max_user_connections=-1).
const FENCED_ERRNO = 1203;
const CONNECTION_ERRNOS = new Set([1040, 1047, 1053, 1152, 1158, 1159, 1160, 1161, FENCED_ERRNO, 1927, 2002, 2003, 2006, 2013]);
// 1290: --read-only prevents the statement; 1836: running in read-only mode.
const READ_ONLY_ERRNOS = new Set([1290, 1836]);
// 1213: deadlock; 1205: lock wait timeout (we roll back the whole transaction before retrying).
const DEADLOCK_ERRNOS = new Set([1213, 1205]);
// 1317: ER_QUERY_INTERRUPTED (KILL QUERY; the connection stays).
const INTERRUPTED_ERRNO = 1317;

interface ErrorFacts {
  code?: unknown;
  errno?: unknown;
  fatal?: unknown;
}

export function classifyDbError(e: unknown): DbErrorKind {
  if (typeof e !== 'object' || e === null) return 'other';
  const { code, errno, fatal } = e as ErrorFacts;
  if (typeof errno === 'number' && READ_ONLY_ERRNOS.has(errno)) return 'read-only';
  if (code === 'ER_OPTION_PREVENTS_STATEMENT' || code === 'ER_READ_ONLY_MODE') return 'read-only';
  if (typeof errno === 'number' && DEADLOCK_ERRNOS.has(errno)) return 'deadlock';
  if (code === 'ER_LOCK_DEADLOCK' || code === 'ER_LOCK_WAIT_TIMEOUT') return 'deadlock';
  if (fatal !== true && (errno === INTERRUPTED_ERRNO || code === 'ER_QUERY_INTERRUPTED')) return 'interrupted';
  if (fatal === true) return 'connection';
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return 'connection';
  if (typeof errno === 'number' && CONNECTION_ERRNOS.has(errno)) return 'connection';
  return 'other';
}

/** True when a fenced primary refused the connection (it lost its lease, or a failover fenced it). */
export function isFencedRefusal(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as ErrorFacts).errno === FENCED_ERRNO;
}

/** True for a duplicate key on a PRIMARY or UNIQUE key (ER_DUP_ENTRY, 1062). */
export function isDuplicateKeyError(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const { code, errno } = e as ErrorFacts;
  return code === 'ER_DUP_ENTRY' || errno === 1062;
}

/** Statements that only read, and so are safe to run again by default. */
export function isReadOnlySql(sql: string): boolean {
  return /^\s*(\(\s*)?(select|show|describe|desc|explain|with)\b/i.test(sql) && !/\bfor\s+update\b/i.test(sql);
}

/** ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION: a write reached a `tx_read_only` session (the read path). */
export function isReadOnlyTransactionError(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const { code, errno } = e as ErrorFacts;
  return code === 'ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION' || errno === 1792;
}

/**
 * Statements that change the session itself (SET could turn tx_read_only off, START TRANSACTION
 * READ WRITE could open a writable transaction, CALL can run either, LOCK/USE/HANDLER leave state
 * on a pooled connection). The read path refuses them before sending; every other statement is
 * left to the server, which refuses writes in a read-only session.
 */
export function isSessionControlSql(sql: string): boolean {
  return /^\s*(\(\s*)?(set|start|begin|xa|call|lock|unlock|use|handler|savepoint|release|commit|rollback|reset|flush|kill|shutdown)\b/i.test(sql);
}
