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
/** A leader stops acting this long before its lease could have expired (clock rate drift, a slow cycle). */
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
 * One controller's part in the election: the key `leaderKey` created under its lease only when it
 * does not exist (compare create_revision = 0). The leader acts only while its lease is valid with
 * LEADER_MARGIN_MS to spare; another controller takes over once the key's lease expired (≤ TTL
 * after the leader stopped renewing) or was revoked (at once).
 */
export class Election {
  private readonly lease: KeptLease;
  private revision: string | undefined;
  holder: string | undefined;

  constructor(
    private readonly topo: Topology,
    readonly identity: string,
    private readonly client: EtcdClient,
    private readonly now: () => number = Date.now,
  ) {
    this.lease = new KeptLease(client, now);
  }

  /** One round: renew, then campaign if not leader. Never throws. */
  async tick(): Promise<void> {
    await this.lease.tick();
    const id = this.lease.id;
    if (id === undefined || !this.lease.valid(0)) {
      this.revision = undefined;
      return;
    }
    try {
      const key = leaderKey(this.topo);
      if (this.revision !== undefined) {
        // Still ours? (A lease that lapsed and was re-granted loses the key with the old one.)
        const kv = await this.client.get(key);
        this.holder = kv?.value;
        if (kv?.createRevision !== this.revision) this.revision = undefined;
        return;
      }
      const r = await this.client.createIfAbsent(key, this.identity, id);
      if (r.created) {
        const kv = await this.client.get(key);
        this.revision = kv?.value === this.identity ? kv.createRevision : undefined;
        this.holder = this.identity;
      } else {
        this.holder = r.holder?.value;
      }
    } catch (e) {
      this.lease.lastError = describeError(e);
    }
  }

  isLeader(): boolean {
    return this.revision !== undefined && this.lease.valid(LEADER_MARGIN_MS);
  }

  /**
   * When to tick again: a leader renews every KEEPALIVE_MS; a follower campaigns every 200 ms, so
   * it creates the key within 200 ms of etcd dropping the old leader's (etcd itself checks lease
   * expiry every 500 ms: a takeover takes the TTL plus up to ~0.7 s).
   */
  nextTickMs(): number {
    return this.isLeader() ? KEEPALIVE_MS : 200;
  }

  /** The create revision of our leader key: the fencing token of what we write while leader. */
  token(): string | undefined {
    return this.isLeader() ? this.revision : undefined;
  }

  lastError(): string | undefined {
    return this.lease.lastError;
  }

  /** Steps down at once (revokes the lease: the key goes with it). */
  async resign(): Promise<void> {
    this.revision = undefined;
    await this.lease.revoke();
  }
}
