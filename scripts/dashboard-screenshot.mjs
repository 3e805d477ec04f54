/* global setTimeout, document, window, fetch, performance */
// Screenshots of the status dashboard for the "must show": the `ideal` preset healthy,
// then during `hastack chaos run redis-master`, then that run's report. Brings its own cluster up
// and down (in a temp dir), on the address base given (default 127.0.64), with Debian's chromium.
//
//   npm run build && node scripts/dashboard-screenshot.mjs [--base 127.0.64] [--out test-artifacts] [--duration 30]
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import YAML from 'yaml';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : process.argv[i + 1];
};
const base = arg('base', '127.0.64');
const out = path.resolve(arg('out', path.join(root, 'test-artifacts')));
const duration = arg('duration', '30');
const cli = path.join(root, 'dist/src/cli/main.js');
const { preset } = await import(path.join(root, 'dist/src/config/index.js'));

fs.mkdirSync(out, { recursive: true });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-dashshot-'));
const config = path.join(dir, 'hastack.yaml');
fs.writeFileSync(config, YAML.stringify({ ...preset('ideal'), cluster: 'dashshot', addressBase: base, app: { module: path.join(root, 'examples/erp') } }));
const admin = `http://${base}.254:9090/`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const run = (args, timeoutMs) => {
  const r = spawnSync(process.execPath, [cli, ...args, '-f', config], { cwd: dir, encoding: 'utf8', timeout: timeoutMs });
  process.stdout.write(r.stdout ?? '');
  process.stderr.write(r.stderr ?? '');
  return r.status;
};

/**
 * Figures for the report: how long one `GET /v1/status` takes on this cluster (median of 10, one
 * at a time), and the supervisor's CPU over 10 s while the page is open (its feed polls every second).
 */
async function measure() {
  const ms = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    await (await fetch(`${admin}v1/status`)).json();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  const pid = JSON.parse(fs.readFileSync(path.join(dir, '.hastack/dashshot/run.json'), 'utf8')).supervisorPid;
  const cpu = () =>
    fs
      .readFileSync(`/proc/${pid}/stat`, 'utf8')
      .split(') ')[1]
      .split(' ')
      .slice(11, 13)
      .reduce((a, b) => a + Number(b), 0);
  const c0 = cpu();
  await sleep(10_000);
  const ticks = cpu() - c0; // clock ticks, 100 per second on Linux
  console.log(
    `measured: GET /v1/status median ${ms[5].toFixed(0)} ms (min ${ms[0].toFixed(0)}, max ${ms[9].toFixed(0)}); supervisor CPU with one page open: ${(ticks / 10).toFixed(1)} % of a core over 10 s`,
  );
}

let browser;
const shots = [];
try {
  if (run(['up', '--detach', '--no-install'], 240_000) !== 0) throw new Error('up failed');
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true });
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const shot = async (name) => {
    const file = path.join(out, name);
    // A full-page shot of a scrolled page would paint the sticky header mid-page.
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: file, fullPage: true });
    shots.push(file);
    console.log(`screenshot: ${file}`);
  };
  await page.goto(admin);
  await page.waitForFunction(
    () => {
      const all = document.querySelectorAll('[data-service]');
      return all.length > 0 && [...all].every((e) => e.getAttribute('data-healthy') === 'true');
    },
    undefined,
    { timeout: 30_000 },
  );
  await sleep(5_000); // a few points on the charts
  await shot('dashboard-ideal-healthy.png');
  await measure();

  // The chaos run in the background; screenshots while its fault is in and after the heal.
  const chaos = spawn(process.execPath, [cli, 'chaos', 'run', 'redis-master', '--duration', duration, '-f', config], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  chaos.stdout.on('data', (d) => {
    text += d.toString();
    process.stdout.write(d);
  });
  const exited = new Promise((r) => chaos.once('exit', r));
  const deadline = Date.now() + 120_000;
  while (!/\] fault:/.test(text) && Date.now() < deadline) await sleep(200);
  await sleep(4_000); // Sentinel's failover (down-after + election) shows on the page
  await shot('dashboard-ideal-chaos-redis-master-fault.png');
  while (!/\] healed/.test(text) && Date.now() < deadline) await sleep(200);
  await sleep(3_000);
  await shot('dashboard-ideal-chaos-redis-master-healed.png');
  // Bounded wait for the run to end; the timer is unref'd so it does not keep this script alive.
  const code = await Promise.race([exited, new Promise((r) => setTimeout(r, 240_000, 'timeout').unref())]);
  if (code === 'timeout') chaos.kill('SIGKILL');
  console.log(`chaos run exited: ${code}`);
  await page.click('#reload-reports');
  await page.waitForSelector('tr[data-report]', { timeout: 10_000 });
  await page.click('tr[data-report]');
  await page.waitForSelector('#report-chart canvas', { timeout: 10_000 });
  await sleep(500);
  await shot('dashboard-ideal-chaos-report.png');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(admin);
  await sleep(3_000);
  const phone = path.join(out, 'dashboard-ideal-phone.png');
  await page.screenshot({ path: phone });
  shots.push(phone);
  console.log(`screenshot: ${phone}`);
} finally {
  await browser?.close();
  run(['down'], 150_000);
  fs.rmSync(dir, { recursive: true, force: true });
}
console.log(`\n${shots.length} screenshots:\n${shots.join('\n')}`);
