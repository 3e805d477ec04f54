import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { chooseSource, chooseTarget, type DbCandidate } from './backup-plan.js';

const primary = (node: string): DbCandidate => ({ node, role: 'primary', replicating: false });
const replica = (node: string): DbCandidate => ({ node, role: 'replica', replicating: true });
const brokenReplica = (node: string): DbCandidate => ({ node, role: 'replica', replicating: false });

describe('backup source', () => {
  it('a replicating replica, so the primary is not blocked', () => {
    assert.equal(chooseSource([primary('db1'), replica('db2')]).node, 'db2');
  });
  it('the primary when the only replica does not replicate (it may be far behind)', () => {
    assert.equal(chooseSource([primary('db1'), brokenReplica('db2')]).node, 'db1');
  });
  it('the primary when it is alone', () => {
    assert.equal(chooseSource([primary('db1')]).node, 'db1');
  });
  it('refuses two writable primaries (split brain)', () => {
    assert.throws(
      () => chooseSource([primary('db1'), primary('db2')]),
      (e: unknown) => e instanceof HastackError && e.code === ErrorCode.SETUP_FAILED,
    );
  });
  it('says to start the cluster when nothing answers', () => {
    assert.throws(() => chooseSource([]), /hastack up/);
  });
});

describe('backup target', () => {
  const simple = { nodes: ['primary', 'standby'], dbNodes: ['primary', 'standby'], primary: 'primary', source: 'standby' };
  it('in the simple preset: the standby, the node the crash plan moves to', () => {
    assert.equal(chooseTarget(simple), 'standby');
  });
  it('after a failover: the old primary, now the replica', () => {
    assert.equal(chooseTarget({ ...simple, primary: 'standby', source: 'primary' }), 'primary');
  });
  it('--to wins over backup.target', () => {
    assert.equal(chooseTarget({ ...simple, to: 'primary', configured: 'standby' }), 'primary');
    assert.equal(chooseTarget({ ...simple, configured: 'primary' }), 'primary');
  });
  it('an unknown node is refused with the list of nodes', () => {
    assert.throws(() => chooseTarget({ ...simple, to: 'nope' }), /primary, standby/);
  });
  it('a single database node keeps its backups itself', () => {
    assert.equal(chooseTarget({ nodes: ['db1', 'lb1'], dbNodes: ['db1'], primary: 'db1', source: 'db1' }), 'db1');
  });
});
