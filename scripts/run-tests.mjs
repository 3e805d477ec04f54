// Runs the compiled tests with node's own test runner, one file at a time: integration and
// chaos tests start real engines on fixed loopback addresses and share two cores.
// `node scripts/run-tests.mjs unit` runs only the unit tests (no engines).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const only = process.argv[2];
const roots = only === 'unit' ? ['dist/src', 'dist/examples', 'dist/dashboard/src'] : ['dist/src', 'dist/examples', 'dist/dashboard/src', 'dist/test/integration', 'dist/test/chaos'];

function find(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return find(p);
    return e.name.endsWith('.test.js') ? [p] : [];
  });
}

// Integration tests need the real engines: install them when we can (root on Debian), else say how.
if (only !== 'unit') {
  const doctor = spawnSync(process.execPath, ['dist/src/cli/main.js', 'doctor'], { encoding: 'utf8' });
  if (doctor.status !== 0) {
    const setup = spawnSync(process.execPath, ['dist/src/cli/main.js', 'setup'], { stdio: 'inherit' });
    if (setup.status !== 0) {
      console.error(doctor.stdout);
      process.exit(1);
    }
  }
}

const files = roots.flatMap(find).sort();
if (files.length === 0) {
  console.error('no test files found under ' + roots.join(', ') + ' (did the build run?)');
  process.exit(1);
}
const res = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(res.status ?? 1);
