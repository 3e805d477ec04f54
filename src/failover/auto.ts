import path from 'node:path';
import { describeError, ErrorCode, HastackError } from '../shared/errors.js';
import { appendEvent } from '../shared/events.js';
import { appendLog } from '../shared/logfile.js';
import type { FailoverEnv } from './context.js';
import { autoSnapshot, decide, trackAsyncWindow, type AsyncWindow, type AutoDecision, type AutoReason, type AutoState, type DbFacts } from './decide.js';
// The promotion's floor (issue 23, lossless promotion): kept apart from the line above for merges.
import { trackAcked, type AckedMark } from './decide.js';
import { readAsyncWindow, writeAsyncWindow } from './semisync-record.js';
import { DbFactsWatch } from './facts.js';
import { readJournal, unfinishedJournal, writeJournal } from './journal.js';
import { runFailover, runHook, type NodeFencer } from './runbook.js';
import { afterHeldFailover, readAutoModeSafe, turnOffAfterFailure } from './auto-mode.js';
import { primaryLeaseKey } from './quorum.js';
import type { LeaderElection } from './election-thread.js';
import { LEADER_CHECK_MS, moveEtcdLeaderOff } from './etcd-leader.js';
import { PROMOTING } from './self-fence.js';
import type { EtcdClient } from '../engines/index.js';
import type { SharedRecords } from './shared-records.js';

/**
 * What one cycle came to: the decision's reason (decide.ts `AutoReason`), or, when it called for
 * a failover, what became of it: vetoed by failover.preFailoverHook, done, or failed (the next
 * cycle resumes it); cycle-error: the cycle itself threw (facts could not be gathered).
 */
export type CycleReason =
  | AutoReason
  | 'hook-vetoed'
  | 'failed-over'
  | 'failover-failed'
  /** The failover stopped before it changed anything (the fence failed, or the plan refused): retried, the mode stays on. */
  | 'failover-held'
  | 'cycle-error'
  /** Quorum mode: another controller holds the election; this one only watches. */
  | 'standby'
  /** Due, but the automatic mode is paused (`hastack pause`) or off (a failed failover): see auto-mode.ts. */
  | 'paused'
  | 'auto-off'
  /** Quorum mode: due, but the old primary still holds its lease (it fences itself before it runs out). */
  | 'lease-held'
  /** A failpoint stopped this controller mid-failover as if killed (tests: shared/failpoints.ts). */
  | 'abandoned';

/** The decision quorum a controller takes part in (src/failover/quorum.ts): its election and its etcd member. */
export interface ControllerQuorum {
  readonly election: LeaderElection;
  readonly client: EtcdClient;
  /** `substrate: hosts` (a state directory per controller): the records they share through etcd. */
  readonly records?: SharedRecords;
}

export interface CycleOutcome {
  readonly reason: CycleReason;
  /** One line, logged every cycle. */
  readonly message: string;
}

/**
 * Four times a second: the primary's death is then acted on within detectionMs + ~0.25 s. A cycle
 * is a few socket queries to each database node (ms); at 1 s the cycle alone was a quarter of the
 * kill → first order time (issue 23's goal: 3 s).
 */
const CYCLE_MS = 250;
/** Quorum mode: how often a controller looks whether it leads (a read of shared memory). */
const LEADERSHIP_WATCH_MS = 100;

/**
 * A cycle's snapshot counts a node that has not answered within this as unreachable (its probe
 * runs on: facts.ts DbFactsWatch). A healthy node answers its socket in ms, 100-300 ms on a
 * loaded 2-core machine.
 */
const ANSWER_WITHIN_MS = 500;

/**
 * Errors that stop a failover before it changed anything (the old primary unfenced, nothing
 * promoted): the next attempt is as safe as the first, so it is retried after HELD_RETRY_MS (a
 * power API that refused once, a fence token fixed by the operator); a fence still failing after
 * `failover.fenceRetryMs` turns the automatic mode off (auto-mode.ts afterHeldFailover).
 */
