import { EJECT_GRACE_MS } from './checkers.js';
import type { ChaosResult } from './run.js';
import { clientVisible, type History } from './history.js';
import { findScenario } from './scenarios.js';

const BUCKET_MS = 100;

/** Successes and failures per 100 ms bucket (by completion time), for the timeline chart. */
export function timeline(h: History): Array<{ ok: number; failed: number }> {
  const n = Math.ceil(h.durationMs / BUCKET_MS) + 1;
  const buckets = Array.from({ length: n }, () => ({ ok: 0, failed: 0 }));
  for (const o of h.ops) {
    const b = buckets[Math.min(n - 1, Math.floor(o.end / BUCKET_MS))];
    if (!b) continue;
    if (o.ok) b.ok++;
    else b.failed++;
  }
  return buckets;
}

/** The `--json` document: the issue's report fields first, then the details behind them. */
export function reportJson(r: ChaosResult, expectedFailure?: string): Record<string, unknown> {
  return {
    ...r.checked.report,
    workload: r.workload,
    clientMix: r.clientMix,
    ...(r.jobsVia ? { jobsVia: r.jobsVia } : {}),
    availabilityDuringFault: r.checked.availabilityDuringFault,
    promisesBroken: r.checked.broken,
    warnings: r.checked.warnings,
    expectedFailure: expectedFailure ?? null,
    faults: r.history.faults,
    crashPlan: r.afterInject ?? null,
    healthyAfter: r.healthyAfter,
    unhealthyAfter: r.unhealthyAfter,
    fencedAfter: r.fencedAfter,
    lostKeys: r.checked.lostKeys.slice(0, 50),
    duplicateKeys: r.checked.duplicateKeys.slice(0, 50),
    invariantViolations: r.checked.violations,
    lostJobOrderIds: r.checked.lostOrderIds.slice(0, 50),
    ordersStillPending: r.checked.ordersStillPending,
    failuresByError: failuresByError(r.history),
    visibleErrors: visibleErrors(r.history),
  };
}

/** The report keeps this many client-visible attempts, for finding where they came from. */
const VISIBLE_ERRORS_KEPT = 50;

/** The first client-visible attempts (5xx, reset, timeout): when, where, what. */
function visibleErrors(h: History): Array<Record<string, unknown>> {
  return h.ops
    .flatMap((o) => (o.tries ?? []).filter(clientVisible).map((t) => ({ ...t, kind: o.kind, client: o.client, ...(o.naive ? { naive: true } : {}) })))
    .sort((a, b) => a.at - b.at)
    .slice(0, VISIBLE_ERRORS_KEPT);
}

function failuresByError(h: History): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of h.ops) if (!o.ok) out[`${o.kind}: ${o.error ?? 'unknown'}`] = (out[`${o.kind}: ${o.error ?? 'unknown'}`] ?? 0) + 1;
  return out;
}

