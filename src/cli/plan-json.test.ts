import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HostReport } from '../deploy/index.js';
import type { Journal, RoleChangePlan } from '../failover/index.js';
import { hostsRecoverySummary, localRecoverySummary } from './db.js';
import {
  backupDoneDocument,
  backupPlanDocument,
  deployDocument,
  jobsRetryDocument,
  pauseDocument,
  recoverDocument,
  retryLine,
  roleChangeDocument,
  rotateDocument,
  setupDocument,
  type PlanDocument,
} from './plan-json.js';

/** Every document starts alike: command, dryRun, decision, steps (in order), facts. */
function assertHead(d: PlanDocument, command: string, dryRun: boolean, decision: string): void {
  assert.equal(d.command, command);
  assert.equal(d.dryRun, dryRun);
  assert.equal(d.decision, decision);
  assert.ok(Array.isArray(d.steps), 'steps is a list');
  assert.ok('facts' in d, 'facts are there');
  // One JSON document: it survives a round trip unchanged (no undefined, no functions).
  assert.deepEqual(JSON.parse(JSON.stringify(d)), d);
}

const plan: RoleChangePlan = {
  kind: 'failover',
  from: 'db1',
  to: 'db2',
  fromReachable: false,
  repoint: [],
  because: ['db1 unreachable'],
  facts: ['mariadb db1: UNREACHABLE (refused), recorded role primary'],
  steps: [
    { step: 'fence', does: 'db1: kill its node' },
    { step: 'promote', does: 'db2: read_only=0' },
  ],
  readings: { takenAt: '2026-12-04T16:00:00.000Z', dbs: [], redis: [] },
};
const journal: Journal = { id: 'fo-1', kind: 'failover', startedAt: '2026-12-04T16:00:00.000Z', plan, steps: {}, runs: 0 };

