import { Agent } from 'undici';

/**
 * An undici Agent for bounded probes. undici (7.x, measured here) does not abort a request that is
 * still connecting when its `signal` fires or its `headersTimeout` passes: a probe of an address
 * that drops packets (a machine cut off by a partition, or powered off) waits out the Agent's
 * connect timeout, 10 s by default — `AbortSignal.timeout(500)` rejected after 10.5 s. That kept a
 * cut-off load balancer in hastack's DNS answers for 13–15 s after a failover (the runbook's DNS
 * step timed out on it). So a probe's agent bounds the connect itself.
 */
export function probeAgent(connectTimeoutMs: number): Agent {
  return new Agent({ connect: { timeout: connectTimeoutMs } });
}

/** One probe agent per connect bound, for probes whose bound is a per-call argument. Never closed (process-lifetime). */
const byTimeout = new Map<number, Agent>();
export function sharedProbeAgent(connectTimeoutMs: number): Agent {
  let a = byTimeout.get(connectTimeoutMs);
  if (a === undefined) {
    a = probeAgent(connectTimeoutMs);
    byTimeout.set(connectTimeoutMs, a);
  }
  return a;
}
