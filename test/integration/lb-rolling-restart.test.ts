/**
 * Rolling restart of every app server under load, with 0 failed requests: each app server in
 * turn gets SIGTERM (it drains: /readyz 503, finishes what it has, exits; the supervisor starts
 * it again), while a small load loop sends reads and keyed order creations through both load
 * balancers, ONE attempt each (no client retry): every request must be answered by an app.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { preset } from '../../src/config/index.js';
import { REPO_ROOT, runCli } from '../helpers/cli.js';
import { upCluster, type TestCluster } from '../helpers/cluster.js';
import { erpLogin } from '../helpers/erp.js';
import { testRange } from '../../kit/addresses.js';

// Its own address range (the cluster test uses .20, developers .10, .40–.45).
const BASE = testRange('lb-rolling-restart').base;
const LBS = [`${BASE}.1`, `${BASE}.2`];
/** Load: 4 loops with a 20 ms pause each, ~150 requests/s: steady, and light on a 2-core machine. */
const LOOPS = 4;
const THINK_MS = 20;
/** Per request: generous, this test counts failures, it does not time anything. */
const REQUEST_TIMEOUT_MS = 15_000;
/** Bound for an app server to be back, healthy, in status and in both load balancers. */
const BACK_TIMEOUT_MS = 90_000;

interface StatusJson {
  services: Array<{ node: string; service: string; pid: number | null; healthy: boolean }>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('rolling restart of every app server under load', { timeout: 600_000 }, () => {
  let cluster: TestCluster | undefined;
  const agent = new Agent({ keepAliveTimeout: 4_000 });

  before(async () => {
    cluster = await upCluster('lbroll', { ...preset('ideal'), cluster: 'lbroll', addressBase: BASE, app: { module: path.join(REPO_ROOT, 'examples/erp') } });
  });

  after(async () => {
    await agent.close();
    await cluster?.down();
  });

  async function status(): Promise<StatusJson> {
    const r = await runCli(['status', '--json', '-f', cluster?.configFile ?? ''], { cwd: cluster?.dir, timeoutMs: 30_000 });
    return JSON.parse(r.stdout) as StatusJson;
  }

  async function backendHealthyEverywhere(node: string): Promise<boolean> {
    for (const lb of LBS) {
      const r = await request(`http://${lb}:8080/-/healthz`, { dispatcher: agent });
      const body = (await r.body.json()) as { backends: Array<{ id: string; healthy: boolean }> };
      if (body.backends.find((b) => b.id === `${node}/app`)?.healthy !== true) return false;
    }
    return true;
  }

  it('answers every request while each app server restarts in turn', async (t) => {
    const apps = (await status()).services.filter((s) => s.service === 'app');
    assert.equal(apps.length, 3);
    let stop = false;
    let sent = 0;
    const failures: string[] = [];
    // Every request needs a session; it lives in Redis, so restarting every app server must not end it.
    const cookie = await erpLogin(`http://${LBS[0]}:8080`);

    async function loop(id: number): Promise<void> {
      for (let n = 0; !stop && n < 100_000; n++) {
        const lb = LBS[(id + n) % LBS.length];
        const keyed = n % 3 === 0;
        const what = keyed ? 'POST /api/orders' : 'GET /api/items';
        sent += 1;
        try {
          const r = await request(`http://${lb}:8080${keyed ? '/api/orders' : '/api/items'}`, {
            method: keyed ? 'POST' : 'GET',
            dispatcher: agent,
            headers: keyed ? { 'content-type': 'application/json', 'idempotency-key': `roll-${id}-${n}`, cookie } : { cookie },
            body: keyed ? JSON.stringify({ customer: `roll-${id}-${n}`, lines: [{ sku: 'WIDGET-RED', qty: 1 }] }) : undefined,
            headersTimeout: REQUEST_TIMEOUT_MS,
            bodyTimeout: REQUEST_TIMEOUT_MS,
          });
          await r.body.dump();
          // 409 (out of stock) is an answer from the app; a 5xx is a failure of the service.
          if (r.statusCode >= 500) failures.push(`${what} via ${lb}: HTTP ${r.statusCode}`);
          else if (r.statusCode === 401) failures.push(`${what} via ${lb}: session lost (HTTP 401)`);
        } catch (e) {
          failures.push(`${what} via ${lb}: ${e instanceof Error ? e.message : String(e)}`);
        }
        await sleep(THINK_MS);
      }
    }

    const loops = Array.from({ length: LOOPS }, (_, i) => loop(i));
    try {
      await sleep(1_000);
      for (const app of apps) {
        assert.ok(app.pid, `${app.node} has no pid`);
        process.kill(app.pid, 'SIGTERM');
        const deadline = Date.now() + BACK_TIMEOUT_MS;
        let back = false;
        while (!back && Date.now() < deadline) {
          await sleep(500);
          const now = (await status()).services.find((s) => s.node === app.node && s.service === 'app');
          back = now !== undefined && now.pid !== null && now.pid !== app.pid && now.healthy && (await backendHealthyEverywhere(app.node));
        }
        assert.ok(back, `${app.node} did not come back within ${BACK_TIMEOUT_MS} ms`);
      }
      await sleep(1_000);
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    t.diagnostic(`${sent} requests, ${failures.length} failed, 3 app servers restarted`);
    assert.ok(sent > 100, `only ${sent} requests were sent: the load loop did not run`);
    assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed`);
  });
});