describe('-o json of dry-run plans', () => {
  it('failover --dry-run: the steps in order, the facts with their readings, the plan, the command to run', () => {
    const d = roleChangeDocument({ dryRun: true, plan, resumed: false, journal }, { next: 'hastack failover --yes' });
    assertHead(d, 'failover', true, 'planned');
    assert.deepEqual(d.steps, plan.steps);
    assert.deepEqual(d.facts, { lines: plan.facts, readings: plan.readings });
    assert.deepEqual(d.plan, { from: 'db1', to: 'db2', fromReachable: false, repoint: [], because: ['db1 unreachable'] });
    assert.equal(d.next, 'hastack failover --yes');
    assert.equal(d.journal, undefined);
  });

  it('failover done: the journal of what ran; a resumed plan has no readings', () => {
    const { readings: _r, ...resumedPlan } = plan;
    const done = { ...journal, runs: 2, finishedAt: '2026-12-04T16:00:05.000Z', steps: { fence: { doneAt: 'x', message: 'fenced' } } };
    const d = roleChangeDocument({ dryRun: false, plan: resumedPlan, resumed: true, journal: done }, { durationMs: 5000 });
    assertHead(d, 'failover', false, 'done');
    assert.deepEqual(d.facts, { lines: plan.facts, readings: null });
    assert.deepEqual(d.journal, { id: 'fo-1', startedAt: journal.startedAt, finishedAt: done.finishedAt, runs: 2, steps: done.steps });
    assert.equal(d.resumed, true);
  });

  it('switchover: the same shape under its own name', () => {
    assertHead(roleChangeDocument({ dryRun: true, plan: { ...plan, kind: 'switchover' }, journal }), 'switchover', true, 'planned');
  });

  it('pause / resume: the mode now, the change, the mode after; nothing to do when already so', () => {
    const d = pauseDocument('pause', { state: 'on' }, { next: { state: 'paused', why: 'maintenance', by: 'operator' }, change: 'automatic failover on → paused' }, true);
    assertHead(d, 'pause', true, 'planned');
    assert.deepEqual(d.steps, [{ step: 'mode', does: 'automatic failover on → paused' }]);
    assert.deepEqual(d.facts, { current: { state: 'on' } });
    assert.deepEqual(d.next, { state: 'paused', why: 'maintenance', by: 'operator' });
    const already = pauseDocument('resume', { state: 'on' }, { next: undefined, change: 'already on: nothing to change' }, false);
    assertHead(already, 'resume', false, 'nothing-to-do');
    assert.deepEqual(already.steps, []);
    assert.equal(already.next, null);
  });

  it('setup --dry-run: the checks as objects, the missing packages, the one apt-get command', () => {
    const r = {
      rows: [
        ['binary', 'package', 'found', 'version'],
        ['redis-server', 'redis-server', 'MISSING', ''],
        ['mariadbd', 'mariadb-server', 'yes', '10.11'],
      ],
      missingPackages: ['redis-server'],
      noCandidate: [],
      scope: 'its engines',
    };
    const d = setupDocument(r, 'apt-get install -y redis-server', true);
    assertHead(d, 'setup', true, 'planned');
    assert.deepEqual(d.steps, [{ step: 'apt-get', does: 'apt-get install -y redis-server' }]);
    assert.deepEqual(d.facts, {
      scope: 'its engines',
      checks: [
        { binary: 'redis-server', package: 'redis-server', found: 'MISSING', version: '' },
        { binary: 'mariadbd', package: 'mariadb-server', found: 'yes', version: '10.11' },
      ],
    });
    assertHead(setupDocument({ ...r, missingPackages: [] }, '', true), 'setup', true, 'nothing-to-do');
  });

  it('jobs retry --dry-run: each job looked at, the retries as steps, the skipped ones', () => {
    const entries = [
      { id: '7', name: 'confirm-order', state: 'failed', action: 'retry' as const },
      { id: '9', name: null, state: 'missing', action: 'skip' as const },
    ];
    assert.equal(retryLine(entries[0] as (typeof entries)[number], true), '  7 (confirm-order): would be retried');
    assert.equal(retryLine(entries[0] as (typeof entries)[number], false), '  7 (confirm-order): retried');
    assert.equal(retryLine(entries[1] as (typeof entries)[number], true), '  9: missing, not failed; skipped');
    const d = jobsRetryDocument('orders', entries, true);
    assertHead(d, 'jobs retry', true, 'planned');
    assert.deepEqual(d.steps, [{ step: 'retry', job: '7', name: 'confirm-order' }]);
    assert.deepEqual(d.skipped, ['9']);
    assert.equal(d.retried, undefined);
    assert.equal(jobsRetryDocument('orders', entries, false).retried, 1);
    assertHead(jobsRetryDocument('orders', [entries[1] as (typeof entries)[number]], true), 'jobs retry', true, 'nothing-to-do');
  });

  it('secrets rotate --dry-run: the steps left, whether it resumes, the names', () => {
    const d = rotateDocument({ names: ['redisPassword'], where: '', resumed: true, steps: ['redis: add the new password'] }, true, null);
    assertHead(d, 'secrets rotate', true, 'planned');
    assert.deepEqual(d.steps, [{ does: 'redis: add the new password' }]);
    assert.deepEqual(d.facts, { resumed: true, hosts: null });
    assert.deepEqual(d.names, ['redisPassword']);
  });

  it('db recover --dry-run: bootstrap then joins, each node position, the refusal with its reason', () => {
    const facts = [{ node: 'db1', hasDatadir: true, grastate: { uuid: 'u', seqno: 42, safeToBootstrap: false }, sstInterrupted: false }];
    const ok = {
      ok: true as const,
      bootstrap: 'db1',
      position: { uuid: 'u', seqno: 42 },
      joinOrder: ['db2', 'db3'],
      excluded: [],
      reason: 'most advanced',
    };
    const d = recoverDocument({ result: 'planned', summary: localRecoverySummary({ result: 'planned', plan: ok }), plan: ok, facts }, true, ['db recover: reading']);
    assertHead(d, 'db recover', true, 'planned');
    assert.deepEqual(
      (d.steps as { step: string; node: string }[]).map((s) => `${s.step} ${s.node}`),
      ['bootstrap db1', 'join db2', 'join db3'],
    );
    assert.deepEqual(d.facts, { positions: facts, primaryComponent: null });
    assert.equal(d.summary, 'dry run: the plan above was not applied');
    const no = { ok: false as const, reason: 'db2 never answered' };
    const refused = recoverDocument({ result: 'planned', summary: localRecoverySummary({ result: 'planned', plan: no }), plan: no, facts }, true, []);
    assertHead(refused, 'db recover', true, 'refused');
    assert.equal(refused.reason, 'db2 never answered');
    assert.equal(refused.summary, 'recovery would be refused: db2 never answered');
    // A Primary component runs: the missing node joins it; on hosts too.
    const running = { result: 'running' as const, primary: ['db1'], missing: ['db3'] };
    const joins = recoverDocument({ ...running, summary: hostsRecoverySummary(running, true) }, true, []);
    assertHead(joins, 'db recover', true, 'planned');
    assert.equal(joins.summary, 'dry run: would start db3 to join the running cluster');
    assert.deepEqual(joins.facts, { positions: null, primaryComponent: ['db1'] });
    const whole = { result: 'running' as const, primary: ['db1', 'db2'], missing: [] };
    assertHead(recoverDocument({ ...whole, summary: hostsRecoverySummary(whole, true) }, true, []), 'db recover', true, 'nothing-to-do');
  });

  it('deploy --diff: per host its facts and verdicts, the steps tagged with their host', () => {
    const host: HostReport = {
      node: 'db1',
      target: 'root@10.0.0.1',
      facts: { os: 'Debian 12', nodeVersion: 'v20', systemd: true, pid1: 'systemd', installed: '' },
      verdicts: [],
      missingPackages: [],
      installBundle: 'abc',
      plan: undefined,
      services: ['db1/mariadb'],
    };
    const d = deployDocument('c1', [host], () => [{ step: 'bundle', does: 'install hastack abc' }], { dryRun: true, diff: true }, { next: 'hastack deploy' });
    assertHead(d, 'deploy', true, 'planned');
    assert.deepEqual(d.steps, [{ host: 'db1', step: 'bundle', does: 'install hastack abc' }]);
    assert.deepEqual(d.facts, [{ node: 'db1', target: 'root@10.0.0.1', facts: host.facts, verdicts: [], services: ['db1/mariadb'] }]);
    assert.equal(d.diff, true);
    assert.equal(d.cluster, 'c1');
  });
});

