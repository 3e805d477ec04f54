import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { demoDataOn } from './schema.js';

describe('app.demoData', () => {
  it('review item 10: demo accounts are for local and netns clusters; real hosts get them only when asked', () => {
    assert.equal(demoDataOn({ app: { module: 'x' }, substrate: 'local' }), true);
    assert.equal(demoDataOn({ app: { module: 'x' }, substrate: 'netns' }), true);
    assert.equal(demoDataOn({ app: { module: 'x' }, substrate: 'hosts' }), false);
    assert.equal(demoDataOn({ app: { module: 'x', demoData: true }, substrate: 'hosts' }), true);
    assert.equal(demoDataOn({ app: { module: 'x', demoData: false }, substrate: 'local' }), false);
  });
});
