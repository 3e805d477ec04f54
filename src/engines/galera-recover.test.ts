import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NIL_UUID, describeRecovery, isFreshCluster, parseGrastate, parseRecoveredPosition, planRecovery, positionOf, renderGrastate, type NodeFacts } from './galera-recover.js';

const UUID = '503d26cd-ebed-11f1-a4cc-2bae63864da2';
const OTHER = '7a1c0e2e-ebee-11f1-8f11-000000000001';

// Situations, named after what happened to the node.
function cleanlyStopped(node: string, seqno: number, last = false): NodeFacts {
  return { node, hasDatadir: true, grastate: { uuid: UUID, seqno, safeToBootstrap: last }, sstInterrupted: false };
}
function crashed(node: string, recoveredSeqno: number, uuid = UUID): NodeFacts {
  return { node, hasDatadir: true, grastate: { uuid, seqno: -1, safeToBootstrap: false }, recovered: { uuid, seqno: recoveredSeqno }, sstInterrupted: false };
}
function crashedUnreadable(node: string): NodeFacts {
  return { node, hasDatadir: true, grastate: { uuid: UUID, seqno: -1, safeToBootstrap: false }, recoverError: 'InnoDB: corrupted page', sstInterrupted: false };
}
function killedMidStateTransfer(node: string): NodeFacts {
  return { node, hasDatadir: true, grastate: { uuid: NIL_UUID, seqno: -1, safeToBootstrap: false }, sstInterrupted: true };
}
function wiped(node: string): NodeFacts {
  return { node, hasDatadir: false, sstInterrupted: false };
}

describe('grastate.dat', () => {
  it('parses what Galera 26.4 writes', () => {
    const text = `# GALERA saved state\nversion: 2.1\nuuid:    ${UUID}\nseqno:   -1\nsafe_to_bootstrap: 0\n`;
    assert.deepEqual(parseGrastate(text), { uuid: UUID, seqno: -1, safeToBootstrap: false });
  });
  it('round-trips through renderGrastate', () => {
    const g = { uuid: UUID, seqno: 1234, safeToBootstrap: true };
    assert.deepEqual(parseGrastate(renderGrastate(g)), g);
  });
  it('rejects text that is no grastate', () => {
    assert.equal(parseGrastate('hello'), undefined);
    assert.equal(parseGrastate(`uuid: ${UUID}\nseqno: abc\n`), undefined);
  });
});

describe('wsrep-recover output', () => {
  it('takes the last recovered position in the log', () => {
    const log = [
      '2026-11-29 12:09:16 0 [Note] InnoDB: Starting crash recovery',
      `2026-11-29 12:09:16 0 [Note] WSREP: Recovered position: ${UUID}:40`,
      `2026-11-29 12:10:16 0 [Note] WSREP: Recovered position: ${UUID}:48`,
    ].join('\n');
    assert.deepEqual(parseRecoveredPosition(log), { uuid: UUID, seqno: 48 });
  });
  it('finds nothing in a log without a position', () => {
    assert.equal(parseRecoveredPosition('[ERROR] Aborting'), undefined);
  });
});

