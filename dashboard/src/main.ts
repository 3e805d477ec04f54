/**
 * The status dashboard page: one EventSource on `/v1/stream` (a status snapshot every second,
 * events as they are logged), redrawn in place; chaos reports fetched on demand. Read-only: the
 * operator actions are CLI commands to copy, never requests that change the cluster.
 */
import type { ClusterEvent } from '../../src/shared/events.js';
import type { DashboardStatus, ReportSummary } from '../../src/control/dashboard/index.js';
import { LiveChart, reportChart } from './charts.js';
import { CERT_WARN_DAYS, chartPoint, eventKind, firstExpiry, operatorHints, summarize, topologyView, type NodeCard } from './view-model.js';

/** The timeline keeps this many events on the page (the server's backlog is 300). */
const MAX_EVENTS = 500;

function $(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page lacks #${id}`);
  return el;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function timeOf(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString([], { hour12: false });
}

function nodeCardHtml(n: NodeCard): string {
  const services = n.services
    .map(
      (s) => `<li class="svc ${s.healthy ? 'ok' : 'bad'}" data-service="${esc(s.id)}" data-healthy="${s.healthy}">
  <span class="dot" aria-hidden="true"></span><b>${esc(s.service)}</b>
  <span class="role">${esc(s.role)}</span>
  <span class="meta">pid ${esc(s.pid)} · up ${esc(s.uptime)}${s.restarts > 0 ? ` · ${s.restarts} restart${s.restarts > 1 ? 's' : ''}` : ''}</span>
  ${s.lag ? `<span class="lag">${esc(s.lag)}</span>` : ''}
  ${s.detail ? `<span class="detail" title="${esc(s.detail)}">${esc(s.detail)}</span>` : ''}
</li>`,
    )
    .join('');
  return `<article class="card ${n.healthy ? 'ok' : 'bad'}" data-node="${esc(n.name)}" data-healthy="${n.healthy}">
<header><h3>${esc(n.name)}</h3><span class="addr">${esc(n.address)}</span>${n.ejected ? '<span class="tag warn">ejected from a cache ring</span>' : ''}${n.healthy ? '' : '<span class="tag bad">unhealthy</span>'}</header>
<ul>${services}</ul></article>`;
}

/** The ACME certificate's expiry under the lb's id, and a warning while its renewal fails (the old certificate is still served). */
function acmeHtml(a: DashboardStatus['lbs'][number]['acme']): string {
  if (a === undefined) return '';
  const until =
    a.notAfter === undefined
      ? '<span class="tag warn">no ACME certificate yet</span>'
      : `<br><small>certificate until ${esc(a.notAfter.slice(0, 16).replace('T', ' '))} UTC</small>`;
  const failing = a.lastError === undefined ? '' : `<br><span class="tag warn" title="${esc(a.lastError)}">ACME renewal failing since ${esc(timeOf(a.lastErrorAt ?? ''))}</span>`;
  return until + failing;
}

/** Without ACME: the first-expiring certificate this lb serves, with a warning in its last days (nothing renews it). */
function certificatesHtml(certs: DashboardStatus['lbs'][number]['certificates']): string {
  const first = firstExpiry(certs, Date.now());
  if (first === undefined) return '';
  const when = `${esc(first.notAfter.slice(0, 16).replace('T', ' '))} UTC`;
  return first.daysLeft < CERT_WARN_DAYS
    ? `<br><span class="tag warn" title="${esc(first.names.join(', '))}">certificate ${first.daysLeft <= 0 ? 'expired' : 'expires'} ${when}</span>`
    : `<br><small>certificate until ${when}</small>`;
}

function renderStatus(s: DashboardStatus): void {
  // The first status ends the loading state: until then no placeholder values, no empty charts
  // whose time axis would start in 1970 (style.css hides them under body.loading).
  document.body.classList.remove('loading');
  const sum = summarize(s);
  $('cluster').textContent = s.cluster;
  const badge = $('health');
  badge.textContent = `${sum.healthy}/${sum.total} healthy`;
  badge.className = `badge ${sum.unhealthy.length === 0 ? 'ok' : 'bad'}`;
  $('state').textContent = s.state;
  $('updated').textContent = new Date(s.ts).toLocaleTimeString([], { hour12: false });
  $('topology').innerHTML = topologyView(s)
    .map((t) => `<section class="tier" data-tier="${esc(t.tier.id)}"><h2>${esc(t.tier.title)}</h2><div class="cards">${t.nodes.map(nodeCardHtml).join('')}</div></section>`)
    .join('');
  const hints = operatorHints(s);
  $('actions').hidden = hints.length === 0;
  $('hints').innerHTML = hints.map((h) => `<li><span>${esc(h.why)}</span><code>${esc(h.command)}</code></li>`).join('');
  const lbs = s.lbs
    .map((l) =>
      l.error !== undefined
        ? `<tr class="bad"><td>${esc(l.id)}</td><td colspan="3">unreachable: ${esc(l.error)}</td></tr>`
        : `<tr><td>${esc(l.id)}${l.acme !== undefined ? acmeHtml(l.acme) : certificatesHtml(l.certificates)}</td><td>${l.requests}</td><td>${l.errors5xx}</td><td>${l.backends.map((b) => `<span class="chip ${b.healthy && !b.ejected ? 'ok' : 'bad'}">${esc(b.id)} ${esc(b.state)}${b.ejected ? ' ejected' : ''}</span>`).join(' ')}</td></tr>`,
    )
    .join('');
  $('lbs').innerHTML = lbs || '<tr><td colspan="4">no load balancer</td></tr>';
  $('queues').innerHTML =
    s.queues.map((q) => `<tr><td>${esc(q.name)}</td><td>${q.waiting}</td><td>${q.active}</td><td>${q.delayed}</td><td>${q.failed}</td><td>${q.created}</td></tr>`).join('') ||
    '<tr><td colspan="6">no queue yet (or no healthy Redis master)</td></tr>';
}

const events: ClusterEvent[] = [];

function renderEvents(): void {
  const filter = ($('event-filter') as HTMLSelectElement).value;
  const shown = events.filter((e) => filter === 'all' || eventKind(e) === filter || (filter === 'important' && eventKind(e) !== 'step' && eventKind(e) !== 'healthy'));
  $('timeline').innerHTML = shown
    .slice(-200)
    .reverse()
    .map((e) => {
      const k = eventKind(e);
      return `<li class="ev ${k}" data-kind="${k}" data-type="${esc(e.type)}"><time datetime="${esc(e.ts)}">${esc(timeOf(e.ts))}</time><span class="kind">${k}</span><span class="msg">${esc(e.message)}</span></li>`;
    })
    .join('');
}

function addEvents(list: ClusterEvent[]): void {
  events.push(...list);
  if (events.length > MAX_EVENTS) events.splice(0, events.length - MAX_EVENTS);
  renderEvents();
}

function charts(): (prev: DashboardStatus, cur: DashboardStatus) => void {
  const traffic = new LiveChart(
    $('chart-traffic'),
    'Load balancers: requests and 5xx per second',
    [
      { label: 'requests/s', stroke: '#2563eb' },
      { label: '5xx/s', stroke: '#d0463b' },
    ],
    ['per second'],
  );
  const latency = new LiveChart(
    $('chart-latency'),
    'Latency through the load balancers',
    [
      { label: 'p50 ms', stroke: '#0f766e' },
      { label: 'p95 ms', stroke: '#b45309' },
    ],
    ['ms'],
  );
  const queue = new LiveChart(
    $('chart-queue'),
    'Job queue: depth and processed per second',
    [
      { label: 'depth', stroke: '#7c3aed' },
      { label: 'processed/s', stroke: '#2e9d5b', right: true },
    ],
    ['jobs', 'per second'],
  );
  const lag = new LiveChart(
    $('chart-lag'),
    'Replica lag',
    [
      { label: 'MariaDB s', stroke: '#2563eb' },
      { label: 'Redis bytes', stroke: '#d97706', right: true },
    ],
    ['seconds', 'bytes'],
  );
  return (prev, cur) => {
    const p = chartPoint(prev, cur);
    if (!p) return;
    traffic.push(p.t, [p.requestsPerS, p.errorsPerS]);
    latency.push(p.t, [p.p50Ms, p.p95Ms]);
    queue.push(p.t, [p.queueDepth, p.processedPerS]);
    lag.push(p.t, [p.dbLagS, p.redisLagBytes]);
  };
}

interface ReportDoc {
  readonly id: string;
  readonly scenario: string;
  readonly startedAt: string;
  readonly availability?: number;
  readonly availabilityDuringFault?: number;
  readonly firstAttemptAvailability?: number;
  readonly firstAttemptAvailabilityDuringFault?: number;
  readonly naiveAvailability?: number;
  readonly naiveAvailabilityDuringFault?: number;
  readonly naiveRequests?: number;
  readonly retriedOps?: number;
  readonly clientVisibleErrors?: number;
  readonly clientVisibleErrorsDuringFault?: number;
  readonly clientVisibleErrorsDiedInFlight?: number;
  readonly resentAttempts?: number;
  readonly naiveResent?: number;
  readonly maxOpLatencyMs?: number;
  readonly recoveryMs?: number | null;
  readonly ackedWrites?: number;
  readonly lostWrites?: number;
  readonly duplicateWrites?: number;
  readonly promisesBroken?: string[];
  readonly timeline?: Array<{ ok: number; failed: number }>;
  readonly timelineBucketMs?: number;
  readonly faults?: Array<{ description: string; injectedAt: number; healedAt: number }>;
}

const pct = (v: number | undefined | null): string => (v === undefined || v === null ? '-' : `${(v * 100).toFixed(2)} %`);

async function showReport(id: string): Promise<void> {
  const r = (await (await fetch(`/v1/reports/${encodeURIComponent(id)}`)).json()) as ReportDoc;
  const box = $('report');
  box.hidden = false;
  const broken = r.promisesBroken ?? [];
  box.innerHTML = `<h3>${esc(r.scenario)} <small>${esc(new Date(r.startedAt).toLocaleString())}</small></h3>
<p class="${broken.length === 0 ? 'ok' : 'bad'}">${broken.length === 0 ? 'Every promise kept.' : `Promise broken: ${esc(broken.join('; '))}`}</p>
<dl><dt>availability</dt><dd>${pct(r.availability)} (during the fault ${pct(r.availabilityDuringFault)}; clients that retry)</dd>
<dt>first attempt</dt><dd>${pct(r.firstAttemptAvailability)} (during the fault ${pct(r.firstAttemptAvailabilityDuringFault)}); ${r.retriedOps ?? '-'} op(s) retried</dd>
<dt>naive clients</dt><dd>${pct(r.naiveAvailability)} of ${r.naiveRequests ?? '-'} op(s) (during the fault ${pct(r.naiveAvailabilityDuringFault)}; no retry; ${r.naiveResent ?? '-'} saved by the browser's resend)</dd>
<dt>client-visible errors</dt><dd>${r.clientVisibleErrors ?? '-'} (during the fault ${r.clientVisibleErrorsDuringFault ?? '-'}; in flight on a killed node as it died ${r.clientVisibleErrorsDiedInFlight ?? '-'}; resets resent at once by the HTTP stack, not errors ${r.resentAttempts ?? '-'}); longest op ${r.maxOpLatencyMs ?? '-'} ms</dd>
<dt>recovery</dt><dd>${r.recoveryMs === null || r.recoveryMs === undefined ? '-' : `${r.recoveryMs} ms`}</dd>
<dt>writes</dt><dd>${r.ackedWrites ?? '-'} acknowledged, ${r.lostWrites ?? '-'} lost, ${r.duplicateWrites ?? '-'} duplicated</dd>
<dt>faults</dt><dd>${esc((r.faults ?? []).map((f) => `${f.description} at ${(f.injectedAt / 1000).toFixed(1)} s, healed ${(f.healedAt / 1000).toFixed(1)} s`).join('; ') || 'none')}</dd></dl>
<div id="report-chart" class="chart"></div>`;
  const bucket = (r.timelineBucketMs ?? 100) / 1000;
  const tl = r.timeline ?? [];
  reportChart(
    $('report-chart'),
    tl.map((_, i) => i * bucket),
    tl.map((b) => b.ok),
    tl.map((b) => b.failed),
    (r.faults ?? []).map((f) => ({ from: f.injectedAt / 1000, to: f.healedAt / 1000 })),
  );
}

async function loadReports(): Promise<void> {
  const { reports } = (await (await fetch('/v1/reports')).json()) as { reports: ReportSummary[] };
  $('reports').innerHTML =
    reports
      .map(
        (r) =>
          `<tr data-report="${esc(r.id)}" tabindex="0"><td>${esc(new Date(r.startedAt).toLocaleString())}</td><td>${esc(r.scenario)}</td><td>${pct(r.availability)}</td><td>${pct(r.firstAttemptAvailability)}</td><td>${pct(r.naiveAvailability)}</td><td class="${r.promisesBroken.length === 0 ? 'ok' : 'bad'}">${r.promisesBroken.length === 0 ? 'kept' : esc(r.promisesBroken.join('; '))}</td></tr>`,
      )
      .join('') || '<tr><td colspan="6">no chaos run yet: <code>hastack chaos run app</code></td></tr>';
}

function connect(): void {
  const draw = charts();
  let prev: DashboardStatus | undefined;
  const live = $('live');
  const source = new EventSource('/v1/stream');
  source.addEventListener('open', () => {
    live.textContent = 'live';
    live.className = 'badge ok';
  });
  source.addEventListener('error', () => {
    // EventSource reconnects by itself (the server asks for 2 s); say so rather than show stale data as live.
    live.textContent = 'reconnecting…';
    live.className = 'badge bad';
  });
  source.addEventListener('status', (m) => {
    const s = JSON.parse((m as MessageEvent<string>).data) as DashboardStatus;
    renderStatus(s);
    if (prev) draw(prev, s);
    prev = s;
  });
  source.addEventListener('events', (m) => {
    const list = JSON.parse((m as MessageEvent<string>).data) as ClusterEvent[];
    addEvents(list);
    // A chaos run that just ended has written its report: refresh the list.
    if (list.some((e) => e.type === 'fault.healed')) setTimeout(() => void loadReports(), 5_000);
  });
}

$('event-filter').addEventListener('change', renderEvents);
$('reports').addEventListener('click', (e) => {
  const row = (e.target as HTMLElement).closest('tr[data-report]');
  const id = row?.getAttribute('data-report');
  if (id) void showReport(id);
});
$('reload-reports').addEventListener('click', () => void loadReports());
connect();
void loadReports();
