import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WaitList, type WaitLink } from './wait-list.js';

class Node implements WaitLink<Node> {
  waitPrev: Node | undefined = undefined;
  waitNext: Node | undefined = undefined;
  waitList: WaitList<Node> | undefined = undefined;
  constructor(readonly name: string) {}
}

const names = (l: WaitList<Node>): string[] => l.toArray().map((n) => n.name);

describe('WaitList', () => {
  it('keeps insertion order and reports the oldest member', () => {
    const l = new WaitList<Node>();
    const [a, b, c] = [new Node('a'), new Node('b'), new Node('c')];
    l.add(a).add(b).add(c);
    assert.deepEqual(names(l), ['a', 'b', 'c']);
    assert.equal(l.first(), a);
    assert.equal(l.size, 3);
  });

  it('removes from the head, the middle and the tail, and a second delete does nothing', () => {
    const l = new WaitList<Node>();
    const [a, b, c, d] = [new Node('a'), new Node('b'), new Node('c'), new Node('d')];
    l.add(a).add(b).add(c).add(d);
    assert.equal(l.delete(b), true);
    assert.equal(l.delete(b), false);
    assert.deepEqual(names(l), ['a', 'c', 'd']);
    l.delete(a);
    assert.equal(l.first(), c);
    l.delete(d);
    assert.deepEqual(names(l), ['c']);
    l.delete(c);
    assert.equal(l.size, 0);
    assert.equal(l.first(), undefined);
    l.add(a);
    assert.deepEqual(names(l), ['a']);
  });

  it('clears the links of a removed member, so it reaches nothing', () => {
    const l = new WaitList<Node>();
    const [a, b, c] = [new Node('a'), new Node('b'), new Node('c')];
    l.add(a).add(b).add(c);
    l.delete(b);
    assert.equal(b.waitPrev, undefined);
    assert.equal(b.waitNext, undefined);
    assert.equal(b.waitList, undefined);
    assert.equal(a.waitNext, c);
    assert.equal(c.waitPrev, a);
  });

  it('moves a member that is added to another list (a retry on another backend)', () => {
    const one = new WaitList<Node>();
    const two = new WaitList<Node>();
    const [a, b] = [new Node('a'), new Node('b')];
    one.add(a).add(b);
    two.add(a);
    assert.deepEqual(names(one), ['b']);
    assert.deepEqual(names(two), ['a']);
    assert.equal(one.delete(a), false);
    assert.equal(one.size, 1);
  });

  it('lets members leave while a copy of it is walked', () => {
    const l = new WaitList<Node>();
    const ns = ['a', 'b', 'c'].map((n) => new Node(n));
    for (const n of ns) l.add(n);
    for (const n of l.toArray()) l.delete(n);
    assert.equal(l.size, 0);
  });
});
