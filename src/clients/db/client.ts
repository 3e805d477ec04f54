import type { PoolConnection } from 'mysql2/promise';
import { describeError, ErrorCode, HastackError } from '../../shared/errors.js';
import { sleep } from '../../shared/retry.js';
import { CausalToken } from './causal.js';
import { recordWrite, syncWaitRead, waitForGtid, waitForSeqno } from './causality.js';
import { ackedBarrier, markCommitted, newMark, prepareMarks, writeMark } from './commit-check.js';
import { classifyDbError, isReadOnlySql, isSessionControlSql, type DbErrorKind } from './errors.js';
import type { DbClientOptions, DbNode, DbRouterStats } from './options.js';
import { NodePools, rowsOf, runSql, writeOf, type PoolKind } from './pools.js';
import { NodeProber } from './prober.js';
import { createDbRetryPolicy, failureKind, mayHaveApplied, type DbFailure, type DbRetryPolicy } from './retry-policy.js';
import { chooseReadTarget, READ_FIRST_ATTEMPT_MS, type ReadTarget } from './read-target.js';
import { type DbMode, type RoutePlan } from './routing.js';
import { plainReader, SessionScope, type RouterCore } from './scope.js';
import type { Db, DbPing, DbReader, DbSession, DbTx, QueryOptions, ReadOptions, Row, SessionDb, SqlValue, TransactionOptions, WriteResult } from './types.js';
import { TopologyWatcher } from './watcher.js';
import { WriterTracker } from './writer.js';

interface Lease {
  readonly conn: PoolConnection;
  readonly node: string;
}

type Work<T> = (conn: PoolConnection) => Promise<T>;

/**
 * The hastack database router. It probes every MariaDB node of the topology in the background
 * (`read_only`, GTID positions, replication threads, wsrep state: discovery is verified on each
 * node) and after any connection error, and routes from the latest probe round (`planRoutes`):
 * writes and transactions to the one primary (Galera: one chosen writer), the read path to the
 * replicas within the lag bound, round robin, falling back to the primary. It keeps two small
 * pools per node (read-write, and read-only for the read path) and follows a failover: a
 * connection error or a read-only refusal drops the cached primary and the next attempt probes
 * all nodes again. See `Db` for what is retried.
 *
 * Plain `query()` reads from the primary unless the caller says `readFrom: 'replica'` (or uses
 * `reader()`). Why not replicas by default: read-your-writes holds only where the caller's session
 * token travels with it. Within one `session()` it does, but a user's next HTTP request may land
 * on another app server with a fresh session, and a replica could then show the user data older
 * than their own last write, the stale read this project promises never to show. So replica
 * reads are opted into where a page tolerates other users' very recent writes being missing, or
 * where the app carries the token (see SessionDb); the primary stays the safe default.
 */
export class DbClient implements Db, RouterCore {
  private readonly pools: NodePools;
  private readonly writer: WriterTracker;
  private closed = false;
  private readonly retryBudgetMs: number;
  private readonly statementTimeoutMs: number;
  private readonly mode: DbMode;
  private readonly rywWaitMs: number;
  private readonly retryPolicy: DbRetryPolicy;
  private readonly watcher: TopologyWatcher;
  /** The commit-check marker table exists (created once per client, on first use). */
  private marksReady = false;
  /** Readers that failed a statement since the last probe round: skipped until it reports them healthy. */
  private readonly suspects = new Set<string>();
  private turn = 0;
  private readonly counts = {
    reads: new Map<string, number>(),
    writes: new Map<string, number>(),
    rywWaits: 0,
    rywToPrimary: 0,
    fellBack: 0,
    retries: 0,
  };

  constructor(
    private readonly nodes: readonly DbNode[],
    private readonly opts: DbClientOptions,
  ) {
    this.retryBudgetMs = opts.retryBudgetMs ?? 10_000;
    this.statementTimeoutMs = opts.statementTimeoutMs ?? 5_000;
    const connectTimeoutMs = opts.connectTimeoutMs ?? 2_000;
    this.mode = opts.mode ?? 'replication';
    this.rywWaitMs = opts.readYourWritesWaitMs ?? 500;
    this.retryPolicy = opts.retryPolicy ?? createDbRetryPolicy();
    const login = { user: opts.user, password: opts.password, database: opts.database, connectTimeoutMs };
    this.pools = new NodePools(nodes, { ...login, poolSize: opts.poolSize ?? 10, statementTimeoutMs: this.statementTimeoutMs });
    const prober = new NodeProber(this.mode, login);
    this.watcher = new TopologyWatcher(
      nodes,
      prober,
      { mode: this.mode, maxLagTransactions: opts.maxLagTransactions ?? 100 },
      opts.probeIntervalMs ?? 300,
      opts.log,
      (plan, previous) => this.adopt(plan, previous),
    );
    this.writer = new WriterTracker(() => this.watcher.refresh(), opts.log);
  }

