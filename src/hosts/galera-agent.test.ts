import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseGaleraRequest } from './galera-agent.js';

describe('_agent galera requests', () => {
  it('reads look, halt, facts and both kinds of choose', () => {
    assert.deepEqual(parseGaleraRequest('{"op":"look"}'), { op: 'look' });
    assert.deepEqual(parseGaleraRequest('{"op":"halt"}'), { op: 'halt' });
    assert.deepEqual(parseGaleraRequest('{"op":"facts"}'), { op: 'facts' });
    const pos = '0d6a3a2e-ef71-11f1-8389-fa7a19399e1f:8280';
    assert.deepEqual(parseGaleraRequest(JSON.stringify({ op: 'choose', bootstrap: true, position: pos, reason: 'highest seqno' })), {
      op: 'choose',
      bootstrap: true,
      position: pos,
      reason: 'highest seqno',
    });
    // A brand-new cluster: no position.
    assert.deepEqual(parseGaleraRequest('{"op":"choose","bootstrap":true,"reason":"first start"}'), { op: 'choose', bootstrap: true, reason: 'first start' });
    assert.deepEqual(parseGaleraRequest('{"op":"choose","bootstrap":false}'), { op: 'choose', bootstrap: false, reason: '' });
  });

  it('refuses what is not a request, with a typed error', () => {
    for (const bad of ['not json', '{"op":"drop"}', '{"op":"choose","bootstrap":true,"position":"x; rm -rf /","reason":""}', '{"op":"choose"}']) {
      assert.throws(
        () => parseGaleraRequest(bad),
        (e: Error & { code?: string }) => e.code === 'BAD_REQUEST',
        bad,
      );
    }
  });
});