const HELD_CODES: ReadonlySet<string> = new Set([ErrorCode.FENCE_FAILED, ErrorCode.FAILOVER_REFUSED, ErrorCode.DATA_LOSS_REFUSED]);
const HELD_RETRY_MS = 2_000;

/**
 * The automatic failover mode (`failover.auto`), run inside the supervisor: one `runCycle()` a
 * second reads an immutable snapshot of the MariaDB nodes, asks the pure `decide`, performs at
 * most one action (the whole runbook), and returns the decision as one line. Every line goes to
 * `<stateDir>/failover-auto.log`; a change of action also to the event log.
 */
export class FailoverController {
  private state: AutoState = {};
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private closed = false;
  private lastReason: CycleReason | undefined;
  private window: AsyncWindow | undefined;
  private windowLoaded = false;
  private refused = false;
  /** The primary whose guard this controller has seen holding the `primary` key (what makes its absence mean a fence). */
  private leaseSeenOn: string | undefined;
  /** What the replicas had received under semi-sync, last seen (decide.ts trackAcked): the promotion's floor. */
  private acked: AckedMark | undefined;
  private readonly logFile: string;
  private readonly facts: DbFactsWatch;
  /** After a held failover (HELD_CODES): no new attempt before this time (ms since the epoch). */
  private heldUntil = 0;
  /** The first failure of the fence in a row of them (ms since the epoch); reset by a failover done or no longer due. */
  private fenceFailingSince: number | undefined;

  private leaderCheckedAt = 0;
  private leaderMove: Promise<void> | undefined;

  private leadershipTimer: NodeJS.Timeout | undefined;
  private wasLeader = false;
  /** Hosts: the shared records read from etcd since this controller last became the leader. */
  private recordsPulled = false;

  constructor(
    private readonly env: FailoverEnv,
    private readonly fencer: NodeFencer,
    private readonly now: () => number = Date.now,
    /** Quorum mode (etcd services in the topology): act only while this controller leads. */
    private readonly quorum?: ControllerQuorum,
  ) {
    this.logFile = path.join(env.topo.stateDir, quorum ? `failover-auto-${quorum.election.identity}.log` : 'failover-auto.log');
    this.facts = new DbFactsWatch(env, ANSWER_WITHIN_MS);
  }

  /** Quorum mode: this controller holds the election now. Without a quorum: always. */
  isLeader(): boolean {
    return this.quorum ? this.quorum.election.isLeader() : true;
  }

  /**
   * Between two steps of its failover: a controller that no longer leads stops there. On hosts the
   * journal so far goes to etcd first (shared-records.ts): the next leader resumes from there.
   */
  private async stillLeading(): Promise<void> {
    if (!this.isLeader()) {
      throw new HastackError(
        ErrorCode.NOT_LEADER,
        `controller ${this.identity ?? '-'} no longer leads the election: it stopped its failover between two steps, and the controller that leads now resumes it from the journal`,
      );
    }
    try {
      await this.quorum?.records?.push(['journal']);
    } catch (e) {
      // Cut off from etcd: it is about to lose the election too. Its journal stays here.
      throw new HastackError(ErrorCode.NOT_LEADER, `controller ${this.identity ?? '-'} could not record its journal in etcd (${describeError(e)}): it stopped between two steps`);
    }
  }

  /** The controller's name in the election (quorum mode), for logs and events. */
  get identity(): string | undefined {
    return this.quorum?.election.identity;
  }

  /**
   * Quorum mode: the claim of the `primary` key for a failover (no lease, so it outlives this
   * controller: the next one resumes the journal, and the old primary's guard cannot re-claim).
   * Undefined when claimed (or already ours to resume); else why not. `resumingTo`: the target of
   * a failover left half done, whose guard takes the claim over once it is promoted (the steps
   * after the promotion must still run).
   */
  private async claimPromotion(primary: string | undefined, resumingTo?: string): Promise<string | undefined> {
    if (!this.quorum) return undefined;
    const key = primaryLeaseKey(this.env.topo);
    const r = await this.quorum.client.createIfAbsent(key, PROMOTING, '0');
    if (r.created || r.holder?.value === PROMOTING || (resumingTo !== undefined && r.holder?.value === resumingTo)) return undefined;
    return `the primary key is held by ${r.holder?.value ?? 'someone'}${r.holder?.value === primary ? ' (its lease has not run out: it fences itself first)' : ''}`;
  }