  /** The latest routing decision (undefined before the first probe round). */
  get routes(): RoutePlan | undefined {
    return this.watcher.latest;
  }

  /** Probes every node now and returns the resulting plan (tests and status use it). */
  refreshRoutes(): Promise<RoutePlan> {
    this.watcher.start();
    return this.watcher.refresh();
  }

  stats(): DbRouterStats {
    return {
      readsByNode: Object.fromEntries(this.counts.reads),
      writesByNode: Object.fromEntries(this.counts.writes),
      readYourWritesWaits: this.counts.rywWaits,
      readYourWritesToPrimary: this.counts.rywToPrimary,
      readsFellBackToPrimary: this.counts.fellBack,
      retries: this.counts.retries,
    };
  }

  /** The node currently believed to be the primary (undefined until found, or after a failure). */
  get primary(): string | undefined {
    return this.writer.current;
  }

  query<T extends object = Row>(sql: string, params: readonly SqlValue[] = [], opts: QueryOptions = {}): Promise<T[]> {
    return this.runQuery<T>(sql, params, opts, undefined);
  }

  execute(sql: string, params: readonly SqlValue[] = [], opts: QueryOptions = {}): Promise<WriteResult> {
    return this.runExecute(sql, params, opts, undefined);
  }

  transaction<T>(fn: (tx: DbTx) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
    return this.runTransaction(fn, opts, undefined);
  }

  reader(): DbReader {
    return plainReader(this);
  }

  session(token?: string): SessionDb {
    return new SessionScope(this, token === undefined ? CausalToken.empty() : CausalToken.parse(token));
  }