export function reportText(r: ChaosResult, expectedFailure?: string): string {
  const x = r.checked.report;
  const pct = (v: number): string => `${(v * 100).toFixed(2)} %`;
  const ms = (v: number | null): string => (v === null ? '-' : `${v} ms`);
  // The ERP's lines are as they always were; the records workload names its own writes.
  const erp = r.workload !== 'records';
  const via = r.jobsVia
    ? ` (completed: ${
        Object.entries(r.jobsVia)
          .map(([k, n]) => `${n} via ${k}`)
          .join(', ') || 'none'
      })`
    : '';
  const lines = [
    `scenario ${x.scenario}  (${x.durationS} s)`,
    ...r.history.faults.map((f) => `  fault          ${f.description}: ${(f.injectedAt / 1000).toFixed(1)} s → healed ${(f.healedAt / 1000).toFixed(1)} s`),
    `  clients        ${r.clientMix.clients} (${r.clientMix.naive} naive, ${r.clientMix.readers} readers: browse only)`,
    `  requests       ${x.requests} (${x.ok} ok, ${x.failed} failed)`,
    `  availability   ${pct(x.availability)} overall, ${pct(r.checked.availabilityDuringFault)} during the fault (the clients that retry)`,
    `  first attempt  ${pct(x.firstAttemptAvailability)} overall, ${pct(x.firstAttemptAvailabilityDuringFault)} during the fault; ${x.retriedOps} op(s) retried`,
    `  naive clients  ${pct(x.naiveAvailability)} of ${x.naiveRequests} op(s), ${pct(x.naiveAvailabilityDuringFault)} during the fault (one request each, no retry${x.naiveResent > 0 ? `; ${x.naiveResent} saved by the browser's resend on a kept-alive connection` : ''})`,
    `  client errors  ${x.clientVisibleErrors} attempt(s) answered 5xx, reset or timed out (${x.clientVisibleErrorsDuringFault} during the fault${x.clientVisibleErrorsDiedInFlight > 0 ? `; ${x.clientVisibleErrorsDiedInFlight} of them in flight on a killed node's process as it died` : ''}${x.resentAttempts > 0 ? `; ${x.resentAttempts} more reset(s) on a kept-alive connection resent at once, as browsers do` : ''}); longest op ${x.maxOpLatencyMs} ms (${x.maxOpLatencyMsDuringFault} ms during the fault)`,
    `  longest gap    writes ${x.longestWriteGapMs} ms, reads ${x.longestReadGapMs} ms`,
    `  recovery       ${x.recoveryMs === null ? '-' : `${x.recoveryMs} ms`}`,
    erp
      ? `  first order    ${x.firstWriteAfterFaultMs === null ? '-' : `${x.firstWriteAfterFaultMs} ms after the fault`} (the first acknowledged order started after it)`
      : `  first write    ${x.firstWriteAfterFaultMs === null ? '-' : `${x.firstWriteAfterFaultMs} ms after the fault`} (the first acknowledged record started after it)`,
    ...(r.afterInject
      ? [
          `  ${findScenario(x.scenario)?.switchover ? 'switchover    ' : 'crash plan    '} ${r.afterInject.ok ? 'done' : `FAILED (${r.afterInject.error ?? ''})`} ${r.afterInject.finishedMs} ms after the fault`,
        ]
      : []),
    `  writes         ${x.ackedWrites} acknowledged, ${x.lostWrites} lost, ${x.duplicateWrites} duplicated${erp ? `, ${x.refusedWrites} refused (out of stock)` : ''}; ${x.unknownWrites} of unknown outcome (an error, ${x.unknownWritesStored} of them stored)`,
    `  invariants     ${x.invariantsOk ? 'ok' : `BROKEN: ${r.checked.violations.join('; ')}`}`,
    `  jobs           ${x.jobsAcked} acknowledged, ${x.jobsLost} lost, ${x.jobsDuplicated} run twice${via}`,
    `  sessions lost: ${x.sessionsLost}`,
    ...(x.maxWritableDbs === null
      ? []
      : [`  db writers     at most ${x.maxWritableDbs} writable at once; ${x.twoPrimaryRounds} sampling round(s) with two writable primaries; ${x.staleReads} stale read(s)`]),
    `  read p99       healthy ${ms(x.readP99HealthyMs)}, during the fault ${ms(x.readP99DuringFaultMs)}, from ${EJECT_GRACE_MS / 1000} s into it (a dead cache node ejected) ${ms(x.readP99AfterEjectMs)}${x.readP99RatioAfterEject === null ? '' : ` (${x.readP99RatioAfterEject}× healthy)`}`,
    `  after the heal ${r.healthyAfter ? 'every service healthy' : `still unhealthy: ${r.unhealthyAfter.join(', ')}`}${r.fencedAfter.length > 0 ? ` (fenced by the failover, down until rebuilt: ${r.fencedAfter.join(', ')})` : ''}`,
  ];
  const errors = Object.entries(failuresByError(r.history))
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5);
  if (errors.length > 0) lines.push(`  failures       ${errors.map(([e, n]) => `${n}× ${e}`).join('; ')}`);
  for (const w of r.checked.warnings) lines.push(`  warning        ${w}`);
  if (r.checked.broken.length === 0) lines.push('  verdict        every promise kept');
  else lines.push(`  verdict        PROMISE BROKEN: ${r.checked.broken.join('; ')}${expectedFailure ? `  (expected until ${expectedFailure})` : ''}`);
  return lines.join('\n');
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
}

