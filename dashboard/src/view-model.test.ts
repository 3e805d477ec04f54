import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DashboardService, DashboardStatus, LbSnapshot } from '../../src/control/dashboard/index.js';
import { chartPoint, counterDelta, eventKind, firstExpiry, formatDuration, latencyQuantile, operatorHints, summarize, topologyView } from './view-model.js';

function svc(node: string, service: string, over: Partial<DashboardService> = {}): DashboardService {
  return { node, service, address: `127.0.64.${node.length}`, port: 1, pid: 100, role: service, healthy: true, restarts: 0, uptimeS: 5, ...over };
}

function lb(id: string, requests: number, errors5xx: number, latency: Array<[number, number]>, total: number, error?: string): LbSnapshot {
  return { id, requests, retries: 0, errors5xx, latency: latency.map(([le, count]) => ({ le, count })), latencyCount: total, backends: [], ...(error ? { error } : {}) };
}

function status(services: DashboardService[], over: Partial<DashboardStatus> = {}): DashboardStatus {
  return { cluster: 'c', supervisorPid: 1, state: 'ready', ts: 1_000_000, services, lbs: [], queues: [], ejectedCaches: [], ...over };
}

/** The `simple`-like layout: two nodes with every service, plus a dedicated db node. */
function healthyCluster(): DashboardStatus {
  return status([
    svc('db1', 'mariadb', { role: 'primary' }),
    svc('app1', 'sentinel'),
    svc('app1', 'app'),
    svc('lb1', 'dns'),
    svc('lb1', 'lb'),
    svc('db2', 'mariadb', { role: 'replica', lagS: 3 }),
    svc('cache1', 'memcached'),
  ]);
}

function clusterWithDeadPrimary(): DashboardStatus {
  return status(
    [svc('db1', 'mariadb', { role: 'mariadb', healthy: false, pid: null, uptimeS: null, detail: 'ECONNREFUSED' }), svc('db2', 'mariadb', { role: 'replica', lagS: null })],
    { configFile: '/srv/hastack.yaml' },
  );
}

describe('topologyView', () => {
  it('groups nodes by the tier of their front-most service, in request order', () => {
    const v = topologyView(healthyCluster());
    assert.deepEqual(
      v.map((t) => t.tier.id),
      ['edge', 'app', 'cache', 'database'],
    );
    assert.deepEqual(
      v[1]?.nodes[0]?.services.map((s) => s.service),
      ['app', 'sentinel'],
    );
    assert.deepEqual(
      v[3]?.nodes.map((n) => n.name),
      ['db1', 'db2'],
    );
  });

  it('marks a node unhealthy when one of its services is, and shows replica lag and ejections', () => {
    const v = topologyView({ ...clusterWithDeadPrimary(), ejectedCaches: ['db2'] });
    const [db1, db2] = v[0]?.nodes ?? [];
    assert.equal(db1?.healthy, false);
    assert.equal(db1?.services[0]?.pid, '-');
    assert.equal(db1?.services[0]?.uptime, '-');
    assert.equal(db2?.healthy, true);
    assert.equal(db2?.ejected, true);
    assert.equal(db2?.services[0]?.lag, 'lag unknown');
  });
});

describe('summarize / formatDuration', () => {
  it('counts healthy services and names the others', () => {
    assert.deepEqual(summarize(clusterWithDeadPrimary()), { healthy: 1, total: 2, unhealthy: ['db1/mariadb'] });
  });
  it('formats uptimes for humans', () => {
    assert.equal(formatDuration(42), '42 s');
    assert.equal(formatDuration(3 * 3600 + 120), '3 h 2 min');
  });
});

