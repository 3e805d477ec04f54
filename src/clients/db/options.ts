import type { Logger } from '../../shared/log.js';
import type { DbMode } from './routing.js';
import type { DbRetryPolicy } from './retry-policy.js';

/* The database router's options and counters (client.ts keeps the router itself). */

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
  /**
   * config.database.mode. Replication: one writable primary, two writable nodes are a split brain.
   * Galera: every synced node is writable; the router writes through one of them.
   */
  readonly mode?: DbMode;
  /**
   * Background probe period (ms). 300: a promotion, a demotion, a stopped or lagging replica is
   * seen within a third of a second, while a probe round costs each node two variable reads on a
   * kept-open connection (about 3 tiny statements per second per node per process).
   */
  readonly probeIntervalMs?: number;
  /**
   * A replica more than this many transactions behind the primary (GTID distance) takes no reads.
   * 100: a healthy replica on a LAN is a few transactions behind at most when the probe looks; 100
   * is a burst it is not keeping up with, yet a short spike does not empty the reader set.
   */
  readonly maxLagTransactions?: number;
  /**
   * How long a read-your-writes read waits for a replica to apply the session's write (ms)
   * before asking the primary instead. 500: semi-sync AFTER_SYNC means the replica already has
   * the write when it was acknowledged; applying it takes milliseconds, so half a second of
   * waiting means the replica is stuck, and the primary answers at once.
   */
  readonly readYourWritesWaitMs?: number;
  /** When a failed call is tried again (default `createDbRetryPolicy()`: 50 ms doubling to 500 ms). */
  readonly retryPolicy?: DbRetryPolicy;
}

/** What the router did, per node: for benchmarks, tests and status. */
export interface DbRouterStats {
  /** Statements that returned rows, by node. */
  readonly readsByNode: Readonly<Record<string, number>>;
  /** Statements and transactions that wrote, by node. */
  readonly writesByNode: Readonly<Record<string, number>>;
  /** Read-path reads that had to wait for a replica to reach the session's GTID. */
  readonly readYourWritesWaits: number;
  /** Read-path reads sent to the primary because a replica did not reach the GTID in time, or the position was unknown. */
  readonly readYourWritesToPrimary: number;
  /** Read-path reads sent to the primary because no replica qualified. */
  readonly readsFellBackToPrimary: number;
  /** Attempts that failed and were tried again (connection lost, read-only, deadlock, no writer). */
  readonly retries: number;
}
