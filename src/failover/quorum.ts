import type { ServiceInstance, Topology } from '../config/index.js';
import { findService, servicesOf } from '../config/index.js';
import { etcdClientFor, type EtcdClient } from '../engines/index.js';
import { describeError } from '../shared/errors.js';

/*
 * The decision quorum on etcd (issue 23): a lease that renews itself, and the controllers'
 * election on it. Every holder talks to ONE etcd member, its own node's: cut off from the
 * majority, that member cannot renew, and the holder sees it within a keepalive period.
 *
 * Timing (measured on this machine, see README "Automatic failover decided by a quorum"):
 * - LEASE_TTL_S 2 s: the smallest TTL etcd 3.4 grants with a 1 s election timeout (1.5 election
 *   timeouts, rounded up); the primary's lease is the time the majority waits before promoting.
 * - KEEPALIVE_MS 500: four renewals per TTL, so one lost or slow renewal never lets it lapse.
 * - A holder counts its lease from the moment it SENT the renewal that succeeded (never from the
 *   answer), so its own idea of the expiry is never later than etcd's.
 */
export const LEASE_TTL_S = 2;
export const KEEPALIVE_MS = 500;
/**
 * The primary fences itself this long after the last renewal that succeeded: 800 ms before the
 * lease runs out, enough for SET GLOBAL read_only and KILL of the app's sessions on a busy node
 * (both take milliseconds; read_only waits at most 1 s for commits in flight, db-ops `stopWrites`,
 * and a commit still in flight then is not acknowledged by a replica that is being promoted).
 */
export const FENCE_AFTER_MS = 1_200;
/** A leader stops acting this long before its term could have been taken over (clock rate drift, a slow cycle). */
export const LEADER_MARGIN_MS = 300;

export function quorumPrefix(topo: Topology): string {
  return `/hastack/${topo.cluster}/`;
}
export const leaderKey = (topo: Topology): string => `${quorumPrefix(topo)}controller`;
/** Who may write: the primary's node (under its lease), or `promoting` (a controller's claim). */
export const primaryLeaseKey = (topo: Topology): string => `${quorumPrefix(topo)}primary`;

/** True when the cluster runs the decision quorum (etcd services). */
export function hasQuorum(topo: Topology): boolean {
  return servicesOf(topo, 'etcd').length > 0;
}

/** The etcd member a node's holders talk to: its own, else the first (a node without one). */
export function etcdFor(topo: Topology, node: string): ServiceInstance {
  const own = findService(topo, node, 'etcd');
  const first = servicesOf(topo, 'etcd')[0];
  if (own) return own;
  if (!first) throw new Error(`cluster ${topo.cluster} has no etcd service`);
  return first;
}

export function quorumClient(topo: Topology, node: string, password: string | undefined): EtcdClient {
  // 400 ms per call: a renewal must come back well within the 500 ms period; a member without
  // quorum never answers a renewal (it waits for a leader), so waiting longer only delays the fence.
  return etcdClientFor(etcdFor(topo, node), password, 400);
}

/** Pure: is a lease renewed (sent) at `renewedAt` still ours at `now`, with `marginMs` to spare. */
export function leaseValid(renewedAt: number | undefined, ttlS: number, now: number, marginMs: number): boolean {
  return renewedAt !== undefined && now < renewedAt + ttlS * 1000 - marginMs;
}

/**
 * A lease kept alive every KEEPALIVE_MS. `renewedAt` is when the last successful grant or renewal
 * was sent; `lost` when etcd said it expired (TTL 0) or it could not be renewed in time.
 */
export class KeptLease {
  id: string | undefined;
  renewedAt: number | undefined;
  lastError: string | undefined;

  constructor(
    private readonly client: EtcdClient,
    private readonly now: () => number = Date.now,
  ) {}

  /** Grants a new lease when there is none (or it was lost), else renews it. Never throws. */
  async tick(): Promise<void> {
    const sent = this.now();
    try {
      if (this.id === undefined || !leaseValid(this.renewedAt, LEASE_TTL_S, sent, 0)) {
        this.id = await this.client.grant(LEASE_TTL_S);
        this.renewedAt = sent;
      } else {
        const ttl = await this.client.keepAlive(this.id);
        if (ttl > 0) this.renewedAt = sent;
        else this.id = undefined;
      }
      this.lastError = undefined;
    } catch (e) {
      this.lastError = describeError(e);
    }
  }

  valid(marginMs: number): boolean {
    return this.id !== undefined && leaseValid(this.renewedAt, LEASE_TTL_S, this.now(), marginMs);
  }

  /** Revokes it (a clean stop: the next holder need not wait for the TTL). Never throws. */
  async revoke(): Promise<void> {
    const id = this.id;
    this.id = undefined;
    if (id !== undefined) await this.client.revoke(id).catch(() => undefined);
  }
}

