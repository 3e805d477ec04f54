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
   * 'replica' says the caller accepts slightly stale data, so the read may go to a replica.
   * Today every statement goes to the primary; the option is here so callers can say it now.
   */
  readonly readFrom?: 'primary' | 'replica';
}

export interface TransactionOptions {
  /**
   * The whole transaction is safe to run twice (for example it inserts under a unique
   * idempotency key and returns the existing row when present). Then a connection lost during
   * COMMIT, when the outcome is unknown, is retried too; otherwise that raises DB_UNAVAILABLE.
   */
  readonly idempotent?: boolean;
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
}
