import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, HastackError } from './errors.js';

describe('error codes', () => {
  it('each code is its own name: stable text for logs, JSON output and events', () => {
    for (const [name, code] of Object.entries(ErrorCode)) assert.equal(code, name);
  });
  it('failover outcomes have codes of their own (issue 18), not SETUP_FAILED or INTERNAL', () => {
    for (const code of ['FAILOVER_REFUSED', 'DATA_LOSS_REFUSED', 'FENCE_FAILED', 'PROMOTION_FAILED', 'REPOINT_FAILED', 'HOOK_FAILED'] as const) {
      assert.equal(ErrorCode[code], code);
      const e = new HastackError(ErrorCode[code], 'what happened; what to do');
      assert.ok(e instanceof Error);
      assert.equal(e.code, code);
    }
  });
});
