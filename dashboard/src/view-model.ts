/**
 * The dashboard's pure logic: from the admin API's snapshots to what the page draws. No DOM here,
 * so every rule (grouping, rates, percentiles, hints) is unit-tested in view-model.test.ts.
 */
import type { ClusterEvent } from '../../src/shared/events.js';
import type { DashboardService, DashboardStatus, LbSnapshot } from '../../src/control/dashboard/index.js';

export interface Tier {
  readonly id: string;
  readonly title: string;
  readonly kinds: readonly string[];
}

/** Tiers top to bottom, in the order a request travels (and the order `up` starts them, reversed). */
export const TIERS: readonly Tier[] = [
  { id: 'edge', title: 'Load balancers & DNS', kinds: ['lb', 'dns'] },
  { id: 'app', title: 'App servers', kinds: ['app'] },
  { id: 'worker', title: 'Workers', kinds: ['worker'] },
  { id: 'cache', title: 'Cache', kinds: ['memcached'] },
  { id: 'broker', title: 'Redis & Sentinel', kinds: ['redis', 'sentinel'] },
  { id: 'database', title: 'Database', kinds: ['mariadb'] },
];

function tierIndex(kind: string): number {
  const i = TIERS.findIndex((t) => t.kinds.includes(kind));
  return i === -1 ? TIERS.length : i;
}

export interface ServiceView {
  readonly id: string;
  readonly service: string;
  readonly role: string;
  readonly healthy: boolean;
  readonly pid: string;
  readonly uptime: string;
  readonly restarts: number;
  readonly detail: string;
  /** Replica lag in words ("2 s behind", "1.2 KB behind"), when known. */
  readonly lag?: string;
}

export interface NodeCard {
  readonly name: string;
  readonly address: string;
  readonly healthy: boolean;
  /** The node's memcached is out of some client's cache ring. */
  readonly ejected: boolean;
  readonly services: ServiceView[];
}

export interface TierView {
  readonly tier: Tier;
  readonly nodes: NodeCard[];
}

