import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SERVICE_KINDS } from '../config/index.js';
import { SERVICES } from '../registry/index.js';
import { DRIVERS, driverFor } from './index.js';

describe('drivers', () => {
  it('every kind of the registry has a driver (the Record makes a missing one a compile error too)', () => {
    for (const k of SERVICE_KINDS) {
      assert.ok(SERVICES[k], `${k} has a descriptor`);
      const d = driverFor(k);
      assert.equal(d, DRIVERS[k]);
      assert.equal(typeof d.prepare, 'function', k);
      assert.equal(typeof d.command, 'function', k);
      assert.equal(typeof d.probe, 'function', k);
    }
  });
});
