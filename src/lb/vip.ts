import dgram from 'node:dgram';
import type http from 'node:http';
import type { Logger } from '../shared/log.js';
import { HastackError, describeError } from '../shared/errors.js';
import { closeServer, listen } from './server.js';

/*
 * The floating address (`lb.vip`) of a load-balancer pair, on the `local` substrate: whichever lb
 * holds it serves the same proxy on `<vip>:<lb port>` besides its own address, and says so to its
 * peers with a UDP heartbeat every `lb.vipIntervalMs`. A peer that hears no holder for three
 * intervals takes the address over.
 *
 * Written here rather than with keepalived: VRRP moves an address between hosts, and on one
 * machine every 127/8 address is already local, so the only thing that can "hold" a loopback
 * address is a listening socket. Binding is exclusive on Linux (no SO_REUSEPORT in Node 20), so
 * two holders can never serve the address at once: the bind itself is the arbiter, the heartbeat
 * only decides when to try. The price, stated in `status`: a frozen (SIGSTOPped) holder keeps its
 * socket, so its peer cannot take over until it is killed or resumes. On real hosts (issue 11)
 * hastack renders a keepalived configuration instead, where VRRP handles that case.
 */

/** Heartbeats go to this UDP port on each lb's own address. 8405: next to the metrics port 8404. */
export const VIP_HEARTBEAT_PORT = 8405;
/** Missed heartbeats before a peer takes over: keepalived's and VRRP's usual 3 × advert interval. */
export const VIP_MISSED_BEATS = 3;

export interface VipPeer {
  readonly id: string;
  readonly address: string;
  /** Position in the config's lb list. */
  readonly rank: number;
}

export interface VipOptions {
  readonly cluster: string;
  readonly vip: string;
  readonly port: number;
  readonly intervalMs: number;
  /** This lb; the first of the config (rank 0) claims the address first at a cold start. */
  readonly self: VipPeer;
  readonly peers: readonly VipPeer[];
  /** Makes a fresh listener with the load balancer's handler (one per hold: a closed server cannot listen again). */
  readonly createListener: () => http.Server;
  readonly log: Logger;
  /** Only tests change it. */
  readonly heartbeatPort?: number;
}

export interface VipView {
  readonly address: string;
  readonly holding: boolean;
  /** The lb this one last heard holding it, and how long ago (ms). */
  readonly heardHolder?: string;
  readonly heardAgoMs?: number;
  /** Set while a takeover is due but the address is still bound by a silent holder. */
  readonly blocked?: string;
}

interface Heartbeat {
  readonly cluster: string;
  readonly vip: string;
  readonly from: string;
  /** Sent once by a holder that is shutting down: take over now, not three intervals later. */
  readonly releasing?: boolean;
}

export function encodeHeartbeat(h: Heartbeat): Buffer {
  return Buffer.from(JSON.stringify({ hastackVip: 1, ...h }));
}

export function decodeHeartbeat(buf: Buffer): Heartbeat | undefined {
  try {
    const v = JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
    if (v['hastackVip'] !== 1 || typeof v['cluster'] !== 'string' || typeof v['vip'] !== 'string' || typeof v['from'] !== 'string') return undefined;
    return { cluster: v['cluster'], vip: v['vip'], from: v['from'], ...(v['releasing'] === true ? { releasing: true } : {}) };
  } catch {
    return undefined;
  }
}

/**
 * When a backup should try to take the address: no holder heard for `missed` intervals, counted
 * from the last heartbeat or, at start, from when this lb started listening (plus one interval per
 * rank, so at a cold start the first lb of the config wins without a race). Pure, for tests.
 */
export function takeoverDue(now: number, lastHeardAt: number | undefined, startedAt: number, intervalMs: number, rank: number): boolean {
  const since = lastHeardAt ?? startedAt + rank * intervalMs;
  return now - since >= VIP_MISSED_BEATS * intervalMs;
}

export class VipKeeper {
  private readonly socket = dgram.createSocket('udp4');
  private listener: http.Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastHeardAt: number | undefined;
  private heardHolder: string | undefined;
  private blocked: string | undefined;
  private acquiring = false;
  private closed = false;
  private readonly startedAt = Date.now();

  constructor(private readonly o: VipOptions) {}

  get holding(): boolean {
    return this.listener !== undefined;
  }