  /** RouterCore: a query on the primary, or on the read path with `readFrom: 'replica'`. */
  runQuery<T extends object>(sql: string, params: readonly SqlValue[], opts: QueryOptions, token: CausalToken | undefined): Promise<T[]> {
    if (opts.readFrom === 'replica') return this.runRead<T>(sql, params, opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }, token);
    const timeout = opts.timeoutMs ?? this.statementTimeoutMs;
    const writes = !isReadOnlySql(sql);
    return this.withRetry(
      opts.idempotent ?? !writes,
      this.retryBudgetMs,
      async (conn) => rowsOf<T>(await runSql(conn, sql, params, timeout)),
      writes ? token : undefined,
      writes ? 'writes' : 'reads',
    );
  }

  /** RouterCore: a statement that changes rows, on the primary; its GTID goes into `token`. */
  runExecute(sql: string, params: readonly SqlValue[], opts: QueryOptions, token: CausalToken | undefined): Promise<WriteResult> {
    const timeout = opts.timeoutMs ?? this.statementTimeoutMs;
    return this.withRetry(opts.idempotent ?? isReadOnlySql(sql), this.retryBudgetMs, async (conn) => writeOf(await runSql(conn, sql, params, timeout)), token, 'writes');
  }

  /**
   * RouterCore: the read path. Picks a replica from the latest probe round (round robin), waits
   * there for the session's GTID when the probe did not already show it applied, and runs the
   * statement on a read-only connection. Falls back to the primary when no replica qualifies or
   * the wait times out. Connection errors mark the replica suspect and retry within the budget.
   */
  async runRead<T extends object>(sql: string, params: readonly SqlValue[], opts: ReadOptions, token: CausalToken | undefined): Promise<T[]> {
    if (isSessionControlSql(sql)) {
      throw new HastackError(
        ErrorCode.DB_WRITE_ON_READ_PATH,
        `the database read path runs only plain reads, not session statements ("${sql.trim().slice(0, 40)}"); use execute() or transaction()`,
      );
    }
    const timeout = opts.timeoutMs ?? this.statementTimeoutMs;
    const deadline = Date.now() + this.retryBudgetMs;
    let toPrimary = false;
    for (let attempt = 0; ; attempt++) {
      // A read-only session cannot write: running a read again is harmless.
      const at = { path: 'read', idempotent: true, attempt, deadline } as const;
      let target: ReadTarget;
      let lease: Lease;
      try {
        target = toPrimary ? await this.writerTarget(token, 'unknown-position') : await this.readTarget(token);
        lease = await this.acquire(target.node, 'read');
      } catch (e) {
        await this.settle(e, { ...at, kind: failureKind(e), phase: 'acquire' });
        continue;
      }
      // Galera, on the writer, when even it has not reached the session's seqno within the wait: a
      // token from an earlier history of the cluster (rebuilt, seqnos restarted) or a writer far
      // behind. Galera's own causal read (wsrep_sync_wait) is correct in both cases; only here,
      // as the last resort, since a dead member stalls it until eviction.
      let clusterSync = target.wait === 'cluster';
      try {
        if ((target.wait === 'gtid' || target.wait === 'seqno') && token !== undefined) {
          this.counts.rywWaits++;
          const applied = target.wait === 'gtid' ? await waitForGtid(lease.conn, token.waitPos, this.rywWaitMs) : await waitForSeqno(lease.conn, token.galeraSeqno, this.rywWaitMs);
          if (!applied && toPrimary && target.wait === 'seqno') clusterSync = true;
          else if (!applied) {
            lease.conn.release();
            // The node did not apply the write in time: the writer has it (Galera: will have it first).
            if ((await this.settle(undefined, { ...at, kind: 'replica-behind', phase: 'acquire' })) === 'to-primary') toPrimary = true;
            continue;
          }
        }
        const bound = attempt === 0 && target.fallback === 'none' && opts.timeoutMs === undefined ? Math.min(timeout, READ_FIRST_ATTEMPT_MS) : timeout;
        const rows = clusterSync ? await syncWaitRead(lease.conn, sql, params, timeout) : rowsOf<T>(await runSql(lease.conn, sql, params, bound));
        lease.conn.release();
        this.count(this.counts.reads, lease.node);
        // Later reads of this session stay on this node while it qualifies (monotonic reads).
        if (token !== undefined && target.fallback === 'none') token.readNode = lease.node;
        if (target.fallback === 'no-replica') this.counts.fellBack++;
        if (target.fallback === 'unknown-position') this.counts.rywToPrimary++;
        return rows as T[];
      } catch (e) {
        const kind = classifyDbError(e);
        // A causal read that failed may have left wsrep_sync_wait=1 on the connection: drop it.
        if (clusterSync && kind !== 'connection') lease.conn.destroy();
        else await this.endAfterError(lease, kind);
        if (kind === 'connection') {
          this.suspects.add(lease.node);
          this.watcher.refresh().catch(() => undefined);
        }
        // A statement outside a transaction: autocommit, hence the commit phase.
        await this.settle(e, { ...at, kind: failureKind(e), phase: 'commit' }, { node: lease.node });
      }
    }
  }

  /** RouterCore: a transaction on the primary; after COMMIT its GTID goes into `token`. */
  async runTransaction<T>(fn: (tx: DbTx) => Promise<T>, opts: TransactionOptions, token: CausalToken | undefined): Promise<T> {
    const timeout = opts.timeoutMs ?? this.statementTimeoutMs;
    const deadline = Date.now() + this.retryBudgetMs;
    // A marker row makes a lost COMMIT checkable (commit-check.ts); an idempotent one needs no check.
    const verify = opts.verifyCommit === true && opts.idempotent !== true;
    // An earlier COMMIT may have landed where no replica holds it (commit-check.ts): a replay that
    // finds it (an order's key) counts only once a later commit is acknowledged (afterDoubt).
    let doubt = false;
    for (let attempt = 0; ; attempt++) {
      const lease = await this.acquireWithin(deadline);
      let committing = false;
      let finished = false;
      let mark: string | undefined;
      let result: { readonly value: T } | undefined;
      const tx: DbTx = {
        query: async <R extends object = Row>(sql: string, params: readonly SqlValue[] = []) => {
          if (finished) throw new HastackError(ErrorCode.INTERNAL, 'this transaction has already ended; do not keep `tx` beyond its callback');
          return rowsOf<R>(await runSql(lease.conn, sql, params, timeout));
        },
        execute: async (sql: string, params: readonly SqlValue[] = []) => {
          if (finished) throw new HastackError(ErrorCode.INTERNAL, 'this transaction has already ended; do not keep `tx` beyond its callback');
          return writeOf(await runSql(lease.conn, sql, params, timeout));
        },
      };
      try {
        if (verify && !this.marksReady) {
          await prepareMarks(lease.conn, timeout);
          this.marksReady = true;
        }
        await runSql(lease.conn, 'START TRANSACTION', [], timeout);
        result = { value: await fn(tx) };
        if (verify) {
          mark = newMark();
          await writeMark(lease.conn, mark, timeout);
        }
        committing = true;
        await runSql(lease.conn, 'COMMIT', [], timeout);
        if (doubt && this.mode === 'replication') await this.afterDoubt(lease.conn, timeout);
        finished = true;
        if (token !== undefined) await recordWrite(lease.conn, token, this.mode);
        lease.conn.release();
        this.count(this.counts.writes, lease.node);
        return result.value;
      } catch (e) {
        finished = true;
        // Before COMMIT was sent the server rolls the transaction back when the connection
        // drops, so running it again cannot apply it twice. During COMMIT the outcome is unknown.
        const f = { kind: failureKind(e), phase: committing ? 'commit' : 'statement', path: 'write', idempotent: opts.idempotent === true, attempt, deadline } as const;
        // The commit may have landed: the session must not trust a replica to show it.
        if (mayHaveApplied(f)) {
          token?.observeUnknownWrite();
          doubt = true;
        }
        await this.endAfterError(lease, classifyDbError(e));
        if (mark !== undefined && result !== undefined && mayHaveApplied(f)) {
          // Checked, not guessed: committed → its result; not committed → run again.
          if (await this.commitLanded(mark, deadline, e, lease.node)) {
            this.count(this.counts.writes, lease.node);
            return result.value;
          }
          this.counts.retries++;
          continue;
        }
        await this.settle(e, f, { node: lease.node, lost: f.kind === 'interrupted' ? 'COMMIT was interrupted on' : 'the connection was lost during COMMIT to' });
      }
    }
  }

  /**
   * Whether the transaction that wrote `mark` committed, asked of the primary (the same node or
   * the one promoted meanwhile) within what is left of the call's budget (at least 2 s: the
   * check is one read). DB_COMMIT_UNKNOWN if no primary answers it.
   */
  private async commitLanded(mark: string, deadline: number, lost: unknown, node: string): Promise<boolean> {
    const budget = Math.max(2_000, deadline - Date.now());
    try {
      return await this.withRetry(true, budget, (conn) => markCommitted(conn, mark, this.mode, this.statementTimeoutMs));
    } catch (e) {
      throw new HastackError(
        ErrorCode.DB_COMMIT_UNKNOWN,
        `the connection was lost during COMMIT to ${node}, and whether it committed could not be checked (${describeError(e)}): the write may or may not have been applied, and it was not run again. ` +
          'Read back whether it took effect before sending it again',
        { cause: lost, details: { node } },
      );
    }
  }

  /** commit-check.ts `ackedBarrier` on `conn`, with the marker table made first if needed. */
  private async afterDoubt(conn: PoolConnection, timeoutMs: number): Promise<void> {
    if (!this.marksReady) {
      await prepareMarks(conn, timeoutMs);
      this.marksReady = true;
    }
    await ackedBarrier(conn, timeoutMs);
  }

  /** Runs `fn` on one connection to the primary, without retrying `fn` (finding the primary is retried). */
  async withPrimaryConnection<T>(fn: (s: DbSession) => Promise<T>): Promise<T> {
    const lease = await this.acquireWithin(Date.now() + this.retryBudgetMs);
    const session: DbSession = {
      query: async <R extends object = Row>(sql: string, params: readonly SqlValue[] = [], o: { readonly timeoutMs?: number } = {}) =>
        rowsOf<R>(await runSql(lease.conn, sql, params, o.timeoutMs ?? this.statementTimeoutMs)),
      execute: async (sql: string, params: readonly SqlValue[] = [], o: { readonly timeoutMs?: number } = {}) =>
        writeOf(await runSql(lease.conn, sql, params, o.timeoutMs ?? this.statementTimeoutMs)),
    };
    try {
      const r = await fn(session);
      lease.conn.release();
      return r;
    } catch (e) {
      const kind = classifyDbError(e);
      // A session may hold server state (locks, an open transaction): never hand it on after an error.
      lease.conn.destroy();
      if (kind === 'connection' || kind === 'read-only') this.writer.forget(lease.node, describeError(e));
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
        // The node that answered, not the cached primary (the watcher may move it meanwhile).
        const lease = await this.acquire();
        let rows: { ro: number }[];
        try {
          rows = rowsOf<{ ro: number }>(await runSql(lease.conn, 'SELECT @@global.read_only AS ro', [], timeoutMs));
          lease.conn.release();
        } catch (e) {
          await this.endAfterError(lease, classifyDbError(e));
          throw e;
        }
        const node = lease.node;
        if (rows[0]?.ro === 1) {
          this.writer.forget(node, 'turned read-only');
          return { ok: false, primary: node, detail: `${node} turned read-only` };
        }
        return { ok: true, primary: node, detail: `primary ${node}` };
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
    this.watcher.close();
    await this.pools.close();
  }

  private async withRetry<T>(idempotent: boolean, budgetMs: number, work: Work<T>, token?: CausalToken, what: 'reads' | 'writes' = 'reads'): Promise<T> {
    const deadline = Date.now() + budgetMs;
    for (let attempt = 0; ; attempt++) {
      const lease = await this.acquireWithin(deadline);
      try {
        const r = await work(lease.conn);
        if (token !== undefined) await recordWrite(lease.conn, token, this.mode);
        lease.conn.release();
        this.count(what === 'writes' ? this.counts.writes : this.counts.reads, lease.node);
        return r;
      } catch (e) {
        // One statement outside a transaction: autocommit, so it may have committed as it failed.
        const f = { kind: failureKind(e), phase: 'autocommit', path: 'write', idempotent, attempt, deadline } as const;
        // The write may have been applied before the connection went: do not trust replicas for it.
        if (mayHaveApplied(f)) token?.observeUnknownWrite();
        await this.endAfterError(lease, classifyDbError(e));
        await this.settle(e, f, { node: lease.node, lost: 'the connection was lost while the statement ran on' });
      }
    }
  }

  /**
   * Asks the retry policy (retry-policy.ts) about a failed attempt and does what it says: sleeps
   * before the next attempt, or throws what the caller must see. Returns only to go on.
   */
  private async settle(e: unknown, f: Omit<DbFailure, 'now' | 'closing'>, at: { node?: string; lost?: string } = {}): Promise<'retry' | 'to-primary'> {
    const d = this.retryPolicy.decide({ ...f, now: Date.now(), closing: this.closed });
    switch (d.action) {
      case 'retry':
        this.counts.retries++;
        // Held, not failed: a write waits for the engine (a promotion, Galera's eviction), and
        // goes on as soon as a probe round finds the writer rather than at the end of the backoff.
        await (f.path === 'write' && f.kind !== 'deadlock' ? this.writer.hold(d.afterMs) : sleep(d.afterMs));
        return 'retry';
      case 'to-primary':
        return 'to-primary';
      case 'give-up':
        this.counts.retries++;
        throw d.error === 'cause' ? e : this.unavailable(e, 'no usable primary within the retry budget');
      case 'outcome-unknown':
        throw new HastackError(
          ErrorCode.DB_COMMIT_UNKNOWN,
          `${at.lost ?? 'the connection was lost while a write ran on'} ${at.node ?? '?'}: the write may or may not have been applied, and it was not run again. ` +
            'Read back whether it took effect before sending it again, or make it idempotent (a UNIQUE key such as an Idempotency-Key) so that it can be replayed safely',
          { cause: e, details: { node: at.node ?? null } },
        );
      case 'refuse-write': {
        const by = f.kind === 'read-only' ? `read_only replica ${at.node ?? '?'}` : `read-only session on ${at.node ?? '?'}`;
        throw new HastackError(
          ErrorCode.DB_WRITE_ON_READ_PATH,
          `a statement on the database read path tried to write and the server refused it (${by}); send writes through execute() or transaction()`,
          { cause: e },
        );
      }
      case 'rethrow':
        throw e;
    }
  }

  private async acquireWithin(deadline: number): Promise<Lease> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.acquire();
      } catch (e) {
        // Nothing was sent yet (idempotency does not matter): the policy retries all but the caller's own errors.
        await this.settle(e, { kind: failureKind(e), phase: 'acquire', path: 'write', idempotent: true, attempt, deadline });
      }
    }
  }

  /** A connection to `node` (default: the primary, found by probing when not known). */
  private async acquire(target?: string, kind: PoolKind = 'write'): Promise<Lease> {
    if (this.closed) throw new HastackError(ErrorCode.DB_UNAVAILABLE, 'the database client is closed (the process is shutting down)');
    this.watcher.start();
    const node = target ?? (await this.writer.get());
    let conn: PoolConnection;
    try {
      conn = await this.pools.connection(node, kind);
    } catch (e) {
      this.writer.forget(node, describeError(e));
      if (kind === 'read') this.suspects.add(node);
      this.watcher.refresh().catch(() => undefined);
      throw e;
    }
    return { conn, node };
  }

  /** Where the next read-path read goes (see runRead). */
  private async readTarget(token: CausalToken | undefined): Promise<ReadTarget> {
    this.watcher.start();
    const plan = this.watcher.latest ?? (await this.watcher.refresh());
    const choice = chooseReadTarget(plan, token, this.suspects, this.turn++, this.mode);
    return 'toWriter' in choice ? this.writerTarget(token, choice.toWriter) : choice;
  }

  /**
   * The writer, for a read no reader may serve. Replication: the primary has every acknowledged
   * write. Galera: the writer may have changed since the session wrote (a failover), so a read
   * with a known seqno still waits for it there, and one after a write of unknown outcome (the
   * old writer died during COMMIT, just the failover case) uses Galera's cluster-wide causal read.
   */
  private async writerTarget(token: CausalToken | undefined, fallback: ReadTarget['fallback']): Promise<ReadTarget> {
    // The primary, for a read the replicas cannot serve. During a split brain there is none: such
    // a read waits (within the budget) like a write, since either "primary" may lack the newest data.
    const node = await this.writer.get();
    if (this.mode !== 'galera' || token === undefined || token.isEmpty) return { node, wait: 'none', fallback };
    if (token.positionUnknown) return { node, wait: 'cluster', fallback };
    return { node, wait: token.galeraSeqno > 0n ? 'seqno' : 'none', fallback };
  }

  private count(map: Map<string, number>, node: string): void {
    map.set(node, (map.get(node) ?? 0) + 1);
  }

  /** Takes in a new probe round: the cached primary follows it, and split brain stops writes. */
  private adopt(plan: RoutePlan, previous: RoutePlan | undefined): void {
    this.suspects.clear();
    // Writes still running on a node this round proves is off the writing side fail now and are
    // settled as after a lost connection (a Galera writer cut off with a minority, an old primary
    // after a promotion), instead of hanging until the statement timeout.
    for (const node of plan.evicted) if (!(previous?.evicted.includes(node) ?? false)) this.pools.evict(node, `${node} is off the writing side (${plan.summary})`);
    this.writer.adopt(plan);
    const readers = plan.readers.join(',');
    if (previous === undefined || previous.readers.join(',') !== readers || previous.writer !== plan.writer) {
      this.opts.log.info({ routes: plan.summary }, 'MariaDB routes changed');
    }
  }

  private async endAfterError(lease: Lease, kind: DbErrorKind): Promise<void> {
    if (kind === 'connection') {
      // Includes statement timeouts: mysql2 leaves the connection busy, so it cannot be reused.
      lease.conn.destroy();
      this.writer.forget(lease.node, 'connection lost');
      return;
    }
    if (kind === 'read-only') this.writer.forget(lease.node, 'refused a write: read-only');
    try {
      // 1 s: a rollback of an OLTP transaction is immediate; do not hang on a stalled server.
      await lease.conn.query({ sql: 'ROLLBACK', timeout: 1_000 });
      lease.conn.release();
    } catch {
      lease.conn.destroy();
    }
  }

  private unavailable(cause: unknown, what: string): HastackError {
    if (cause instanceof HastackError && (cause.code === ErrorCode.DB_UNAVAILABLE || cause.code === ErrorCode.DB_SPLIT_BRAIN)) return cause;
    return new HastackError(ErrorCode.DB_UNAVAILABLE, `database unavailable: ${what} (${describeError(cause)})`, {
      cause,
      details: { primary: this.writer.current ?? null },
    });
  }
}
