import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseGtidPos } from './gtid.js';
import { pickReader, planRoutes, type NodeState, type RoutingPolicy } from './routing.js';

const replication: RoutingPolicy = { mode: 'replication', maxLagTransactions: 100 };
const galera: RoutingPolicy = { mode: 'galera', maxLagTransactions: 100 };
const running = { ioRunning: true, sqlRunning: true };

function primary(id: string, seq: number): NodeState {
  return { id, reachable: true, readOnly: false, binlogPos: `0-1-${seq}`, slavePos: '', replication: 'none' };
}
type Replication = Extract<NodeState, { reachable: true }>['replication'];

function replica(id: string, applied: number, repl: Replication = running): NodeState {
  return { id, reachable: true, readOnly: true, binlogPos: `0-1-${applied}`, slavePos: `0-1-${applied}`, replication: repl };
}
function down(id: string): NodeState {
  return { id, reachable: false, error: 'ECONNREFUSED' };
}
function galeraNode(id: string, localState = 4, clusterStatus = 'Primary', ready = true): NodeState {
  return { id, reachable: true, readOnly: false, binlogPos: '', slavePos: '', replication: 'none', galera: { localState, ready, clusterStatus } };
}

const healthyPrimaryAndTwoReplicas = (): NodeState[] => [primary('db1', 500), replica('db2', 499), replica('db3', 500)];
const clusterWithLaggingReplica = (): NodeState[] => [primary('db1', 500), replica('db2', 500), replica('db3', 350)];
const clusterWithStoppedSqlThread = (): NodeState[] => [primary('db1', 500), replica('db2', 500), replica('db3', 500, { ioRunning: true, sqlRunning: false })];
const splitBrainAfterFailover = (): NodeState[] => [primary('db1', 500), primary('db2', 510), replica('db3', 505)];
const primaryDownNoPromotionYet = (): NodeState[] => [down('db1'), replica('db2', 500), replica('db3', 500)];
const replicaWithoutMonitorPrivilege = (applied: number): NodeState[] => [primary('db1', 500), replica('db2', applied, 'unknown')];

describe('planRoutes, replication mode', () => {
  it('writes to the one writable node and reads from both replicas', () => {
    const p = planRoutes(healthyPrimaryAndTwoReplicas(), replication);
    assert.equal(p.writer, 'db1');
    assert.deepEqual(p.readers, ['db2', 'db3']);
    assert.equal(p.writeRefusal, undefined);
  });
  it('skips a replica lagging beyond the bound (GTID distance) and says by how much', () => {
    const p = planRoutes(clusterWithLaggingReplica(), replication);
    assert.deepEqual(p.readers, ['db2']);
    assert.match(p.excluded.find((e) => e.id === 'db3')?.why ?? '', /150 transactions behind \(bound 100\)/);
  });
  it('keeps a replica exactly at the bound', () => {
    const p = planRoutes([primary('db1', 500), replica('db2', 400)], replication);
    assert.deepEqual(p.readers, ['db2']);
  });
  it('skips a replica whose SQL thread is stopped, even when not yet behind', () => {
    const p = planRoutes(clusterWithStoppedSqlThread(), replication);
    assert.deepEqual(p.readers, ['db2']);
    assert.match(p.excluded.find((e) => e.id === 'db3')?.why ?? '', /replication stopped .*sql stopped/);
  });
  it('skips a read-only node that replicates from nobody', () => {
    const p = planRoutes([primary('db1', 5), replica('db2', 5, 'none')], replication);
    assert.deepEqual(p.readers, []);
  });
  it('takes no reads on a replica whose replication status it cannot see, caught up or not', () => {
    const p = planRoutes(replicaWithoutMonitorPrivilege(500), replication);
    assert.deepEqual(p.readers, []);
    assert.match(p.excluded[0]?.why ?? '', /SLAVE MONITOR/);
  });
  it('refuses writes during a split brain and names both nodes', () => {
    const p = planRoutes(splitBrainAfterFailover(), replication);
    assert.equal(p.writer, undefined);
    assert.equal(p.writeRefusal?.kind, 'split-brain');
    assert.match(p.writeRefusal?.reason ?? '', /db1 and db2 are both writable/);
    // The replica is judged against the most advanced position seen (510): 5 behind, kept.
    assert.deepEqual(p.readers, ['db3']);
  });
  it('has no writer but still readers while the primary is down and nothing is promoted', () => {
    const p = planRoutes(primaryDownNoPromotionYet(), replication);
    assert.equal(p.writer, undefined);
    assert.equal(p.writeRefusal?.kind, 'no-writer');
    assert.deepEqual(p.readers, ['db2', 'db3']);
  });
  it('issue 22: a replica reconnecting to a dead primary keeps serving reads until a writer is back', () => {
    const connecting = { ioRunning: false, sqlRunning: true, ioConnecting: true };
    const p = planRoutes([down('db1'), replica('db2', 500, connecting), replica('db3', 420, connecting)], replication);
    assert.equal(p.writer, undefined);
    assert.deepEqual(p.readers, ['db2', 'db3'], 'the newest data there is (db3 is within the bound of db2)');
    assert.equal(p.appliedPos.get('db2')?.get(0)?.seq, 500n, 'a session whose write db2 lacks still waits for its GTID');
    const promoted = planRoutes([down('db1'), primary('db2', 505), replica('db3', 500, connecting)], replication);
    assert.deepEqual(promoted.readers, [], 'once a writer answers, a replica not following it takes no reads');
    const detached = planRoutes([down('db1'), replica('db2', 500, { ioRunning: false, sqlRunning: true })], replication);
    assert.deepEqual(detached.readers, [], 'an IO thread stopped by hand is not a writer change');
  });
  it('records each reader’s applied position for read-your-writes', () => {
    const p = planRoutes(healthyPrimaryAndTwoReplicas(), replication);
    assert.equal(p.appliedPos.get('db2')?.get(0)?.seq, 499n);
  });
});

