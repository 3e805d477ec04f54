import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { readJournal, type Journal } from './journal.js';
import { executeSteps, stepError } from './steps.js';

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

describe('a controller that lost the lead stops between two steps', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-steps-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const start: Journal = {
    id: 'fo-1',
    kind: 'failover',
    startedAt: '2026-01-01T00:00:00Z',
    plan: { from: 'primary', to: 'standby', fromReachable: false, repoint: [], because: [], facts: [] },
    steps: {},
    runs: 1,
  };
  it('the step after the check never runs; the journal holds the steps done, for the next leader to resume', async () => {
    const ran: string[] = [];
    let leads = true;
    const step = (name: string) => async (): Promise<string> => {
      ran.push(name);
      if (name === 'fence') leads = false; // the lead lost while the fence ran
      return `${name} done`;
    };
    const mayGoOn = (): void => {
      if (!leads) throw new HastackError(ErrorCode.NOT_LEADER, 'no longer leads');
    };
    await assert.rejects(
      executeSteps(dir, start, ['fence', 'promote', 'repoint'], { fence: step('fence'), promote: step('promote'), repoint: step('repoint') }, () => undefined, mayGoOn),
      (e: unknown) => e instanceof HastackError && e.code === ErrorCode.NOT_LEADER,
    );
    assert.deepEqual(ran, ['fence']);
    const j = readJournal(dir);
    assert.equal(j?.steps.fence?.message, 'fence done');
    assert.equal(j?.steps.promote, undefined);
    // Resumed by the next leader: only what is left runs.
    leads = true;
    ran.length = 0;
    const done = await executeSteps(
      dir,
      j ?? start,
      ['fence', 'promote', 'repoint'],
      { fence: step('fence'), promote: step('promote'), repoint: step('repoint') },
      () => undefined,
      mayGoOn,
    );
    assert.deepEqual(ran, ['promote', 'repoint']);
    assert.ok(done.steps.repoint);
  });
});
