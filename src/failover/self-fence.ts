import type { ServiceInstance } from '../config/index.js';
import { DB_USERS, openToApp, type EtcdClient, type EtcdKv } from '../engines/index.js';
import { appendEvent } from '../shared/events.js';
import { describeError } from '../shared/errors.js';
import { failpointArmed, hang } from '../shared/failpoints.js';
import type { FailoverEnv } from './context.js';
import { stopWrites, withDb } from './db-ops.js';
import { FENCE_AFTER_MS, KEEPALIVE_MS, KeptLease, LEASE_TTL_S, primaryLeaseKey } from './quorum.js';

/*
 * The primary's lease and its self-fence (issue 23). One guard per database node, talking to the
 * etcd member of its own node. While its MariaDB is the writable primary it holds the key
 * `primary` (primaryLeaseKey) under a 2 s lease renewed every 500 ms (round start to round start;
 * the renewal, the server's state and the key read at once). When it has not renewed for
 * FENCE_AFTER_MS (its node cut off from the etcd majority, or its loop stuck and waking late) it
 * shuts the server to the app, turns it read-only and kills the app's sessions (db-ops
 * stopWrites `fence`: no client reads the commits cut off from their ACK), 800 ms BEFORE the
 * lease runs out, so the controllers may promote as soon as the key is gone without reaching
 * this node at all.
 *
 * The key's value says who may write: a node name, or `promoting` (a controller claimed it for
 * a failover, with no lease so that it outlives the controller; the promoted node's guard takes
 * it over). Exactly one of a guard's re-claim and a controller's claim wins (create_revision 0).
 * A guard lifts its own fence only when the same lease was renewed (etcd never let it expire,
 * so no controller saw the key gone) or when it re-claimed the absent key itself, and only on
 * the server it fenced: not one restarted or made a replica since.
 */

export const PROMOTING = 'promoting';

/** A lease is fresh while it has this much left: renewed within the last FENCE_AFTER_MS. */
const LEASE_MARGIN_MS = LEASE_TTL_S * 1000 - FENCE_AFTER_MS;

// Uptime is whole seconds and the rounds' clocks jitter: a start time that moved by more than
// this is a restarted server.
const RESTART_SLACK_MS = 5_000;

/** What one guard round decided (for tests and the log). Pure function below. */
export type GuardAction = 'none' | 'fence' | 'unfence' | 'claim' | 'release';

export interface GuardView {
  /** The node's server answered: writable or not. Undefined: it did not answer. */
  readonly writable: boolean | undefined;
  /** Our lease is valid with `FENCE_AFTER_MS` margin left (we renewed within the last 1.2 s). */
  readonly leaseFresh: boolean;
  /** Who holds the key now (undefined: nobody, or etcd did not answer). */
  readonly holder: string | undefined;
  /** The key is held under our current lease (never expired since we took it). */
  readonly heldByUs: boolean;
  /** We set read_only ourselves and have not lifted it. */
  readonly fencedByUs: boolean;
  /** The server replicates from someone (SHOW SLAVE STATUS has a row): a replica, whatever we did before. */
  readonly replicating: boolean;
  readonly etcdAnswered: boolean;
}

/** The guard's decision for one round. Pure. */
export function guardDecision(node: string, v: GuardView): GuardAction {
  if (v.writable === undefined) return 'none';
  if (v.writable) {
    // A writable primary whose lease is not fresh: fence first, ask questions later.
    if (v.heldByUs && !v.leaseFresh) return 'fence';
    if (!v.etcdAnswered || v.heldByUs) return 'none';
    if (v.holder === undefined || v.holder === PROMOTING || v.holder === node) return v.leaseFresh ? 'claim' : 'none';
    // Held by another node: a switchover in progress or a stale key; its lease decides.
    return 'none';
  }
  // Never on a server made a replica since (rebuilt, or attached to the new primary): turned
  // writable it would take local writes, then replicated ones on top (out-of-order GTID, seen).
  if (v.replicating) return v.heldByUs ? 'release' : 'none';
  // Our own name under a lease we let go of locally (a stuck round took a new one) is still ours:
  // the key never went away, so no controller can have claimed it (claim: atomically moved over).
  if (v.fencedByUs && v.etcdAnswered && v.leaseFresh && (v.heldByUs || v.holder === undefined || v.holder === node)) return v.heldByUs ? 'unfence' : 'claim';
  // A read-only server holding the key (a switchover or the runbook's fence made it read-only): let go.
  if (!v.fencedByUs && v.heldByUs) return 'release';
  return 'none';
}

/** The guard's server, as one round read it. */
interface ServerState {
  readonly writable: boolean;
  /** Shut to the app (closeToApp: max_user_connections -1). */
  readonly shut: boolean;
  readonly replicating: boolean;
  /** When it started (ms since the epoch, from Uptime). */
  readonly startedAt: number;
}

