import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { autoSnapshot, currentPrimary, decide, planFailover, promotionMustCover, type AutoSnapshot, type ClusterFacts, type DbFacts } from './decide.js';

function primary(node: string, gtid: string, reachable = true): DbFacts {
  return {
    node,
    reachable,
    ...(reachable ? {} : { error: 'connect ECONNREFUSED' }),
    readOnly: !reachable,
    replicating: false,
    ioThread: 'stopped',
    sqlThread: 'stopped',
    sqlErrno: 0,
    gtidApplied: reachable ? gtid : '',
    gtidReceived: reachable ? gtid : '',
    gtidBinlog: reachable ? gtid : '',
    recordedRole: 'primary',
  };
}

function replica(node: string, of: string, received: string, over: Partial<DbFacts> = {}): DbFacts {
  return {
    node,
    reachable: true,
    readOnly: true,
    replicating: true,
    masterNode: of,
    ioThread: 'connecting',
    sqlThread: 'running',
    sqlErrno: 0,
    gtidApplied: received,
    gtidReceived: received,
    gtidBinlog: received,
    recordedRole: 'replica',
    ...over,
  };
}

const facts = (...dbs: DbFacts[]): ClusterFacts => ({ takenAt: '2026-01-01T00:00:00Z', dbs, redis: [] });

const deadPrimaryOneReplica = (): ClusterFacts => facts(primary('db1', '', false), replica('db2', 'db1', '0-1-42'));
const deadPrimaryLaggingReplica = (): ClusterFacts => facts(primary('db1', '', false), replica('db2', 'db1', '0-1-40'), replica('db3', 'db1', '0-1-42', { gtidApplied: '0-1-39' }));
const deadPrimaryFencedStandby = (): ClusterFacts => facts(primary('db1', '', false), replica('db2', 'db1', '0-1-42', { replicating: false, masterNode: undefined }));

describe('which node is the primary', () => {
  it('the writable node that replicates from nobody', () => {
    assert.equal(currentPrimary(facts(primary('db1', '0-1-5'), replica('db2', 'db1', '0-1-5'))).node, 'db1');
  });
  it('a dead primary is found through its replicas', () => {
    assert.equal(currentPrimary(deadPrimaryOneReplica()).node, 'db1');
  });
  it('two writable nodes: no answer (a split brain is for a human)', () => {
    assert.equal(currentPrimary(facts(primary('db1', '0-1-5'), primary('db2', '0-2-6'))).node, undefined);
  });
});

describe('choosing the replica to promote', () => {
  it('the only replica of a dead primary', () => {
    const p = planFailover(deadPrimaryOneReplica());
    assert.ok(p.ok);
    assert.equal(p.from, 'db1');
    assert.equal(p.to, 'db2');
    assert.equal(p.fromReachable, false);
    assert.deepEqual(p.repoint, []);
  });
  it('the most advanced by what it received, even if it applied less so far', () => {
    const p = planFailover(deadPrimaryLaggingReplica());
    assert.ok(p.ok);
    assert.equal(p.to, 'db3');
    assert.deepEqual(p.repoint, ['db2']);
  });
  it('refuses --to a replica that lacks what another received', () => {
    const p = planFailover(deadPrimaryLaggingReplica(), { to: 'db2' });
    assert.equal(p.ok, false);
    assert.match(p.ok ? '' : p.reason, /db3 received transactions db2 lacks/);
  });
  it('refuses a replica that replicates from nobody (its data may be old)', () => {
    const p = planFailover(deadPrimaryFencedStandby());
    assert.equal(p.ok, false);
    assert.match(p.ok ? '' : p.reason, /replicates from nobody/);
  });
  it('refuses a replica whose SQL thread stopped on an error', () => {
    const p = planFailover(facts(primary('db1', '', false), replica('db2', 'db1', '0-1-4', { sqlThread: 'stopped', sqlErrno: 1062 })));
    assert.equal(p.ok, false);
  });
  it('refuses diverged replicas without --to', () => {
    const p = planFailover(facts(primary('db1', '', false), replica('db2', 'db1', '0-1-5,1-1-1'), replica('db3', 'db1', '0-1-4,1-1-2')));
    assert.equal(p.ok, false);
    assert.match(p.ok ? '' : p.reason, /diverged/);
  });
  it('a reachable primary can be failed over too (it gets fenced first)', () => {
    const p = planFailover(facts(primary('db1', '0-1-9'), replica('db2', 'db1', '0-1-9', { ioThread: 'running' })));
    assert.ok(p.ok);
    assert.equal(p.fromReachable, true);
  });
});

