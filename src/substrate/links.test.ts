import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HastackError } from '../shared/errors.js';
import { HOST, cutLinks, dropRules, isolateLinks, mergeLinks, partitionLinks } from './links.js';

const addr = (p: string): string => (p === HOST ? '10.0.0.254' : `10.0.0.${p.slice(1)}`);

describe('partition links', () => {
  it('a split cuts every pair across the sides both ways and leaves nodes on no side alone', () => {
    const links = partitionLinks([['n1'], ['n2', 'n3']]);
    assert.equal(links.length, 4);
    const rules = dropRules(links, addr);
    assert.deepEqual(rules.get('n1'), ['10.0.0.2', '10.0.0.3']);
    assert.deepEqual(rules.get('n2'), ['10.0.0.1']);
    assert.equal(rules.get('n4'), undefined);
  });

  it('a node on both sides is refused', () => {
    assert.throws(() => partitionLinks([['n1', 'n2'], ['n2']]), HastackError);
  });

  it('isolation from the host drops the host on arrival at the node', () => {
    const rules = dropRules(isolateLinks('n1', ['n1', 'n2'], true), addr);
    assert.deepEqual(rules.get('n1'), ['10.0.0.2', '10.0.0.254']);
    assert.deepEqual(rules.get('n2'), ['10.0.0.1']);
  });

  it('isolation without the host leaves the host out', () => {
    const rules = dropRules(isolateLinks('n1', ['n1', 'n2'], false), addr);
    assert.deepEqual(rules.get('n1'), ['10.0.0.2']);
  });

  it('a one-way cut is enforced only at the receiver', () => {
    const rules = dropRules(cutLinks('n1', 'n2'), addr);
    assert.deepEqual([...rules.keys()], ['n2']);
    assert.deepEqual(rules.get('n2'), ['10.0.0.1']);
  });

  it('a one-way cut towards the host is refused', () => {
    assert.throws(() => dropRules(cutLinks('n1', HOST), addr), HastackError);
  });

  it('faults accumulate without duplicates', () => {
    const merged = mergeLinks(cutLinks('n1', 'n2'), partitionLinks([['n1'], ['n2']]));
    assert.equal(merged.length, 2);
  });
});