  /**
   * The primary's semi-sync, recorded every cycle (decide.ts `trackAsyncWindow`): in memory, in
   * `failover-semisync.json` (the operator's failover reads it), and as an event when it changes.
   */
  private trackSemiSync(dbs: readonly DbFacts[], at: number): AsyncWindow | undefined {
    const stateDir = this.env.topo.stateDir;
    if (!this.windowLoaded) {
      this.window = readAsyncWindow(stateDir);
      this.windowLoaded = true;
    }
    const t = trackAsyncWindow(this.window, dbs, at);
    if (t.window !== undefined || this.window !== undefined) {
      try {
        writeAsyncWindow(stateDir, t.window);
      } catch {
        // A full disk: the window is still held here, and written at the next cycle.
      }
    }
    this.window = t.window;
    if (t.change) appendEvent(stateDir, { type: 'failover.semisync', message: `auto failover: ${t.change}`, data: { window: t.window } });
    return t.window;
  }

  async runCycle(): Promise<CycleOutcome> {
    const records = this.quorum?.records;
    if (this.quorum && !this.noticeLeadership()) {
      const e = this.quorum.election;
      // Best effort: a mode changed here reaches etcd, one changed elsewhere reaches this host.
      await records?.syncMode().catch(() => undefined);
      return { reason: 'standby', message: `standing by: controller ${e.holder() ?? '(none yet)'} acts${e.lastError() ? ` (etcd: ${e.lastError()})` : ''}` };
    }
    if (records) {
      try {
        if (this.recordsPulled) await records.syncMode();
        else await records.pull();
        this.recordsPulled = true;
      } catch (e) {
        return { reason: 'lease-held', message: `waiting: the records the controllers share could not be read from etcd (${describeError(e)})` };
      }
      try {
        return await this.leaderCycle();
      } finally {
        // The journal and semi-sync record this cycle wrote; a failure is retried next cycle.
        await records.push().catch(() => undefined);
      }
    }
    return this.leaderCycle();
  }

  private async leaderCycle(): Promise<CycleOutcome> {
    const mode = readAutoModeSafe(this.env.topo.stateDir);
    // A failover this controller's predecessor left half done: resumed by the leader, whatever
    // the snapshot says now (a half-changed cluster is no ground for a new decision).
    const pending = this.quorum ? unfinishedJournal(this.env.topo.stateDir) : undefined;
    if (pending && pending.kind === 'failover' && mode.state === 'on') {
      return this.act(`resuming failover ${pending.id} left by another controller`, pending.plan.from, undefined, pending.plan.to);
    }
    return this.decideAndAct(mode.state);
  }

