/**
 * The few facts the dashboard needs from a load balancer's Prometheus exposition (`:8404/metrics`):
 * requests by status and the latency histogram. Pure, so it is unit-tested without a server.
 * A full client (prom-client) only writes this format; reading these two families needs no more
 * than splitting lines, so no parser library is pulled in for it.
 */

export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function parseValue(s: string): number {
  if (s === '+Inf') return Number.POSITIVE_INFINITY;
  if (s === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number(s);
}

/** Every sample line of the text format; comments and malformed lines are skipped. */
export function parsePromText(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m || m[1] === undefined || m[3] === undefined) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) {
      if (l[1] !== undefined) labels[l[1]] = (l[2] ?? '').replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    const value = parseValue(m[3]);
    if (!Number.isNaN(value)) out.push({ name: m[1], labels, value });
  }
  return out;
}

/** Sum of `name` over the samples whose label `label` passes `keep` (all samples when no label). */
export function sumOf(samples: readonly PromSample[], name: string, keep: (labels: Readonly<Record<string, string>>) => boolean = () => true): number {
  let n = 0;
  for (const s of samples) if (s.name === name && keep(s.labels)) n += s.value;
  return n;
}

/** The cumulative buckets of histogram `name` (its `_bucket` series), sorted by `le`. */
export function histogramBuckets(samples: readonly PromSample[], name: string): Array<{ le: number; count: number }> {
  const byLe = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket` || s.labels.le === undefined) continue;
    const le = parseValue(s.labels.le);
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  return [...byLe.entries()].sort((a, b) => a[0] - b[0]).map(([le, count]) => ({ le, count }));
}