describe('rates from two snapshots', () => {
  it('a restarted counter counts from zero, not negative', () => {
    assert.equal(counterDelta(100, 130), 30);
    assert.equal(counterDelta(100, 7), 7);
  });

  it('interpolates a quantile inside the bucket that holds it', () => {
    // 100 requests between the snapshots: 50 under 1 ms, 50 between 1 and 10 ms.
    const prev: Array<{ le: number; count: number }> = [
      { le: 0.001, count: 10 },
      { le: 0.01, count: 10 },
    ];
    const cur = [
      { le: 0.001, count: 60 },
      { le: 0.01, count: 110 },
    ];
    assert.equal(latencyQuantile(prev, cur, 10, 110, 0.5), 0.001);
    const p95 = latencyQuantile(prev, cur, 10, 110, 0.95);
    assert.ok(p95 !== null && Math.abs(p95 - 0.0091) < 1e-9, `p95 ${p95}`);
    assert.equal(latencyQuantile(cur, cur, 110, 110, 0.5), null, 'no request: no figure');
  });

  it('sums requests and 5xx of every reachable load balancer, per second', () => {
    const a = status([], { ts: 10_000, lbs: [lb('lb1/lb', 100, 1, [], 0), lb('lb2/lb', 50, 0, [], 0)] });
    const b = status([], { ts: 12_000, lbs: [lb('lb1/lb', 300, 5, [], 0), lb('lb2/lb', 0, 0, [], 0, 'ECONNREFUSED')] });
    const p = chartPoint(a, b);
    assert.equal(p?.requestsPerS, 100);
    assert.equal(p?.errorsPerS, 2);
    assert.equal(p?.p50Ms, null);
  });

  it('derives the processing rate from jobs created and the change in backlog', () => {
    const q = (created: number, waiting: number): DashboardStatus['queues'][number] => ({ name: 'erp', waiting, active: 0, delayed: 0, failed: 0, created });
    const a = status([], { ts: 0, queues: [q(100, 10)] });
    const b = status([], { ts: 1_000, queues: [q(130, 15)] });
    // 30 created, backlog grew by 5: 25 processed in one second.
    assert.equal(chartPoint(a, b)?.processedPerS, 25);
    assert.equal(chartPoint(a, b)?.queueDepth, 15);
    assert.equal(chartPoint(b, a), null, 'out of order: a gap');
  });
});

describe('eventKind', () => {
  const ev = (type: string, message: string): Parameters<typeof eventKind>[0] => ({ ts: 't', type: type as 'step', message });
  it('classifies faults, restarts, ejections and failover steps', () => {
    assert.equal(eventKind(ev('fault.injected', 'node db1 killed')), 'fault');
    assert.equal(eventKind(ev('service.exited', 'app1/app exited')), 'restart');
    assert.equal(eventKind(ev('cache.ejected', 'memcached cache1 ejected')), 'ejection');
    assert.equal(eventKind(ev('step', 'promoting db2: db1 unreachable')), 'failover');
    assert.equal(eventKind(ev('step', 'backup of db1 done')), 'backup');
    assert.equal(eventKind(ev('step', "running the app's migrations")), 'step');
    assert.equal(eventKind(ev('service.healthy', 'db2/mariadb healthy (replica, fenced, or waiting)')), 'healthy', 'by type before words');
    assert.equal(eventKind(ev('role.changed', 'redis2/redis is now master (was replica)')), 'failover');
  });
});

describe('operatorHints', () => {
  it('gives nothing to do when all is healthy', () => {
    assert.deepEqual(operatorHints(healthyCluster()), []);
  });
  it('shows the exact failover command when the primary is down and a replica is healthy', () => {
    const hints = operatorHints(clusterWithDeadPrimary());
    assert.ok(
      hints.some((h) => h.command === 'hastack failover --to db2 -f /srv/hastack.yaml'),
      JSON.stringify(hints),
    );
    assert.ok(hints.some((h) => h.command === 'hastack logs db1 mariadb -n 50 -f /srv/hastack.yaml'));
  });
  it('puts the automatic failover turned off first, with the command that turns it back on', () => {
    const why = 'automatic failover OFF since 2026-12-04T04:00:00.000Z: an automatic failover failed: FENCE_FAILED';
    const hints = operatorHints({ ...healthyCluster(), autoFailover: why });
    assert.deepEqual(hints[0], { why, command: 'hastack resume' });
  });
});

describe('firstExpiry', () => {
  it('picks the certificate that expires first and counts its days left', () => {
    const now = Date.parse('2026-12-01T00:00:00Z');
    const certs = [
      { slot: 'files', names: ['b.test'], notAfter: '2027-03-01T00:00:00Z' },
      { slot: 'files', names: ['a.test'], notAfter: '2026-12-11T00:00:00Z' },
    ];
    const f = firstExpiry(certs, now);
    assert.deepEqual(f?.names, ['a.test']);
    assert.equal(f?.daysLeft, 10);
    assert.equal(firstExpiry(undefined, now), undefined);
  });
});
