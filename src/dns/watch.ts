import { probeAgent } from '../shared/probe-agent.js';
import { describeError } from '../shared/errors.js';

/**
 * Which load balancers DNS hands out: each one's `GET /-/healthz` is probed every second.
 *
 * - 1 s interval, 500 ms timeout: the LB answers from memory in well under a millisecond on a
 *   LAN, so 500 ms of silence is a dead or frozen process; probing every second keeps a dead LB
 *   in answers for about 2 s (2 probes), the same order as the record's TTL.
 * - fall 2: one lost probe (a GC pause, a busy core on this 2-core machine) does not pull an LB.
 *   A refused connection is not a lost probe: nothing listens, the LB is dead or restarting, and
 *   every client sent there is refused too. It pulls the LB at once (issue 22: after a kill -9 it
 *   left the answers a probe, ~1 s, sooner, and clients stopped spending first attempts on it).
 * - rise 1: an LB that answers 200 is handed out again at once; clients always get every healthy
 *   address, so the cost of coming back early is small.
 * - start healthy, probe at once: a DNS server that (re)starts answers with every LB rather than
 *   nothing, and drops the dead ones after their first two probes.
 * The LB's `/-/healthz` is 503 when it has no app server to send to or is shutting down, so such an
 * LB leaves the answers too.
 */

export const LB_PROBE_INTERVAL_MS = 1_000;
export const LB_PROBE_TIMEOUT_MS = 500;
export const LB_FALL = 2;
export const LB_RISE = 1;
/** The load balancer's own health endpoint (see src/lb/admin.ts). */
export const LB_HEALTH_PATH = '/-/healthz';

export interface WatchedLb {
  readonly id: string;
  readonly address: string;
  readonly port: number;
}

interface LbHealth {
  readonly lb: WatchedLb;
  readonly origin: string;
  healthy: boolean;
  good: number;
  bad: number;
  lastDetail: string;
}

export type LbChangeListener = (lb: WatchedLb, healthy: boolean, detail: string) => void;

export class LbWatcher {
  private readonly entries: LbHealth[];
  // The connect is bounded too (shared/probe-agent.ts): a cut-off LB must fail its probe in 500 ms, not 10 s.
  private readonly agent = probeAgent(LB_PROBE_TIMEOUT_MS);
  private readonly stopper = new AbortController();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly running = new Set<Promise<void>>();

  constructor(
    lbs: readonly WatchedLb[],
    private readonly onChange: LbChangeListener = () => {},
  ) {
    this.entries = lbs.map((lb) => ({ lb, origin: `http://${lb.address}:${lb.port}`, healthy: true, good: 0, bad: 0, lastDetail: 'not probed yet' }));
  }

  /**
   * The addresses to answer with: the healthy load balancers in topology order, or, when none is
   * healthy, all of them. Better a chance than NXDOMAIN or an empty answer: if our probes are
   * what is broken (this DNS node cut off from the LBs), clients may still reach them, and an
   * empty answer would turn a partial outage into a total one.
   */
  addresses(): string[] {
    const healthy = this.entries.filter((e) => e.healthy).map((e) => e.lb.address);
    return healthy.length > 0 ? healthy : this.entries.map((e) => e.lb.address);
  }

  /** For status output: every LB with its current judgement. */
  view(): Array<{ id: string; address: string; healthy: boolean; detail: string }> {
    return this.entries.map((e) => ({ id: e.lb.id, address: e.lb.address, healthy: e.healthy, detail: e.lastDetail }));
  }

  start(): void {
    for (const e of this.entries) this.schedule(e, 0);
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.running]);
    await this.agent.close().catch(() => undefined);
  }

  private schedule(e: LbHealth, delayMs: number): void {
    if (this.stopper.signal.aborted) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      const p = this.probe(e);
      this.running.add(p);
      void p.finally(() => {
        this.running.delete(p);
        this.schedule(e, LB_PROBE_INTERVAL_MS);
      });
    }, delayMs);
    // The DNS sockets keep the process alive; a probe timer alone must not.
    t.unref();
    this.timers.add(t);
  }

  private async probe(e: LbHealth): Promise<void> {
    let ok: boolean;
    let detail: string;
    let refused = false;
    try {
      const res = await this.agent.request({
        origin: e.origin,
        path: LB_HEALTH_PATH,
        method: 'GET',
        // A fresh connection per probe: it tests what a new client needs (the listener accepts).
        reset: true,
        headers: { 'user-agent': 'hastack-dns-health' },
        headersTimeout: LB_PROBE_TIMEOUT_MS,
        bodyTimeout: LB_PROBE_TIMEOUT_MS,
        signal: AbortSignal.any([AbortSignal.timeout(LB_PROBE_TIMEOUT_MS), this.stopper.signal]),
      });
      await res.body.dump();
      ok = res.statusCode === 200;
      detail = `HTTP ${res.statusCode}`;
    } catch (err) {
      ok = false;
      detail = describeError(err);
      refused = isRefused(err);
    }
    if (this.stopper.signal.aborted) return;
    e.lastDetail = detail;
    if (ok) {
      e.bad = 0;
      e.good += 1;
      if (!e.healthy && e.good >= LB_RISE) {
        e.healthy = true;
        this.onChange(e.lb, true, detail);
      }
    } else {
      e.good = 0;
      e.bad = refused ? Math.max(e.bad + 1, LB_FALL) : e.bad + 1;
      if (e.healthy && e.bad >= LB_FALL) {
        e.healthy = false;
        this.onChange(e.lb, false, detail);
      }
    }
  }
}

/** Connection refused: the LB's port has no listener (undici passes the socket error through). */
export function isRefused(err: unknown): boolean {
  for (let x: unknown = err, depth = 0; typeof x === 'object' && x !== null && depth < 3; x = (x as { cause?: unknown }).cause, depth++) {
    if ((x as { code?: unknown }).code === 'ECONNREFUSED') return true;
  }
  return false;
}