  private async decideAndAct(modeState: 'on' | 'off' | 'paused'): Promise<CycleOutcome> {
    const cfg0 = this.env.topo.config.failover;
    const last = readJournal(this.env.topo.stateDir);
    const finished = last?.abandoned === undefined ? last?.finishedAt : undefined;
    const st: AutoState = { ...this.state, ...(finished ? { lastFailoverAt: Date.parse(finished) } : {}) };
    const dbs = await this.facts.snapshot();
    const at = this.now();
    const snap = autoSnapshot(dbs, at, this.trackSemiSync(dbs, at));
    this.acked = trackAcked(this.acked, dbs, at);
    if (this.quorum && snap.primary && snap.primaryReachable) this.keepEtcdLeaderOff(snap.primary, at);
    // Quorum mode: the primary's lease gone from etcd (not renewed for its 2 s TTL) is itself the
    // detection: it fenced itself before that, so no further wait is needed. But only once its
    // guard has been seen holding it, or no replica hears it either: right after a start (the
    // guard's first claim not made yet) the key was never there, and a probe slowed by load then
    // looked like a fenced primary (CI: a healthy primary failed over 1.6 s after `up`, its
    // replica connected). A controller elected during a partition may never have seen the key
    // held; the replicas' lost connection stands in for that.
    let leaseHolder: string | undefined;
    let quorumAnswered = false;
    if (this.quorum && snap.primary && (!snap.primaryReachable || this.leaseSeenOn !== snap.primary)) {
      try {
        leaseHolder = (await this.quorum.client.get(primaryLeaseKey(this.env.topo)))?.value;
        quorumAnswered = true;
      } catch {
        quorumAnswered = false;
      }
    }
    if (quorumAnswered && snap.primary !== undefined && leaseHolder === snap.primary) this.leaseSeenOn = snap.primary;
    const unheard = snap.replicas.every((r) => !r.ioConnected);
    const leaseGone = quorumAnswered && leaseHolder !== snap.primary && (this.leaseSeenOn === snap.primary || unheard);
    const cfg = leaseGone ? { ...cfg0, detectionMs: 0 } : cfg0;
    // A replica still connected to a primary whose lease is gone replicates from a server that has
    // fenced itself (read-only: nothing new comes): no witness that the primary serves writes.
    const seen = leaseGone ? { ...snap, replicas: snap.replicas.map((r) => ({ ...r, ioConnected: false })) } : snap;
    const d: AutoDecision = decide(seen, st, cfg);
    this.state = d.state;
    if (d.action === 'refuse' && !this.refused) {
      appendEvent(this.env.topo.stateDir, {
        type: 'failover.refused',
        message: `auto failover: ${d.message}`,
        data: { reason: d.reason, primary: snap.primary, asyncWindow: snap.asyncWindow },
      });
    }
    this.refused = d.action === 'refuse';
    if (d.action !== 'failover') {
      this.fenceFailingSince = undefined;
      return { reason: d.reason, message: d.message };
    }
    if (modeState === 'paused') return { reason: 'paused', message: `would fail over, but automatic failover is paused ("hastack resume"): ${d.message}` };
    if (modeState === 'off')
      return { reason: 'auto-off', message: `would fail over, but automatic failover is OFF after a failed one (see "hastack status"; "hastack resume"): ${d.message}` };
    if (cfg.preFailoverHook) {
      const hook = await runHook(cfg.preFailoverHook, { HASTACK_FAILOVER_FROM: snap.primary ?? '', HASTACK_FAILOVER_REASON: d.message });
      if (hook.code !== 0) {
        return {
          reason: 'hook-vetoed',
          message: `vetoed by failover.preFailoverHook (exit ${hook.code}${hook.output ? `: ${hook.output.split('\n').pop() ?? ''}` : ''}): ${d.message}`,
        };
      }
    }
    return this.act(d.message, snap.primary, dbs);
  }

