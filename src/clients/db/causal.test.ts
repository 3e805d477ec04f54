import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HastackError } from '../../shared/errors.js';
import { CausalToken } from './causal.js';
import { gtidCovers, gtidDistance, mergeGtidPos, parseGtidPos, formatGtidPos } from './gtid.js';

describe('GTID positions', () => {
  it('parse and format round-trip, sorted by domain', () => {
    assert.equal(formatGtidPos(parseGtidPos('1-2-9, 0-1-5')), '0-1-5,1-2-9');
    assert.equal(parseGtidPos('').size, 0);
  });
  it('covers per domain', () => {
    assert.equal(gtidCovers(parseGtidPos('0-1-10'), parseGtidPos('0-1-9')), true);
    assert.equal(gtidCovers(parseGtidPos('0-1-10'), parseGtidPos('0-1-11')), false);
    assert.equal(gtidCovers(parseGtidPos('0-1-10'), parseGtidPos('0-1-1,1-1-1')), false, 'a missing domain is not covered');
  });
  it('distance counts missing commits; a replica ahead is 0 behind', () => {
    assert.equal(gtidDistance(parseGtidPos('0-1-500,1-1-10'), parseGtidPos('0-1-450')), 60);
    assert.equal(gtidDistance(parseGtidPos('0-1-5'), parseGtidPos('0-2-9')), 0);
  });
  it('merge keeps the max per domain, across a server change after failover', () => {
    assert.equal(formatGtidPos(mergeGtidPos(parseGtidPos('0-1-7'), parseGtidPos('0-2-9'))), '0-2-9');
  });
  it('handles 64-bit sequence numbers', () => {
    assert.equal(gtidDistance(parseGtidPos('0-1-18446744073709551615'), parseGtidPos('0-1-18446744073709551610')), 5);
  });
});

describe('CausalToken', () => {
  it('is empty until the session writes', () => {
    const t = CausalToken.empty();
    assert.equal(t.isEmpty, true);
    assert.equal(t.toString(), '');
  });
  it('a write position must be applied by a replica before it may answer', () => {
    const t = CausalToken.empty();
    t.observeWrite('0-1-42');
    assert.equal(t.toString(), 'v1:0-1-42');
    assert.equal(t.waitPos, '0-1-42');
    assert.equal(t.coveredBy(parseGtidPos('0-1-41')), false);
    assert.equal(t.coveredBy(parseGtidPos('0-1-42')), true);
  });
  it('a write at an unknown position is covered by no replica, until a later known write', () => {
    const t = CausalToken.empty();
    t.observeWrite('0-1-42');
    t.observeUnknownWrite();
    assert.equal(t.toString(), 'v1:*0-1-42');
    assert.equal(t.coveredBy(parseGtidPos('0-1-999')), false);
    t.observeWrite('0-1-50');
    assert.equal(t.positionUnknown, false);
  });
  it('an empty GTID read after a write counts as unknown', () => {
    const t = CausalToken.empty();
    t.observeWrite('');
    assert.equal(t.positionUnknown, true);
  });
  it('round-trips through its text form and absorbs an earlier request’s token', () => {
    const first = CausalToken.empty();
    first.observeWrite('0-1-42');
    const next = CausalToken.parse('');
    next.absorb(CausalToken.parse(first.toString()));
    next.observeWrite('0-1-40');
    assert.equal(next.toString(), 'v1:0-1-42', 'the later request keeps the higher position');
    assert.equal(CausalToken.parse('v1:*').positionUnknown, true);
  });
  it('Galera: a write seqno is covered by a node that committed that far; it round-trips and absorbs', () => {
    const t = CausalToken.empty();
    t.observeSeqno(1234n);
    assert.equal(t.toString(), 'v1:@1234');
    assert.equal(t.seqnoCoveredBy(1233n), false);
    assert.equal(t.seqnoCoveredBy(1234n), true);
    const next = CausalToken.parse('v1:@1200');
    next.absorb(CausalToken.parse(t.toString()));
    assert.equal(next.galeraSeqno, 1234n, 'the later request keeps the higher seqno');
    assert.equal(next.isEmpty, false);
  });
  it('Galera: a seqno that could not be read is unknown (reads go to the writer) until a known one', () => {
    const t = CausalToken.empty();
    t.observeSeqno(10n);
    t.observeUnknownWrite();
    assert.equal(t.seqnoCoveredBy(99n), false);
    assert.equal(t.toString(), 'v1:*@10');
    assert.equal(CausalToken.parse('v1:*@10').positionUnknown, true);
    t.observeSeqno(-1n);
    assert.equal(t.positionUnknown, true, 'no wsrep_last_committed: unknown');
    t.observeSeqno(11n);
    assert.equal(t.positionUnknown, false);
  });
  it('refuses a token that is not one (it comes from a user session)', () => {
    assert.throws(
      () => CausalToken.parse('v1:@99999999999999999999'),
      (e: unknown) => e instanceof HastackError && e.code === 'BAD_REQUEST',
    );
    assert.throws(
      () => CausalToken.parse('DROP TABLE x'),
      (e: unknown) => e instanceof HastackError && e.code === 'BAD_REQUEST',
    );
  });
});
