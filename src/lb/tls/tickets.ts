import crypto from 'node:crypto';

/*
 * Session tickets that resume on any load balancer of the cluster, with no shared store: every
 * load balancer derives the ticket key of period n = floor(unix time / period) as
 * HKDF-SHA256(tlsTicketSecret, salt = cluster, info = n), so all of them hold the same key at the
 * same time and a ticket issued by one is accepted by the others. The key changes every period
 * (lb.tls.ticketKeyPeriodS, 12 h): a stolen key decrypts at most one period's tickets (forward
 * secrecy of resumed sessions is bounded by the period, as Mozilla's guidance asks).
 *
 * Current and previous: Node's TLS server takes one 48-byte ticket key set (setTicketKeys) and
 * exposes no key-lookup callback (OpenSSL's SSL_CTX_set_tlsext_ticket_key_evp_cb), so one
 * listener context cannot decrypt tickets of two keys. `keysFor` gives both; the listener
 * (listener.ts) serves the current key and, when a ClientHello carries a ticket named with the
 * previous key, hands that connection to a twin server holding the previous key (see
 * `ticketKeyNameOf`), so a ticket issued just before a rotation still resumes.
 */

export const TICKET_KEY_BYTES = 48;

export function periodOf(nowMs: number, periodS: number): number {
  return Math.floor(nowMs / 1000 / periodS);
}

/** The 48-byte ticket key set of `period` (16 bytes name, 16 HMAC, 16 AES), the same on every load balancer. */
export function ticketKeyFor(secret: string, cluster: string, period: number): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', secret, `hastack tls tickets ${cluster}`, `period ${period}`, TICKET_KEY_BYTES));
}

export interface TicketKeys {
  readonly period: number;
  readonly current: Buffer;
  readonly previous: Buffer;
}

export function keysFor(secret: string, cluster: string, nowMs: number, periodS: number): TicketKeys {
  const period = periodOf(nowMs, periodS);
  return { period, current: ticketKeyFor(secret, cluster, period), previous: ticketKeyFor(secret, cluster, period - 1) };
}

/**
 * Applies the current period's key now and again at every period boundary (the timer is set
 * for the next boundary each time, so a clock step only delays one rotation by the step).
 */
export class TicketRotor {
  private timer: NodeJS.Timeout | undefined;
  private period = Number.NaN;

  constructor(
    private readonly secret: string,
    private readonly cluster: string,
    private readonly periodS: number,
    private readonly apply: (keys: TicketKeys) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** The keys of this moment (applied again when the listener's context is replaced). */
  current(): TicketKeys {
    return keysFor(this.secret, this.cluster, this.now(), this.periodS);
  }

  /**
   * Whether a ticket of the previous period may still be presented: only during the first
   * `lifetimeS` (the session timeout) of a period, since tickets expire after that. Outside it the
   * listener skips looking into ClientHellos.
   */
  previousKeyMayBeUsed(lifetimeS: number): boolean {
    const nowMs = this.now();
    const start = periodOf(nowMs, this.periodS) * this.periodS * 1000;
    return nowMs - start < lifetimeS * 1000;
  }

  start(): void {
    this.tick();
  }

  private tick(): void {
    const keys = this.current();
    if (keys.period !== this.period) {
      this.period = keys.period;
      this.apply(keys);
    }
    const nextBoundaryMs = (keys.period + 1) * this.periodS * 1000;
    // +50 ms past the boundary so that floor() surely gives the new period; at most 1 h per timer
    // so a suspended machine or a clock step is caught up within the hour.
    const wait = Math.min(Math.max(nextBoundaryMs - this.now() + 50, 50), 3_600_000);
    this.timer = setTimeout(() => this.tick(), wait);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