/**
 * The controllers' election (issue 23: "its loss is taken over within 2 s"). The leader holds the
 * key `leaderKey` and BEATS it: every BEAT_MS it writes it again, only while it still holds it
 * (compare create_revision). It acts only while its last beat that succeeded was SENT less than
 * TERM_MS - LEADER_MARGIN_MS ago. A follower reads the key every WATCH_MS; once the key's
 * mod_revision has stayed the same for TERM_MS from when it FIRST SAW it, it deletes the key
 * (only while still unchanged) and campaigns (create only when absent).
 *
 * Why this is safe: the beat that wrote the revision the follower saw was sent before the follower
 * saw it, so the leader stopped acting (TERM_MS - margin after that send) at least LEADER_MARGIN_MS
 * before the follower deposes it; any later beat that succeeded changed the revision, and then the
 * delete (compare mod_revision) fails. A beat that arrives after the delete finds the key gone or
 * someone else's, and the old leader learns it lost.
 *
 * Why not the lease's expiry alone (the election before): etcd 3.4 grants at least 2 s with a 1 s
 * election timeout, and drops expired leases on a 500 ms sweep: a killed leader was replaced after
 * 2.3-2.4 s. With beats: after 1.0-1.1 s (quorum-election.side.test.ts prints it). The lease still carries the key, so
 * it vanishes on its own when every controller is gone.
 */
export const TERM_MS = 1_000;
export const BEAT_MS = 250;
export const WATCH_MS = 100;

export class Election {
  private readonly lease: KeptLease;
  /** The create revision of our key while we hold it. */
  private revision: string | undefined;
  /** When the last beat (or the campaign) that succeeded was sent. */
  private beatAt: number | undefined;
  /** Following: the leader key's mod_revision, and when we first saw it. */
  private seen: { readonly mod: string; readonly at: number } | undefined;
  private leaseTickedAt = 0;
  holder: string | undefined;

  constructor(
    private readonly topo: Topology,
    readonly identity: string,
    private readonly client: EtcdClient,
    private readonly now: () => number = Date.now,
  ) {
    this.lease = new KeptLease(client, now);
  }

  /** One round: beat as leader, else watch the leader's beats and campaign once they stop. Never throws. */
  async tick(): Promise<void> {
    // The lease only carries the key: renewed every KEEPALIVE_MS (every beat while leading).
    if (this.revision !== undefined || this.now() - this.leaseTickedAt >= KEEPALIVE_MS) {
      this.leaseTickedAt = this.now();
      await this.lease.tick();
    }
    const id = this.lease.id;
    if (id === undefined || !this.lease.valid(0)) {
      this.revision = undefined;
      return;
    }
    const key = leaderKey(this.topo);
    try {
      if (this.revision !== undefined) {
        const sent = this.now();
        if (await this.client.putIfOwned(key, this.revision, this.identity, id)) this.beatAt = sent;
        else this.revision = undefined; // deposed: the key is gone or someone else's
        return;
      }
      const kv = await this.client.get(key);
      const at = this.now();
      this.holder = kv?.value;
      if (kv !== undefined) {
        // Any holder, our own name included (a key left by this controller's previous thread).
        if (this.seen?.mod !== kv.modRevision) {
          this.seen = { mod: kv.modRevision, at };
          return;
        }
        if (at - this.seen.at < TERM_MS) return;
        if (!(await this.client.delIfUnchanged(key, kv.modRevision))) return;
      }
      this.seen = undefined;
      const sent = this.now();
      const r = await this.client.createIfAbsent(key, this.identity, id);
      if (!r.created) {
        this.holder = r.holder?.value;
        return;
      }
      const mine = await this.client.get(key);
      if (mine?.value === this.identity) {
        this.revision = mine.createRevision;
        this.beatAt = sent;
        this.holder = this.identity;
      }
    } catch (e) {
      this.lease.lastError = describeError(e);
    }
  }

  isLeader(): boolean {
    return this.revision !== undefined && leaseValid(this.beatAt, TERM_MS / 1000, this.now(), LEADER_MARGIN_MS);
  }

  /** Until when (ms since the epoch) this controller may act, 0 if it does not lead. */
  actsUntil(): number {
    return this.isLeader() && this.beatAt !== undefined ? this.beatAt + TERM_MS - LEADER_MARGIN_MS : 0;
  }

  /** When to tick again: a leader beats every BEAT_MS, a follower looks every WATCH_MS. */
  nextTickMs(): number {
    return this.revision !== undefined ? BEAT_MS : WATCH_MS;
  }

  lastError(): string | undefined {
    return this.lease.lastError;
  }

  /** Steps down at once (revokes the lease: the key goes with it, and a follower campaigns without waiting). */
  async resign(): Promise<void> {
    this.revision = undefined;
    await this.lease.revoke();
  }
}