describe('-o json of a backup', () => {
  it('done: the backup, its size, GTID and where; its steps as they ran', () => {
    const manifest = {
      id: '20260104-000000',
      gtid: '0-1-42',
      totalBytes: 1024,
      startedAt: '2026-01-04T00:00:00.000Z',
      source: { node: 'db2', dbRole: 'replica' },
      target: { node: 'db3' },
    };
    const r = { manifest, dir: '/s/db3/backups/20260104-000000', removed: ['20260102-000000'], totalMs: 3000 } as unknown as Parameters<typeof backupDoneDocument>[0];
    const d = backupDoneDocument(r, ['backup: copied']);
    assertHead(d, 'backup', false, 'done');
    assert.deepEqual(d.steps, [{ does: 'backup: copied' }]);
    assert.equal(d.bytes, 1024);
    assert.deepEqual(d.removed, ['20260102-000000']);
  });

  it('--dry-run: the steps and facts given, source and target by name', () => {
    const p = {
      id: 'b1',
      source: { svc: { id: 'db2/mariadb', node: 'db2' }, role: 'replica', replicating: true },
      primary: 'db1',
      redis: null,
      target: 'db3',
      stagingDir: '/a',
      incomingDir: '/b',
      finalDir: '/c',
      keep: 2,
      remote: false,
      targets: [{ name: 'db3', kind: 'node', root: '/r', keep: 2 }],
      encrypted: false,
      facts: { db: ['db2/mariadb: replica, replicating'], redis: [], onTarget: [] },
    } as unknown as Parameters<typeof backupPlanDocument>[0];
    const d = backupPlanDocument(p, [{ step: 'database', does: 'mariabackup' }], []);
    assertHead(d, 'backup', true, 'planned');
    assert.deepEqual(d.source, { service: 'db2/mariadb', node: 'db2', role: 'replica', replicating: true });
    assert.deepEqual(d.facts, p.facts);
    assert.equal(d.redis, null);
  });
});
