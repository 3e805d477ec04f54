import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfig, resolveTopology } from '../config/index.js';
import { backupSteps, backupWouldRemove, describePlan, type BackupPlan } from './backup.js';
import type { FailoverEnv } from './context.js';
import type { JournalPlan } from './journal.js';
import { describeFailoverPlan, describeSwitchoverPlan, failoverSteps, switchoverSteps, type RoleChangePlan } from './plan-view.js';
import { describeRotationPlan } from './rotate.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-plan-view-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

function envOf(failover: Record<string, unknown> = {}): FailoverEnv {
  const topo = resolveTopology(
    parseConfig({
      cluster: 'planview',
      redis: { quorum: 1 },
      failover,
      nodes: [
        { name: 'db1', services: ['mariadb', 'redis', 'app', 'lb'] },
        { name: 'db2', services: ['mariadb', 'redis', 'app', 'lb'] },
        { name: 'db3', services: ['mariadb'] },
      ],
    }),
    { stateRoot: fs.mkdtempSync(path.join(root, 's-')), configDir: root },
  );
  return { topo, secrets: { redisPassword: 'r', sentinelPassword: 's', dbRootPassword: 'x', dbAppPassword: 'a', dbReplPassword: 'p' }, recordRole: () => Promise.resolve() };
}

const lostPrimary: JournalPlan = {
  from: 'db1',
  to: 'db2',
  fromReachable: false,
  repoint: ['db3'],
  because: ['db1 unreachable', 'db2 has received the most'],
  facts: ['mariadb db1: UNREACHABLE (refused), recorded role primary', 'mariadb db2: replica of db1 (io connecting, sql running), received 0-1-9, applied 0-1-9'],
};

