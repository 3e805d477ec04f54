import { describeError } from '../../shared/errors.js';
import { backoffMs } from '../../shared/retry.js';
import type { Logger } from '../../shared/log.js';
import { accountId, newAccountKey, orderCertificate, type Issued, type OrderSettings } from './order.js';
import { namesKey, type AcmeStore, type CertMeta, type StoredCert } from './store.js';

/**
 * The loop every load balancer runs (README.md "The loop"). Each tick it:
 * 1. reads the stored certificate's version, and installs a newer one (whoever ordered it);
 * 2. when none is stored or it is within `renewBeforeDays` of expiry, tries the order lease; the
 *    holder orders, stores the result, and lets the lease go; on failure it keeps the lease
 *    through the backoff, so no load balancer of the cluster asks the CA again before it ends.
 * A database or CA that does not answer only costs a failed tick: what is installed stays served.
 */

/** Poll of the store: 2 s. A certificate another LB stored is served here within ~2 s; one indexed SELECT per LB per 2 s is nothing to the database. */
export const POLL_MS = 2_000;
/**
 * The order lease: 60 s, extended every 20 s while the order runs. A holder that dies is replaced
 * within a minute; one that stalls for 40 s loses it (a second order then is harmless: the CA
 * issues twice and the later store wins).
 */
const LEASE_TTL_S = 60;
const LEASE_EXTEND_MS = 20_000;
/** Backoff after a failed order, shared through the lease: 30 s doubling to 6 h (Let's Encrypt limits failed validations to 5 per hour per name). */
const BACKOFF_MIN_MS = 30_000;
const BACKOFF_MAX_MS = 6 * 3600_000;
const LEASE_ID = 'order';
/** The first look at the store, before the HTTPS listener starts: at most 10 s (two statement timeouts). */
const FIRST_LOOK_MS = 10_000;

export type AcmeStep = 'lease' | 'order' | 'challenge' | 'issued' | 'installed' | 'failed' | 'account';

export interface AcmeView {
  readonly names: readonly string[];
  readonly serial?: string;
  readonly notAfter?: string;
  readonly installedAt?: string;
  /** Set while the last order or store access failed (a dashboard warning); cleared by the next success. */
  readonly lastError?: string;
  readonly lastErrorAt?: string;
}

export interface RenewerDeps {
  readonly lb: string;
  readonly store: AcmeStore;
  readonly settings: OrderSettings;
  readonly renewBeforeMs: number;
  /** Serves the certificate to new handshakes (the TLS listener's replace API). */
  readonly install: (cert: StoredCert) => void;
  readonly event: (step: AcmeStep, message: string, data?: Record<string, unknown>) => void;
  readonly log: Logger;
  readonly pollMs?: number;
}

