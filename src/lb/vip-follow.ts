import os from 'node:os';
import type http from 'node:http';
import type { Logger } from '../shared/log.js';
import { describeError } from '../shared/errors.js';
import { closeServer, listen } from './server.js';
import type { VipView } from './vip.js';

/*
 * The floating address (`lb.vip`) on real hosts: keepalived (VRRP, src/hosts/keepalived.ts)
 * decides which load balancer holds it and adds it to that host's interface; the load balancer
 * only follows. It listens on `<vip>:<port>` while the address is on this machine and closes that
 * listener when it leaves. No heartbeat of our own: two deciders (VipKeeper's heartbeat and VRRP)
 * could pick different holders, and a load balancer whose keepalived died would keep telling
 * its peer not to serve the address keepalived gave it.
 */

/**
 * How often the interfaces are read (getifaddrs: tens of microseconds). It adds at most this much
 * to a move that takes three VRRP adverts (at least 150 ms with the shortest interval hastack
 * accepts), and the listener of a holder that lost the address closes within it.
 */
export const VIP_FOLLOW_POLL_MS = 50;

export interface VipFollowOptions {
  readonly vip: string;
  readonly port: number;
  /** Makes a fresh listener with the load balancer's handler (a closed server cannot listen again). */
  readonly createListener: () => http.Server;
  readonly log: Logger;
  /** Only tests change it: whether the address is on this machine now. */
  readonly isLocal?: (address: string) => boolean;
}

/** Whether an interface of this machine carries `address` (IPv4). */
export function addressIsLocal(address: string): boolean {
  return Object.values(os.networkInterfaces()).some((list) => list?.some((a) => a.family === 'IPv4' && a.address === address) ?? false);
}

export class VipFollower {
  private listener: http.Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private closed = false;
  private lastError: string | undefined;

  constructor(private readonly o: VipFollowOptions) {}

  get holding(): boolean {
    return this.listener !== undefined;
  }

  view(): VipView {
    return { address: `${this.o.vip}:${this.o.port}`, holding: this.holding, ...(this.lastError !== undefined ? { blocked: this.lastError } : {}) };
  }

  async start(): Promise<void> {
    this.timer = setInterval(() => void this.tick(), VIP_FOLLOW_POLL_MS);
    this.timer.unref();
    await this.tick();
  }

  private async tick(): Promise<void> {
    if (this.closed || this.busy) return;
    this.busy = true;
    try {
      const here = (this.o.isLocal ?? addressIsLocal)(this.o.vip);
      if (here && this.listener === undefined) await this.hold();
      else if (!here && this.listener !== undefined) await this.release();
    } finally {
      this.busy = false;
    }
  }

  private async hold(): Promise<void> {
    const server = this.o.createListener();
    try {
      await listen(server, this.o.vip, this.o.port, `floating address ${this.o.vip}`);
    } catch (e) {
      // Tried again at the next poll (the address may have gone again, or a stale process holds the port).
      const why = describeError(e);
      if (this.lastError !== why) this.o.log.warn({ vip: this.o.vip, err: why }, 'the floating address is here but its listener did not start');
      this.lastError = why;
      return;
    }
    if (this.closed) {
      await closeServer(server, 0);
      return;
    }
    this.listener = server;
    this.lastError = undefined;
    this.o.log.warn({ vip: this.o.vip }, `keepalived gave this host the floating address: serving ${this.o.vip}:${this.o.port}`);
  }

  private async release(): Promise<void> {
    const l = this.listener;
    this.listener = undefined;
    if (l === undefined) return;
    this.o.log.warn({ vip: this.o.vip }, `the floating address ${this.o.vip} left this host: its listener closes`);
    // Its clients cannot reach this host through the address any more: nothing to wait for.
    await closeServer(l, 0);
  }

  async close(graceMs: number): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    const l = this.listener;
    this.listener = undefined;
    if (l) await closeServer(l, graceMs);
  }
}