describe('failover plan view', () => {
  it('prints the steps, numbered and aligned, as the runbook always did', () => {
    const env = envOf();
    const view: RoleChangePlan = { kind: 'failover', ...lostPrimary, steps: failoverSteps(env, lostPrimary) };
    const lines = describeFailoverPlan(view);
    assert.deepEqual(lines.slice(0, 7), [
      'plan: fail over the database from db1 to db2',
      'facts:',
      '  mariadb db1: UNREACHABLE (refused), recorded role primary',
      '  mariadb db2: replica of db1 (io connecting, sql running), received 0-1-9, applied 0-1-9',
      'because:',
      '  db1 unreachable',
      '  db2 has received the most',
    ]);
    assert.equal(lines[7], 'steps:');
    assert.match(lines[8] ?? '', /^ {2}1 fence {5}db1: record role replica on its machine, kill its node; /);
    assert.equal(lines[9], '  2 promote   db2: apply every received transaction, read_only=0 (SENTINEL FAILOVER asked meanwhile if the Redis master died with db1)');
    assert.equal(lines[10], '  3 repoint   db2: RESET SLAVE ALL; db3 → db2');
    assert.equal(lines[11], "  4 redis     the SENTINEL FAILOVER request's outcome (to db2's replica)");
    assert.equal(lines[12], '  5 services  one Redis master all reachable sentinels name; app, worker, lb, dns outside db1 healthy');
    assert.match(lines[13] ?? '', /^ {2}6 dns {7}hastack DNS without db1's load balancer; TTL \d+ s$/);
    assert.equal(lines[14], '  7 verify    an order written, read back and confirmed by a worker, through DNS and a load balancer');
    assert.equal(lines.length, 15);
  });

  it('lists the accepted loss and the DNS hook when there are', () => {
    const env = envOf({ dnsHook: '/bin/true' });
    const plan = { ...lostPrimary, repoint: [], acceptedLoss: ['0-1-10 (an order)'] };
    const lines = describeFailoverPlan({ kind: 'failover', ...plan, steps: failoverSteps(env, plan) });
    assert.deepEqual(lines.slice(7, 10), ['would lose (accepted with --accept-data-loss):', '  0-1-10 (an order)', 'steps:']);
    assert.ok(lines.includes('  3 repoint   db2: RESET SLAVE ALL; (no other replica) → db2'));
    assert.ok(lines.some((l) => l.includes("without db1's load balancer; run failover.dnsHook; TTL")));
  });

  it('JSON: the same steps in order, with stable names', () => {
    const env = envOf();
    const view: RoleChangePlan = { kind: 'failover', ...lostPrimary, steps: failoverSteps(env, lostPrimary) };
    const json = JSON.parse(JSON.stringify(view)) as RoleChangePlan;
    assert.deepEqual(
      json.steps.map((s) => s.step),
      ['fence', 'promote', 'repoint', 'redis', 'services', 'dns', 'verify'],
    );
    assert.deepEqual(json.facts, lostPrimary.facts);
    assert.equal(json.kind, 'failover');
  });
});

describe('switchover plan view', () => {
  it('one steps line, joined by arrows, after the facts', () => {
    const plan: JournalPlan = {
      from: 'db1',
      to: 'db2',
      fromReachable: true,
      repoint: ['db1', 'db3'],
      because: ['db2 replicates from db1 with both threads running'],
      facts: ['f1', 'f2'],
    };
    const view: RoleChangePlan = { kind: 'switchover', ...plan, steps: switchoverSteps(plan.from, plan.to, plan.repoint) };
    assert.deepEqual(describeSwitchoverPlan(view), [
      'plan: switch the primary from db1 to db2',
      '  f1',
      '  f2',
      'steps: stop writes on db1 (read_only) → db2 applies every GTID → promote db2 → db1, db3 replicate from db2 (semi-sync)',
    ]);
    assert.deepEqual(
      view.steps.map((s) => s.step),
      ['stop-writes', 'catch-up', 'promote', 'repoint'],
    );
  });
});

/** A backup of db2 (a replicating replica) to db3, which holds a passed and a failed backup. */
function backupToDb3(): BackupPlan {
  const env = envOf();
  const svc = (id: string) => env.topo.services.find((s) => s.id === id) as (typeof env.topo.services)[number];
  return {
    id: '20260104-000000',
    source: { svc: svc('db2/mariadb'), role: 'replica', replicating: true },
    primary: 'db1',
    redis: { svc: svc('db2/redis'), role: 'replica' },
    target: 'db3',
    stagingDir: '/s/db2/backups/.staging-20260104-000000',
    incomingDir: '/s/db3/backups/.incoming-20260104-000000',
    finalDir: '/s/db3/backups/20260104-000000',
    keep: 2,
    remote: false,
    targets: [{ name: 'db3', kind: 'node', root: '/s/db3/backups', keep: 2 }],
    encrypted: false,
    facts: {
      db: ['db1/mariadb: primary', 'db2/mariadb: replica, replicating', 'db3/mariadb: does not answer'],
      redis: ['db1/redis: master', 'db2/redis: replica, link up'],
      onTarget: [
        { id: '20260101-000000', verification: 'passed' },
        { id: '20260102-000000', verification: 'failed' },
      ],
    },
  };
}

describe('backup plan', () => {
  it('text: numbered steps, then the facts (as it always printed)', () => {
    assert.deepEqual(describePlan(backupToDb3()), [
      'backup 20260104-000000',
      '  1. database: mariabackup --backup of db2/mariadb (replica, SQL thread held still during the copy; the primary is not blocked)',
      '  2. mariabackup --prepare (the backup becomes a startable datadir)',
      '  3. redis: BGSAVE on db2/redis (replica), copy its RDB',
      '  4. manifest: GTID, table row counts and CHECKSUM TABLE, sha256 of every file (NOT encrypted: backup.keyFile is unset)',
      '  5. rsync -a --checksum /s/db2/backups/.staging-20260104-000000/ → /s/db3/backups/.incoming-20260104-000000/, check every sha256, rename to /s/db3/backups/20260104-000000',
      '  6. retention: keep 2 backup(s) on db3, the newest verified one always, failed and unverified ones pruned first; would remove: 20260102-000000',
      'facts:',
      '  db1/mariadb: primary',
      '  db2/mariadb: replica, replicating',
      '  db3/mariadb: does not answer',
      '  db1/redis: master',
      '  db2/redis: replica, link up',
      '  2 complete backup(s) on db3 now',
    ]);
  });

  it('steps: named, in order; what retention would remove', () => {
    const p = backupToDb3();
    assert.deepEqual(
      backupSteps(p).map((s) => s.step),
      ['database', 'prepare', 'redis', 'manifest', 'copy', 'retention'],
    );
    assert.deepEqual(backupWouldRemove(p), ['20260102-000000']);
    const lone = { ...p, redis: null, encrypted: true, remote: true };
    const does = backupSteps(lone).map((s) => s.does);
    assert.equal(does[2], 'redis: no Redis node answers: the backup will have no Redis data');
    assert.match(does[3] ?? '', /^every file encrypted \(AES-256-GCM, backup\.keyFile\)/);
    assert.match(does[4] ?? '', /^rsync -a --checksum over SSH \(the backup key\) → db3:/);
  });
});

describe('secrets rotation plan', () => {
  it('the dry run: what, where, how many steps, each step, nothing changed', () => {
    assert.deepEqual(describeRotationPlan({ names: ['redisPassword', 'dbAppPassword'], where: ' on 3 host(s)', resumed: false, steps: ['a', 'b'] }), [
      'rotating redisPassword, dbAppPassword on 3 host(s): 2 step(s)',
      '  - a',
      '  - b',
      'dry run: nothing was changed',
    ]);
    assert.equal(describeRotationPlan({ names: ['redisPassword'], where: '', resumed: true, steps: [] })[0], 'resuming redisPassword: 0 step(s)');
  });
});
