import mysql from 'mysql2/promise';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { describeError } from '../../shared/errors.js';
import type { DbMode, NodeState } from './routing.js';
import { isFencedRefusal } from './errors.js';

export interface ProbeTarget {
  readonly id: string;
  readonly address: string;
  readonly port: number;
}

export interface ProbeCredentials {
  readonly user: string;
  readonly password: string;
  readonly database: string;
  readonly connectTimeoutMs: number;
  /**
   * Called when an open probe connection to a node breaks between rounds (the node's process died:
   * its kernel closed the socket). The local endpoints probe again at once on it, instead of
   * learning of a dead writer at the next round.
   */
  readonly onLost?: (id: string) => void;
}

// 1 s: a live server answers a handful of variable reads at once; a frozen one must not hold up
// the round (the round's result is only as fresh as its slowest node).
const PROBE_STATEMENT_MS = 1_000;

// ER_SPECIFIC_ACCESS_DENIED_ERROR / ER_SPECIFIC_ACCESS_DENIED: SHOW SLAVE STATUS without SLAVE MONITOR.
const ACCESS_DENIED_ERRNOS = new Set([1227, 1044, 1142]);
const FENCED = 'fenced: it refuses the app (a primary that lost its lease or was fenced by a failover; it is rebuilt or lifts its own fence)';

type Up = Extract<NodeState, { reachable: true }>;
type Replication = Up['replication'];
type GaleraStatus = NonNullable<Up['galera']>;

/**
 * The wsrep status rows (`Variable_name`, `Value`) as the router needs them. A server without
 * Galera has none of them: state -1, not ready, no cluster status, so it is never a Galera node.
 */
export function parseWsrepStatus(status: readonly Record<string, unknown>[]): GaleraStatus {
  const s = new Map(status.map((r) => [String(r['Variable_name']).toLowerCase(), String(r['Value'])]));
  return {
    localState: Number(s.get('wsrep_local_state') ?? -1),
    ready: s.get('wsrep_ready') === 'ON',
    clusterStatus: s.get('wsrep_cluster_status') ?? '',
    lastCommitted: /^\d{1,19}$/.test(s.get('wsrep_last_committed') ?? '') ? BigInt(s.get('wsrep_last_committed') as string) : -1n,
    ...(/^\d{1,6}$/.test(s.get('wsrep_cluster_size') ?? '') ? { clusterSize: Number(s.get('wsrep_cluster_size')) } : {}),
  };
}

/** One SHOW SLAVE STATUS row (undefined: this node replicates from nobody). */
export function parseSlaveThreads(row: Record<string, unknown> | undefined): Replication {
  if (row === undefined) return 'none';
  return { ioRunning: row['Slave_IO_Running'] === 'Yes', sqlRunning: row['Slave_SQL_Running'] === 'Yes', ioConnecting: row['Slave_IO_Running'] === 'Connecting' };
}

async function rows(c: Connection, sql: string): Promise<RowDataPacket[]> {
  const [r] = await c.query<RowDataPacket[]>({ sql, timeout: PROBE_STATEMENT_MS });
  return r;
}

/**
 * Probes the MariaDB nodes, one persistent connection per node (not from the statement pools, so
 * a pool full of stuck connections cannot block discovery; not a fresh connection per round,
 * because rounds run every few hundred ms). A connection that fails once is dropped and opened
 * again at the next round.
 */
export class NodeProber {
  private readonly conns = new Map<string, Connection>();
  private closed = false;

  constructor(
    private readonly mode: DbMode,
    private readonly creds: ProbeCredentials,
  ) {}

  async probe(n: ProbeTarget): Promise<NodeState> {
    try {
      const c = await this.connection(n);
      try {
        return await this.read(n.id, c);
      } catch (e) {
        this.drop(n.id);
        throw e;
      }
    } catch (e) {
      return { id: n.id, reachable: false, error: isFencedRefusal(e) ? FENCED : describeError(e) };
    }
  }

  close(): void {
    this.closed = true;
    for (const id of [...this.conns.keys()]) this.drop(id);
  }

  private async read(id: string, c: Connection): Promise<NodeState> {
    const [v] = await rows(c, 'SELECT @@global.read_only AS ro, @@global.gtid_binlog_pos AS bin, @@global.gtid_slave_pos AS slave');
    const base = { id, reachable: true as const, readOnly: Number(v?.['ro']) !== 0, binlogPos: String(v?.['bin'] ?? ''), slavePos: String(v?.['slave'] ?? '') };
    if (this.mode === 'galera') {
      const status = await rows(
        c,
        "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state', 'wsrep_ready', 'wsrep_cluster_status', 'wsrep_last_committed', 'wsrep_cluster_size')",
      );
      return { ...base, replication: 'none', galera: parseWsrepStatus(status) };
    }
    // A writable node is the writer whatever it replicates (routing reads replication only on
    // read-only nodes), so it is not asked: SHOW SLAVE STATUS waits while a STOP SLAVE runs, and a
    // replica just promoted runs one in the background (the failover's repoint step, stuck up to
    // slave_net_timeout on a cut-off old primary). The probe timed out there, and the new primary
    // looked unreachable to every app for 2 s after its promotion (partition-db-primary: writes
    // came back only once that STOP SLAVE ended).
    if (!base.readOnly) return { ...base, replication: 'none' };
    let replication: Replication;
    try {
      replication = parseSlaveThreads((await rows(c, 'SHOW SLAVE STATUS'))[0]);
    } catch (e) {
      const errno = (e as { errno?: unknown }).errno;
      if (typeof errno !== 'number' || !ACCESS_DENIED_ERRNOS.has(errno)) throw e;
      replication = 'unknown';
      // A global privilege reaches a session only when it connects: the grant may have come
      // after this connection (a replica that had not yet applied it; CI saw a replica skipped
      // for good). The next round connects afresh.
      this.drop(id);
    }
    return { ...base, replication };
  }

  private async connection(n: ProbeTarget): Promise<Connection> {
    const existing = this.conns.get(n.id);
    if (existing) return existing;
    const c = await mysql.createConnection({
      host: n.address,
      port: n.port,
      user: this.creds.user,
      password: this.creds.password,
      database: this.creds.database,
      connectTimeout: this.creds.connectTimeoutMs,
    });
    // An error event on an idle connection must not crash the process; the next round reconnects.
    c.on('error', () => {
      // Only the connection in use: a replaced one's late error is not news.
      if (this.conns.get(n.id) !== c) return;
      this.drop(n.id);
      if (!this.closed) this.creds.onLost?.(n.id);
    });
    if (this.closed) {
      c.destroy();
      throw new Error('prober closed');
    }
    this.conns.set(n.id, c);
    return c;
  }

  private drop(id: string): void {
    const c = this.conns.get(id);
    this.conns.delete(id);
    c?.destroy();
  }
}
