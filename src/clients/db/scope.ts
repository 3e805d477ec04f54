import { CausalToken } from './causal.js';
import type { DbReader, DbTx, QueryOptions, ReadOptions, Row, SessionDb, SqlValue, TransactionOptions, WriteResult } from './types.js';

/** The router operations a session runs, each given the session's token to read from or add to. */
export interface RouterCore {
  runQuery<T extends object>(sql: string, params: readonly SqlValue[], opts: QueryOptions, token: CausalToken | undefined): Promise<T[]>;
  runRead<T extends object>(sql: string, params: readonly SqlValue[], opts: ReadOptions, token: CausalToken | undefined): Promise<T[]>;
  runExecute(sql: string, params: readonly SqlValue[], opts: QueryOptions, token: CausalToken | undefined): Promise<WriteResult>;
  runTransaction<T>(fn: (tx: DbTx) => Promise<T>, opts: TransactionOptions, token: CausalToken | undefined): Promise<T>;
}

/**
 * A `Db` that remembers what it wrote: every write adds its GTID to the session's causal token,
 * and every replica read waits until the replica has applied the token (or goes to the primary).
 * Cheap to create (no connections of its own): one per HTTP request or job.
 */
export class SessionScope implements SessionDb {
  constructor(
    private readonly core: RouterCore,
    private readonly causal: CausalToken,
  ) {}

  query<T extends object = Row>(sql: string, params: readonly SqlValue[] = [], opts: QueryOptions = {}): Promise<T[]> {
    return this.core.runQuery<T>(sql, params, opts, this.causal);
  }

  execute(sql: string, params: readonly SqlValue[] = [], opts: QueryOptions = {}): Promise<WriteResult> {
    return this.core.runExecute(sql, params, opts, this.causal);
  }

  transaction<T>(fn: (tx: DbTx) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
    return this.core.runTransaction(fn, opts, this.causal);
  }

  reader(): DbReader {
    return { query: <T extends object = Row>(sql: string, params: readonly SqlValue[] = [], opts: ReadOptions = {}) => this.core.runRead<T>(sql, params, opts, this.causal) };
  }

  session(token?: string): SessionDb {
    const t = this.causal.copy();
    if (token !== undefined) t.absorb(CausalToken.parse(token));
    return new SessionScope(this.core, t);
  }

  token(): string {
    return this.causal.toString();
  }

  withToken(token: string): this {
    this.causal.absorb(CausalToken.parse(token));
    return this;
  }
}

/** The read-only path of a client without a session (no read-your-writes to keep). */
export function plainReader(core: RouterCore): DbReader {
  return { query: <T extends object = Row>(sql: string, params: readonly SqlValue[] = [], opts: ReadOptions = {}) => core.runRead<T>(sql, params, opts, undefined) };
}
