import { request } from 'undici';
import type { ServiceInstance } from '../../config/index.js';
import { describeError } from '../../shared/errors.js';
import { sharedProbeAgent } from '../../shared/probe-agent.js';
import { histogramBuckets, parsePromText, sumOf } from './prom-text.js';
import type { LbSnapshot } from './types.js';

interface StatsBody {
  requests?: number;
  retries?: number;
  backends?: Array<{ id: string; healthy: boolean; state: string; ejected: boolean }>;
  acme?: { serial?: string; notAfter?: string; lastError?: string; lastErrorAt?: string };
  tls?: { certificates?: Array<{ slot: string; names: string[]; notAfter: string }> };
}

async function getText(url: string, timeoutMs: number): Promise<string> {
  const res = await request(url, { dispatcher: sharedProbeAgent(timeoutMs), headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${url}: HTTP ${res.statusCode}`);
  return text;
}

/**
 * One load balancer's counters, from its admin port (`lb.metricsPort`, same address: `/-/stats`
 * and `/metrics`; src/lb/README.md); never throws (an unreachable one has `error` and zeros).
 */
export async function lbSnapshot(lb: ServiceInstance, adminPort: number, timeoutMs: number): Promise<LbSnapshot> {
  try {
    if (adminPort === 0) throw new Error("the load balancers' admin port is off (lb.metricsPort: 0)");
    const admin = `http://${lb.address}:${adminPort}`;
    const [statsText, metricsText] = await Promise.all([getText(`${admin}/-/stats`, timeoutMs), getText(`${admin}/metrics`, timeoutMs)]);
    const stats = JSON.parse(statsText) as StatsBody;
    const samples = parsePromText(metricsText);
    const buckets = histogramBuckets(samples, 'hastack_lb_request_duration_seconds');
    return {
      id: lb.id,
      requests: stats.requests ?? 0,
      retries: stats.retries ?? 0,
      errors5xx: sumOf(samples, 'hastack_lb_requests_total', (l) => Number(l.status) >= 500),
      latency: buckets.filter((b) => Number.isFinite(b.le)),
      latencyCount: buckets.at(-1)?.count ?? 0,
      backends: (stats.backends ?? []).map((b) => ({ id: b.id, healthy: b.healthy, state: b.state, ejected: b.ejected })),
      ...(stats.acme === undefined ? {} : { acme: stats.acme }),
      ...(stats.tls?.certificates !== undefined ? { certificates: stats.tls.certificates.map((c) => ({ slot: c.slot, names: c.names, notAfter: c.notAfter })) } : {}),
    };
  } catch (e) {
    return { id: lb.id, requests: 0, retries: 0, errors5xx: 0, latency: [], latencyCount: 0, backends: [], error: describeError(e) };
  }
}
