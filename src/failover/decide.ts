import type { ThreadState } from '../engines/index.js';
import { gtidBehind, gtidCovers, gtidMissing, parseGtidPos } from './gtid.js';

/*
 * The failover's decisions, as pure functions of an immutable snapshot of the cluster: which node
 * was the primary, which replica to promote, whether the automatic mode should act. No I/O here;
 * facts.ts gathers the snapshot, runbook.ts acts on the plan.
 */

/** One MariaDB node as the controller saw it. */
export interface DbFacts {
  readonly node: string;
  readonly reachable: boolean;
  readonly error?: string;
  readonly readOnly: boolean;
  /** SHOW SLAVE STATUS has a master configured. */
  readonly replicating: boolean;
  /** The node it replicates from, when that is a node of the cluster. */
  readonly masterNode?: string;
  readonly ioThread: ThreadState;
  /** Last_IO_Errno (0: none): 1236 is fatal (the primary cannot serve what it asks for). */
  readonly ioErrno?: number;
  readonly sqlThread: ThreadState;
  readonly sqlErrno: number;
  /** @@gtid_current_pos: what it has applied (or written). */
  readonly gtidApplied: string;
  /** Gtid_IO_Pos when replicating (what it received), else the applied position. */
  readonly gtidReceived: string;
  /** @@gtid_binlog_pos: what its binlog holds (for a reachable primary: every transaction). */
  readonly gtidBinlog: string;
  /** The role recorded in its hastack-db.json (what it restarts as). */
  readonly recordedRole?: 'primary' | 'replica';
  /** Its semi-sync master side, when reachable: is a commit acknowledged only once a replica has it? */
  readonly semiSync?: SemiSyncFacts;
  /** A delayed replica's MASTER_DELAY (database.delayedReplica), seconds: never a candidate. */
  readonly delayS?: number;
}

export interface SemiSyncFacts {
  /** rpl_semi_sync_master_enabled. */
  readonly enabled: boolean;
  /** Rpl_semi_sync_master_status: OFF while enabled means it fell back to asynchronous. */
  readonly active: boolean;
  /** Rpl_semi_sync_master_clients: replicas acknowledging. */
  readonly clients: number;
}

export interface RedisFacts {
  readonly node: string;
  readonly reachable: boolean;
  readonly role?: 'master' | 'replica';
  /** For a replica: the node of its master. */
  readonly masterNode?: string;
  readonly linkUp: boolean;
  readonly offset: number;
}

export interface ClusterFacts {
  readonly takenAt: string;
  readonly dbs: readonly DbFacts[];
  readonly redis: readonly RedisFacts[];
  /** The Redis master node the reachable Sentinels name (newest epoch), if any answer. */
  readonly sentinelMaster?: string;
  /**
   * Redis was not looked at (the automatic mode's preflight: the plan needs only the databases,
   * and a cut-off Redis node costs a connect timeout; the redis step looks after the promotion).
   */
  readonly redisNotLooked?: boolean;
}

/**
 * The node that is (or was, if it died) the primary: a reachable node that is writable and
 * replicates from nobody; else the node the replicas replicate from; else the one whose state
 * file records it as primary. Undefined when the facts disagree (two writable nodes).
 */
export function currentPrimary(facts: ClusterFacts): { node?: string; why: string } {
  const writable = facts.dbs.filter((d) => d.reachable && !d.readOnly && !d.replicating);
  if (writable.length === 1) return { node: writable[0]?.node as string, why: 'writable and replicating from nobody' };
  if (writable.length > 1) return { why: `several writable nodes (${writable.map((d) => d.node).join(', ')}): fence all but one by hand first` };
  const sources = new Set(facts.dbs.filter((d) => d.reachable && d.replicating && d.masterNode).map((d) => d.masterNode as string));
  if (sources.size === 1) {
    const node = [...sources][0] as string;
    return { node, why: 'the replicas replicate from it' };
  }
  const recorded = facts.dbs.filter((d) => d.recordedRole === 'primary');
  if (recorded.length === 1) return { node: recorded[0]?.node as string, why: 'recorded as primary in its hastack-db.json' };
  return { why: 'no node is writable, the replicas name no single source, and no state file records a primary' };
}

