import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HastackError } from '../shared/errors.js';
import { parseRestoreRequest } from './restore-agent.js';

describe('_agent restore: the requests it takes', () => {
  it('parses each op', () => {
    assert.deepEqual(parseRestoreRequest('{"op":"plan","stop":{"kind":"gtid","gtid":{"domain":0,"server":2,"seq":97}}}'), {
      op: 'plan',
      stop: { kind: 'gtid', gtid: { domain: 0, server: 2, seq: 97 } },
    });
    assert.equal(parseRestoreRequest('{"op":"build","restore":"rs-mabc12-0f3a","stop":{"kind":"latest"}}').op, 'build');
    assert.equal(
      parseRestoreRequest(
        '{"op":"place","restore":"rs-mabc12-0f3a","built":true,"restoredTo":"0-2-97","at":"2026-12-06T00:00:00Z","state":{"role":"replica","wired":false,"seedGtid":"0-2-97"}}',
      ).op,
      'place',
    );
  });

  it('refuses a restore id that could name a path, a GTID state that is not one, and what is not JSON', () => {
    for (const bad of [
      '{"op":"clean","restore":"../../etc"}',
      '{"op":"clean","restore":"rs-x-0001/.."}',
      '{"op":"place","restore":"rs-x-0001","built":true,"restoredTo":"0-1-1; DROP","at":"x"}',
      '{"op":"rm -rf /"}',
      'not json',
    ]) {
      assert.throws(
        () => parseRestoreRequest(bad),
        (e: unknown) => e instanceof HastackError && e.code === 'BAD_REQUEST',
        bad,
      );
    }
  });
});
