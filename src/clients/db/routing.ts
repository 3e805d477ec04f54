import { gtidDistance, mergeGtidPos, parseGtidPos, type GtidPos } from './gtid.js';

/** How the MariaDB nodes replicate (config.database.mode): it decides what "writable" means. */
export type DbMode = 'replication' | 'galera';

/** What one probe round found on one node. Built by the prober, consumed by `planRoutes`. */
export type NodeState =
  | { readonly id: string; readonly reachable: false; readonly error: string }
  | {
      readonly id: string;
      readonly reachable: true;
      readonly readOnly: boolean;
      /** @@gtid_binlog_pos: what this node has written to its binlog (the primary's position). */
      readonly binlogPos: string;
      /** @@gtid_slave_pos: what the replication SQL thread applied (a replica's position). */
      readonly slavePos: string;
      /**
       * Replication threads from SHOW SLAVE STATUS: 'none' when this node replicates from nobody,
       * 'unknown' when the user may not see it (then the node takes no reads).
       */
      readonly replication: { readonly ioRunning: boolean; readonly sqlRunning: boolean; readonly ioConnecting?: boolean } | 'none' | 'unknown';
      /** Galera status (galera mode only). */
      readonly galera?: {
        readonly localState: number;
        readonly ready: boolean;
        readonly clusterStatus: string;
        /** wsrep_last_committed: the cluster-wide seqno this node has committed up to (absent or -1n: unknown). */
        readonly lastCommitted?: bigint;
        /** wsrep_cluster_size: members of the component this node is in (absent: unknown). */
        readonly clusterSize?: number;
      };
    };

export interface RoutingPolicy {
  readonly mode: DbMode;
  /**
   * Replication mode: a replica more than this many transactions behind the primary takes no
   * reads. Measured as GTID distance, not Seconds_Behind_Master (see `planRoutes`).
   */
  readonly maxLagTransactions: number;
}

export interface RoutePlan {
  /** Where writes and transactions go; undefined while no node may take them. */
  readonly writer: string | undefined;
  /** Why there is no writer: none qualifies, or two claim it (split brain, replication only). */
  readonly writeRefusal?: { readonly kind: 'no-writer' | 'split-brain'; readonly reason: string };
  /** Nodes that may serve reads, in topology order (empty: reads fall back to the writer). */
  readonly readers: readonly string[];
  /** Nodes that take no reads, each with the reason (for logs and status). */
  readonly excluded: readonly { readonly id: string; readonly why: string }[];
  /**
   * Nodes this round proves are off the writing side (`galeraEvicted`; in replication, an
   * unreachable node beside a writer): a write still running on one of them will not commit
   * through it, so the client stops waiting for it and settles it as after a lost connection
   * (replayed if it never reached COMMIT or is idempotent; a COMMIT is never re-run blindly)
   * instead of waiting out the statement timeout.
   */
  readonly evicted: readonly string[];
  /** Each reader's applied GTID position, so a read-your-writes read can skip the wait. */
  readonly appliedPos: ReadonlyMap<string, GtidPos>;
  /** Galera: each synced node's wsrep_last_committed in this round (the same use as appliedPos). */
  readonly appliedSeqno: ReadonlyMap<string, bigint>;
  /** One line for the log. */
  readonly summary: string;
}

type Up = Extract<NodeState, { reachable: true }>;

/** Galera's "Synced" state (wsrep_local_state 4): the node applies and serves like every other. */
const GALERA_SYNCED = 4;

function galeraSynced(n: Up): string | undefined {
  const g = n.galera;
  if (g === undefined) return 'no wsrep status (is galera running on it?)';
  if (g.clusterStatus !== 'Primary') return `wsrep_cluster_status ${g.clusterStatus || '?'} (not in the primary component)`;
  if (!g.ready) return 'wsrep_ready OFF';
  if (g.localState !== GALERA_SYNCED) return `wsrep_local_state ${g.localState} (not synced)`;
  return undefined;
}

/**
 * Galera: every synced node accepts writes, but concurrent writes through different nodes fail
 * certification at commit. So all routers pick the same writer: the first synced node in topology
 * order (deterministic, so separate app processes agree without talking to each other); the other
 * synced nodes serve reads.
 */
