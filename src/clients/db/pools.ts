import mysql from 'mysql2/promise';
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { ErrorCode, HastackError } from '../../shared/errors.js';
import type { SqlValue, WriteResult } from './types.js';

/** 'write': ordinary sessions on the primary. 'read': read-only sessions (the read path). */
export type PoolKind = 'write' | 'read';

export interface PoolTarget {
  readonly id: string;
  readonly address: string;
  readonly port: number;
}

export interface PoolSettings {
  readonly user: string;
  readonly password: string;
  readonly database: string;
  readonly poolSize: number;
  readonly connectTimeoutMs: number;
  readonly statementTimeoutMs: number;
}

/**
 * The eviction of one node's write connections (NodePools.evict): the statements running on them
 * fail at once as a lost connection (PROTOCOL_CONNECTION_LOST), which the caller settles as after
 * any lost connection, and so does any later statement on a connection handed out before. mysql2's
 * own `destroy()` cannot do it: it does not reject the statement in flight, which then waits for
 * its timeout (checked here: SELECT SLEEP(3), destroyed after 200 ms, resolved after 3 s).
 * Each statement's listener is removed when it ends: a signal lives as long as its node is not
 * evicted, through millions of statements.
 */
class EvictionSignal {
  private readonly listeners = new Set<(e: Error) => void>();
  private error: Error | undefined;

  evict(why: string): void {
    this.error = Object.assign(new Error(`the statement was abandoned: ${why}`), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true });
    for (const l of this.listeners) l(this.error);
    this.listeners.clear();
  }

  /** `q`, unless the node is evicted first. */
  guard<T>(q: Promise<T>): Promise<T> {
    if (this.error !== undefined) return Promise.reject(this.error);
    return new Promise<T>((resolve, reject) => {
      this.listeners.add(reject);
      q.then(resolve, reject).finally(() => this.listeners.delete(reject));
    });
  }
}

/** Each write connection's signal, keyed by mysql2's connection object (set at every checkout). */
const evictions = new WeakMap<object, EvictionSignal>();

export function runSql(conn: PoolConnection, sql: string, params: readonly SqlValue[], timeoutMs: number): Promise<unknown> {
  const q = conn.query<RowDataPacket[]>({ sql, values: [...params], timeout: timeoutMs }).then(([result]) => result);
  return evictions.get(conn.connection)?.guard(q) ?? q;
}

export function rowsOf<T>(result: unknown): T[] {
  return Array.isArray(result) ? (result as T[]) : [];
}

export function writeOf(result: unknown): WriteResult {
  if (Array.isArray(result) || typeof result !== 'object' || result === null) return { affectedRows: 0, insertId: 0 };
  const h = result as ResultSetHeader;
  return { affectedRows: h.affectedRows, insertId: h.insertId };
}

/**
 * Two small mysql2 pools per node, created on first use: read-write sessions, and read-only
 * sessions for the read path. Every connection is set up once (time zone, and `tx_read_only` for
 * the read kind) before it is handed out.
 */
export class NodePools {
  private readonly pools = new Map<string, Pool>();
  private readonly initialized = new WeakSet<object>();
  /** Per node, the signal the write connections handed out since its last eviction listen to. */
  private readonly signals = new Map<string, EvictionSignal>();

  constructor(
    private readonly nodes: readonly PoolTarget[],
    private readonly s: PoolSettings,
  ) {}

  /** A set-up connection to `node`; errors are the driver's (connection refused, timeout...). */
  async connection(node: string, kind: PoolKind): Promise<PoolConnection> {
    const conn = await this.poolFor(node, kind).getConnection();
    if (!this.initialized.has(conn.connection)) {
      try {
        // UTC sessions: TIMESTAMP columns read back as UTC, matching mysql2's `timezone: 'Z'`.
        // Read-path connections are read-only sessions: the server refuses any write on them
        // (ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION), whatever the statement's text looks like.
        const init = kind === 'read' ? "SET time_zone = '+00:00', SESSION tx_read_only = 1" : "SET time_zone = '+00:00'";
        await conn.query({ sql: init, timeout: this.s.statementTimeoutMs });
      } catch (e) {
        conn.destroy();
        throw e;
      }
      this.initialized.add(conn.connection);
    }
    if (kind === 'write') evictions.set(conn.connection, this.signalOf(node));
    return conn;
  }

  /**
   * The node is off the writing side (RoutePlan.evicted): the statements running on write
   * connections handed out for it fail now (see `evictions`); connections handed out later listen
   * to a new signal. The caller destroys the failed connections, as after any lost connection.
   */
  evict(node: string, why: string): void {
    const s = this.signals.get(node);
    if (s === undefined) return;
    this.signals.delete(node);
    s.evict(why);
  }

  private signalOf(node: string): EvictionSignal {
    let s = this.signals.get(node);
    if (s === undefined) {
      s = new EvictionSignal();
      this.signals.set(node, s);
    }
    return s;
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
  }

  private poolFor(id: string, kind: PoolKind): Pool {
    const key = `${kind}:${id}`;
    const existing = this.pools.get(key);
    if (existing) return existing;
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new HastackError(ErrorCode.INTERNAL, `no MariaDB node named ${id}`);
    const pool = mysql.createPool({
      host: n.address,
      port: n.port,
      user: this.s.user,
      password: this.s.password,
      database: this.s.database,
      connectionLimit: this.s.poolSize,
      maxIdle: this.s.poolSize,
      // Idle connections are closed after 60 s; a failover usually kills them sooner anyway.
      idleTimeout: 60_000,
      waitForConnections: true,
      connectTimeout: this.s.connectTimeoutMs,
      enableKeepAlive: true,
      charset: 'utf8mb4',
      timezone: 'Z',
      supportBigNumbers: true,
      bigNumberStrings: false,
      decimalNumbers: true,
    });
    this.pools.set(key, pool);
    return pool;
  }
}
