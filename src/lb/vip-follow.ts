import fs from 'node:fs';
import os from 'node:os';
import type http from 'node:http';
import type { Logger } from '../shared/log.js';
import { describeError } from '../shared/errors.js';
import { closeServer, listen } from './server.js';
import type { VipView } from './vip.js';

/*
 * The floating address (`lb.vip`) on real hosts: keepalived (VRRP, src/hosts/keepalived.ts)
 * decides which load balancer holds it and adds it to that host's interface; the load balancer
 * only follows. It starts listening on `<vip>:<port>` the first time the address is on this
 * machine (a bind needs the address here), and keeps that listener when the address leaves: the
 * kernel delivers nothing to it meanwhile, and the moment keepalived adds the address again it
 * accepts, with no poll between. Closing it (as it once did) left a window of up to one poll after
 * every move in which the new holder's kernel refused connections: a browser's error page,
 * measured in hosts-vip.test.ts. Where the host allows binding an address it does not have
 * (`net.ipv4.ip_nonlocal_bind`, which the keepalived unit sets: src/hosts/units.ts) it listens from
 * the start, so even the first move finds the listener there. No heartbeat of our own: two
 * deciders (VipKeeper's heartbeat and VRRP) could pick different holders, and a load balancer
 * whose keepalived died would keep telling its peer not to serve the address keepalived gave it.
 */

/**
 * How often the interfaces are read (getifaddrs: tens of microseconds). It adds at most this much
 * to the first move to this host (three VRRP adverts, at least 150 ms with the shortest interval
 * hastack accepts); later moves find the listener already there.
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
  /** Only tests change it: whether this host lets a socket bind an address it does not have. */
  readonly nonlocalBind?: () => boolean;
}

/** `net.ipv4.ip_nonlocal_bind` of this network namespace (the IPv4 addresses `lb.vip` takes). */
function nonlocalBindAllowed(): boolean {
  try {
    return fs.readFileSync('/proc/sys/net/ipv4/ip_nonlocal_bind', 'utf8').trim() === '1';
  } catch {
    return false;
  }
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
  /** Whether the address was on this machine at the last poll. */
  private here = false;

  constructor(private readonly o: VipFollowOptions) {}

  /** The address is on this machine and its listener serves it. */
  get holding(): boolean {
    return this.here && this.listener !== undefined;
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
      const was = this.holding;
      this.here = (this.o.isLocal ?? addressIsLocal)(this.o.vip);
      if (this.listener === undefined && (this.here || (this.o.nonlocalBind ?? nonlocalBindAllowed)())) await this.hold();
      if (this.holding !== was) {
        this.o.log.warn(
          { vip: this.o.vip },
          this.holding
            ? `keepalived gave this host the floating address: serving ${this.o.vip}:${this.o.port}`
            : `the floating address ${this.o.vip} left this host (its listener stays, for when it comes back)`,
        );
      }
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
      if (this.lastError !== why) this.o.log.warn({ vip: this.o.vip, err: why }, 'the listener on the floating address did not start');
      this.lastError = why;
      return;
    }
    if (this.closed) {
      await closeServer(server, 0);
      return;
    }
    this.listener = server;
    this.lastError = undefined;
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