export class PrimaryGuard {
  private readonly lease: KeptLease;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  private fencedByUs = false;
  /** When the server we fenced had started (ms): another start time is another server. */
  private fencedServerStart: number | undefined;
  /** The lease id the key was put under (ours while it equals lease.id and the lease never lapsed). */
  private keyLease: string | undefined;
  /** When the last round ran: a round later than FENCE_AFTER_MS after it means the loop was stuck. */
  lastRoundAt: number | undefined;
  /** The last round ended with this node the writable primary under our fresh lease (what the watchdog guards). */
  private holding = false;
  /** The server's writability as the last round read it. */
  private serverWritable: boolean | undefined;

  /**
   * `beat`: told at the start of every round whether this guard holds the primary (the watchdog
   * of guard-thread.ts, which stops the primary whose guard stops beating).
   */
  constructor(
    private readonly env: FailoverEnv,
    private readonly svc: ServiceInstance,
    private readonly client: EtcdClient,
    private readonly now: () => number = Date.now,
    private readonly beat: (holding: boolean) => void = () => undefined,
  ) {
    this.lease = new KeptLease(client, now);
  }

  private event(type: 'quorum.fence', message: string, data: Record<string, unknown>): void {
    appendEvent(this.env.topo.stateDir, { type, message, data: { node: this.svc.node, ...data } });
  }

  /** Writable or not, shut to the app (closeToApp) or not, replicating or not, and when it started (ms). Undefined: no answer. */
  private async readServer(): Promise<ServerState | undefined> {
    try {
      // 400 ms: a local server answers in ms; a frozen one must not hold up the fence decision.
      return await withDb(
        this.env,
        this.svc,
        async (c) => {
          type Rows = import('mysql2/promise').RowDataPacket[];
          const [r] = (
            await c.query<Rows>(
              "SELECT @@read_only AS ro, @@global.max_user_connections AS m, (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME') AS up",
            )
          )[0];
          const replicating = (await c.query<Rows>('SHOW SLAVE STATUS'))[0].length > 0;
          return { writable: Number(r?.['ro']) === 0, shut: Number(r?.['m']) < 0, replicating, startedAt: this.now() - Number(r?.['up'] ?? 0) * 1000 };
        },
        400,
      );
    } catch {
      return undefined;
    }
  }

  private async fence(why: string, startedAt: number): Promise<void> {
    const t0 = this.now();
    try {
      const r = await withDb(this.env, this.svc, (c) => stopWrites(c, DB_USERS.app, true), 2_000);
      this.fencedByUs = true;
      this.fencedServerStart = startedAt;
      const shut = r.shut ? 'closed to the app' : 'NOT closed to the app (started before max_user_connections was set: restart it)';
      this.event('quorum.fence', `${this.svc.node} fenced itself (read_only, ${shut}, ${r.killed} app session(s) killed) in ${this.now() - t0} ms: ${why}`, {
        why,
        binlog: r.binlog,
        shut: r.shut,
      });
    } catch (e) {
      this.event('quorum.fence', `${this.svc.node} could NOT fence itself (${describeError(e)}): ${why}`, { why, failed: true });
    }
  }

  private notRenewed(): string {
    const age = this.lease.renewedAt !== undefined ? `${this.now() - this.lease.renewedAt} ms` : 'ever';
    return `lease not renewed for ${age} (${this.lease.lastError ?? 'no answer in time'})`;
  }

  /** The key and whether etcd answered. */
  private async readKey(): Promise<{ kv: EtcdKv | undefined; answered: boolean }> {
    try {
      return { kv: await this.client.get(primaryLeaseKey(this.env.topo)), answered: true };
    } catch {
      return { kv: undefined, answered: false };
    }
  }

  /** One round. Never throws. */
  async round(): Promise<GuardAction> {
    const action = await this.decideAndAct();
    this.holding = this.keyLease !== undefined && this.keyLease === this.lease.id && this.lease.valid(LEASE_MARGIN_MS) && this.serverWritable === true && !this.fencedByUs;
    return action;
  }

