import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareGtid, gtidBehind, gtidCovers, parseGtidPos } from './gtid.js';

describe('GTID positions', () => {
  it('parses several domains and ignores blanks', () => {
    const p = parseGtidPos('0-1-42, 1-2-7,');
    assert.equal(p.get(0), 42);
    assert.equal(p.get(1), 7);
    assert.equal(p.size, 2);
  });
  it('an empty position is covered by anything', () => {
    assert.equal(gtidCovers(parseGtidPos('0-1-1'), parseGtidPos('')), true);
    assert.equal(gtidCovers(parseGtidPos(''), parseGtidPos('0-1-1')), false);
  });
  it('compares by sequence per domain, whoever wrote the transaction', () => {
    assert.equal(compareGtid(parseGtidPos('0-2-43'), parseGtidPos('0-1-42')), 1);
    assert.equal(compareGtid(parseGtidPos('0-1-42'), parseGtidPos('0-1-42')), 0);
    assert.equal(compareGtid(parseGtidPos('0-1-41'), parseGtidPos('0-1-42')), -1);
  });
  it('two positions each ahead in another domain are incomparable', () => {
    assert.equal(compareGtid(parseGtidPos('0-1-5,1-1-1'), parseGtidPos('0-1-4,1-1-2')), undefined);
  });
  it('counts how many transactions one lacks', () => {
    assert.equal(gtidBehind(parseGtidPos('0-1-40'), parseGtidPos('0-1-42,1-1-3')), 5);
  });
});
