// Runs the compiled tests with node's own test runner: integration and chaos tests start real
// engines on fixed loopback addresses and share two cores.
// `node scripts/run-tests.mjs` runs the unit, first and second lanes (the README's test command, CI);
// `... unit` only the unit tests (no engines); `... hosts` only the host-bed lane; `... all` every lane.
//
// A test's lane is in its own file name (test/README.md):
//   src/, examples/, dashboard/src/   x.test.ts        unit lane (beside the code, no engines)
//   kit/, test/                       x.unit.test.ts   unit lane (the test kit's own checks)
//   test/                             x.test.ts        first lane (real engines, one at a time)
//   test/                             x.side.test.ts   second lane, run alongside the first
//   test/                             x.test.ts whose first line is `// lane: side`: second lane
//                                     too (a file whose name an issue fixed)
//   test/                             first line `// lane: hosts`: the host-bed lane, not in CI's
//                                     run (each boots 3-4 hosts and deploys over SSH: 4-14 min a
//                                     file, 80 min together, past CI's 25-minute budget alone)
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const only = process.argv[2] ?? 'default';
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

/** 'unit' | 'main' | 'side' | 'hosts', from where the file is, its first line, or how it is named. */
function laneOf(file) {
  if (UNIT_ROOTS.some((r) => file.startsWith(r + path.sep))) return 'unit';
  if (file.endsWith('.unit.test.js')) return 'unit';
  // tsc keeps a leading line comment as the compiled file's first line.
  const first = fs.readFileSync(file, 'utf8').slice(0, 40);
  if (first.startsWith('// lane: hosts')) return 'hosts';
  if (first.startsWith('// lane: side') || file.endsWith('.side.test.js')) return 'side';
  return 'main';
}

const LANES = { default: ['unit', 'main', 'side'], unit: ['unit'], hosts: ['hosts'], all: ['unit', 'main', 'side', 'hosts'] };
const lanes = LANES[only];
if (lanes === undefined) {
  console.error(`usage: node scripts/run-tests.mjs [unit|hosts|all] (got ${only})`);
  process.exit(2);
}

// Integration tests need the real engines and tools (iptables, chromium, sshd, ...): the one list
// of them is derived in src/registry (needs.ts). `hastack setup --tests` installs what is missing when it
// can (root on Debian), else prints the one apt-get line and exits 3: then no test runs.
if (lanes.some((l) => l !== 'unit')) {
  const setup = spawnSync(process.execPath, ['dist/cli/main.js', 'setup', '--tests'], { stdio: 'inherit' });
  if (setup.status !== 0) process.exit(setup.status ?? 1);
}

const all = [...UNIT_ROOTS, ...KIT_ROOTS].flatMap(find).sort();
if (all.length === 0) {
  console.error('no test files found under ' + [...UNIT_ROOTS, ...KIT_ROOTS].join(', ') + ' (did the build run?)');
  process.exit(1);
}
const inLane = (lane) => (lanes.includes(lane) ? all.filter((f) => laneOf(f) === lane) : []);
const unit = inLane('unit');
const main = inLane('main');
// The host-bed lane runs like the second: two files at once, each booting its own hosts.
const side = [...inLane('side'), ...inLane('hosts')];

// Two workers, one test file each at a time. The first runs the unit lane (one `node --test` over
// all its files), then the first lane's files, streaming their output. The second runs the second
// lane's files, which mostly wait (a schedule window, failover detection, ssh round trips, a host
// booting) rather than load the two cores, and prints each file's output whole when it ends.
// Work stealing, so neither worker idles while the other has a queue: once the first lane is done,
// the first worker takes second-lane files from the end of their queue; once the second lane is
// done, the second worker takes first-lane files from the end of theirs (the integration files;
// the chaos files at the front stay with the first worker). At most two files run at once: on two
// cores a third engine-running process starves the others (a Galera joiner partitioned by a
// 2-second stall, measured). The first lane alone took 38 of CI's 40 minutes
// while the second worker idled its last 7.
// A hung test fails after 15 min instead of holding a worker until CI's own limit.
const args = (files) => ['--test', '--test-concurrency=1', '--test-timeout=900000', '--test-reporter=spec', ...files];