  /** Claims the promotion (quorum mode), runs the runbook; a failure turns the automatic mode off. */
  private async act(why: string, primary: string | undefined, dbs?: DbFacts[], resumingTo?: string): Promise<CycleOutcome> {
    if (this.now() < this.heldUntil) return { reason: 'failover-held', message: `${why}; the last attempt was held, retrying in ${this.heldUntil - this.now()} ms` };
    let claimError: string | undefined;
    try {
      claimError = await this.claimPromotion(primary, resumingTo);
    } catch (e) {
      return { reason: 'lease-held', message: `${why}; waiting: the decision quorum did not answer the claim (${describeError(e)})` };
    }
    if (claimError !== undefined) return { reason: 'lease-held', message: `${why}; waiting: ${claimError}` };
    try {
      // This cycle's database snapshot is the preflight's: probing a cut-off node again costs its timeout.
      const r = await runFailover(this.env, this.fencer, {
        ...(this.acked ? { acked: this.acked } : {}),
        ...(dbs ? { dbFacts: dbs } : {}),
        ...(this.quorum ? { mayGoOn: () => this.stillLeading() } : {}),
      });
      this.state = { lastFailoverAt: this.now() };
      this.fenceFailingSince = undefined;
      return { reason: 'failed-over', message: `${why}; failover ${r.journal.id} done: ${r.journal.plan.to} is the primary` };
    } catch (e) {
      if (e instanceof HastackError && e.code === ErrorCode.CLUSTER_RUNNING) {
        // A run already going (the operator's, or a deposed controller's in this process): it is
        // not a failed failover; its journal is resumed at a later cycle once that run ends.
        return { reason: 'lease-held', message: `${why}; waiting: ${e.message}` };
      }
      if (e instanceof HastackError && e.code === ErrorCode.NOT_LEADER) {
        // Nothing of the next step ran: the new leader resumes the journal (runCycle).
        return { reason: 'standby', message: `${why}; ${e.message}` };
      }
      if (e instanceof HastackError && e.code === ErrorCode.FAILPOINT) {
        // Its lease is neither renewed nor resigned: another controller takes over and resumes.
        this.abandon();
        return { reason: 'abandoned', message: `${why}; controller ${this.identity ?? '-'} stopped: ${e.message}` };
      }
      const held =
        e instanceof HastackError && HELD_CODES.has(e.code) ? afterHeldFailover(e.code, this.fenceFailingSince, this.now(), this.env.topo.config.failover.fenceRetryMs) : undefined;
      if (held?.next === 'retry') {
        this.fenceFailingSince = held.failingSince;
        this.heldUntil = this.now() + HELD_RETRY_MS;
        return {
          reason: 'failover-held',
          message: `${why}; the failover FAILED: ${describeError(e)}. Nothing was changed: retrying in ${HELD_RETRY_MS / 1000} s (automatic failover stays on${held.failingSince !== undefined ? ` for ${this.env.topo.config.failover.fenceRetryMs / 1000} s of failing fences` : ''})`,
        };
      }
      if (held?.next === 'off') {
        this.fenceFailingSince = undefined;
        const reason = `the fence kept failing for ${Math.round(held.attemptsForMs / 1000)} s (nothing was changed: the old primary is not fenced, nothing promoted): ${describeError(e)}`;
        turnOffAfterFailure(this.env.topo.stateDir, reason);
        await this.giveUp(reason);
        return { reason: 'failover-failed', message: `${why}; ${reason}. Automatic failover is now OFF until "hastack resume"` };
      }
      // The safety valve: no second automatic attempt on a cluster a failed one left half changed.
      turnOffAfterFailure(this.env.topo.stateDir, describeError(e));
      return { reason: 'failover-failed', message: `${why}; the failover FAILED: ${describeError(e)}. Automatic failover is now OFF until "hastack resume"` };
    }
  }

  /**
   * A failover that stopped at its fence, with nothing promoted, given up as the mode turns off:
   * its journal is closed as abandoned (resumed after "hastack resume", it would try to fence a
   * primary that may be back and serving; the next failover plans afresh), and the `promoting`
   * claim is let go, so that the old primary, if it comes back, re-claims its key and serves
   * again: with nothing promoted it is the only primary there can be.
   */
  private async giveUp(why: string): Promise<void> {
    const j = unfinishedJournal(this.env.topo.stateDir);
    if (j?.kind === 'failover' && j.steps.promote === undefined) {
      writeJournal(this.env.topo.stateDir, { ...j, finishedAt: new Date(this.now()).toISOString(), abandoned: why });
    }
    try {
      await this.quorum?.client.delIfValue(primaryLeaseKey(this.env.topo), PROMOTING);
    } catch (e) {
      appendEvent(this.env.topo.stateDir, {
        type: 'failover.decision',
        message: `auto failover: the "${PROMOTING}" claim could not be let go (${describeError(e)}); the old primary stays fenced until a failover or "etcdctl del" of its key`,
      });
    }
  }