function planGalera(nodes: readonly NodeState[]): RoutePlan {
  const excluded: { id: string; why: string }[] = [];
  const synced: string[] = [];
  for (const n of nodes) {
    if (!n.reachable) excluded.push({ id: n.id, why: `unreachable: ${n.error}` });
    else {
      const why = galeraSynced(n);
      if (why === undefined) synced.push(n.id);
      else excluded.push({ id: n.id, why });
    }
  }
  // A node an operator set read_only (say, before maintenance) still serves reads.
  const writer = synced.find((id) => nodes.some((n) => n.id === id && n.reachable && !n.readOnly));
  const readers = synced.filter((id) => id !== writer);
  const appliedPos = new Map<string, GtidPos>();
  const appliedSeqno = new Map<string, bigint>();
  for (const n of nodes) {
    const c = n.reachable ? n.galera?.lastCommitted : undefined;
    if (c !== undefined && c >= 0n && synced.includes(n.id)) appliedSeqno.set(n.id, c);
  }
  if (writer === undefined) {
    const reason = `no synced Galera node (${excluded.map((e) => `${e.id}: ${e.why}`).join('; ') || 'no mariadb services'})`;
    return { writer, writeRefusal: { kind: 'no-writer', reason }, readers, excluded, evicted: [], appliedPos, appliedSeqno, summary: reason };
  }
  const evicted = galeraEvicted(nodes, writer);
  const summary = `writer ${writer}, readers ${readers.join(', ') || 'none (reads go to the writer)'}${evicted.length > 0 ? `; out of the primary component: ${evicted.join(', ')}` : ''}`;
  return { writer, readers, excluded, evicted, appliedPos, appliedSeqno, summary };
}

/**
 * Galera: the nodes outside the writer's primary component, when this round saw every member of
 * it (as many nodes answering "Primary" with the writer's cluster size as that size). A node that
 * merely did not answer one probe (a slow round) while still a member leaves the count short, so
 * nothing is evicted on a blip. Once the majority's component no longer holds a node, a write
 * set of that node either was delivered before the view change (and is in the component) or
 * never will be: nothing is gained by waiting for it.
 */
function galeraEvicted(nodes: readonly NodeState[], writer: string): string[] {
  const w = nodes.find((n): n is Up => n.id === writer && n.reachable);
  const size = w?.galera?.clusterSize;
  if (size === undefined || size <= 0) return [];
  const members = nodes.filter((n): n is Up => n.reachable && n.galera?.clusterStatus === 'Primary' && n.galera.clusterSize === size).map((n) => n.id);
  if (members.length < size) return [];
  return nodes.filter((n) => !members.includes(n.id)).map((n) => n.id);
}

/**
 * Replication: the writer is the one node with read_only=0. Two writable nodes are a split brain
 * (a failover whose old primary came back writable): writes are refused until one is demoted,
 * because whichever we picked, the other may be taking writes that are lost on reconciliation.
 *
 * Readers are the read-only nodes whose replication runs and that are at most
 * `maxLagTransactions` behind. Lag is the GTID distance between the primary's @@gtid_binlog_pos
 * and the replica's @@gtid_slave_pos, not Seconds_Behind_Master: that one reads 0 while the SQL
 * thread is idle even if the IO thread is far behind (a slow link), NULL when a thread is stopped,
 * jumps with big transactions, and needs a monitoring privilege; the GTID distance is an exact
 * count of missing commits, needs no privilege, and is in the same coordinates as the
 * read-your-writes token. Both positions come from one probe round, not one instant, so commits
 * between the two reads inflate it a little: the bound leaves room for that.
 */
