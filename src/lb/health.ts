import type { Agent } from 'undici';
import { describeError } from '../shared/errors.js';
import { probeAgent } from '../shared/probe-agent.js';
import { requestFailure } from '../shared/request-failure.js';
import type { Backend, BackendSet } from './backends.js';
import type { ProbeOutcome } from './health-state.js';

/**
 * Active health checks: `GET /readyz` on every backend every `intervalMs`, each bounded by
 * `timeoutMs`, results fed to the backend set. 2xx/3xx is ok, 503 is draining, connected but
 * unanswered in time is slow, anything else fails.
 *
 * Each probe uses a fresh connection (`reset: true`), as HAProxy's checks do: it then tests what
 * a new request needs (the listener accepts, the process answers), not just that one old
 * keep-alive socket still works. At 1 probe/s per backend the extra handshakes cost nothing.
 * Probes of one backend never overlap: the next is scheduled when the previous has finished,
 * and the config guarantees timeout < interval.
 */

export interface ProbeSettings {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Path probed on each backend (the app contract's readiness endpoint). */
  readonly path: string;
  /** Where a backend's readiness is asked (`http://addr:port`); default its own origin (a command app's is its readiness port). */
  readonly originOf?: (b: Backend) => string;
}

export interface ProbeResultDetail {
  readonly outcome: ProbeOutcome;
  /** `HTTP 200`, `HTTP 503`, or the error, for logs. */
  readonly detail: string;
}

/** One GET on a fresh connection, bounded by `timeoutMs`; the status code, or a throw. */
async function freshGet(agent: Agent, origin: string, path: string, timeoutMs: number, userAgent: string, signal: AbortSignal): Promise<number> {
  const res = await agent.request({
    origin,
    path,
    method: 'GET',
    reset: true,
    headers: { 'user-agent': userAgent },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), signal]),
  });
  // Read the (small) body so the connection is released cleanly.
  await res.body.dump();
  return res.statusCode;
}

/**
 * A probe's connect gets half its bound. A live process's kernel completes the handshake at once,
 * a frozen process's too, so a connect that takes that long goes to an address that is down or
 * cut off: it then fails as such (`fail`) before the probe's own bound could call it `slow`.
 */
function probeConnectBoundMs(timeoutMs: number): number {
  return Math.max(1, Math.floor(timeoutMs / 2));
}

export async function probeBackend(agent: Agent, origin: string, path: string, timeoutMs: number, stop: AbortSignal): Promise<ProbeResultDetail> {
  try {
    const status = await freshGet(agent, origin, path, timeoutMs, 'hastack-lb-health', stop);
    const detail = `HTTP ${status}`;
    // 3xx too: a command app's health path may be `/`, which many apps redirect (to a login page).
    if (status >= 200 && status < 400) return { outcome: 'ok', detail };
    if (status === 503) return { outcome: 'draining', detail };
    return { outcome: 'fail', detail };
  } catch (e) {
    // Connected, then no answer within the bound (shared/request-failure.ts): alive but slow.
    if (requestFailure(e) === 'timeout' && !stop.aborted) return { outcome: 'slow', detail: `no answer within ${timeoutMs} ms (connected)` };
    return { outcome: 'fail', detail: describeError(e) };
  }
}

export class HealthProber {
  private readonly agent: Agent;
  private readonly stopper = new AbortController();
  private readonly timers = new Map<Backend, NodeJS.Timeout>();
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly set: BackendSet,
    private readonly settings: ProbeSettings,
  ) {
    // The connect bounded too (shared/probe-agent.ts): a cut-off backend fails its probe within
    // timeoutMs, not 10 s, and as unreachable rather than slow (probeConnectBoundMs).
    this.agent = probeAgent(probeConnectBoundMs(settings.timeoutMs));
  }

  /** Probes every backend at once, then every interval. */
  start(): void {
    for (const b of this.set.all) this.schedule(b, 0);
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.running]);
    await this.agent.close().catch(() => undefined);
  }

  private schedule(b: Backend, delayMs: number): void {
    if (this.stopper.signal.aborted) return;
    const t = setTimeout(() => {
      this.timers.delete(b);
      const p = this.probe(b);
      this.running.add(p);
      void p.finally(() => {
        this.running.delete(p);
        this.schedule(b, this.settings.intervalMs);
      });
    }, delayMs);
    // The HTTP server keeps the process alive; a probe timer alone must not.
    t.unref();
    this.timers.set(b, t);
  }

  private async probe(b: Backend): Promise<void> {
    const r = await probeBackend(this.agent, this.settings.originOf?.(b) ?? b.origin, this.settings.path, this.settings.timeoutMs, this.stopper.signal);
    if (this.stopper.signal.aborted) return;
    this.set.observeProbe(b, r.outcome, r.detail);
  }
}

/**
 * Is the process behind `origin` running at all? Any HTTP answer within `timeoutMs` says yes,
 * even 503 (draining) or 500: only silence or a refused connection says no. A fresh connection
 * (`reset: true`), since an old keep-alive socket proves nothing about the process now.
 */
export async function livenessProbe(agent: Agent, origin: string, path: string, timeoutMs: number): Promise<boolean> {
  try {
    await freshGet(agent, origin, path, timeoutMs, 'hastack-lb-liveness', new AbortController().signal);
    return true;
  } catch {
    return false;
  }
}