describe('planRoutes, evicted nodes in replication mode', () => {
  it('an unreachable node beside a writer (the old primary after a promotion) is evicted; without a writer nothing is', () => {
    assert.deepEqual(planRoutes([down('db1'), primary('db2', 510), replica('db3', 510)], replication).evicted, ['db1']);
    assert.deepEqual(planRoutes(primaryDownNoPromotionYet(), replication).evicted, []);
    assert.deepEqual(planRoutes(splitBrainAfterFailover(), replication).evicted, []);
    assert.deepEqual(planRoutes(healthyPrimaryAndTwoReplicas(), replication).evicted, []);
  });
});

describe('planRoutes, galera mode', () => {
  it('writes through the first synced node in topology order; the others read', () => {
    const p = planRoutes([galeraNode('db1'), galeraNode('db2'), galeraNode('db3')], galera);
    assert.equal(p.writer, 'db1');
    assert.deepEqual(p.readers, ['db2', 'db3']);
    assert.equal(p.writeRefusal, undefined, 'all writable is normal in Galera, not a split brain');
  });
  it('skips donor/joiner, non-primary-component and not-ready nodes', () => {
    const p = planRoutes([down('db1'), galeraNode('db2', 2), galeraNode('db3'), galeraNode('db4', 4, 'non-Primary'), galeraNode('db5', 4, 'Primary', false)], galera);
    assert.equal(p.writer, 'db3');
    assert.deepEqual(p.readers, []);
    assert.deepEqual(
      p.excluded.map((e) => e.id),
      ['db1', 'db2', 'db4', 'db5'],
    );
  });
  it("keeps each synced node's wsrep_last_committed, so a read-your-writes read can skip the wait", () => {
    const at = (id: string, seqno: bigint, localState = 4): NodeState => {
      const n = galeraNode(id, localState);
      return n.reachable && n.galera ? { ...n, galera: { ...n.galera, lastCommitted: seqno } } : n;
    };
    const p = planRoutes([down('db1'), at('db2', 900n), at('db3', 899n), at('db4', 950n, 2)], galera);
    assert.equal(p.writer, 'db2');
    assert.equal(p.appliedSeqno.get('db3'), 899n);
    assert.equal(p.appliedSeqno.get('db2'), 900n);
    assert.equal(p.appliedSeqno.has('db4'), false, 'a joiner serves no reads: its position is not used');
  });
  it('has no writer when no node is synced', () => {
    const p = planRoutes([galeraNode('db1', 1), down('db2')], galera);
    assert.equal(p.writer, undefined);
    assert.equal(p.writeRefusal?.kind, 'no-writer');
  });
  it('evicts a node only once every member of the primary component answered without it', () => {
    const sized = (n: NodeState, clusterSize: number): NodeState => (n.reachable && n.galera ? { ...n, galera: { ...n.galera, clusterSize } } : n);
    // db1 cut off with a minority: db2 and db3 formed a component of two.
    const cut = planRoutes([down('db1'), sized(galeraNode('db2'), 2), sized(galeraNode('db3'), 2)], galera);
    assert.equal(cut.writer, 'db2');
    assert.deepEqual(cut.evicted, ['db1']);
    assert.match(cut.summary, /out of the primary component: db1/);
    // One slow probe of db1, still a member (size 3): nothing evicted.
    assert.deepEqual(planRoutes([down('db1'), sized(galeraNode('db2'), 3), sized(galeraNode('db3'), 3)], galera).evicted, []);
    // The isolated node still answers (its own view not changed yet): counted as a member, no eviction.
    assert.deepEqual(planRoutes([sized(galeraNode('db1'), 3), sized(galeraNode('db2'), 2), sized(galeraNode('db3'), 2)], galera).evicted, []);
    // Without the size (an older probe): never.
    assert.deepEqual(planRoutes([down('db1'), galeraNode('db2'), galeraNode('db3')], galera).evicted, []);
  });
});

describe('pickReader', () => {
  const plan = planRoutes(healthyPrimaryAndTwoReplicas(), replication);
  it('spreads reads round robin over the readers', () => {
    const picks = [0, 1, 2, 3].map((t) => pickReader(plan, new Set(), t));
    assert.deepEqual(picks, ['db2', 'db3', 'db2', 'db3']);
  });
  it('skips a suspect reader and gives undefined (go to the primary) when none is left', () => {
    assert.equal(pickReader(plan, new Set(['db2']), 0), 'db3');
    assert.equal(pickReader(plan, new Set(['db2', 'db3']), 0), undefined);
  });
});

describe('parseGtidPos in plans', () => {
  it('reads multi-domain positions', () => {
    assert.equal(parseGtidPos('0-1-5,1-2-9').get(1)?.seq, 9n);
  });
});