export type FailoverPlan =
  | {
      readonly ok: true;
      /**
       * What promoting `to` loses, one line each, when the operator accepted it
       * (`acceptDataLoss`); absent when nothing acknowledged is known to be at risk.
       */
      readonly acceptedLoss?: readonly string[];
      /** The old primary. */
      readonly from: string;
      readonly fromReachable: boolean;
      /** The replica to promote. */
      readonly to: string;
      /** The other replicas, to repoint at `to`. */
      readonly repoint: readonly string[];
      /** The facts the choice rests on, one line each (printed by --dry-run). */
      readonly because: readonly string[];
    }
  | { readonly ok: false; readonly refusal: FailoverRefusal; readonly reason: string; readonly dataLoss?: readonly string[] };

/**
 * Why a failover plan was refused (stable: the runbook's error details and tests branch on it):
 * - primary-unknown: the facts name no single old primary (two writable nodes, or none recorded);
 * - no-candidate: no replica provably holds what it received from the old primary;
 * - target-unsafe: `--to` names a node that is no candidate (or the old primary);
 * - target-behind: `--to` names a replica another candidate is ahead of;
 * - replicas-diverged: each candidate has transactions another lacks;
 * - data-loss: promoting would lose commits the old primary acknowledged (DATA_LOSS_REFUSED).
 */
export type FailoverRefusal = 'primary-unknown' | 'no-candidate' | 'target-unsafe' | 'target-behind' | 'replicas-diverged' | 'data-loss';

/**
 * A replica can be promoted only when it provably holds what it received from the old primary:
 * it replicates from that primary, its IO thread is streaming or retrying (a stopped one is not
 * following the primary: Patroni lost every row here promoting a replica that was not
 * streaming), its SQL thread has not stopped on an error (a relay log it cannot apply would be
 * dropped at promotion), and it received at least what any replica had received when the
 * primary was last seen acknowledging with semi-sync (`acked`): with AFTER_SYNC, every commit
 * acknowledged by then is in that position. Reachability is checked by the caller's facts.
 */
export function candidateProblem(d: DbFacts, from: string, acked?: AckedMark): string | undefined {
  if (!d.reachable) return `${d.node} does not answer (${d.error ?? 'unreachable'})`;
  if (!d.replicating) return `${d.node} replicates from nobody (fenced or never attached): its data may be old`;
  if ((d.delayS ?? 0) > 0) return `${d.node} is the delayed replica (it applies ${d.delayS ?? 0} s late, database.delayedReplica): never promoted`;
  if (d.masterNode !== from) return `${d.node} replicates from ${d.masterNode ?? 'a server outside the cluster'}, not from ${from}`;
  if (d.ioThread === 'stopped') {
    return `${d.node}'s IO thread is stopped${d.ioErrno ? ` on error ${d.ioErrno}` : ''}: it was not streaming from ${from}, so what it received may be old`;
  }
  if (d.sqlThread === 'stopped' && d.sqlErrno !== 0) return `${d.node}'s SQL thread stopped on error ${d.sqlErrno}: it cannot apply what it received`;
  if (acked && acked.primary === from && !gtidCovers(parseGtidPos(d.gtidReceived), parseGtidPos(acked.received))) {
    return (
      `${d.node} received ${d.gtidReceived || 'nothing'}, less than the ${acked.received} a replica of ${from} had received at ${new Date(acked.at).toISOString()} ` +
      `while semi-sync was on: it lacks ${gtidBehind(parseGtidPos(d.gtidReceived), parseGtidPos(acked.received))} transaction(s) that may have been acknowledged`
    );
  }
  return undefined;
}

/**
 * The furthest position a streaming replica had received when the primary was last seen
 * writable with semi-sync on (trackAcked): the least a promoted replica must hold.
 */
export interface AckedMark {
  readonly primary: string;
  readonly received: string;
  /** ms since the epoch */
  readonly at: number;
}

/**
 * One cycle's update of the mark: while the primary answers writable with semi-sync on and
 * acknowledging, the most advanced received position among its streaming replicas (IO thread
 * running from it). Anything else keeps the last mark (a dead primary's mark is what the
 * failover checks). A new primary starts a new mark. Pure.
 */
