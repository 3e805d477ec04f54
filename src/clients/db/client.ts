import mysql from 'mysql2/promise';
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { describeError, ErrorCode, HastackError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { backoffMs, sleep } from '../../shared/retry.js';
import { choosePrimary, type NodeProbe } from './discovery.js';
import { classifyDbError, isReadOnlySql, type DbErrorKind } from './errors.js';
import type { Db, DbTx, QueryOptions, Row, SqlValue, TransactionOptions, WriteResult } from './types.js';

export interface DbNode {
  /** Stable name used in logs and status (the node name). */
  readonly id: string;
  readonly address: string;
  readonly port: number;
}

export interface DbClientOptions {
  readonly user: string;
  readonly password: string;
  readonly database: string;
  readonly log: Logger;
  /**
   * How long one call keeps retrying while no primary answers (ms). 10 s: a scripted promotion
   * takes well under a second after detection (ENGINE-NOTES: 20-50 ms on loopback) and Galera
   * re-forms in 3-4 s; 10 s covers detection plus promotion with margin and stays below the app
   * server's request timeout (15 s), so the caller still gets a clean 503 rather than a cut.
   */
  readonly retryBudgetMs?: number;
  /** Default statement timeout (ms). 5 s: OLTP statements take milliseconds; past 5 s the server is stalled. */
  readonly statementTimeoutMs?: number;
  /** Handshake budget (ms). 2 s: loopback/LAN connects take < 5 ms; a frozen server never answers. */
  readonly connectTimeoutMs?: number;
  /** Connections per node. 10: workers run 4 jobs at once and an app server rarely has more than a few statements in flight. */
  readonly poolSize?: number;
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

interface Lease {
  readonly conn: PoolConnection;
  readonly node: string;
}

type Work<T> = (conn: PoolConnection) => Promise<T>;

function rowsOf<T>(result: unknown): T[] {
  return Array.isArray(result) ? (result as T[]) : [];
}

function writeOf(result: unknown): WriteResult {
  if (Array.isArray(result) || typeof result !== 'object' || result === null) return { affectedRows: 0, insertId: 0 };
  const h = result as ResultSetHeader;
  return { affectedRows: h.affectedRows, insertId: h.insertId };
}

/**
 * The hastack database client: finds the primary among every MariaDB node of the topology
 * (`@@read_only = 0`, verified on the node itself), keeps one small pool per node, and follows
 * a failover: a connection error or a read-only refusal drops the cached primary and the next
 * attempt probes all nodes again. See `Db` for what is retried.
 */
export class DbClient implements Db {
  private readonly pools = new Map<string, Pool>();
  private readonly initialized = new WeakSet<object>();
  private primaryId: string | undefined;
  private discovering: Promise<string> | undefined;
  private closed = false;
  private readonly retryBudgetMs: number;
  private readonly statementTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly poolSize: number;

  constructor(
    private readonly nodes: readonly DbNode[],
    private readonly opts: DbClientOptions,
  ) {
    this.retryBudgetMs = opts.retryBudgetMs ?? 10_000;
    this.statementTimeoutMs = opts.statementTimeoutMs ?? 5_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 2_000;
    this.poolSize = opts.poolSize ?? 10;
  }

  /** The node currently believed to be the primary (undefined until found, or after a failure). */
  get primary(): string | undefined {
    return this.primaryId;
  }

  query<T extends object = Row>(sql: string, params: readonly SqlValue[] = [], opts: QueryOptions = {}): Promise<T[]> {
    const timeout = opts.timeoutMs ?? this.statementTimeoutMs;
    return this.withRetry(opts.idempotent ?? isReadOnlySql(sql), this.retryBudgetMs, async (conn) =>
      rowsOf<T>(await this.run(conn, sql, params, timeout)),
    );
  }

  execute(sql: string, params: readonly SqlValue[] = [], opts: QueryOptions = {}): Promise<WriteResult> {
    const timeout = opts.timeoutMs ?? this.statementTimeoutMs;
    return this.withRetry(opts.idempotent ?? isReadOnlySql(sql), this.retryBudgetMs, async (conn) =>
      writeOf(await this.run(conn, sql, params, timeout)),
    );
  }

  async transaction<T>(fn: (tx: DbTx) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
    const timeout = opts.timeoutMs ?? this.statementTimeoutMs;
    const deadline = Date.now() + this.retryBudgetMs;
    for (let attempt = 0; ; attempt++) {
      const lease = await this.acquireWithin(deadline);
      let committing = false;
      let finished = false;
      const tx: DbTx = {
        query: async <R extends object = Row>(sql: string, params: readonly SqlValue[] = []) => {
          if (finished) throw new HastackError(ErrorCode.INTERNAL, 'this transaction has already ended; do not keep `tx` beyond its callback');
          return rowsOf<R>(await this.run(lease.conn, sql, params, timeout));
        },
        execute: async (sql: string, params: readonly SqlValue[] = []) => {
          if (finished) throw new HastackError(ErrorCode.INTERNAL, 'this transaction has already ended; do not keep `tx` beyond its callback');
          return writeOf(await this.run(lease.conn, sql, params, timeout));
        },
      };
      try {
        await this.run(lease.conn, 'START TRANSACTION', [], timeout);
        const result = await fn(tx);
        committing = true;
        await this.run(lease.conn, 'COMMIT', [], timeout);
        finished = true;
        lease.conn.release();
        return result;
      } catch (e) {
        finished = true;
        const kind = classifyDbError(e);
        await this.endAfterError(lease, kind);
        // Before COMMIT was sent the server rolls the transaction back when the connection
        // drops, so running it again cannot apply it twice. During COMMIT the outcome is unknown.
        const safe = kind === 'deadlock' || kind === 'read-only' || (kind === 'connection' && (!committing || opts.idempotent === true));
        if (kind === 'other') throw e;
        if (!safe) {
          throw this.unavailable(e, `the connection to ${lease.node} was lost during COMMIT; the transaction may or may not have been applied`);
        }
        await this.pause(deadline, attempt, e);
      }
    }
  }

  /** Runs `fn` on one connection to the primary, without retrying `fn` (finding the primary is retried). */
  async withPrimaryConnection<T>(fn: (s: DbSession) => Promise<T>): Promise<T> {
    const lease = await this.acquireWithin(Date.now() + this.retryBudgetMs);
    const session: DbSession = {
      query: async <R extends object = Row>(sql: string, params: readonly SqlValue[] = [], o: { readonly timeoutMs?: number } = {}) =>
        rowsOf<R>(await this.run(lease.conn, sql, params, o.timeoutMs ?? this.statementTimeoutMs)),
      execute: async (sql: string, params: readonly SqlValue[] = [], o: { readonly timeoutMs?: number } = {}) =>
        writeOf(await this.run(lease.conn, sql, params, o.timeoutMs ?? this.statementTimeoutMs)),
    };
    try {
      const r = await fn(session);
      lease.conn.release();
      return r;
    } catch (e) {
      const kind = classifyDbError(e);
      // A session may hold server state (locks, an open transaction): never hand it on after an error.
      lease.conn.destroy();
      if (kind === 'connection' || kind === 'read-only') this.forgetPrimary(lease.node, describeError(e));
      throw e;
    }
  }

  /**
   * One bounded health check, no retries: is there a primary, does it answer, is it still
   * writable? A primary found read-only is dropped, so the next call looks again (this is also
   * how a demotion is noticed while no write has failed yet).
   */
  async ping(timeoutMs: number): Promise<DbPing> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<DbPing>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${timeoutMs} ms` }), timeoutMs);
    });
    const check = (async (): Promise<DbPing> => {
      try {
        const rows = await this.withRetry(true, 0, async (conn) =>
          rowsOf<{ ro: number }>(await this.run(conn, 'SELECT @@global.read_only AS ro', [], timeoutMs)),
        );
        const node = this.primaryId;
        if (rows[0]?.ro === 1 && node !== undefined) {
          this.forgetPrimary(node, 'turned read-only');
          return { ok: false, primary: node, detail: `${node} turned read-only` };
        }
        return { ok: true, ...(node === undefined ? {} : { primary: node }), detail: `primary ${node ?? '?'}` };
      } catch (e) {
        return { ok: false, detail: describeError(e) };
      }
    })();
    try {
      return await Promise.race([check, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
  }

  private async withRetry<T>(idempotent: boolean, budgetMs: number, work: Work<T>): Promise<T> {
    const deadline = Date.now() + budgetMs;
    for (let attempt = 0; ; attempt++) {
      const lease = await this.acquireWithin(deadline);
      try {
        const r = await work(lease.conn);
        lease.conn.release();
        return r;
      } catch (e) {
        const kind = classifyDbError(e);
        await this.endAfterError(lease, kind);
        if (kind === 'other') throw e;
        // A refused write (read-only) or a deadlock applied nothing; a lost connection may have.
        if (kind === 'connection' && !idempotent) {
          throw this.unavailable(e, `the connection to ${lease.node} was lost while a write ran; it may or may not have been applied`);
        }
        await this.pause(deadline, attempt, e);
      }
    }
  }

  /** Sleeps before the next attempt, or throws DB_UNAVAILABLE when the budget is spent. */
  private async pause(deadline: number, attempt: number, cause: unknown): Promise<void> {
    // 50 ms doubling to 500 ms: a promotion completes within tens of ms of being decided, so
    // early attempts are frequent; the cap keeps a long outage from becoming a busy loop.
    const wait = backoffMs(attempt, 50, 500);
    if (this.closed || Date.now() + wait > deadline) {
      if (classifyDbError(cause) === 'deadlock') throw cause;
      throw this.unavailable(cause, 'no usable primary within the retry budget');
    }
    await sleep(wait);
  }

  private async acquireWithin(deadline: number): Promise<Lease> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.acquire();
      } catch (e) {
        // Nothing was sent yet: always safe to try again.
        if (!(e instanceof HastackError) && classifyDbError(e) === 'other') throw e;
        await this.pause(deadline, attempt, e);
      }
    }
  }

  private async acquire(): Promise<Lease> {
    if (this.closed) throw new HastackError(ErrorCode.DB_UNAVAILABLE, 'the database client is closed (the process is shutting down)');
    const node = this.primaryId ?? (await this.discover());
    let conn: PoolConnection;
    try {
      conn = await this.poolFor(node).getConnection();
    } catch (e) {
      this.forgetPrimary(node, describeError(e));
      throw e;
    }
    if (!this.initialized.has(conn.connection)) {
      try {
        // UTC sessions: TIMESTAMP columns read back as UTC, matching mysql2's `timezone: 'Z'`.
        await conn.query({ sql: "SET time_zone = '+00:00'", timeout: this.statementTimeoutMs });
      } catch (e) {
        conn.destroy();
        this.forgetPrimary(node, describeError(e));
        throw e;
      }
      this.initialized.add(conn.connection);
    }
    return { conn, node };
  }

  private async endAfterError(lease: Lease, kind: DbErrorKind): Promise<void> {
    if (kind === 'connection') {
      // Includes statement timeouts: mysql2 leaves the connection busy, so it cannot be reused.
      lease.conn.destroy();
      this.forgetPrimary(lease.node, 'connection lost');
      return;
    }
    if (kind === 'read-only') this.forgetPrimary(lease.node, 'refused a write: read-only');
    try {
      // 1 s: a rollback of an OLTP transaction is immediate; do not hang on a stalled server.
      await lease.conn.query({ sql: 'ROLLBACK', timeout: 1_000 });
      lease.conn.release();
    } catch {
      lease.conn.destroy();
    }
  }

  private run(conn: PoolConnection, sql: string, params: readonly SqlValue[], timeoutMs: number): Promise<unknown> {
    return conn.query<RowDataPacket[]>({ sql, values: [...params], timeout: timeoutMs }).then(([result]) => result);
  }

  private forgetPrimary(node: string, why: string): void {
    if (this.primaryId !== node) return;
    this.primaryId = undefined;
    this.opts.log.warn({ db: node, why }, 'dropping cached MariaDB primary; will probe all nodes again');
  }

  private discover(): Promise<string> {
    this.discovering ??= this.runDiscovery().finally(() => {
      this.discovering = undefined;
    });
    return this.discovering;
  }

  private async runDiscovery(): Promise<string> {
    const probes = await Promise.all(this.nodes.map((n) => this.probe(n)));
    const choice = choosePrimary(probes, this.primaryId);
    if (choice.primary === undefined) {
      throw new HastackError(ErrorCode.DB_UNAVAILABLE, `${choice.reason}; retrying until one is promoted`);
    }
    if (choice.multipleWritable) {
      this.opts.log.warn({ reason: choice.reason }, 'several MariaDB nodes accept writes (expected only with Galera)');
    }
    if (choice.primary !== this.primaryId) this.opts.log.info({ db: choice.primary, reason: choice.reason }, 'MariaDB primary found');
    this.primaryId = choice.primary;
    return choice.primary;
  }

  /** A fresh connection per probe, so a pool full of stuck connections cannot block discovery. */
  private async probe(n: DbNode): Promise<NodeProbe> {
    let conn: mysql.Connection | undefined;
    try {
      conn = await mysql.createConnection({
        host: n.address,
        port: n.port,
        user: this.opts.user,
        password: this.opts.password,
        database: this.opts.database,
        connectTimeout: this.connectTimeoutMs,
      });
      // 1 s: a live server answers a variable read at once.
      const [rows] = await conn.query<RowDataPacket[]>({ sql: 'SELECT @@global.read_only AS ro', timeout: 1_000 });
      return { id: n.id, reachable: true, readOnly: Number(rows[0]?.ro) !== 0 };
    } catch (e) {
      return { id: n.id, reachable: false, error: describeError(e) };
    } finally {
      conn?.destroy();
    }
  }

  private poolFor(id: string): Pool {
    const existing = this.pools.get(id);
    if (existing) return existing;
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new HastackError(ErrorCode.INTERNAL, `no MariaDB node named ${id}`);
    const pool = mysql.createPool({
      host: n.address,
      port: n.port,
      user: this.opts.user,
      password: this.opts.password,
      database: this.opts.database,
      connectionLimit: this.poolSize,
      maxIdle: this.poolSize,
      // Idle connections are closed after 60 s; a failover usually kills them sooner anyway.
      idleTimeout: 60_000,
      waitForConnections: true,
      connectTimeout: this.connectTimeoutMs,
      enableKeepAlive: true,
      charset: 'utf8mb4',
      timezone: 'Z',
      supportBigNumbers: true,
      bigNumberStrings: false,
      decimalNumbers: true,
    });
    this.pools.set(id, pool);
    return pool;
  }

  private unavailable(cause: unknown, what: string): HastackError {
    if (cause instanceof HastackError && cause.code === ErrorCode.DB_UNAVAILABLE) return cause;
    return new HastackError(ErrorCode.DB_UNAVAILABLE, `database unavailable: ${what} (${describeError(cause)})`, {
      cause,
      details: { primary: this.primaryId ?? null },
    });
  }
}
