import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planKeeper, type GaleraLook } from './galera-keeper.js';

const U = { db1: 'aaaaaaaa-0000-0000-0000-000000000001', db2: 'bbbbbbbb-0000-0000-0000-000000000002', db3: 'cccccccc-0000-0000-0000-000000000003' };
const LAST = [
  { uuid: U.db1, name: 'db1' },
  { uuid: U.db2, name: 'db2' },
  { uuid: U.db3, name: 'db3' },
];
const nonPrimary = (node: keyof typeof U, lastPrimary = LAST, uuid: string = U[node]): GaleraLook => ({ node, reachable: true, primary: false, uuid, lastPrimary });
const down = (node: string): GaleraLook => ({ node, reachable: false });

describe('planKeeper (the Galera quorum keeper)', () => {
  it('restores when a majority of the last primary component is non-Primary without the rest: evicts the missing, nudges one', () => {
    const plan = planKeeper([down('db1'), nonPrimary('db2'), nonPrimary('db3')]);
    assert.equal(plan.act, 'restore');
    assert.ok(plan.act === 'restore');
    assert.deepEqual(plan.members, ['db2', 'db3']);
    assert.deepEqual(plan.evict, [{ uuid: U.db1, name: 'db1' }]);
    assert.equal(plan.nudge, 'db3');
    assert.match(plan.why, /db2, db3 \(2 of the last primary component's 3 members\) are non-Primary without db1/);
  });

  it('a restarted node (a new identity) answering does not stop it, and is not counted', () => {
    const plan = planKeeper([nonPrimary('db1', LAST, 'dddddddd-0000-0000-0000-000000000004'), nonPrimary('db2'), nonPrimary('db3')]);
    assert.ok(plan.act === 'restore');
    assert.deepEqual(plan.members, ['db2', 'db3']);
    assert.deepEqual(
      plan.evict.map((m) => m.name),
      ['db1'],
    );
  });

  it('does nothing while a primary component exists (the ordinary node loss)', () => {
    assert.deepEqual(planKeeper([down('db1'), { ...nonPrimary('db2'), primary: true }, nonPrimary('db3')]), { act: 'none', why: 'a primary component exists' });
  });

  it('does nothing for a minority: the missing ones may be a primary component elsewhere', () => {
    const plan = planKeeper([down('db1'), down('db2'), nonPrimary('db3')]);
    assert.equal(plan.act, 'none');
    assert.match(plan.why, /1 of the last primary component's 3 members answer: no majority/);
  });

  it('does nothing when only restarted nodes answer (a fresh start or a full recovery)', () => {
    const fresh = (node: keyof typeof U): GaleraLook => nonPrimary(node, LAST, `${U[node].slice(0, -1)}9`);
    assert.equal(planKeeper([fresh('db1'), fresh('db2'), fresh('db3')]).act, 'none');
  });

  it('does nothing when the members disagree on the last primary component', () => {
    const other = [...LAST.slice(1), { uuid: 'eeeeeeee-0000-0000-0000-000000000005', name: 'db1' }];
    const plan = planKeeper([down('db1'), nonPrimary('db2'), nonPrimary('db3', other)]);
    assert.deepEqual(plan, { act: 'none', why: 'the answering nodes disagree on the last primary component' });
  });

  it('does nothing when every member answers: Galera re-forms the component itself once they reach each other', () => {
    assert.equal(planKeeper([nonPrimary('db1'), nonPrimary('db2'), nonPrimary('db3')]).act, 'none');
  });

  it('does nothing when no node answers', () => {
    assert.deepEqual(planKeeper([down('db1'), down('db2'), down('db3')]), { act: 'none', why: 'no node answers' });
  });
});