export function trackAcked(prev: AckedMark | undefined, dbs: readonly DbFacts[], at: number): AckedMark | undefined {
  const prim = currentPrimary({ takenAt: '', dbs, redis: [] }).node;
  const p = dbs.find((d) => d.node === prim);
  if (!p || !p.reachable || p.readOnly || p.replicating || !p.semiSync?.enabled || !p.semiSync.active) return prev?.primary === prim ? prev : undefined;
  const streaming = dbs.filter((d) => d.reachable && d.masterNode === p.node && d.ioThread === 'running' && d.gtidReceived !== '');
  const best = streaming.find((c) => streaming.every((o) => gtidCovers(parseGtidPos(c.gtidReceived), parseGtidPos(o.gtidReceived))));
  if (!best) return prev?.primary === p.node ? prev : undefined;
  // Never backwards: a replica that restarted and lost its relay log shows an older position.
  if (prev?.primary === p.node && !gtidCovers(parseGtidPos(best.gtidReceived), parseGtidPos(prev.received))) return { ...prev, at };
  return { primary: p.node, received: best.gtidReceived, at };
}

export interface PlanOptions {
  readonly to?: string;
  /** The automatic mode's record of the primary acknowledging without a replica (if it watched). */
  readonly asyncWindow?: AsyncWindow;
  /** The operator accepts losing what `dataLoss` lists (`hastack failover --accept-data-loss`). */
  readonly acceptDataLoss?: boolean;
  /** The automatic mode's mark of what the replicas had received under semi-sync (trackAcked). */
  readonly acked?: AckedMark;
}

/** Chooses the old primary and the replica to promote (`to` forces one, if it is safe). Pure. */
export function planFailover(facts: ClusterFacts, opts: PlanOptions = {}): FailoverPlan {
  const prim = currentPrimary(facts);
  if (!prim.node) return { ok: false, refusal: 'primary-unknown', reason: `cannot tell which node is the primary: ${prim.why}` };
  const from = prim.node;
  const fromFacts = facts.dbs.find((d) => d.node === from);
  const because = [`primary: ${from} (${prim.why}), ${fromFacts?.reachable ? 'reachable' : `unreachable: ${fromFacts?.error ?? 'no answer'}`}`];
  const others = facts.dbs.filter((d) => d.node !== from);
  const rejected: Array<{ readonly node: string; readonly problem: string }> = [];
  const candidates = others.filter((d) => {
    const problem = candidateProblem(d, from, opts.acked);
    if (problem) rejected.push({ node: d.node, problem });
    return problem === undefined;
  });
  for (const c of candidates) {
    because.push(`candidate ${c.node}: received ${c.gtidReceived || 'nothing'}, applied ${c.gtidApplied || 'nothing'}, io ${c.ioThread}, sql ${c.sqlThread}`);
  }
  if (opts.acked?.primary === from) because.push(`floor: the replicas had received ${opts.acked.received} under semi-sync at ${new Date(opts.acked.at).toISOString()}`);
  for (const r of rejected) because.push(`not a candidate: ${r.problem}`);
  if (candidates.length === 0) {
    return { ok: false, refusal: 'no-candidate', reason: `no replica can be promoted: ${rejected.map((r) => r.problem).join('; ') || 'there is no other mariadb node'}` };
  }

  // The most advanced by what it received (it applies the rest before promotion).
  const best = candidates.filter((c) => candidates.every((o) => gtidCovers(parseGtidPos(c.gtidReceived), parseGtidPos(o.gtidReceived))));
  let to: string;
  if (opts.to !== undefined) {
    const forced = candidates.find((c) => c.node === opts.to);
    if (!forced) {
      const why = rejected.find((r) => r.node === opts.to)?.problem;
      return { ok: false, refusal: 'target-unsafe', reason: `--to ${opts.to}: ${why ?? (opts.to === from ? 'that is the old primary' : 'no such mariadb node')}` };
    }
    const ahead = candidates.find((o) => gtidBehind(parseGtidPos(forced.gtidReceived), parseGtidPos(o.gtidReceived)) > 0);
    if (ahead) {
      return {
        ok: false,
        refusal: 'target-behind',
        reason: `--to ${opts.to}: ${ahead.node} received transactions ${opts.to} lacks (${ahead.gtidReceived} vs ${forced.gtidReceived}); promote ${ahead.node} instead, or they are lost`,
      };
    }
    to = forced.node;
  } else {
    const first = best[0];
    if (!first)
      return {
        ok: false,
        refusal: 'replicas-diverged',
        reason: `the replicas diverged (each has transactions another lacks): ${candidates.map((c) => `${c.node} ${c.gtidReceived}`).join(', ')}; choose with --to after checking by hand`,
      };
    to = first.node;
  }
  because.push(`promote ${to}: ${candidates.length > 1 ? 'the most advanced replica' : 'the only candidate'}`);
  const toFacts = candidates.find((c) => c.node === to) as DbFacts;
  const loss = dataLoss(fromFacts, toFacts, opts.asyncWindow);
  if (loss && !opts.acceptDataLoss) {
    return {
      ok: false,
      refusal: 'data-loss',
      reason:
        `promoting ${to} would lose commits ${from} acknowledged without a replica:\n${loss.map((l) => `  ${l}`).join('\n')}\n` +
        `bring ${from} back (heal or restart its node) so ${to} can catch up, or run the failover again with --accept-data-loss to promote ${to} without them`,
      dataLoss: loss,
    };
  }
  if (loss) because.push(...loss.map((l) => `ACCEPTED LOSS: ${l}`));
  return {
    ok: true,
    from,
    fromReachable: fromFacts?.reachable === true,
    to,
    repoint: candidates.filter((c) => c.node !== to).map((c) => c.node),
    because,
    ...(loss ? { acceptedLoss: loss } : {}),
  };
}

