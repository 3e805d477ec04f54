import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { faultSchedule, findScenario, landedSchedule } from './scenarios.js';

describe('fault schedule', () => {
  const server = findScenario('server');
  if (!server) throw new Error('no scenario "server"');
  const planned = faultSchedule(server, 20_000);

  it('a 20 s run: the fault at 5 s, held 10 s', () => {
    assert.deepEqual(planned, { injectAt: 5_000, healAt: 15_000 });
  });

  it('a fault that landed 6.4 s late is still held 10 s, and followed by 15 s of workload', () => {
    assert.ok(planned);
    assert.deepEqual(landedSchedule(planned, 20_000, 11_400), { healAt: 21_400, workloadEndsAt: 26_400 });
  });

  it('a fault that landed on time changes nothing', () => {
    assert.ok(planned);
    assert.deepEqual(landedSchedule(planned, 20_000, 5_000), { healAt: 15_000, workloadEndsAt: 20_000 });
  });
});
