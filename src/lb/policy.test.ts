import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LeastConnectionsPolicy, PowerOfTwoChoicesPolicy, RoundRobinPolicy, type BalancingPolicy, type PolicyCandidate } from './policy.js';

/** A deterministic stand-in for Math.random (a small LCG), so p2c runs are repeatable. */
function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Fake extends PolicyCandidate {
  readonly id: string;
  inflight: number;
}

function backends(...inflight: number[]): Fake[] {
  return inflight.map((n, i) => ({ id: `b${i}`, inflight: n }));
}

const implementations: ReadonlyArray<[string, () => BalancingPolicy]> = [
  ['round-robin', () => new RoundRobinPolicy()],
  ['least-connections', () => new LeastConnectionsPolicy()],
  ['p2c', () => new PowerOfTwoChoicesPolicy(seededRandom(42))],
];

// The shared suite: the guarantees documented on BalancingPolicy, run against every implementation.
for (const [name, make] of implementations) {
  describe(`BalancingPolicy conformance: ${name}`, () => {
    it('picks nothing from an empty list', () => {
      assert.equal(make().pick([]), undefined);
    });

    it('picks the only candidate there is, every time', () => {
      const p = make();
      const [only] = backends(5);
      for (let i = 0; i < 10; i++) assert.equal(p.pick([only as Fake]), only);
    });

    it('always returns one of the candidates it was given', () => {
      const p = make();
      const list = backends(0, 3, 1, 7);
      for (let i = 0; i < 200; i++) assert.ok(list.includes(p.pick(list) as Fake));
    });

    it('does not change the candidate list', () => {
      const p = make();
      const list = backends(0, 1, 2);
      const before = JSON.stringify(list);
      for (let i = 0; i < 20; i++) p.pick(list);
      assert.equal(JSON.stringify(list), before);
    });

    it('spreads picks over every candidate when load is equal', () => {
      const p = make();
      const list = backends(0, 0, 0, 0);
      const seen = new Set<string>();
      for (let i = 0; i < 100; i++) seen.add((p.pick(list) as Fake).id);
      assert.deepEqual([...seen].sort(), ['b0', 'b1', 'b2', 'b3']);
    });

    it('copes with the candidate set changing between picks', () => {
      const p = make();
      const big = backends(0, 0, 0, 0, 0);
      for (let i = 0; i < 7; i++) p.pick(big);
      const small = big.slice(3);
      for (let i = 0; i < 20; i++) assert.ok(small.includes(p.pick(small) as Fake));
    });
  });
}

describe('RoundRobinPolicy', () => {
  it('takes the candidates in turn', () => {
    const p = new RoundRobinPolicy();
    const list = backends(0, 0, 0);
    const ids = Array.from({ length: 6 }, () => (p.pick(list) as Fake).id);
    assert.deepEqual(ids, ['b0', 'b1', 'b2', 'b0', 'b1', 'b2']);
  });
});

describe('LeastConnectionsPolicy', () => {
  it('picks the candidate with the fewest requests in flight', () => {
    const p = new LeastConnectionsPolicy();
    const list = backends(4, 1, 3);
    for (let i = 0; i < 5; i++) assert.equal((p.pick(list) as Fake).id, 'b1');
  });
});

describe('PowerOfTwoChoicesPolicy', () => {
  it('never picks the single most loaded candidate when there are two or more', () => {
    const p = new PowerOfTwoChoicesPolicy(seededRandom(7));
    const list = backends(1, 9, 2);
    for (let i = 0; i < 200; i++) assert.notEqual((p.pick(list) as Fake).id, 'b1');
  });
});