  private async decideAndAct(): Promise<GuardAction> {
    const at = this.now();
    this.beat(this.holding);
    // A test's stuck guard loop (the watchdog's case): the thread hangs here for good.
    if (this.holding && failpointArmed('guard.stuck-while-primary')) hang();
    const prev = this.lastRoundAt;
    const late = prev !== undefined && at - prev > FENCE_AFTER_MS;
    this.lastRoundAt = at;
    const heldBefore = this.keyLease !== undefined && this.keyLease === this.lease.id;
    let server: ServerState | undefined;
    let key: { kv: EtcdKv | undefined; answered: boolean };
    let fenced = false;
    if (heldBefore && !this.lease.valid(LEASE_MARGIN_MS)) {
      // Already FENCE_AFTER_MS old (a loop stuck that long): no time to wait for a renewal's
      // answer (up to 400 ms) first. Fence, then go on with the round at once, so a lease renewed
      // without a gap, or our own key still there, lifts the fence again within it.
      server = await this.readServer();
      if (server?.writable === true) {
        await this.fence(late ? `its guard loop was stuck for ${at - (prev ?? at)} ms` : this.notRenewed(), server.startedAt);
        if (!this.fencedByUs) return 'fence';
        server = { ...server, writable: false };
        fenced = true;
      }
      await this.lease.tick();
      key = await this.readKey();
    } else {
      // The renewal, the server and the key at once: under load each took hundreds of ms, and
      // one after the other they aged the lease past FENCE_AFTER_MS (a healthy primary fenced in
      // CI). A renewal that fails here is at most 400 ms late: the fence below still starts by
      // 1.6 s, 400 ms before etcd could let the lease go.
      [server, , key] = await Promise.all([this.readServer(), this.lease.tick(), this.readKey()]);
    }
    this.serverWritable = server?.writable;
    // The fence is no longer ours to lift once the server was restarted (its role record decides)
    // or made a replica (rebuilt, repointed): only a release of the key is left.
    if (this.fencedByUs && server !== undefined && (server.replicating || Math.abs(server.startedAt - (this.fencedServerStart ?? 0)) > RESTART_SLACK_MS)) {
      this.fencedByUs = false;
    }
    const fresh = this.lease.valid(LEASE_MARGIN_MS);
    // A renewal that failed, or came too late.
    if (server?.writable === true && heldBefore && !fresh) {
      await this.fence(this.notRenewed(), server.startedAt);
      return 'fence';
    }
    const { kv } = key;
    const etcdAnswered = key.answered && this.lease.lastError === undefined;
    const holder = kv?.value;
    const heldByUs = this.keyLease !== undefined && this.keyLease === this.lease.id && holder === this.svc.node;
    const view: GuardView = {
      writable: server?.writable,
      leaseFresh: fresh,
      holder,
      heldByUs,
      fencedByUs: this.fencedByUs,
      replicating: server?.replicating ?? false,
      etcdAnswered,
    };
    const action = guardDecision(this.svc.node, view);
    try {
      if (action === 'fence' && server) await this.fence(this.notRenewed(), server.startedAt);
      if (action === 'claim') await this.claim(kv);
      if (action === 'unfence') await this.unfence('its lease was renewed without a gap');
      // A fence that failed half-way (shut to the app, still writable) while the lease was kept after all.
      if (action === 'none' && server?.writable === true && server.shut && heldByUs && fresh) await this.unfence('a fence that failed half-way, its lease kept');
      if (action === 'release') {
        this.keyLease = undefined;
        await this.lease.revoke();
      }
    } catch (e) {
      this.lease.lastError = describeError(e);
    }
    return fenced && action === 'none' ? 'fence' : action;
  }

  /**
   * Puts the key under our lease: created if absent, or taken over from a controller's claim for
   * us (we are the promoted node) or from our own old lease. A take-over holds only while the key
   * is the one we read (same create revision): had it expired meanwhile and a controller claimed
   * it, a plain put would overwrite that claim.
   */
  private async claim(kv: EtcdKv | undefined): Promise<void> {
    const id = this.lease.id;
    if (id === undefined) return;
    const key = primaryLeaseKey(this.env.topo);
    const ok = kv ? await this.client.putIfOwned(key, kv.createRevision, this.svc.node, id) : (await this.client.createIfAbsent(key, this.svc.node, id)).created;
    if (!ok) return;
    this.keyLease = id;
    if (this.fencedByUs) await this.unfence('it re-claimed the primary key (no failover had claimed it)');
  }

  private async unfence(why: string): Promise<void> {
    await withDb(
      this.env,
      this.svc,
      async (c) => {
        await openToApp(c);
        await c.query('SET GLOBAL read_only=0');
      },
      2_000,
    );
    this.fencedByUs = false;
    this.event('quorum.fence', `${this.svc.node} lifted its own fence: ${why}`, { why, lifted: true });
  }

  start(): void {
    if (this.closed || this.timer) return;
    const tick = (): void => {
      const started = this.now();
      this.running = this.round()
        .then(() => undefined)
        .finally(() => {
          this.running = undefined;
          if (!this.closed) {
            // Every KEEPALIVE_MS from round start to round start: a slow round shortens the wait
            // instead of aging the lease by its own length.
            this.timer = setTimeout(tick, Math.max(0, KEEPALIVE_MS - (this.now() - started)));
            this.timer.unref();
          }
        });
    };
    tick();
  }

  /** Stops and revokes the lease (a clean stop); a crash leaves it to expire. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.running;
    await this.lease.revoke();
  }
}
