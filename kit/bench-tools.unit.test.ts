import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ensureTools, missingTools } from './bench-tools.js';

// `sh` is on every machine the benches run on (dash or bash provides it); the second name never is.
const sh = { binary: 'sh', package: 'dash', purpose: 'a shell' };
const nowhere = { binary: 'hastack-bench-no-such-tool', package: 'hastack-no-such-package', purpose: 'nothing' };

describe('bench needs', () => {
  it('finds an installed tool, and names the one that is not', () => {
    assert.deepEqual(missingTools([sh]), []);
    assert.deepEqual(missingTools([sh, nowhere]), [nowhere]);
  });

  it('ensureTools returns at once when everything is installed (no apt-get, no exit)', () => {
    ensureTools('unit', [sh]);
  });
});