/**
 * What promoting `to` would lose, one line each, or undefined when nothing acknowledged is at
 * risk. At risk: the old primary is (or was last seen) acknowledging commits without a replica
 * (semi-sync off or fallen back), and `to` lacks part of its binlog; for an old primary that no
 * longer answers, also whatever it acknowledged after it was last seen. Pure.
 */
export function dataLoss(from: DbFacts | undefined, to: DbFacts, window: AsyncWindow | undefined): string[] | undefined {
  const received = parseGtidPos(to.gtidReceived);
  if (from?.reachable && !from.readOnly && from.semiSync) {
    if (from.semiSync.enabled && from.semiSync.active) return undefined;
    const missing = gtidMissing(received, parseGtidPos(from.gtidBinlog));
    if (missing.length === 0) return undefined;
    return [
      `${from.node} acknowledges without a replica (${from.semiSync.enabled ? 'semi-sync fell back to asynchronous' : 'semi-sync off'}); its binlog is at ${from.gtidBinlog}, ${to.node} received ${to.gtidReceived || 'nothing'}`,
      `${to.node} lacks ${gtidBehind(received, parseGtidPos(from.gtidBinlog))} transaction(s): ${missing.join(', ')}`,
    ];
  }
  if (!window || window.primary !== from?.node || from.reachable) return undefined;
  const missing = gtidMissing(received, parseGtidPos(window.primaryBinlog));
  return [
    `${window.primary} was seen acknowledging without a replica (${window.why}) from ${new Date(window.since).toISOString()} until it was last seen at ${new Date(window.lastSeenAt).toISOString()}, binlog at ${window.primaryBinlog || 'empty'}; ${to.node} received ${to.gtidReceived || 'nothing'}`,
    missing.length > 0
      ? `${to.node} lacks ${gtidBehind(received, parseGtidPos(window.primaryBinlog))} transaction(s) known to be acknowledged: ${missing.join(', ')}`
      : `${to.node} has every transaction ${window.primary} had when last seen`,
    `and whatever ${window.primary} acknowledged after ${new Date(window.lastSeenAt).toISOString()} (unknown: it no longer answers)`,
  ];
}

/**
 * A window in which the primary was seen acknowledging commits without a replica's ack: semi-sync
 * off, or fallen back to asynchronous after semiSyncTimeoutMs. Every commit acknowledged in it may
 * exist only on the primary. It closes only when semi-sync is seen on again (MariaDB switches it
 * back on once a replica caught up with the primary's binlog), or another node is the primary.
 */
export interface AsyncWindow {
  readonly primary: string;
  /** ms since the epoch: first seen acknowledging without a replica. */
  readonly since: number;
  /** ms since the epoch: last seen (still doing so). */
  readonly lastSeenAt: number;
  /** Its @@gtid_binlog_pos when last seen: every transaction it had acknowledged by then. */
  readonly primaryBinlog: string;
  readonly why: string;
}

/**
 * One cycle's update of the window, from that cycle's facts. A primary that does not answer (or
 * was fenced read-only) changes nothing: the window stays as last seen. Pure.
 */
