/**
 * The status dashboard end to end, in headless Chromium (Debian's package, driven by
 * playwright-core): a small cluster with every tier comes up; the page served by the supervisor
 * shows every service healthy; a node is killed through the admin API and the page, without a
 * reload, shows it unhealthy and the kill in its timeline. Screenshots go to test-artifacts/.
 *
 * Namespace: addresses 127.0.64.1-5 and the admin API on 127.0.64.254:9090; state in a temp dir.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { request } from 'undici';
import type { ConfigInput } from '../../src/config/index.js';
import { saveReport, readAdminToken } from '../../src/control/index.js';
import { artifactPath, launchChromium } from '../helpers/browser.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { upCluster, type TestCluster } from '../helpers/cluster.js';
import { testRange } from '../../kit/addresses.js';

const BASE = testRange('dashboard').base;
const ADMIN = `http://${BASE}.254:9090`;
/** Every tier once: the smallest cluster whose page has something in each section. */
const CONFIG: ConfigInput = {
  cluster: 'dash',
  addressBase: BASE,
  app: { module: path.join(REPO_ROOT, 'examples/erp') },
  redis: { quorum: 1 },
  database: { mode: 'replication' },
  nodes: [
    { name: 'lb1', services: ['lb', 'dns'] },
    { name: 'app1', services: ['app', 'sentinel', 'worker'] },
    { name: 'cache1', services: ['memcached'] },
    { name: 'redis1', services: ['redis'] },
    { name: 'db1', services: ['mariadb'] },
  ],
};
const SERVICES = 8;
/** The page updates every second; a probe of a dead process fails at once. 15 s is generous. */
const UPDATE_TIMEOUT_MS = 15_000;

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await request(url, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

describe('status dashboard (headless Chromium, real engines)', { timeout: 240_000 }, () => {
  let cluster: TestCluster | undefined;
  let browser: Browser | undefined;
  let page: Page;

  before(async () => {
    cluster = await upCluster('dash', CONFIG);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
  });

  after(async () => {
    await browser?.close();
    await cluster?.down();
  });

  it('up prints the dashboard URL', () => {
    assert.match(cluster?.upOutput ?? '', new RegExp(`dashboard: ${ADMIN.replaceAll('.', '\\.')}/`));
  });

  it('the page shows every service healthy, grouped by tier', async () => {
    await page.goto(`${ADMIN}/`);
    await page.waitForFunction(
      (n) => {
        const all = document.querySelectorAll('[data-service]');
        return all.length === n && [...all].every((e) => e.getAttribute('data-healthy') === 'true');
      },
      SERVICES,
      { timeout: UPDATE_TIMEOUT_MS },
    );
    assert.equal(await page.textContent('#health'), `${SERVICES}/${SERVICES} healthy`);
    assert.deepEqual(await page.$$eval('.tier', (els) => els.map((e) => e.getAttribute('data-tier'))), ['edge', 'app', 'cache', 'broker', 'database']);
    assert.equal(await page.textContent('[data-service="db1/mariadb"] .role'), 'primary');
    assert.equal(await page.textContent('[data-service="redis1/redis"] .role'), 'master');
    assert.equal(await page.isHidden('#actions'), true, 'no operator action while all is healthy');
    const shot = artifactPath('dashboard-healthy.png');
    await page.screenshot({ path: shot, fullPage: true });
    process.stdout.write(`screenshot: ${shot}\n`);
  });

  it('after a node is killed, the page shows it unhealthy and the kill in the timeline, without a reload', async () => {
    // A marker on the window: a reload would lose it.
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    const res = await request(`${ADMIN}/v1/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${readAdminToken(path.join(cluster?.dir ?? '', '.hastack', 'dash'))}` },
      body: JSON.stringify({ action: 'kill-node', node: 'cache1' }),
    });
    assert.equal(res.statusCode, 200, await res.body.text());
    await page.waitForSelector('[data-node="cache1"][data-healthy="false"] [data-service="cache1/memcached"][data-healthy="false"]', { timeout: UPDATE_TIMEOUT_MS });
    await page.waitForFunction(() => [...document.querySelectorAll('#timeline li[data-kind="fault"]')].some((li) => li.textContent?.includes('node cache1 killed')), undefined, {
      timeout: UPDATE_TIMEOUT_MS,
    });
    assert.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 42, 'the page was not reloaded');
    assert.equal(await page.textContent('#health'), `${SERVICES - 1}/${SERVICES} healthy`);
    // Read-only: the page offers the command to run, it does not run it.
    assert.ok((await page.textContent('#hints'))?.includes('hastack logs cache1 memcached'));
    const shot = artifactPath('dashboard-node-killed.png');
    await page.screenshot({ path: shot, fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    const phone = artifactPath('dashboard-node-killed-phone.png');
    await page.screenshot({ path: phone, fullPage: false });
    process.stdout.write(`screenshots: ${shot} ${phone}\n`);
  });

  it('lists the chaos reports kept in the state dir and draws the chosen one', async () => {
    // A report as `hastack chaos run` keeps it (src/cli/chaos.ts); its numbers are made up here.
    const timeline = Array.from({ length: 50 }, (_, i) => (i >= 10 && i < 20 ? { ok: 0, failed: 3 } : { ok: 9, failed: 0 }));
    saveReport(path.join(cluster?.dir ?? '', '.hastack', 'dash'), 'redis-master', {
      scenario: 'redis-master',
      availability: 0.93,
      promisesBroken: [],
      faults: [{ description: 'kill -9 node redis1', injectedAt: 1000, healedAt: 2000 }],
      timelineBucketMs: 100,
      timeline,
    });
    await page.click('#reload-reports');
    await page.click('tr[data-report]', { timeout: UPDATE_TIMEOUT_MS });
    await page.waitForSelector('#report-chart canvas', { timeout: UPDATE_TIMEOUT_MS });
    assert.match((await page.textContent('#report')) ?? '', /redis-master[\s\S]*93\.00 %[\s\S]*kill -9 node redis1 at 1\.0 s, healed 2\.0 s/);
  });

  it('the JSON endpoints answer: status with the extra fields, events, reports, and 404 for what is not there', async () => {
    const s = await getJson(`${ADMIN}/v1/status`);
    assert.equal(s.status, 200);
    const services = s.body.services as Array<{ node: string; uptimeS: number | null }>;
    assert.equal(services.length, SERVICES);
    assert.ok(services.some((x) => x.node === 'app1' && typeof x.uptimeS === 'number'));
    assert.equal((s.body.lbs as unknown[]).length, 1);
    const ev = await getJson(`${ADMIN}/v1/events`);
    const events = ev.body.events as Array<{ type: string }>;
    assert.ok(events.some((e) => e.type === 'fault.injected'));
    const more = await getJson(`${ADMIN}/v1/events?since=${String(ev.body.next)}`);
    assert.ok((more.body.events as unknown[]).length < events.length, 'since= returns only what came after');
    const killedAt = (events as Array<{ type: string; ts: string }>).find((e) => e.type === 'fault.injected')?.ts ?? '';
    const after = (await getJson(`${ADMIN}/v1/events?since=${encodeURIComponent(killedAt)}`)).body.events as Array<{ ts: string }>;
    assert.ok(
      after.every((e) => e.ts > killedAt),
      'since=TIME returns only later events',
    );
    assert.equal((await getJson(`${ADMIN}/v1/events?since=yesterday-ish`)).status, 400);
    const reports = (await getJson(`${ADMIN}/v1/reports`)).body.reports as Array<{ id: string; scenario: string }>;
    assert.deepEqual(
      reports.map((r) => r.scenario),
      ['redis-master'],
    );
    assert.equal((await getJson(`${ADMIN}/v1/reports/${reports[0]?.id ?? ''}`)).body.availability, 0.93);
    assert.equal((await getJson(`${ADMIN}/v1/reports/..%2Fsecrets`)).status, 400);
    assert.equal((await getJson(`${ADMIN}/v1/reports/nope`)).status, 404);
  });
});
