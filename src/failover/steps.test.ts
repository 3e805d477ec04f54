import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { stepError } from './steps.js';

describe('a failed runbook step carries a stable code', () => {
  const driverError = Object.assign(new Error('Connection lost: The server closed the connection.'), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true });
  it("an error without a code of its own gets the step's: which guarantee is missing", () => {
    const cases = [
      ['fence', ErrorCode.FENCE_FAILED],
      ['promote', ErrorCode.PROMOTION_FAILED],
      ['repoint', ErrorCode.REPOINT_FAILED],
    ] as const;
    for (const [step, code] of cases) {
      const e = stepError(step, 'failover', driverError);
      assert.ok(e instanceof HastackError, step);
      assert.equal(e.code, code, step);
      assert.equal(e.cause, driverError);
      assert.deepEqual(e.details, { step });
      assert.match(e.message, /run the failover again \(it resumes at this step\)/);
    }
  });
  it('an error with a code keeps it (HOST_UNREACHABLE says more than FENCE_FAILED)', () => {
    const typed = new HastackError(ErrorCode.HOST_UNREACHABLE, 'ssh: connect to host db1 port 22: No route to host');
    assert.equal(stepError('fence', 'failover', typed), typed);
  });
  it('steps without a guarantee of their own pass errors through', () => {
    assert.equal(stepError('dns', 'failover', driverError), driverError);
    assert.equal(stepError('verify', 'switchover', driverError), driverError);
  });
});