  /** Quorum mode, the acting controller: the etcd leader off the primary's node (etcd-leader.ts), checked every LEADER_CHECK_MS, never awaited by the cycle. */
  private keepEtcdLeaderOff(primary: string, at: number): void {
    if (this.leaderMove !== undefined || at - this.leaderCheckedAt < LEADER_CHECK_MS) return;
    this.leaderCheckedAt = at;
    this.leaderMove = moveEtcdLeaderOff(this.env.topo, this.env.secrets.etcdRootPassword, primary)
      .then(
        (moved) => {
          if (moved !== undefined) appendEvent(this.env.topo.stateDir, { type: 'quorum.leader', message: moved, data: { etcdLeaderFrom: primary } });
        },
        // Best effort: an etcd that does not answer now is asked again at the next check.
        () => undefined,
      )
      .finally(() => (this.leaderMove = undefined));
  }

  private log(c: CycleOutcome): void {
    // Four lines a second: rotated at 1 MiB (~10 000 lines, ~40 min), one old copy; never throws.
    appendLog(this.logFile, `${new Date().toISOString()} ${c.message}\n`, { maxBytes: 1024 * 1024 });
    if (c.reason !== this.lastReason) {
      this.lastReason = c.reason;
      appendEvent(this.env.topo.stateDir, {
        type: 'failover.decision',
        message: `auto failover: ${c.message}`,
        data: { reason: c.reason, ...(this.identity !== undefined ? { controller: this.identity } : {}) },
      });
    }
  }

  /**
   * Quorum mode: what changes when this controller starts or stops leading, looked at every
   * 100 ms and before every cycle (the election itself runs on its own thread:
   * election-thread.ts). Returns whether it leads.
   */
  private noticeLeadership(): boolean {
    const q = this.quorum;
    if (!q) return true;
    const leader = q.election.isLeader();
    if (leader === this.wasLeader) return leader;
    this.wasLeader = leader;
    // The semi-sync record is shared by every controller of the cluster: another one acted
    // since this one last did (and may have closed the window: a stale one here refused a
    // failover in the soak). Read it again at the next cycle.
    if (leader) this.windowLoaded = false;
    // Hosts: its own files may be stale; etcd's records are read before it acts (runCycle).
    if (leader) this.recordsPulled = false;
    // What it saw when it last acted is stale: a loss it timed then (seen "unreachable for
    // 29.5 s" in the soak) would skip the detection wait on a blip now.
    if (leader) this.state = this.state.lastFailoverAt !== undefined ? { lastFailoverAt: this.state.lastFailoverAt } : {};
    appendEvent(this.env.topo.stateDir, {
      type: 'quorum.leader',
      message: leader ? `controller ${q.election.identity} now acts (elected through etcd)` : `controller ${q.election.identity} no longer acts`,
      data: { controller: q.election.identity, leader },
    });
    return leader;
  }

  start(): void {
    if (this.closed || this.timer) return;
    if (this.quorum) {
      this.leadershipTimer = setInterval(() => this.noticeLeadership(), LEADERSHIP_WATCH_MS);
      this.leadershipTimer.unref();
    }
    const tick = (): void => {
      this.running = this.runCycle()
        .then(
          (c) => this.log(c),
          (e: unknown) => this.log({ reason: 'cycle-error', message: `cycle error: ${describeError(e)}` }),
        )
        .finally(() => {
          this.running = undefined;
          if (!this.closed) {
            this.timer = setTimeout(tick, CYCLE_MS);
            this.timer.unref();
          }
        });
    };
    this.timer = setTimeout(tick, CYCLE_MS);
    this.timer.unref();
  }

  /** Stops the loop; waits for a cycle in progress (a running failover finishes its step). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.leadershipTimer);
    await this.running;
    await this.leaderMove;
  }

  /**
   * Stops at once as a killed controller would: no cycle awaited, no resignation (its lease runs
   * out in etcd). For the chaos of the controllers themselves; a cycle in progress is abandoned.
   */
  abandon(): void {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.leadershipTimer);
    this.quorum?.election.abandon();
  }
}