/** A self-contained page: summary table and an SVG timeline (no scripts, no external files). */
export function reportHtml(r: ChaosResult, expectedFailure?: string): string {
  const buckets = timeline(r.history);
  const max = Math.max(1, ...buckets.map((b) => Math.max(b.ok, b.failed)));
  const W = 960;
  const H = 240;
  const mid = H * 0.62;
  const bw = W / buckets.length;
  const y = (v: number, room: number): number => (v / max) * room;
  const bars = buckets
    .map((b, i) => {
      const x = (i * bw).toFixed(1);
      const ok =
        b.ok > 0
          ? `<rect x="${x}" y="${(mid - y(b.ok, mid - 10)).toFixed(1)}" width="${Math.max(bw - 0.5, 0.5).toFixed(1)}" height="${y(b.ok, mid - 10).toFixed(1)}" fill="#2e9d5b"/>`
          : '';
      const bad = b.failed > 0 ? `<rect x="${x}" y="${mid}" width="${Math.max(bw - 0.5, 0.5).toFixed(1)}" height="${y(b.failed, H - mid - 20).toFixed(1)}" fill="#d0463b"/>` : '';
      return ok + bad;
    })
    .join('');
  const xOf = (ms: number): number => (ms / r.history.durationMs) * W;
  const marks = r.history.faults
    .map(
      (f) =>
        `<rect x="${xOf(f.injectedAt).toFixed(1)}" y="0" width="${(xOf(f.healedAt) - xOf(f.injectedAt)).toFixed(1)}" height="${H}" fill="#f4b400" opacity="0.15"/>` +
        `<line x1="${xOf(f.injectedAt).toFixed(1)}" x2="${xOf(f.injectedAt).toFixed(1)}" y1="0" y2="${H}" stroke="#b00" stroke-width="2"/>` +
        `<text x="${(xOf(f.injectedAt) + 4).toFixed(1)}" y="14" font-size="12">fault</text>` +
        `<line x1="${xOf(f.healedAt).toFixed(1)}" x2="${xOf(f.healedAt).toFixed(1)}" y1="0" y2="${H}" stroke="#06c" stroke-width="2"/>` +
        `<text x="${(xOf(f.healedAt) + 4).toFixed(1)}" y="28" font-size="12">heal</text>`,
    )
    .join('');
  const seconds = Array.from({ length: Math.floor(r.history.durationMs / 5000) + 1 }, (_, i) => i * 5)
    .map((s) => `<text x="${xOf(s * 1000).toFixed(1)}" y="${H - 4}" font-size="11" fill="#555">${s}s</text>`)
    .join('');
  const rows = Object.entries(reportJson(r, expectedFailure))
    .filter(([, v]) => typeof v !== 'object' || v === null)
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(String(v))}</td></tr>`)
    .join('');
  const verdict =
    r.checked.broken.length === 0
      ? '<p class="ok">Every promise kept.</p>'
      : `<p class="bad">Promise broken: ${esc(r.checked.broken.join('; '))}${expectedFailure ? ` (expected until ${esc(expectedFailure)})` : ''}</p>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>hastack chaos: ${esc(r.checked.report.scenario)}</title>
<style>body{font:14px system-ui,sans-serif;margin:1.5rem;max-width:1000px}svg{width:100%;height:auto;border:1px solid #ddd}th{text-align:left;padding-right:1rem;font-weight:600}.ok{color:#1b7a3e}.bad{color:#b3261e;font-weight:600}</style>
</head><body><h1>Chaos run: ${esc(r.checked.report.scenario)}</h1>${verdict}
<p>${esc(r.history.faults.map((f) => f.description).join('; ') || 'no fault')}. Successes (green, up) and failures (red, down) per 100 ms.</p>
<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="timeline">${marks}${bars}<line x1="0" x2="${W}" y1="${mid}" y2="${mid}" stroke="#999"/>${seconds}</svg>
<h2>What the clients saw</h2>
<p>By operation kind, over the whole run and for the operations that overlapped the fault. Naive clients make one request per operation and never retry; like every browser, their HTTP stack sends a request again at once when a kept-alive connection closes before the answer's headers (resent, not an error).</p>
${attemptsTable(r)}
<table>${rows}</table></body></html>
`;
}

/** The attempt figures (attempt-stats.ts) by reads and writes, overall and during the fault. */
function attemptsTable(r: ChaosResult): string {
  const a = r.checked.report.attempts;
  const pct = (v: number): string => `${(v * 100).toFixed(2)} %`;
  const head =
    '<tr><th>ops</th><th>window</th><th>operations</th><th>first-attempt availability</th><th>naive availability</th><th>retried</th><th>client-visible errors</th><th>of them in flight on a killed node</th><th>resent by the HTTP stack</th><th>longest op</th></tr>';
  const rows = (['overall', 'duringFault'] as const).flatMap((w) =>
    (['all', 'reads', 'writes'] as const).map((k) => {
      const s = a[w][k];
      return `<tr><td>${k}</td><td>${w === 'overall' ? 'whole run' : 'during the fault'}</td><td>${s.ops}</td><td>${pct(s.firstAttemptAvailability)}</td><td>${pct(s.naiveAvailability)} of ${s.naiveOps}</td><td>${s.retriedOps}</td><td>${s.clientVisibleErrors}</td><td>${s.diedInFlight}</td><td>${s.resentAttempts}</td><td>${s.maxOpLatencyMs} ms</td></tr>`;
    }),
  );
  return `<table class="attempts">${head}${rows.join('')}</table>`;
}