export function trackAsyncWindow(prev: AsyncWindow | undefined, dbs: readonly DbFacts[], at: number): { window?: AsyncWindow; change?: string } {
  const keep = prev ? { window: prev } : {};
  const prim = currentPrimary({ takenAt: '', dbs, redis: [] }).node;
  const p = dbs.find((d) => d.node === prim);
  if (!p || !p.reachable || p.readOnly || p.replicating || !p.semiSync) return keep;
  const ss = p.semiSync;
  if (ss.enabled && ss.active) {
    return prev?.primary === p.node ? { change: `semi-sync on again on ${p.node} (${ss.clients} replica(s) acknowledging): every commit it acknowledged is on a replica` } : {};
  }
  const why = ss.enabled ? 'semi-sync fell back to asynchronous' : 'semi-sync off';
  const same = prev?.primary === p.node;
  const window: AsyncWindow = { primary: p.node, since: same ? prev.since : at, lastSeenAt: at, primaryBinlog: p.gtidBinlog, why };
  return same
    ? { window }
    : {
        window,
        change: `primary ${p.node} acknowledges commits without a replica (${why}, binlog at ${p.gtidBinlog || 'empty'}): no automatic failover until semi-sync is on again`,
      };
}

/** What fencing a reachable old primary found (db-ops `fenceReachable`). */
export interface FenceOutcome {
  /** Its binlog once writes were off: every transaction it ever committed. */
  readonly binlog: string;
  /** Semi-sync was still ON then: nothing it committed was acknowledged without a replica's ack. */
  readonly semiSyncHeld: boolean;
}

/**
 * What the promoted replica must hold, after the fence. Everything in the old primary's binlog,
 * unless semi-sync held: then what its binlog has beyond the replicas is commits still waiting
 * for an ack (a partition cut the replicas off), never acknowledged, and demanding it would make
 * the failover impossible in the very partition it exists for. Unknown (unreachable old
 * primary): nothing more to demand. Pure.
 */
export function promotionMustCover(fenced: FenceOutcome | undefined): string | undefined {
  return fenced && !fenced.semiSyncHeld ? fenced.binlog : undefined;
}

// ---------------------------------------------------------------------------------------------
// Automatic mode

/** What the automatic mode looks at every second. */
export interface AutoSnapshot {
  readonly at: number;
  readonly primary?: string;
  readonly primaryReachable: boolean;
  /** Every replica of the primary: can the controller reach it, and is its IO thread connected? */
  readonly replicas: ReadonlyArray<{ readonly node: string; readonly reachable: boolean; readonly ioConnected: boolean; readonly received?: string }>;
  /** The primary's semi-sync as seen this cycle (for the cycle's line), e.g. "semi-sync on, 1 replica". */
  readonly semiSync?: string;
  /** Open while the primary was seen acknowledging without a replica (trackAsyncWindow). */
  readonly asyncWindow?: AsyncWindow;
}

export interface AutoState {
  /** When the primary was first seen lost by the controller and every reachable replica. */
  readonly lostSince?: number;
  /** When the last failover (automatic or not) finished. */
  readonly lastFailoverAt?: number;
}

export interface AutoConfig {
  readonly detectionMs: number;
  readonly antiFlapMs: number;
}

/**
 * Why the automatic mode took its action this cycle (stable: in the `failover.decision` and
 * `failover.refused` events' data, for the dashboard and tests; never parse the message):
 * - no-primary: the facts name no primary (none: see hastack status);
 * - primary-healthy: the controller reaches a writable primary (none);
 * - all-unreachable: neither the primary nor any replica answers: nothing to promote, or the
 *   controller is the one cut off (none);
 * - replicas-connected: the controller lost the primary but a replica still replicates from it: a
 *   partition of the controller, not a dead primary (none);
 * - detecting: lost by all, for less than detectionMs (wait);
 * - anti-flap: a failover finished less than antiFlapMs ago (none);
 * - async-window: due, but the primary was seen acknowledging without a replica (refuse);
 * - primary-lost: lost by the controller and every reachable replica past detectionMs (failover).
 */
export type AutoReason = 'no-primary' | 'primary-healthy' | 'all-unreachable' | 'replicas-connected' | 'detecting' | 'anti-flap' | 'async-window' | 'primary-lost';

export interface AutoDecision {
  /** 'refuse': a failover was due, but would lose acknowledged commits (see asyncWindow). */
  readonly action: 'none' | 'wait' | 'failover' | 'refuse';
  readonly reason: AutoReason;
  /** Logged every cycle: what was seen and why this action. */
  readonly message: string;
  readonly state: AutoState;
}

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/**
 * One decision of the automatic mode. Fails over only when the controller cannot reach the
 * primary AND every reachable replica lost its replication connection too, for longer than
 * `detectionMs`: a primary only the controller cannot see is a partition of the controller, not
 * a dead primary. Never within `antiFlapMs` of the last failover. Pure.
 */
