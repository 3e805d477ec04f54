import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lineDiff, redact, secretsDiff } from './diff.js';

describe('deploy diffs', () => {
  it('shows removed and added lines only', () => {
    assert.equal(lineDiff('a\nb\nc\n', 'a\nB\nc\n'), '- b\n+ B');
    assert.equal(lineDiff('a\n', 'a\n'), '');
    assert.equal(lineDiff('', 'x'), '- \n+ x');
  });

  it('caps its length and says how much more changed', () => {
    const before = Array.from({ length: 30 }, (_, i) => `old ${i}`).join('\n');
    const after = Array.from({ length: 30 }, (_, i) => `new ${i}`).join('\n');
    const d = lineDiff(before, after, 5).split('\n');
    assert.equal(d.length, 6);
    assert.match(d[5] ?? '', /55 more changed line/);
  });

  it('masks secret values, the longest first', () => {
    assert.equal(redact('requirepass s3cretXYZ and s3cret', ['s3cret', 's3cretXYZ']), 'requirepass *** and ***');
  });

  it('secrets.json diffs name keys, never values', () => {
    const d = secretsDiff({ a: 'one', b: 'two' }, { a: 'uno', c: 'three' });
    assert.equal(d, '~ a (value changed)\n- b\n+ c');
    assert.doesNotMatch(d, /uno|one|three/);
  });
});
