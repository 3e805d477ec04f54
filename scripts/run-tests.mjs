// Runs the compiled tests with node's own test runner, one file at a time: integration and
// chaos tests start real engines on fixed loopback addresses and share two cores.
// `node scripts/run-tests.mjs unit` runs only the unit tests (no engines).
import { spawn, spawnSync } from 'node:child_process';
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

// Integration tests need the real engines and tools (iptables, chromium, sshd, ...): the one list
// of them is derived in src/registry (needs.ts). `hastack setup --tests` installs what is missing when it
// can (root on Debian), else prints the one apt-get line and exits 3: then no test runs.
if (only !== 'unit') {
  const setup = spawnSync(process.execPath, ['dist/src/cli/main.js', 'setup', '--tests'], { stdio: 'inherit' });
  if (setup.status !== 0) process.exit(setup.status ?? 1);
}

const files = roots.flatMap(find).sort();
if (files.length === 0) {
  console.error('no test files found under ' + roots.join(', ') + ' (did the build run?)');
  process.exit(1);
}

// A second lane, run at the same time as the first, for integration tests that mostly wait
// (a 2-minute schedule window, failover detection, ssh round trips) rather than load the two
// cores: it takes the suite well under 20 minutes. Every test keeps its own address range, so the
// lanes never share an engine. Its output is printed whole when it ends, not interleaved.
const SIDE_LANE = new Set(['schedules', 'backup', 'switchover', 'failover', 'redis-failover', 'hosts-agent', 'hosts-ssh', 'hosts-deploy', 'hosts-auto-failover', 'hosts-auto-failover-load', 'hosts-hardening', 'hosts-secrets']);
const isSide = (f) => only !== 'unit' && f.includes(`${path.sep}integration${path.sep}`) && SIDE_LANE.has(path.basename(f, '.test.js'));
const side = files.filter(isSide);
const main = files.filter((f) => !isSide(f));
const args = (list) => ['--test', '--test-concurrency=1', '--test-reporter=spec', ...list];

const sideRun = side.length === 0 ? Promise.resolve({ code: 0, out: '' }) : new Promise((resolve) => {
  const child = spawn(process.execPath, args(side), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  child.on('close', (code) => resolve({ code: code ?? 1, out }));
});
const mainRun = new Promise((resolve) => {
  const child = spawn(process.execPath, args(main), { stdio: 'inherit' });
  child.on('close', (code) => resolve(code ?? 1));
});
const [mainCode, sideResult] = await Promise.all([mainRun, sideRun]);
if (side.length > 0) {
  console.log(`\n=== second lane (run alongside): ${side.map((f) => path.basename(f)).join(', ')} ===`);
  process.stdout.write(sideResult.out);
}
process.exit(mainCode !== 0 ? mainCode : sideResult.code);