/** Runs `node --test` over `files`; streams or buffers its output; resolves with its exit code and time. */
function runNode(files, stream) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, args(files), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    // The output is kept whole even when streamed: a failed file's failures are printed again last.
    const take = (d) => {
      out += d;
      if (stream) process.stdout.write(d);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('close', (code) => resolve({ code: code ?? 1, ms: Date.now() - t0, out }));
  });
}

const started = Date.now();
/** One row per `node --test` run: which worker, what, its exit code and wall time. */
const results = [];
const mainQueue = [...main];
const sideQueue = [...side];
let sideOut = '';

async function firstWorker() {
  if (unit.length > 0) results.push({ worker: 'first', name: `unit lane (${unit.length} files)`, ...(await runNode(unit, true)) });
  for (let f = mainQueue.shift(); f !== undefined; f = mainQueue.shift()) results.push({ worker: 'first', name: f, ...(await runNode([f], true)) });
  for (let f = sideQueue.pop(); f !== undefined; f = sideQueue.pop()) {
    console.log(`\n=== second-lane file taken by the first worker: ${f} ===`);
    results.push({ worker: 'first', name: f, ...(await runNode([f], true)) });
  }
}

async function secondWorker() {
  for (let f = sideQueue.shift() ?? mainQueue.pop(); f !== undefined; f = sideQueue.shift() ?? mainQueue.pop()) {
    const r = await runNode([f], false);
    sideOut += `\n=== second worker: ${f} (${(r.ms / 1000).toFixed(0)} s) ===\n${r.out}`;
    results.push({ worker: 'second', name: f, ...r });
  }
}

await Promise.all([firstWorker(), secondWorker()]);
if (sideOut !== '') process.stdout.write(`\n=== the second worker's files (run alongside the first's) ===${sideOut}`);

// Where the time goes (the budget is 25 minutes): each file's wall time, slowest first, and the
// files that failed, last in the output.
const failed = results.filter((r) => r.code !== 0);
if (lanes.some((l) => l !== 'unit')) {
  const busy = (w) => results.filter((r) => r.worker === w).reduce((s, r) => s + r.ms, 0) / 1000;
  console.log(
    `\n=== time: ${((Date.now() - started) / 1000).toFixed(0)} s in all; first worker busy ${busy('first').toFixed(0)} s, second ${busy('second').toFixed(0)} s; slowest files ===`,
  );
  for (const r of [...results].sort((a, b) => b.ms - a.ms).slice(0, 15))
    console.log(`${(r.ms / 1000).toFixed(1).padStart(7)} s  ${r.worker.padEnd(6)} ${r.code === 0 ? '✔' : '✖'} ${r.name}`);
}
// CI shows only the end of the output: each failed file's own failure summary (node's spec reporter
// ends with "✖ failing tests:" and each failure's error and stack), bounded, goes right before the
// last line.
// A test that printed the event log's tail (test/helpers/cluster.ts printEventTail) gets its last
// 50 lines there too, cut to 240 characters each.
for (const r of failed) {
  const at = r.out.lastIndexOf('✖ failing tests:');
  const lines = (at >= 0 ? r.out.slice(at) : r.out.slice(-4000)).split('\n');
  console.log(`\n=== why ${r.name} failed ===\n${lines.slice(0, 60).join('\n')}${lines.length > 60 ? `\n… ${lines.length - 60} more lines in its own output above` : ''}`);
  const ev = r.out.lastIndexOf("# the event log's last");
  if (ev < 0) continue;
  const tail = r.out
    .slice(ev)
    .split('\n')
    .slice(1)
    .filter((l) => l.startsWith('#   '))
    .slice(-50);
  console.log(`--- its event log's last ${tail.length} lines ---\n${tail.map((l) => l.slice(4, 244)).join('\n')}`);
}
console.log(`\n=== ${results.length} test runs, ${failed.length} failed${failed.length > 0 ? `: ${failed.map((r) => r.name).join(', ')}` : ''} ===`);
process.exit(failed.length > 0 ? 1 : 0);