export class AcmeRenewer {
  private readonly key: { names: string; hash: string };
  private installed: CertMeta | undefined;
  private installedAt: Date | undefined;
  private lastError: { message: string; at: Date; kind: 'store' | 'order' } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly d: RenewerDeps) {
    this.key = namesKey(d.settings.names);
  }

  /**
   * Installs what the store holds already (so the HTTPS listener can start with it), then runs the
   * loop. Resolves after that first look, or after 10 s: a database still starting must not hold
   * the load balancer's start; the loop installs the certificate when the store answers.
   */
  start(): Promise<void> {
    const first = this.installNewer().then(
      () => undefined,
      (e: unknown) => this.failed(`ACME store: ${describeError(e)}`, false),
    );
    this.running = first.finally(() => {
      this.running = undefined;
      this.schedule(0);
    });
    let t: NodeJS.Timeout | undefined;
    const cap = new Promise<void>((r) => {
      t = setTimeout(r, FIRST_LOOK_MS);
    });
    return Promise.race([first, cap]).finally(() => clearTimeout(t));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    // An order in flight is left to its own timeout; its lease expires if this process ends.
    await this.running;
  }

  view(): AcmeView {
    return {
      names: this.d.settings.names,
      ...(this.installed === undefined ? {} : { serial: this.installed.serial, notAfter: this.installed.notAfter.toISOString() }),
      ...(this.installedAt === undefined ? {} : { installedAt: this.installedAt.toISOString() }),
      ...(this.lastError === undefined ? {} : { lastError: this.lastError.message, lastErrorAt: this.lastError.at.toISOString() }),
    };
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = undefined;
        this.schedule(this.d.pollMs ?? POLL_MS);
      });
    }, ms);
    this.timer.unref();
  }

  /** One round; never throws. */
  async tick(): Promise<void> {
    try {
      const meta = await this.installNewer();
      // The store answers again: its outage is over (an order's failure stays until an order works).
      if (this.lastError?.kind === 'store') this.lastError = undefined;
      if (this.stopped || !this.due(meta)) return;
      await this.orderIfLeased(meta);
    } catch (e) {
      this.failed(`ACME store: ${describeError(e)}`, false);
    }
  }

  private async installNewer(): Promise<CertMeta | undefined> {
    const meta = await this.d.store.certMeta(this.key.hash);
    if (meta === undefined || meta.version === this.installed?.version) return meta;
    const cert = await this.d.store.readCert(this.key.hash);
    if (cert === undefined) return meta;
    // An expired certificate would only make handshakes fail; the installed one (if any) stays.
    if (cert.notAfter.getTime() <= Date.now()) return meta;
    this.d.install(cert);
    this.installed = cert;
    this.installedAt = new Date();
    this.d.event('installed', `certificate ${cert.serial} for ${this.key.names} (until ${cert.notAfter.toISOString()}) now served by ${this.d.lb}`, {
      serial: cert.serial,
      notAfter: cert.notAfter.toISOString(),
      version: cert.version,
    });
    return meta;
  }

  private due(meta: CertMeta | undefined): boolean {
    return meta === undefined || meta.notAfter.getTime() - this.d.renewBeforeMs <= Date.now();
  }

  private async orderIfLeased(meta: CertMeta | undefined): Promise<void> {
    const { store, lb } = this.d;
    const grant = await store.tryLease(LEASE_ID, lb, LEASE_TTL_S);
    if (grant === undefined) return; // another load balancer orders, or the cluster's backoff runs
    const why = meta === undefined ? 'no certificate stored yet' : `certificate ${meta.serial} expires ${meta.notAfter.toISOString()}`;
    this.d.event('lease', `${lb} took the ACME order lease (${why}; ${grant.failures} failed order(s) before)`, { failures: grant.failures });
    const extend = setInterval(() => {
      store.tryLease(LEASE_ID, lb, LEASE_TTL_S).catch((e: unknown) => this.d.log.warn({ err: describeError(e) }, 'could not extend the ACME order lease'));
    }, LEASE_EXTEND_MS);
    extend.unref();
    let issued: Issued;
    try {
      const accountKey = await this.accountKey();
      this.d.event('order', `${lb} orders a certificate for ${this.key.names} from ${this.d.settings.directoryUrl}`);
      issued = await orderCertificate(this.d.settings, accountKey, store, (step, message) => this.d.event(step === 'challenge' ? 'challenge' : 'order', message));
    } catch (e) {
      clearInterval(extend);
      const waitMs = backoffMs(grant.failures, BACKOFF_MIN_MS, BACKOFF_MAX_MS);
      await store.holdLeaseAfterFailure(LEASE_ID, lb, Math.ceil(waitMs / 1000)).catch(() => undefined);
      this.failed(`${describeError(e)}; next attempt by any load balancer in ${Math.round(waitMs / 1000)} s`, true, {
        retryInS: Math.round(waitMs / 1000),
        failures: grant.failures + 1,
      });
      return;
    }
    clearInterval(extend);
    const stored = await store.writeCert(this.key.names, this.key.hash, issued.certPem, issued.keyPem, lb);
    await store.releaseLease(LEASE_ID, lb);
    this.lastError = undefined;
    this.d.event('issued', `certificate ${stored.serial} for ${this.key.names} issued (until ${stored.notAfter.toISOString()}) and stored for every load balancer`, {
      serial: stored.serial,
      notAfter: stored.notAfter.toISOString(),
      version: stored.version,
    });
    await store.reportStatus(lb, true, `issued ${stored.serial}`).catch(() => undefined);
    // Install here at once rather than on the next poll.
    await this.installNewer();
  }

  private async accountKey(): Promise<string> {
    const id = accountId(this.d.settings.directoryUrl, this.d.settings.email);
    const have = await this.d.store.accountKey(id);
    if (have !== undefined) return have;
    const made = await newAccountKey();
    await this.d.store.putAccountKey(id, made);
    this.d.event('account', `new ACME account key for ${this.d.settings.email} at ${this.d.settings.directoryUrl}, sealed in the database`);
    return made;
  }

  private failed(message: string, asEvent: boolean, data: Record<string, unknown> = {}): void {
    const repeat = this.lastError?.message === message;
    this.lastError = { message, at: new Date(), kind: asEvent ? 'order' : 'store' };
    this.d.log.warn({ err: message }, `ACME: ${message}`);
    // A store that stays unreachable is one event, not one every poll.
    if (asEvent || !repeat) this.d.event('failed', `${this.d.lb}: ${message} (the current certificate stays served)`, data);
    this.d.store.reportStatus(this.d.lb, false, message).catch(() => undefined);
  }
}