export function formatDuration(s: number | null): string {
  if (s === null) return '-';
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export function formatBytes(b: number): string {
  if (b < 1024) return `${b} B`;
  if (b < 1024 * 1024) return `${(b / 1024).toFixed(1)} KB`;
  return `${(b / 1024 / 1024).toFixed(1)} MB`;
}

function lagText(s: DashboardService): string | undefined {
  if (s.lagS !== undefined) return s.lagS === null ? 'lag unknown' : `${s.lagS} s behind`;
  if (s.lagBytes !== undefined) return `replicas ${formatBytes(s.lagBytes)} behind`;
  return undefined;
}

/**
 * Nodes as cards, grouped by tier. A node sits in the tier of its front-most service (an app node
 * that also runs a Sentinel is an app node); services inside a card follow the same order.
 * Empty tiers are left out.
 */
export function topologyView(status: DashboardStatus): TierView[] {
  const byNode = new Map<string, DashboardService[]>();
  for (const s of status.services) byNode.set(s.node, [...(byNode.get(s.node) ?? []), s]);
  const ejected = new Set(status.ejectedCaches);
  const cards = [...byNode.entries()].map(([name, list]) => {
    const sorted = [...list].sort((a, b) => tierIndex(a.service) - tierIndex(b.service));
    const card: NodeCard = {
      name,
      address: sorted[0]?.address ?? '',
      healthy: sorted.every((s) => s.healthy),
      ejected: ejected.has(name),
      services: sorted.map((s) => {
        const lag = lagText(s);
        return {
          id: `${s.node}/${s.service}`,
          service: s.service,
          role: s.role,
          healthy: s.healthy,
          pid: s.pid === null ? '-' : String(s.pid),
          uptime: formatDuration(s.uptimeS),
          restarts: s.restarts,
          detail: s.detail ?? '',
          ...(lag !== undefined ? { lag } : {}),
        };
      }),
    };
    return { tier: tierIndex(sorted[0]?.service ?? ''), card };
  });
  return TIERS.map((tier, i) => ({ tier, nodes: cards.filter((c) => c.tier === i).map((c) => c.card) }))
    .concat([{ tier: { id: 'other', title: 'Other', kinds: [] }, nodes: cards.filter((c) => c.tier === TIERS.length).map((c) => c.card) }])
    .filter((t) => t.nodes.length > 0);
}

export interface Summary {
  readonly healthy: number;
  readonly total: number;
  readonly unhealthy: string[];
}

export function summarize(status: DashboardStatus): Summary {
  const bad = status.services.filter((s) => !s.healthy).map((s) => `${s.node}/${s.service}`);
  return { healthy: status.services.length - bad.length, total: status.services.length, unhealthy: bad };
}

/** A counter's increase between two snapshots; a restarted process starts again from 0. */
/** The days before a served certificate's expiry from which the page warns (no ACME: nothing renews it). */
export const CERT_WARN_DAYS = 14;

/** The first-expiring certificate a load balancer serves, with the days it has left (negative: expired). */
export function firstExpiry(
  certs: LbSnapshot['certificates'],
  now: number,
): { readonly notAfter: string; readonly names: readonly string[]; readonly daysLeft: number } | undefined {
  const first = [...(certs ?? [])].sort((a, b) => Date.parse(a.notAfter) - Date.parse(b.notAfter))[0];
  return first === undefined ? undefined : { notAfter: first.notAfter, names: first.names, daysLeft: (Date.parse(first.notAfter) - now) / 86_400_000 };
}

export function counterDelta(prev: number, cur: number): number {
  return cur >= prev ? cur - prev : cur;
}

/**
 * The latency below which fraction `q` of the requests between two snapshots finished, from the
 * difference of two cumulative histograms, interpolated linearly inside the bucket (as
 * Prometheus' histogram_quantile does). Seconds; null when no request finished in between.
 * A request slower than the last finite bound counts as that bound (a lower estimate).
 */
export function latencyQuantile(prev: LbSnapshot['latency'], cur: LbSnapshot['latency'], prevTotal: number, curTotal: number, q: number): number | null {
  const reset = curTotal < prevTotal;
  const total = reset ? curTotal : curTotal - prevTotal;
  if (total <= 0) return null;
  const before = new Map(prev.map((b) => [b.le, b.count]));
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of cur) {
    const n = reset ? b.count : b.count - (before.get(b.le) ?? 0);
    if (n >= rank) {
      const inBucket = n - below;
      return inBucket <= 0 ? b.le : lower + ((b.le - lower) * (rank - below)) / inBucket;
    }
    lower = b.le;
    below = n;
  }
  return lower;
}

/** One point of the live charts, from two snapshots in a row. */
export interface ChartPoint {
  /** Seconds since the epoch (uPlot's x). */
  readonly t: number;
  readonly requestsPerS: number;
  readonly errorsPerS: number;
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
  readonly queueDepth: number;
  /** Jobs that left the queue (done or failed) per second: created minus the change in backlog. */
  readonly processedPerS: number;
  readonly dbLagS: number | null;
  readonly redisLagBytes: number | null;
}

function outstanding(s: DashboardStatus): number {
  return s.queues.reduce((n, q) => n + q.waiting + q.active + q.delayed, 0);
}

