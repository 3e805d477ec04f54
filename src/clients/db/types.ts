/** A value that can be bound to a `?` placeholder. */
export type SqlValue = string | number | bigint | boolean | null | Date | Buffer;

/** One result row: column name → value (numbers, strings, Date, Buffer or null). */
export type Row = Record<string, unknown>;

export interface WriteResult {
  readonly affectedRows: number;
  /** AUTO_INCREMENT id of the first inserted row (0 when none). */
  readonly insertId: number;
}

export interface QueryOptions {
  /**
   * Safe to run twice? Then a connection lost mid-statement is retried (within the retry budget)
   * on the primary that is found next. Default: true for SELECT/SHOW, false otherwise.
   */
  readonly idempotent?: boolean;
  /** Statement timeout in ms (default 5 s). */
  readonly timeoutMs?: number;
  /**
   * Where a `query` runs. 'primary' (the default) reads the newest data. 'replica' sends it down
   * the read path (see `Db.reader`): a replica (or another synced Galera node) within the lag
   * bound, in a read-only session that refuses writes; within a session (`Db.session`) never
   * older than the session's own writes. Ignored by `execute`.
   */
  readonly readFrom?: 'primary' | 'replica';
}

export interface ReadOptions {
  /** Statement timeout in ms (default 5 s). */
  readonly timeoutMs?: number;
}

/**
 * The read path: statements that cannot write. They run on a replica (falling back to the
 * primary when none qualifies) on connections set `tx_read_only`, so the server refuses any
 * write with an error (HastackError DB_WRITE_ON_READ_PATH), whatever the SQL text says. Session
 * statements (SET, START TRANSACTION, CALL, LOCK, ...) are refused before they are sent, since
 * they could undo that setting. Reads are retried on another node within the retry budget.
 */
export interface DbReader {
  query<T extends object = Row>(sql: string, params?: readonly SqlValue[], opts?: ReadOptions): Promise<T[]>;
}

export interface TransactionOptions {
  /**
   * The whole transaction is safe to run twice (for example it inserts under a unique
   * idempotency key and returns the existing row when present). Then a connection lost during
   * COMMIT, when the outcome is unknown, is retried too; otherwise that raises DB_COMMIT_UNKNOWN
   * (unless `verifyCommit`).
   */
  readonly idempotent?: boolean;
  /**
   * For a transaction that is not idempotent: it also writes a marker row (table
   * `hastack_commit_marks` in the app database, created on first use) just before COMMIT, so
   * that a connection lost during COMMIT is checked on the primary instead of raising
   * DB_COMMIT_UNKNOWN: committed → the callback's result is returned; not committed → the
   * transaction runs again. Costs one small insert per transaction.
   */
  readonly verifyCommit?: boolean;
  /** Per-statement timeout in ms (default 5 s). */
  readonly timeoutMs?: number;
}

/** Statements inside one transaction, on one connection to the primary. */
export interface DbTx {
  query<T extends object = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  execute(sql: string, params?: readonly SqlValue[]): Promise<WriteResult>;
}

/**
 * The database as applications see it: one logical MariaDB that survives a failover.
 *
 * Retries: a statement or transaction that fails because the connection was lost, the server
 * turned read-only (demoted), or a deadlock, is retried on the current primary for up to the
 * retry budget (~10 s), but only when running it again cannot apply it twice: reads, statements
 * marked idempotent, and transactions whose COMMIT was not yet sent (the server rolled them
 * back). A transaction's function may therefore run more than once: do only database work in it.
 * When the budget is spent the error is a HastackError with code DB_UNAVAILABLE.
 */
export interface Db {
  /** Statements that return rows. */
  query<T extends object = Row>(sql: string, params?: readonly SqlValue[], opts?: QueryOptions): Promise<T[]>;
  /** Statements that change rows (INSERT, UPDATE, DELETE, DDL). */
  execute(sql: string, params?: readonly SqlValue[], opts?: QueryOptions): Promise<WriteResult>;
  transaction<T>(fn: (tx: DbTx) => Promise<T>, opts?: TransactionOptions): Promise<T>;
  /** The read path (replicas, read-only sessions); see DbReader. */
  reader(): DbReader;
  /**
   * A scoped Db with read-your-writes: after any write through it, its replica reads wait until
   * the replica has applied that write (MASTER_GTID_WAIT, bounded; else the primary answers), or
   * on Galera until the node's wsrep_last_committed reached the write's seqno: one node's
   * position, never a cluster-wide sync. `token` continues an earlier session (see SessionDb.token).
   */
  session(token?: string): SessionDb;
}

/**
 * A Db that tracks its writes for read-your-writes. To keep the guarantee across HTTP requests
 * (which may land on other app servers), store `token()` after a request that wrote, for example
 * in the user's server-side session, and pass it back with `withToken` (or `db.session(token)`)
 * at the start of the next request.
 */
export interface SessionDb extends Db {
  /** The causal token: '' when nothing was written; otherwise an opaque short string. */
  token(): string;
  /** Adds an earlier token: later reads see that session's writes too. Throws BAD_REQUEST on garbage. */
  withToken(token: string): this;
}

/** Statements on one dedicated connection to the primary (migrations: GET_LOCK is per connection). */
export interface DbSession {
  query<T extends object = Row>(sql: string, params?: readonly SqlValue[], opts?: { readonly timeoutMs?: number }): Promise<T[]>;
  execute(sql: string, params?: readonly SqlValue[], opts?: { readonly timeoutMs?: number }): Promise<WriteResult>;
}

export interface DbPing {
  readonly ok: boolean;
  readonly primary?: string;
  readonly detail: string;
}
