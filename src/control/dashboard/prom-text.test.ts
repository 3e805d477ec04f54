import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { histogramBuckets, parsePromText, sumOf } from './prom-text.js';

// A trimmed copy of what src/lb/metrics.ts serves.
const TEXT = `# HELP hastack_lb_requests_total Client requests finished
# TYPE hastack_lb_requests_total counter
hastack_lb_requests_total{status="200",lb="lb1/lb"} 120
hastack_lb_requests_total{status="503",lb="lb1/lb"} 3
hastack_lb_requests_total{status="502",lb="lb1/lb"} 2
hastack_lb_requests_total{status="404",lb="lb1/lb"} 7
# TYPE hastack_lb_request_duration_seconds histogram
hastack_lb_request_duration_seconds_bucket{le="0.001",lb="lb1/lb"} 10
hastack_lb_request_duration_seconds_bucket{le="0.01",lb="lb1/lb"} 100
hastack_lb_request_duration_seconds_bucket{le="+Inf",lb="lb1/lb"} 132
hastack_lb_request_duration_seconds_sum{lb="lb1/lb"} 0.9
hastack_lb_request_duration_seconds_count{lb="lb1/lb"} 132
hastack_lb_backend_up{backend="app1/app",lb="a \\"quoted\\" lb"} 1
garbage line without value
`;

describe('parsePromText', () => {
  const samples = parsePromText(TEXT);

  it('reads samples with their labels and skips comments and garbage', () => {
    assert.equal(samples.length, 10);
    assert.deepEqual(samples[0], { name: 'hastack_lb_requests_total', labels: { status: '200', lb: 'lb1/lb' }, value: 120 });
    assert.equal(samples.at(-1)?.labels.lb, 'a "quoted" lb');
  });

  it('sums a family over the labels that pass a filter (5xx statuses)', () => {
    assert.equal(sumOf(samples, 'hastack_lb_requests_total'), 132);
    assert.equal(
      sumOf(samples, 'hastack_lb_requests_total', (l) => Number(l.status) >= 500),
      5,
    );
  });

  it('returns histogram buckets sorted, with +Inf last', () => {
    assert.deepEqual(histogramBuckets(samples, 'hastack_lb_request_duration_seconds'), [
      { le: 0.001, count: 10 },
      { le: 0.01, count: 100 },
      { le: Number.POSITIVE_INFINITY, count: 132 },
    ]);
  });
});