function planReplication(nodes: readonly NodeState[], policy: RoutingPolicy): RoutePlan {
  const up = nodes.filter((n): n is Up => n.reachable);
  const excluded: { id: string; why: string }[] = nodes.filter((n) => !n.reachable).map((n) => ({ id: n.id, why: `unreachable: ${n.reachable ? '' : n.error}` }));
  const writable = up.filter((n) => !n.readOnly);
  let writer: string | undefined;
  let writeRefusal: RoutePlan['writeRefusal'];
  if (writable.length === 1) writer = (writable[0] as Up).id;
  else if (writable.length > 1) {
    const ids = writable.map((n) => n.id).join(' and ');
    writeRefusal = { kind: 'split-brain', reason: `split brain: ${ids} are both writable in replication mode; writes are refused until one is made read-only` };
  } else {
    const why = nodes.map((n) => (n.reachable ? `${n.id}: read_only` : `${n.id}: ${n.error}`)).join('; ');
    writeRefusal = { kind: 'no-writer', reason: `no writable MariaDB (${why || 'no mariadb services'})` };
  }
  // The reference for lag: the writer's binlog, or (without a single writer) the most advanced
  // position any node reports, so replicas are still judged during a failover or split brain.
  const writerNode = writable.length === 1 ? writable[0] : undefined;
  const reference = writerNode
    ? parseGtidPos(writerNode.binlogPos)
    : up.reduce<GtidPos>((acc, n) => mergeGtidPos(acc, mergeGtidPos(parseGtidPos(n.binlogPos), parseGtidPos(n.slavePos))), new Map());
  const readers: string[] = [];
  const appliedPos = new Map<string, GtidPos>();
  for (const n of up) {
    if (!n.readOnly) {
      if (writable.length > 1) excluded.push({ id: n.id, why: 'writable during a split brain' });
      continue;
    }
    const r = n.replication;
    if (r === 'none') {
      excluded.push({ id: n.id, why: 'read-only but not replicating from anyone' });
      continue;
    }
    // Provably replicating or no reads: a read-only node may be a restored backup, or a replica
    // detached by hand, that no GTID comparison would tell apart from a caught-up one.
    if (r === 'unknown') {
      excluded.push({ id: n.id, why: 'replication status not visible (the app user needs SLAVE MONITOR)' });
      continue;
    }
    // The primary is gone (no writable node answers us) and the replica's IO thread is trying to
    // reach it again: it holds everything the primary sent it, the newest data there is, so it
    // keeps serving reads during the writer change; a session whose write it lacks still waits
    // for its GTID (and then for the new writer).
    const orphaned = writer === undefined && writeRefusal?.kind === 'no-writer' && r.ioConnecting === true && r.sqlRunning;
    if (!(r.ioRunning && r.sqlRunning) && !orphaned) {
      excluded.push({ id: n.id, why: `replication stopped (io ${r.ioRunning ? 'running' : 'stopped'}, sql ${r.sqlRunning ? 'running' : 'stopped'})` });
      continue;
    }
    const applied = parseGtidPos(n.slavePos);
    const lag = gtidDistance(reference, applied);
    if (lag > policy.maxLagTransactions) {
      excluded.push({ id: n.id, why: `${lag} transactions behind (bound ${policy.maxLagTransactions})` });
      continue;
    }
    readers.push(n.id);
    appliedPos.set(n.id, applied);
  }
  const head = writer !== undefined ? `writer ${writer}` : (writeRefusal?.reason ?? 'no writer');
  const summary = `${head}, readers ${readers.join(', ') || 'none (reads go to the writer)'}${excluded.length > 0 ? `; skipped ${excluded.map((e) => `${e.id} (${e.why})`).join(', ')}` : ''}`;
  // A writer answered and another node did not: that one was the primary before a promotion (a
  // replica becomes writable only after the old primary was fenced or its lease ran out).
  const evicted = writer !== undefined ? nodes.filter((n) => !n.reachable).map((n) => n.id) : [];
  return { writer, ...(writeRefusal ? { writeRefusal } : {}), readers, excluded, evicted, appliedPos, appliedSeqno: new Map(), summary };
}

/** Where writes and reads go, from one probe round. Pure: the whole routing decision. */
export function planRoutes(nodes: readonly NodeState[], policy: RoutingPolicy): RoutePlan {
  return policy.mode === 'galera' ? planGalera(nodes) : planReplication(nodes, policy);
}

/**
 * Picks the reader for the next read: round robin over the plan's readers minus the nodes that
 * just failed a statement (until the next probe round says otherwise). Returns undefined when no
 * reader is left: the read goes to the writer.
 */
export function pickReader(plan: RoutePlan, suspects: ReadonlySet<string>, turn: number): string | undefined {
  const ok = plan.readers.filter((id) => !suspects.has(id));
  if (ok.length === 0) return undefined;
  return ok[turn % ok.length];
}