const cfg = { detectionMs: 5_000, antiFlapMs: 600_000 };
const snap = (at: number, over: Partial<AutoSnapshot> = {}): AutoSnapshot => ({
  at,
  primary: 'db1',
  primaryReachable: false,
  replicas: [{ node: 'db2', reachable: true, ioConnected: false }],
  ...over,
});

describe('automatic mode', () => {
  it('does nothing while the primary answers', () => {
    const d = decide(snap(0, { primaryReachable: true }), {}, cfg);
    assert.equal(d.action, 'none');
    assert.match(d.message, /primary db1 healthy/);
  });
  it('does nothing when only the controller lost the primary (a replica still replicates)', () => {
    const d = decide(snap(0, { replicas: [{ node: 'db2', reachable: true, ioConnected: true }] }), { lostSince: -60_000 }, cfg);
    assert.equal(d.action, 'none');
    assert.equal(d.state.lostSince, undefined);
  });
  it('waits for the detection bound, then fails over', () => {
    const first = decide(snap(1_000), {}, cfg);
    assert.equal(first.action, 'wait');
    const later = decide(snap(5_999), first.state, cfg);
    assert.equal(later.action, 'wait');
    const due = decide(snap(6_000), later.state, cfg);
    assert.equal(due.action, 'failover');
    assert.match(due.message, /db1 unreachable from the controller and 1\/1 replicas/);
  });
  it('a primary that comes back resets the clock', () => {
    const lost = decide(snap(0), {}, cfg);
    const back = decide(snap(3_000, { primaryReachable: true }), lost.state, cfg);
    const again = decide(snap(6_000), back.state, cfg);
    assert.equal(again.action, 'wait');
  });
  it('never within the anti-flap window of the last failover', () => {
    const d = decide(snap(100_000), { lostSince: 0, lastFailoverAt: 50_000 }, cfg);
    assert.equal(d.action, 'none');
    assert.match(d.message, /anti-flap/);
  });
  it('nothing to do when no replica is reachable either', () => {
    assert.equal(decide(snap(10_000, { replicas: [{ node: 'db2', reachable: false, ioConnected: false }] }), { lostSince: 0 }, cfg).action, 'none');
  });
});

describe('the automatic mode\'s snapshot', () => {
  it('a dead primary seen through a replica whose IO thread reconnects', () => {
    const s = autoSnapshot(deadPrimaryOneReplica().dbs, 7);
    assert.deepEqual(s, { at: 7, primary: 'db1', primaryReachable: false, replicas: [{ node: 'db2', reachable: true, ioConnected: false }] });
  });
  it('a fenced node replicating from nobody is no witness', () => {
    const s = autoSnapshot([primary('db2', '0-2-9'), replica('db1', 'db2', '', { replicating: false, masterNode: undefined })], 0);
    assert.equal(s.primary, 'db2');
    assert.equal(s.primaryReachable, true);
    assert.deepEqual(s.replicas, []);
  });
});

describe('what the promoted replica must hold after the fence', () => {
  it('a primary fenced while semi-sync held: its unacknowledged tail is not demanded', () => {
    assert.equal(promotionMustCover({ binlog: '0-1-120', semiSyncHeld: true }), undefined);
  });
  it('a primary that fell back to asynchronous: all of its binlog, it may hold acknowledged writes', () => {
    assert.equal(promotionMustCover({ binlog: '0-1-120', semiSyncHeld: false }), '0-1-120');
  });
  it('an unreachable old primary: nothing known to demand', () => {
    assert.equal(promotionMustCover(undefined), undefined);
  });
});