  view(): VipView {
    const now = Date.now();
    return {
      address: `${this.o.vip}:${this.o.port}`,
      holding: this.holding,
      ...(this.heardHolder !== undefined && this.lastHeardAt !== undefined ? { heardHolder: this.heardHolder, heardAgoMs: now - this.lastHeardAt } : {}),
      ...(this.blocked !== undefined ? { blocked: this.blocked } : {}),
    };
  }

  async start(): Promise<void> {
    const port = this.o.heartbeatPort ?? VIP_HEARTBEAT_PORT;
    this.socket.on('message', (msg, from) => this.onMessage(msg, from.address));
    // A send to a dead peer fails asynchronously (ECONNREFUSED on loopback); that is expected.
    this.socket.on('error', (e) => this.o.log.debug({ err: describeError(e) }, 'vip heartbeat socket error'));
    await new Promise<void>((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind(port, this.o.self.address, () => {
        this.socket.off('error', reject);
        resolve();
      });
    });
    this.timer = setInterval(() => void this.tick(), this.o.intervalMs);
    this.timer.unref();
    void this.tick();
  }

  private onMessage(msg: Buffer, fromAddress: string): void {
    const h = decodeHeartbeat(msg);
    if (!h || h.cluster !== this.o.cluster || h.vip !== this.o.vip) return;
    // Only the configured peers may speak for the address.
    const peer = this.o.peers.find((p) => p.id === h.from && p.address === fromAddress);
    if (!peer) return;
    this.heardHolder = peer.id;
    this.blocked = undefined;
    if (h.releasing) {
      // Due at once: the holder closed its listener before saying so.
      this.lastHeardAt = 0;
      void this.tick();
      return;
    }
    this.lastHeardAt = Date.now();
    // Two holders cannot happen on one machine (the bind is exclusive); with addresses that are not
    // local (misconfiguration) the first lb of the config keeps it and the other lets go.
    if (this.holding && peer.rank < this.o.self.rank) void this.release(`${peer.id} holds it too`);
  }

  private beat(releasing: boolean): void {
    const msg = encodeHeartbeat({ cluster: this.o.cluster, vip: this.o.vip, from: this.o.self.id, ...(releasing ? { releasing } : {}) });
    for (const p of this.o.peers) this.socket.send(msg, this.o.heartbeatPort ?? VIP_HEARTBEAT_PORT, p.address);
  }

  private async tick(): Promise<void> {
    if (this.closed) return;
    if (this.holding) {
      this.beat(false);
      return;
    }
    if (this.acquiring || !takeoverDue(Date.now(), this.lastHeardAt, this.startedAt, this.o.intervalMs, this.o.self.rank)) return;
    this.acquiring = true;
    const server = this.o.createListener();
    try {
      await listen(server, this.o.vip, this.o.port, `floating address of ${this.o.self.id}`);
      if (this.closed) {
        await closeServer(server, 0);
        return;
      }
      this.listener = server;
      this.blocked = undefined;
      this.o.log.warn({ vip: this.o.vip, lastHolder: this.heardHolder ?? null }, `took over the floating address ${this.o.vip}:${this.o.port}`);
      void this.tick();
    } catch (e) {
      const why = e instanceof HastackError ? e.message : describeError(e);
      if (this.blocked === undefined) this.o.log.warn({ vip: this.o.vip, err: why }, 'floating address due for takeover but still bound (a frozen holder?)');
      // Tried again every interval (a bind attempt is cheap): the holder may be dying right now.
      this.blocked = `no heartbeat for ${VIP_MISSED_BEATS} intervals but the address is still bound (a frozen holder keeps its socket on the local substrate)`;
    } finally {
      this.acquiring = false;
    }
  }

  private async release(why: string): Promise<void> {
    const l = this.listener;
    this.listener = undefined;
    if (!l) return;
    this.o.log.warn({ vip: this.o.vip, why }, `releasing the floating address ${this.o.vip}`);
    // Requests in flight finish; their keep-alive clients reconnect to the new holder.
    await closeServer(l, 5_000);
  }

  /**
   * Lets go of the address for a peer to take at once: the listening socket closes first (inside
   * closeServer, synchronously), then the peers hear `releasing`; requests in flight finish.
   */
  async close(graceMs: number): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    const l = this.listener;
    this.listener = undefined;
    const closing = l ? closeServer(l, graceMs) : Promise.resolve();
    if (l) this.beat(true);
    await closing;
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}
