/**
 * The Python example's own unit tests (test_units.py: the contract and request parsing, pure) in
 * the unit lane, run with Debian's interpreter. Skipped where /usr/bin/python3 is missing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

// This file runs from dist/examples/python/; the Python sources stay in examples/python/.
const HERE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../examples/python');
const PYTHON = '/usr/bin/python3';

describe('examples/python unit tests', () => {
  it('python3 -m unittest test_units passes', { skip: fs.existsSync(PYTHON) ? false : 'no /usr/bin/python3' }, () => {
    // 30 s: eleven pure tests run in milliseconds; the bound only turns a hang into a failure.
    const r = spawnSync(PYTHON, ['-m', 'unittest', '-q', 'test_units'], {
      cwd: HERE,
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONPATH: '' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /Ran \d+ tests/);
  });
});