export function decide(s: AutoSnapshot, st: AutoState, cfg: AutoConfig): AutoDecision {
  const clear: AutoState = st.lastFailoverAt !== undefined ? { lastFailoverAt: st.lastFailoverAt } : {};
  if (!s.primary) return { action: 'none', reason: 'no-primary', message: 'no action: no primary known (see hastack status)', state: clear };
  if (s.primaryReachable)
    return { action: 'none', reason: 'primary-healthy', message: `no action: primary ${s.primary} healthy${s.semiSync ? ` (${s.semiSync})` : ''}`, state: clear };
  const reachable = s.replicas.filter((r) => r.reachable);
  if (reachable.length === 0) {
    return {
      action: 'none',
      reason: 'all-unreachable',
      message: `no action: primary ${s.primary} unreachable, but so is every replica (nothing to promote, or the controller is cut off)`,
      state: clear,
    };
  }
  const connected = reachable.filter((r) => r.ioConnected);
  if (connected.length > 0) {
    return {
      action: 'none',
      reason: 'replicas-connected',
      message: `no action: primary ${s.primary} unreachable from the controller, but ${connected.map((r) => r.node).join(', ')} still replicate(s) from it`,
      state: clear,
    };
  }
  const lostSince = st.lostSince ?? s.at;
  const lostFor = s.at - lostSince;
  const seen = `primary ${s.primary} unreachable from the controller and ${reachable.length}/${s.replicas.length} replicas for ${secs(lostFor)}`;
  const keep: AutoState = { ...clear, lostSince };
  if (lostFor < cfg.detectionMs) return { action: 'wait', reason: 'detecting', message: `waiting: ${seen} (acting after ${secs(cfg.detectionMs)})`, state: keep };
  if (st.lastFailoverAt !== undefined && s.at - st.lastFailoverAt < cfg.antiFlapMs) {
    return {
      action: 'none',
      reason: 'anti-flap',
      message: `no action: ${seen}, but the last failover was ${secs(s.at - st.lastFailoverAt)} ago (anti-flap window ${secs(cfg.antiFlapMs)})`,
      state: keep,
    };
  }
  const w = s.asyncWindow;
  if (w && w.primary === s.primary) {
    const best = reachable.map((r) => r.received ?? '').reduce((a, b) => (gtidCovers(parseGtidPos(b), parseGtidPos(a)) ? b : a), '');
    const missing = gtidMissing(parseGtidPos(best), parseGtidPos(w.primaryBinlog));
    const lacks =
      missing.length > 0
        ? `the replicas lack ${gtidBehind(parseGtidPos(best), parseGtidPos(w.primaryBinlog))} transaction(s) it acknowledged (${missing.join(', ')})`
        : 'the replicas had what it held when last seen';
    return {
      action: 'refuse',
      reason: 'async-window',
      message:
        `refusing to fail over: ${seen}, but it was seen acknowledging commits without a replica (${w.why}) from ${new Date(w.since).toISOString()} ` +
        `until ${new Date(w.lastSeenAt).toISOString()}: ${lacks}, plus anything after. Bring ${s.primary} back, or run "hastack failover --accept-data-loss"`,
      state: keep,
    };
  }
  return { action: 'failover', reason: 'primary-lost', message: `failing over: ${seen}`, state: keep };
}

/** The automatic mode's snapshot from one round of MariaDB facts (and the window so far). Pure. */
export function autoSnapshot(dbs: readonly DbFacts[], at: number, asyncWindow?: AsyncWindow): AutoSnapshot {
  const prim = currentPrimary({ takenAt: '', dbs, redis: [] }).node;
  const w = asyncWindow ? { asyncWindow } : {};
  if (!prim) return { at, primaryReachable: false, replicas: [], ...w };
  const p = dbs.find((d) => d.node === prim);
  const ss = p?.reachable ? p.semiSync : undefined;
  return {
    at,
    primary: prim,
    primaryReachable: p?.reachable === true && !p.readOnly,
    // A node that replicates from nobody (a fenced old primary) is nobody's witness.
    replicas: dbs
      .filter((d) => d.node !== prim && (!d.reachable || d.masterNode === prim))
      .map((d) => ({ node: d.node, reachable: d.reachable, ioConnected: d.reachable && d.ioThread === 'running', ...(d.reachable ? { received: d.gtidReceived } : {}) })),
    ...(ss ? { semiSync: !ss.enabled ? 'semi-sync off' : ss.active ? `semi-sync on, ${ss.clients} replica(s)` : 'semi-sync FALLEN BACK to async' } : {}),
    ...w,
  };
}
