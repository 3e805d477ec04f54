// Runs the compiled tests with node's own test runner, one file at a time: integration and
// chaos tests start real engines on fixed loopback addresses and share two cores.
// `node scripts/run-tests.mjs unit` runs only the unit tests (no engines).
//
// A test's lane is in its own file name (test/README.md):
//   src/, examples/, dashboard/src/   x.test.ts        unit lane (beside the code, no engines)
//   kit/, test/                       x.unit.test.ts   unit lane (the test kit's own checks)
//   test/                             x.test.ts        first lane (real engines, one at a time)
//   test/                             x.side.test.ts   second lane, run alongside the first
//   test/                             x.test.ts whose first line is `// lane: side`: second lane
//                                     too (a file whose name an issue fixed)
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const only = process.argv[2];
const UNIT_ROOTS = ['dist/src', 'dist/examples', 'dist/dashboard/src'];
const KIT_ROOTS = ['dist/kit', 'dist/test', 'dist/bench'];

function find(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return find(p);
    return e.name.endsWith('.test.js') ? [p] : [];
  });
}

const SIDE_MARK = '// lane: side';

/** 'unit' | 'main' | 'side', from where the file is, how it is named, or its first line. */
function laneOf(file) {
  if (UNIT_ROOTS.some((r) => file.startsWith(r + path.sep))) return 'unit';
  if (file.endsWith('.unit.test.js')) return 'unit';
  if (file.endsWith('.side.test.js')) return 'side';
  // tsc keeps a leading line comment as the compiled file's first line.
  return fs.readFileSync(file, 'utf8').startsWith(SIDE_MARK) ? 'side' : 'main';
}

// Integration tests need the real engines and tools (iptables, chromium, sshd, ...): the one list
// of them is derived in src/registry (needs.ts). `hastack setup --tests` installs what is missing when it
// can (root on Debian), else prints the one apt-get line and exits 3: then no test runs.
if (only !== 'unit') {
  const setup = spawnSync(process.execPath, ['dist/src/cli/main.js', 'setup', '--tests'], { stdio: 'inherit' });
  if (setup.status !== 0) process.exit(setup.status ?? 1);
}

const all = [...UNIT_ROOTS, ...KIT_ROOTS].flatMap(find).sort();
const files = only === 'unit' ? all.filter((f) => laneOf(f) === 'unit') : all;
if (files.length === 0) {
  console.error('no test files found under ' + [...UNIT_ROOTS, ...KIT_ROOTS].join(', ') + ' (did the build run?)');
  process.exit(1);
}

// The second lane, run at the same time as the first, holds integration tests that mostly wait
// (a schedule window, failover detection, ssh round trips, a host booting) rather than load the
// two cores. Every test keeps its own address range (kit/addresses.ts), so
// no two running files ever share an engine. Its output is printed whole when it ends, not
// interleaved.
// One file at a time by default: on two cores a third engine-running process starves the
// others (a Galera joiner partitioned by a 2-second stall, measured). A CI machine with more
// cores can run the second lane wider: HASTACK_TEST_SIDE_CONCURRENCY=2.
const SIDE_CONCURRENCY = Math.max(1, Number(process.env.HASTACK_TEST_SIDE_CONCURRENCY ?? 1) || 1);
const isSide = (f) => laneOf(f) === 'side';
const side = files.filter(isSide);
const main = files.filter((f) => !isSide(f));
const args = (list, concurrency) => ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...list];

const sideRun =
  side.length === 0
    ? Promise.resolve({ code: 0, out: '' })
    : new Promise((resolve) => {
        const child = spawn(process.execPath, args(side, SIDE_CONCURRENCY), { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (out += d));
        child.on('close', (code) => resolve({ code: code ?? 1, out }));
      });
const mainRun = new Promise((resolve) => {
  const child = spawn(process.execPath, args(main, 1), { stdio: 'inherit' });
  child.on('close', (code) => resolve(code ?? 1));
});
const [mainCode, sideResult] = await Promise.all([mainRun, sideRun]);
if (side.length > 0) {
  console.log(`\n=== second lane (run alongside): ${side.map((f) => path.basename(f)).join(', ')} ===`);
  process.stdout.write(sideResult.out);
}
process.exit(mainCode !== 0 ? mainCode : sideResult.code);