describe('planRecovery', () => {
  it('bootstraps the node with the highest recovered seqno after a full-cluster SIGKILL', () => {
    const plan = planRecovery([crashed('db1', 40), crashed('db2', 48), crashed('db3', 45)]);
    assert.ok(plan.ok);
    assert.equal(plan.bootstrap, 'db2');
    assert.deepEqual(plan.position, { uuid: UUID, seqno: 48 });
    assert.deepEqual(plan.joinOrder, ['db3', 'db1']);
    assert.deepEqual(plan.excluded, []);
  });

  it('after a clean stop prefers the last node to leave among equals', () => {
    const plan = planRecovery([cleanlyStopped('db1', 20), cleanlyStopped('db2', 20), cleanlyStopped('db3', 20, true)]);
    assert.ok(plan.ok);
    assert.equal(plan.bootstrap, 'db3');
    assert.match(plan.reason, /safe_to_bootstrap/);
  });

  it('never follows safe_to_bootstrap over a higher seqno', () => {
    const plan = planRecovery([cleanlyStopped('db1', 20, true), crashed('db2', 25)]);
    assert.ok(plan.ok);
    assert.equal(plan.bootstrap, 'db2');
  });

  it('breaks a tie without a flag by topology order', () => {
    const plan = planRecovery([crashed('db1', 48), crashed('db2', 48), crashed('db3', 48)]);
    assert.ok(plan.ok);
    assert.equal(plan.bootstrap, 'db1');
    assert.deepEqual(plan.joinOrder, ['db2', 'db3']);
  });

  it('excludes a node whose state transfer was interrupted, and joins it last', () => {
    const plan = planRecovery([killedMidStateTransfer('db1'), crashed('db2', 10), crashed('db3', 12)]);
    assert.ok(plan.ok);
    assert.equal(plan.bootstrap, 'db3');
    assert.deepEqual(plan.joinOrder, ['db2', 'db1']);
    assert.equal(plan.excluded[0]?.node, 'db1');
    assert.match(plan.excluded[0]?.reason ?? '', /interrupted/);
  });

  it('excludes a wiped node (it joins by full state transfer)', () => {
    const plan = planRecovery([wiped('db1'), cleanlyStopped('db2', 7, true), cleanlyStopped('db3', 7)]);
    assert.ok(plan.ok);
    assert.equal(plan.bootstrap, 'db2');
    assert.deepEqual(
      plan.excluded.map((e) => e.node),
      ['db1'],
    );
  });

  it('refuses when the nodes disagree on the cluster UUID', () => {
    const plan = planRecovery([crashed('db1', 48), crashed('db2', 3, OTHER), crashed('db3', 47)]);
    assert.equal(plan.ok, false);
    assert.match(plan.reason, /disagree on the cluster UUID/);
  });

  it('refuses when a node with data has an unknown position (it may be the newest)', () => {
    const plan = planRecovery([crashed('db1', 48), crashedUnreadable('db2'), crashed('db3', 47)]);
    assert.equal(plan.ok, false);
    assert.match(plan.reason, /db2 is unknown/);
  });

  it('refuses when no node has whole data', () => {
    const plan = planRecovery([killedMidStateTransfer('db1'), wiped('db2'), wiped('db3')]);
    assert.equal(plan.ok, false);
    assert.match(plan.reason, /no node has whole data/);
  });

  it('treats installed-but-never-started datadirs as a fresh cluster, not a recovery', () => {
    const installedOnly: NodeFacts = { node: 'db1', hasDatadir: true, recovered: { uuid: NIL_UUID, seqno: -1 }, sstInterrupted: false };
    assert.equal(isFreshCluster([installedOnly, wiped('db2'), wiped('db3')]), true);
    assert.equal(isFreshCluster([installedOnly, crashed('db2', 3), wiped('db3')]), false);
    assert.equal(isFreshCluster([killedMidStateTransfer('db1'), wiped('db2'), wiped('db3')]), false, 'a partial copy of a cluster is no fresh start');
    const plan = planRecovery([installedOnly, crashed('db2', 3), wiped('db3')]);
    assert.ok(plan.ok);
    assert.equal(plan.bootstrap, 'db2');
    assert.match(plan.excluded[0]?.reason ?? '', /never joined/);
  });

  it('uses grastate after a clean stop and the recovered position after a crash', () => {
    assert.deepEqual(positionOf(cleanlyStopped('db1', 9)), { uuid: UUID, seqno: 9, safeToBootstrap: false });
    assert.deepEqual(positionOf(crashed('db1', 11)), { uuid: UUID, seqno: 11 });
    assert.equal(positionOf(crashedUnreadable('db1')), undefined);
  });

  it('describes the facts and the decision for --dry-run', () => {
    const facts = [crashed('db1', 40), crashed('db2', 48), killedMidStateTransfer('db3')];
    const lines = describeRecovery(facts, planRecovery(facts)).join('\n');
    assert.match(lines, new RegExp(`db2: grastate ${UUID}:-1 safe_to_bootstrap=0, wsrep-recover ${UUID}:48`));
    assert.match(lines, /bootstrap db2 from/);
    assert.match(lines, /then join, one at a time: db1, db3/);
    assert.match(lines, /INTERRUPTED STATE TRANSFER/);
  });
});
