import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  autoSnapshot,
  currentPrimary,
  decide,
  planFailover,
  promotionMustCover,
  trackAcked,
  trackAsyncWindow,
  type AckedMark,
  type AsyncWindow,
  type AutoSnapshot,
  type ClusterFacts,
  type DbFacts,
} from './decide.js';

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

describe("the automatic mode's snapshot", () => {
  it('a dead primary seen through a replica whose IO thread reconnects', () => {
    const s = autoSnapshot(deadPrimaryOneReplica().dbs, 7);
    assert.deepEqual(s, { at: 7, primary: 'db1', primaryReachable: false, replicas: [{ node: 'db2', reachable: true, ioConnected: false, received: '0-1-42' }] });
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

// ---------------------------------------------------------------------------------------------
// review item 1: never promote past a window in which the primary acknowledged without a replica

const semiOn = { enabled: true, active: true, clients: 1 };
const fellBack = { enabled: true, active: false, clients: 0 };
/** db1 writable, semi-sync fallen back, binlog at 0-1-57; db2 cut off at 0-1-42. */
const primaryFallenBackReplicaCutOff = (): DbFacts[] => [{ ...primary('db1', '0-1-57'), semiSync: fellBack }, replica('db2', 'db1', '0-1-42', { ioThread: 'connecting' })];
const primaryHealthySemiSync = (): DbFacts[] => [{ ...primary('db1', '0-1-57'), semiSync: semiOn }, replica('db2', 'db1', '0-1-57', { ioThread: 'running' })];
/** The same cluster a moment later: db1 dead, db2 still at 0-1-42. */
const deadPrimaryAfterAsyncWindow = (): DbFacts[] => [primary('db1', '', false), replica('db2', 'db1', '0-1-42')];
const windowOf = (over: Partial<AsyncWindow> = {}): AsyncWindow => ({
  primary: 'db1',
  since: 1_000,
  lastSeenAt: 9_000,
  primaryBinlog: '0-1-57',
  why: 'semi-sync fell back to asynchronous',
  ...over,
});

describe('review item 1: the semi-sync window', () => {
  it('opens when the primary is seen fallen back to asynchronous, and says so once', () => {
    const t = trackAsyncWindow(undefined, primaryFallenBackReplicaCutOff(), 1_000);
    assert.deepEqual(t.window, windowOf({ lastSeenAt: 1_000 }));
    assert.match(t.change ?? '', /db1 acknowledges commits without a replica \(semi-sync fell back to asynchronous, binlog at 0-1-57\)/);
    const later = trackAsyncWindow(t.window, primaryFallenBackReplicaCutOff(), 2_000);
    assert.equal(later.change, undefined);
    assert.equal(later.window?.since, 1_000);
    assert.equal(later.window?.lastSeenAt, 2_000);
  });
  it('stays open, as last seen, once the primary stops answering', () => {
    const t = trackAsyncWindow(windowOf(), deadPrimaryAfterAsyncWindow(), 20_000);
    assert.deepEqual(t.window, windowOf());
  });
  it('closes only when semi-sync is seen on again (a replica caught up)', () => {
    const t = trackAsyncWindow(windowOf(), primaryHealthySemiSync(), 20_000);
    assert.equal(t.window, undefined);
    assert.match(t.change ?? '', /semi-sync on again on db1/);
  });
  it('semi-sync switched off counts too', () => {
    const t = trackAsyncWindow(undefined, [{ ...primary('db1', '0-1-5'), semiSync: { enabled: false, active: false, clients: 0 } }], 0);
    assert.equal(t.window?.why, 'semi-sync off');
  });
  it('a healthy semi-sync primary opens nothing', () => {
    assert.deepEqual(trackAsyncWindow(undefined, primaryHealthySemiSync(), 0), {});
  });
});

describe('review item 1: the automatic mode never promotes past an async window', () => {
  it('refuses, saying what the replicas lack, where it would have failed over', () => {
    const s = autoSnapshot(deadPrimaryAfterAsyncWindow(), 12_000, windowOf());
    const d = decide(s, { lostSince: 5_000 }, cfg);
    assert.equal(d.action, 'refuse');
    assert.match(d.message, /^refusing to fail over: primary db1 unreachable/);
    assert.match(d.message, /the replicas lack 15 transaction\(s\) it acknowledged \(domain 0: 43–57 \(15\)\)/);
    assert.match(d.message, /hastack failover --accept-data-loss/);
  });
  it('still waits for the detection bound first', () => {
    assert.equal(decide(autoSnapshot(deadPrimaryAfterAsyncWindow(), 1_000, windowOf()), {}, cfg).action, 'wait');
  });
  it('a window of another (older) primary does not block', () => {
    const d = decide(autoSnapshot(deadPrimaryAfterAsyncWindow(), 12_000, windowOf({ primary: 'db9' })), { lostSince: 5_000 }, cfg);
    assert.equal(d.action, 'failover');
  });
  it("the cycle line records the primary's semi-sync", () => {
    assert.match(decide(autoSnapshot(primaryFallenBackReplicaCutOff(), 0), {}, cfg).message, /primary db1 healthy \(semi-sync FALLEN BACK to async\)/);
    assert.match(decide(autoSnapshot(primaryHealthySemiSync(), 0), {}, cfg).message, /semi-sync on, 1 replica/);
  });
});

describe("review item 1: the operator's failover says what would be lost", () => {
  it('a dead primary after an async window: refused, listing the missing transactions', () => {
    const p = planFailover(facts(...deadPrimaryAfterAsyncWindow()), { asyncWindow: windowOf() });
    assert.equal(p.ok, false);
    const loss = p.ok ? [] : (p.dataLoss ?? []);
    assert.match(loss.join('\n'), /db2 lacks 15 transaction\(s\) known to be acknowledged: domain 0: 43–57 \(15\)/);
    assert.match(loss.join('\n'), /whatever db1 acknowledged after/);
    assert.match(p.ok ? '' : p.reason, /--accept-data-loss/);
  });
  it('with --accept-data-loss: promoted, the loss recorded in the plan', () => {
    const p = planFailover(facts(...deadPrimaryAfterAsyncWindow()), { asyncWindow: windowOf(), acceptDataLoss: true });
    assert.ok(p.ok);
    assert.equal(p.to, 'db2');
    assert.ok((p.acceptedLoss ?? []).length > 0);
    assert.ok(p.because.some((b) => b.startsWith('ACCEPTED LOSS')));
  });
  it('a live primary fallen back to asynchronous, ahead of the replica: refused too', () => {
    const p = planFailover(facts(...primaryFallenBackReplicaCutOff()));
    assert.equal(p.ok, false);
    assert.match((p.ok ? [] : (p.dataLoss ?? [])).join('\n'), /db2 lacks 15 transaction\(s\)/);
  });
  it('no window recorded and semi-sync held: no loss to accept', () => {
    const p = planFailover(deadPrimaryOneReplica());
    assert.ok(p.ok);
    assert.equal(p.acceptedLoss, undefined);
  });
});

describe('stable codes: why a plan was refused, why the automatic mode acted', () => {
  const refusal = (p: ReturnType<typeof planFailover>): string => (p.ok ? 'ok' : p.refusal);
  it('each refused plan names its refusal', () => {
    assert.equal(refusal(planFailover(facts(primary('db1', '0-1-5'), primary('db2', '0-2-6')))), 'primary-unknown');
    assert.equal(refusal(planFailover(deadPrimaryFencedStandby())), 'no-candidate');
    assert.equal(refusal(planFailover(deadPrimaryOneReplica(), { to: 'db1' })), 'target-unsafe');
    assert.equal(refusal(planFailover(deadPrimaryOneReplica(), { to: 'db9' })), 'target-unsafe');
    assert.equal(refusal(planFailover(deadPrimaryLaggingReplica(), { to: 'db2' })), 'target-behind');
    assert.equal(refusal(planFailover(facts(primary('db1', '', false), replica('db2', 'db1', '0-1-5,1-1-1'), replica('db3', 'db1', '0-1-4,1-1-2')))), 'replicas-diverged');
    assert.equal(refusal(planFailover(facts(...deadPrimaryAfterAsyncWindow()), { asyncWindow: windowOf() })), 'data-loss');
    assert.equal(refusal(planFailover(deadPrimaryOneReplica())), 'ok');
  });
  it('--to a node that is no candidate says why that node was rejected', () => {
    const p = planFailover(facts(primary('db1', '', false), replica('db2', 'db1', '0-1-4'), replica('db3', 'db1', '0-1-4', { replicating: false, masterNode: undefined })), {
      to: 'db3',
    });
    assert.equal(refusal(p), 'target-unsafe');
    assert.match(p.ok ? '' : p.reason, /^--to db3: db3 replicates from nobody/);
  });
  it('each automatic decision names its reason', () => {
    const reason = (s: AutoSnapshot, st: Parameters<typeof decide>[1] = {}): string => decide(s, st, cfg).reason;
    assert.equal(reason(snap(0, { primary: undefined })), 'no-primary');
    assert.equal(reason(snap(0, { primaryReachable: true })), 'primary-healthy');
    assert.equal(reason(snap(0, { replicas: [{ node: 'db2', reachable: false, ioConnected: false }] })), 'all-unreachable');
    assert.equal(reason(snap(0, { replicas: [{ node: 'db2', reachable: true, ioConnected: true }] })), 'replicas-connected');
    assert.equal(reason(snap(1_000)), 'detecting');
    assert.equal(reason(snap(100_000), { lostSince: 0, lastFailoverAt: 50_000 }), 'anti-flap');
    assert.equal(reason(autoSnapshot(deadPrimaryAfterAsyncWindow(), 12_000, windowOf()), { lostSince: 5_000 }), 'async-window');
    assert.equal(reason(snap(6_000), { lostSince: 0 }), 'primary-lost');
  });
});

describe('the candidate rule: only a replica that provably holds every acknowledged commit', () => {
  const semiOn = { enabled: true, active: true, clients: 1 };
  const mark: AckedMark = { primary: 'db1', received: '0-1-42', at: Date.parse('2026-01-01T00:00:00Z') };
  it('a replica retrying its connection to the dead primary (IO thread connecting) is a candidate', () => {
    const p = planFailover(deadPrimaryOneReplica(), { acked: mark });
    assert.ok(p.ok);
    assert.equal(p.to, 'db2');
  });
  it('refuses a replica whose IO thread is stopped (not streaming): what it received may be old', () => {
    const p = planFailover(facts(primary('db1', '', false), replica('db2', 'db1', '0-1-42', { ioThread: 'stopped', ioErrno: 1236 })));
    assert.equal(p.ok, false);
    assert.match(p.ok ? '' : p.reason, /IO thread is stopped on error 1236: it was not streaming/);
    assert.equal(p.ok ? '' : p.refusal, 'no-candidate');
  });
  it('a stopped replica is passed over for one that was streaming, even if it looks further', () => {
    const p = planFailover(facts(primary('db1', '', false), replica('db2', 'db1', '0-1-50', { ioThread: 'stopped' }), replica('db3', 'db1', '0-1-42')));
    assert.ok(p.ok);
    assert.equal(p.to, 'db3');
  });
  it('refuses a replica that received less than the replicas had under semi-sync (it lost part of its relay log)', () => {
    const p = planFailover(facts(primary('db1', '', false), replica('db2', 'db1', '0-1-40')), { acked: mark });
    assert.equal(p.ok, false);
    assert.match(p.ok ? '' : p.reason, /db2 received 0-1-40, less than the 0-1-42 .* lacks 2 transaction\(s\)/);
  });
  it('the floor of another primary does not apply', () => {
    assert.ok(planFailover(facts(primary('db1', '', false), replica('db2', 'db1', '0-1-40')), { acked: { ...mark, primary: 'db9' } }).ok);
  });
  it('trackAcked: the most advanced streaming replica while semi-sync acknowledges; kept once the primary is gone', () => {
    const healthy = [
      { ...primary('db1', '0-1-57'), semiSync: semiOn },
      replica('db2', 'db1', '0-1-55', { ioThread: 'running' }),
      replica('db3', 'db1', '0-1-50', { ioThread: 'running' }),
    ];
    const m = trackAcked(undefined, healthy, 1_000);
    assert.deepEqual(m, { primary: 'db1', received: '0-1-55', at: 1_000 });
    // The primary dies: the mark stays (it is what the promotion is checked against).
    assert.deepEqual(trackAcked(m, [primary('db1', '', false), replica('db2', 'db1', '0-1-56')], 2_000), m);
    // Semi-sync fell back: no new mark (the async window refuses instead), the old one kept.
    assert.deepEqual(trackAcked(m, [{ ...primary('db1', '0-1-60'), semiSync: { ...semiOn, active: false } }, replica('db2', 'db1', '0-1-58', { ioThread: 'running' })], 3_000), m);
    // A replica not streaming is no witness.
    assert.equal(trackAcked(undefined, [{ ...primary('db1', '0-1-57'), semiSync: semiOn }, replica('db2', 'db1', '0-1-55')], 1_000), undefined);
  });
  it('trackAcked never goes backwards for the same primary, and restarts with a new primary', () => {
    const m: AckedMark = { primary: 'db1', received: '0-1-55', at: 1_000 };
    const back = trackAcked(m, [{ ...primary('db1', '0-1-57'), semiSync: semiOn }, replica('db2', 'db1', '0-1-30', { ioThread: 'running' })], 2_000);
    assert.equal(back?.received, '0-1-55');
    const moved = trackAcked(m, [{ ...primary('db2', '0-1-60'), semiSync: semiOn }, replica('db1', 'db2', '0-1-60', { ioThread: 'running' })], 3_000);
    assert.deepEqual(moved, { primary: 'db2', received: '0-1-60', at: 3_000 });
  });
});