/** Null (a gap in the chart) when the two snapshots are not in order. */
export function chartPoint(prev: DashboardStatus, cur: DashboardStatus): ChartPoint | null {
  const dt = (cur.ts - prev.ts) / 1000;
  if (!(dt > 0)) return null;
  let requests = 0;
  let errors = 0;
  const p50: number[] = [];
  const p95: number[] = [];
  const weights: number[] = [];
  for (const lb of cur.lbs) {
    const before = prev.lbs.find((x) => x.id === lb.id);
    if (lb.error !== undefined || !before || before.error !== undefined) continue;
    requests += counterDelta(before.requests, lb.requests);
    errors += counterDelta(before.errors5xx, lb.errors5xx);
    const a = latencyQuantile(before.latency, lb.latency, before.latencyCount, lb.latencyCount, 0.5);
    const b = latencyQuantile(before.latency, lb.latency, before.latencyCount, lb.latencyCount, 0.95);
    if (a !== null && b !== null) {
      p50.push(a);
      p95.push(b);
      weights.push(counterDelta(before.latencyCount, lb.latencyCount));
    }
  }
  // Several load balancers: weight each one's quantile by its request count (an approximation;
  // merging the histograms would be exact, but the page needs a trend, not a figure to quote).
  const weighted = (xs: number[]): number | null => {
    const w = weights.reduce((a, b) => a + b, 0);
    return w === 0 ? null : (xs.reduce((sum, x, i) => sum + x * (weights[i] ?? 0), 0) / w) * 1000;
  };
  const createdDelta = cur.queues.reduce((n, q) => n + counterDelta(prev.queues.find((p) => p.name === q.name)?.created ?? q.created, q.created), 0);
  const processed = Math.max(0, createdDelta - (outstanding(cur) - outstanding(prev)));
  const dbLags = cur.services.flatMap((s) => (typeof s.lagS === 'number' ? [s.lagS] : []));
  const redisLags = cur.services.flatMap((s) => (typeof s.lagBytes === 'number' ? [s.lagBytes] : []));
  return {
    t: cur.ts / 1000,
    requestsPerS: requests / dt,
    errorsPerS: errors / dt,
    p50Ms: weighted(p50),
    p95Ms: weighted(p95),
    queueDepth: outstanding(cur),
    processedPerS: processed / dt,
    dbLagS: dbLags.length > 0 ? Math.max(...dbLags) : null,
    redisLagBytes: redisLags.length > 0 ? Math.max(...redisLags) : null,
  };
}

export type EventKind = 'fault' | 'heal' | 'failover' | 'restart' | 'ejection' | 'backup' | 'unhealthy' | 'healthy' | 'cluster' | 'step';

/**
 * What an event is, for the timeline's colour and filter. By type first; the crash plan's and
 * failover manager's runbook steps are `step` (or `failover.*`/`backup.*`) events that say what they do.
 */
export function eventKind(e: ClusterEvent): EventKind {
  const t: string = e.type;
  if (t === 'fault.injected') return 'fault';
  if (t === 'fault.healed') return 'heal';
  if (t === 'role.changed') return 'failover';
  if (t === 'health.changed') return e.data?.healthy === true ? 'healthy' : 'unhealthy';
  if (t === 'service.exited' || t === 'service.restarting') return 'restart';
  if (t === 'cache.ejected' || t === 'cache.rejoined') return 'ejection';
  if (t === 'service.healthy' || t === 'service.starting' || t === 'service.stopped') return 'healthy';
  if (t.startsWith('cluster.')) return 'cluster';
  if (t.startsWith('failover') || /\b(failover|fail over|promot\w*|switch-master|fenc\w*)\b/i.test(e.message)) return 'failover';
  if (t.startsWith('backup') || /\b(backup|restore)\b/i.test(e.message)) return 'backup';
  return 'step';
}

export interface Hint {
  readonly why: string;
  readonly command: string;
}

/**
 * What the operator could run, as exact CLI commands (the page never runs them). Read-only
 * commands for anything unhealthy; the crash plan's failover when the database primary is down.
 */
export function operatorHints(status: DashboardStatus, cli = 'hastack'): Hint[] {
  const f = status.configFile ? ` -f ${status.configFile}` : '';
  const hints: Hint[] = [];
  // The automatic failover off (a failed one) or paused (issue 23): first, it is the banner.
  if (status.autoFailover) hints.push({ why: status.autoFailover, command: `${cli} resume${f}` });
  const bad = status.services.filter((s) => !s.healthy);
  for (const s of bad) hints.push({ why: `${s.node}/${s.service} is unhealthy${s.detail ? `: ${s.detail}` : ''}`, command: `${cli} logs ${s.node} ${s.service} -n 50${f}` });
  const dbs = status.services.filter((s) => s.service === 'mariadb');
  const primaryUp = dbs.some((s) => s.healthy && s.role === 'primary');
  const replica = dbs.find((s) => s.healthy && s.role === 'replica');
  if (dbs.length > 0 && !primaryUp && replica) {
    hints.push({ why: `no healthy database primary; ${replica.node} is a healthy replica`, command: `${cli} failover --to ${replica.node}${f}` });
  }
  if (bad.length > 0) hints.push({ why: 'probe every service again from the CLI', command: `${cli} status${f}` });
  return hints;
}
